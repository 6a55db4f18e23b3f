"""``mcpmon map``: each agent's workflow, data paths and escalation points, drawn.

Why: before tightening a charter, an operator needs to *see* what an agent
does — which tools, in which order, on which data, and where it could hurt
(``exec``, ``admin``, ``credential``, ``egress`` calls; secret reads followed
by egress). From the same :class:`~.traffic.Observer` picture as ``charter
suggest`` this writes:

- ``map.json`` — the summary, per agent (the contract for other tools);
- ``map.dot`` — Graphviz, one cluster per agent; ``map.png`` when ``dot`` is
  installed (``scripts/chromium.sh install`` installs it);
- ``map.html`` — one self-contained page (inline SVG + JS, no network at view
  time): pick an agent, drag nodes, hover a tool for its evidence.
"""

from __future__ import annotations

import html
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson

from monitor.charters_from_traffic.classes import ESCALATION_CLASSES
from monitor.charters_from_traffic.generalise import generalise
from monitor.charters_from_traffic.suggest import id_pattern, when
from monitor.charters_from_traffic.traffic import AgentTraffic, Observer
from monitor.errors import MonitorError


def _tool_name(key: tuple[str, str]) -> str:
    return f"{key[0]}/{key[1]}"


def agent_summary(a: AgentTraffic) -> dict[str, Any]:
    """The map of one agent as plain data (what map.json holds per agent)."""
    tools = []
    for key, use in sorted(a.tools.items(), key=lambda kv: kv[1].seen.first):
        classes = sorted(use.classes | ({"read_secret"} if use.secret_resource_calls else set()))
        tools.append(
            {
                "tool": _tool_name(key),
                "calls": use.seen.count,
                "denied": use.denied,
                "classes": classes,
                "escalation": sorted(set(classes) & set(ESCALATION_CLASSES)),
                "secret_resource_calls": use.secret_resource_calls,
                "first": when(use.seen.first),
                "last": when(use.seen.last),
            }
        )
    gap = a.pairs.get("exfiltration")
    return {
        "agent": a.agent_id,
        "pattern": id_pattern(a.agent_id),
        "kind": a.kinds.most_common(1)[0][0] if a.kinds else None,
        "calls": a.calls.count,
        "first": when(a.calls.first) if a.calls.count else None,
        "last": when(a.calls.last) if a.calls.count else None,
        "tools": tools,
        "transitions": [
            {"from": _tool_name(f), "to": _tool_name(t), "count": n}
            for (f, t), n in sorted(a.transitions.items(), key=lambda kv: -kv[1])
        ],
        "tenants": {k: v.count for k, v in sorted(a.tenants.items())},
        "data_domains": {k: v.count for k, v in sorted(a.domains.items())},
        "resource_families": [
            {"pattern": f.pattern, "resources": f.resources, "example": f.examples[0]}
            for f in generalise(a.resources)
        ],
        "escalation_points": [
            {"tool": t["tool"], "classes": t["escalation"], "calls": t["calls"]}
            for t in tools
            if t["escalation"]
        ],
        "secret_to_egress": {
            "within_window": gap.within_window if gap else 0,
            "closest_calls": gap.min_calls if gap else None,
            "closest_seconds": round(gap.min_seconds, 1)
            if gap and gap.min_seconds is not None
            else None,
            "example": list(gap.example) if gap and gap.example else None,
        },
    }


def build_map(obs: Observer) -> dict[str, Any]:
    agents = [agent_summary(a) for _, a in sorted(obs.agents.items()) if a.calls.count]
    return {
        "events": obs.events,
        "bad_lines": obs.bad_lines,
        "calls": obs.total_calls(),
        "window": (
            [when(obs.start), when(obs.end)]
            if obs.start is not None and obs.end is not None
            else None
        ),
        "agents": agents,
    }


# --------------------------------------------------------------------------- DOT

_COLOURS = {
    "egress": "#d62728",
    "exec": "#ff7f0e",
    "admin": "#9467bd",
    "credential": "#8c564b",
    "read_secret": "#e377c2",
}


def _dot_id(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(m: dict[str, Any]) -> str:
    out = [
        "digraph mcp_map {",
        "  rankdir=LR; compound=true; fontname=Helvetica;",
        '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname=Helvetica];',
        "  edge [fontname=Helvetica, fontsize=9];",
    ]
    for i, a in enumerate(m["agents"]):
        out.append(f"  subgraph cluster_{i} {{")
        out.append(f"    label={_dot_id(a['agent'] + ' (' + str(a['calls']) + ' calls)')};")
        for t in a["tools"]:
            colour = next((_COLOURS[c] for c in _COLOURS if c in t["classes"]), None)
            attrs = f'label={_dot_id(t["tool"])[:-1]}\\n{t["calls"]} calls"'
            if colour:
                attrs += f', fillcolor="{colour}", fontcolor=white'
            out.append(f"    {_dot_id(f'{i}:' + t['tool'])} [{attrs}];")
        for e in a["transitions"]:
            width = 1 + min(4, e["count"] // 25)
            out.append(
                f"    {_dot_id(f'{i}:' + e['from'])} -> {_dot_id(f'{i}:' + e['to'])} "
                f'[label="{e["count"]}", penwidth={width}];'
            )
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def render_png(dot_path: Path, png_path: Path) -> bool:
    """``dot -Tpng``; False when Graphviz is not installed."""
    exe = shutil.which("dot")
    if exe is None:
        return False
    proc = subprocess.run(
        [exe, "-Tpng", str(dot_path), "-o", str(png_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise MonitorError(f"dot failed on {dot_path}: {proc.stderr.strip()[:500]}")
    return True


# --------------------------------------------------------------------------- HTML

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>mcpmon map — __TITLE__</title>
<style>
body{font:14px/1.4 system-ui,Helvetica,Arial,sans-serif;margin:0;color:#1d2330;background:#fafbfc}
header{padding:10px 16px;background:#1d2330;color:#fff;display:flex;gap:16px;align-items:center}
header h1{font-size:16px;margin:0;font-weight:600}
main{display:flex;gap:0;height:calc(100vh - 48px)}
#graph{flex:1;min-width:0}
svg{width:100%;height:100%;background:#fff}
aside{width:360px;overflow-y:auto;overflow-wrap:anywhere;padding:10px 14px;border-left:1px solid #dde;background:#fafbfc}
h2{font-size:14px;margin:14px 0 4px}
.node rect{stroke:#5a6b8c;stroke-width:1;rx:6}
.node text{font-size:11px;pointer-events:none}
.node{cursor:grab}
.edge{fill:none;stroke:#8a97b0;opacity:.75}
.edge.hot{stroke:#1d2330;opacity:1}
.elabel{font-size:10px;fill:#445}
.esc{color:#b00;font-weight:600}
table{border-collapse:collapse;width:100%}
td{padding:1px 4px;border-bottom:1px solid #eee;font-size:12px;vertical-align:top}
.legend span{display:inline-block;padding:1px 6px;margin:2px;border-radius:4px;color:#fff;font-size:11px}
select{font-size:14px;max-width:480px}
</style></head>
<body>
<header><h1>mcpmon map</h1><select id="agent" aria-label="agent"></select>
<span id="meta"></span></header>
<main><div id="graph"><svg id="svg" role="img" aria-label="workflow graph">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9"
markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#8a97b0"/></marker>
</defs><g id="edges"></g><g id="nodes"></g></svg></div>
<aside id="side"></aside></main>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const MAP = JSON.parse(document.getElementById("data").textContent);
const COLOURS = __COLOURS__;
const NS = "http://www.w3.org/2000/svg";
const sel = document.getElementById("agent");
const svg = document.getElementById("svg");
function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function esc(s) {
  return String(s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
}
function colour(classes) {
  for (const c in COLOURS) if (classes.indexOf(c) >= 0) return COLOURS[c];
  return "#eef3fb";
}
MAP.agents.forEach((a, i) => {
  const o = document.createElement("option");
  o.value = i; o.textContent = a.agent + " (" + a.calls + " calls)";
  sel.appendChild(o);
});
let pos = {}, current = null;
function layout(a) {
  const box = svg.getBoundingClientRect();
  const w = Math.max(box.width, 400), h = Math.max(box.height, 300);
  const r = Math.max(80, Math.min(w, h) / 2 - 90);
  const n = a.tools.length;
  pos = {};
  a.tools.forEach((t, k) => {
    const ang = -Math.PI / 2 + 2 * Math.PI * k / Math.max(n, 1);
    pos[t.tool] = {x: w / 2 + r * Math.cos(ang), y: h / 2 + r * Math.sin(ang)};
  });
}
function drawEdges(a) {
  const g = document.getElementById("edges");
  g.textContent = "";
  const max = Math.max(1, ...a.transitions.map(e => e.count));
  for (const e of a.transitions) {
    const p = pos[e.from], q = pos[e.to];
    if (!p || !q) continue;
    const width = 1 + 5 * e.count / max;
    let d, lx, ly;
    if (e.from === e.to) {
      d = `M${p.x - 10},${p.y - 14} C${p.x - 40},${p.y - 70} ${p.x + 40},${p.y - 70} ${p.x + 10},${p.y - 14}`;
      lx = p.x; ly = p.y - 58;
    } else {
      const mx = (p.x + q.x) / 2, my = (p.y + q.y) / 2, dx = q.x - p.x, dy = q.y - p.y;
      const len = Math.hypot(dx, dy) || 1, off = 0.15 * len;
      const cx = mx - dy / len * off, cy = my + dx / len * off;
      const ex = q.x - dx / len * 30, ey = q.y - dy / len * 16;
      d = `M${p.x},${p.y} Q${cx},${cy} ${ex},${ey}`;
      lx = (mx + cx) / 2; ly = (my + cy) / 2;
    }
    const path = el("path", {d: d, class: "edge", "stroke-width": width.toFixed(1),
      "marker-end": "url(#arrow)", "data-from": e.from, "data-to": e.to}, g);
    el("title", {}, path).textContent = e.from + " → " + e.to + ": " + e.count;
    el("text", {x: lx, y: ly, class: "elabel", "text-anchor": "middle"}, g).textContent = e.count;
  }
}
function drawNodes(a) {
  const g = document.getElementById("nodes");
  g.textContent = "";
  for (const t of a.tools) {
    const p = pos[t.tool];
    const node = el("g", {class: "node", transform: `translate(${p.x},${p.y})`}, g);
    const label = t.tool + " · " + t.calls;
    const wid = Math.max(60, 6.4 * label.length + 12);
    const fill = colour(t.classes);
    el("rect", {x: -wid / 2, y: -13, width: wid, height: 26, fill: fill}, node);
    el("text", {x: 0, y: 4, "text-anchor": "middle",
      fill: fill === "#eef3fb" ? "#1d2330" : "#fff"}, node).textContent = label;
    el("title", {}, node).textContent = t.tool + "\\nclasses: " + t.classes.join(", ") +
      "\\n" + t.calls + " calls (" + t.denied + " denied), " + t.first + " – " + t.last;
    node.addEventListener("mouseenter", () => hot(t.tool, true));
    node.addEventListener("mouseleave", () => hot(t.tool, false));
    drag(node, t.tool, a);
  }
}
function hot(tool, on) {
  for (const p of document.querySelectorAll(".edge")) {
    if (p.dataset.from === tool || p.dataset.to === tool) p.classList.toggle("hot", on);
  }
}
function drag(node, tool, a) {
  node.addEventListener("pointerdown", ev => {
    node.setPointerCapture(ev.pointerId);
    const move = e => {
      const r = svg.getBoundingClientRect();
      pos[tool] = {x: e.clientX - r.left, y: e.clientY - r.top};
      node.setAttribute("transform", `translate(${pos[tool].x},${pos[tool].y})`);
      drawEdges(a);
    };
    const up = () => { node.removeEventListener("pointermove", move); node.removeEventListener("pointerup", up); };
    node.addEventListener("pointermove", move);
    node.addEventListener("pointerup", up);
  });
}
function table(rows) {
  return "<table>" + rows.map(r => "<tr>" + r.map(c => "<td>" + c + "</td>").join("") + "</tr>").join("") + "</table>";
}
function side(a) {
  const s2e = a.secret_to_egress;
  let h = "<h2>" + esc(a.agent) + "</h2><div>" + esc(a.kind || "kind unknown") + ", " + a.calls +
    " calls, " + esc(a.first) + " – " + esc(a.last) + "</div>";
  h += '<div class="legend">' + Object.keys(COLOURS).map(c =>
    '<span style="background:' + COLOURS[c] + '">' + c + "</span>").join("") + "</div>";
  h += "<h2>Escalation points</h2>" + (a.escalation_points.length ? table(a.escalation_points.map(
    p => ['<span class="esc">' + esc(p.tool) + "</span>", esc(p.classes.join(", ")), p.calls])) : "none");
  h += "<h2>read_secret → egress</h2>" + (s2e.within_window
    ? '<span class="esc">' + s2e.within_window + " time(s) within 10 calls / 600 s</span>"
    : "never within 10 calls / 600 s" + (s2e.closest_calls ? " (closest " + s2e.closest_calls +
      " calls / " + s2e.closest_seconds + " s)" : ""));
  h += "<h2>Data domains</h2>" + (Object.keys(a.data_domains).length ? table(Object.entries(a.data_domains).map(
    ([k, v]) => [esc(k), v])) : "none named");
  h += "<h2>Tenants</h2>" + (Object.keys(a.tenants).length ? table(Object.entries(a.tenants).map(
    ([k, v]) => [esc(k), v])) : "none named");
  h += "<h2>Resource families</h2>" + table(a.resource_families.map(
    f => ["<code>" + esc(f.pattern) + "</code>", f.resources]));
  document.getElementById("side").innerHTML = h;
  document.getElementById("meta").textContent = MAP.calls + " calls from " + MAP.agents.length +
    " agents" + (MAP.window ? ", " + MAP.window[0] + " – " + MAP.window[1] + " UTC" : "");
}
function show(i) {
  current = MAP.agents[i];
  if (!current) { document.getElementById("side").textContent = "no tool calls in the input"; return; }
  layout(current); drawEdges(current); drawNodes(current); side(current);
}
sel.addEventListener("change", () => show(+sel.value));
window.addEventListener("resize", () => { if (current) show(+sel.value); });
const want = new URLSearchParams(location.search).get("agent");
const start = Math.max(0, MAP.agents.findIndex(a => a.agent === want));
sel.value = start;
show(start);
</script></body></html>
"""


def to_html(m: dict[str, Any], title: str = "traffic") -> str:
    data = orjson.dumps(m).decode().replace("</", "<\\/")
    return (
        _PAGE.replace("__TITLE__", html.escape(title))
        .replace("__COLOURS__", orjson.dumps(_COLOURS).decode())
        .replace("__DATA__", data)
    )


def write_map(obs: Observer, out_dir: str | Path, title: str = "traffic") -> dict[str, Path]:
    """Write map.json, map.dot, map.html (and map.png with Graphviz) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    m = build_map(obs)
    paths = {"json": out / "map.json", "dot": out / "map.dot", "html": out / "map.html"}
    paths["json"].write_bytes(orjson.dumps(m, option=orjson.OPT_INDENT_2) + b"\n")
    paths["dot"].write_text(to_dot(m), encoding="utf-8")
    paths["html"].write_text(to_html(m, title), encoding="utf-8")
    png = out / "map.png"
    if render_png(paths["dot"], png):
        paths["png"] = png
    return paths
