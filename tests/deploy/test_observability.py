"""deploy/grafana/mcp-monitor.json and deploy/prometheus/alerts.yml read only metrics (and
labels) that the code's registries define; the rules pass `promtool check rules` and
their unit tests (`promtool test rules`), and the dashboard's queries parse as PromQL.

promtool comes from Debian's prometheus package, unpacked by scripts/promtool.sh
(`make test` runs it; this module runs it too when build/tools/promtool is missing).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from monitor.metrics import RevokerMetrics, SinkMetrics, WorkerMetrics
from monitor.proxy.metrics import ProxyMetrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "mcp-monitor.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
PROMTOOL = ROOT / "build" / "tools" / "promtool"

#: series every Prometheus has, and labels its scrapes add
BUILTIN_SERIES = {"up": {"job", "instance"}}
TARGET_LABELS = {"job", "instance"}
#: PromQL words that look like identifiers
PROMQL_WORDS = {
    "sum", "count", "avg", "min", "max", "by", "without", "rate", "increase", "deriv",
    "histogram_quantile", "absent", "and", "or", "unless", "on", "ignoring", "delta",
}  # fmt: skip


def exported() -> dict[str, set[str]]:
    """Sample name -> label names, for every metric the shells register."""
    registry = CollectorRegistry()
    holders = (
        WorkerMetrics(registry),
        RevokerMetrics(registry),
        SinkMetrics(registry),
        ProxyMetrics(registry),
    )
    out: dict[str, set[str]] = {}
    for holder in holders:
        for metric in vars(holder).values():
            if not isinstance(metric, Counter | Gauge | Histogram):
                continue
            labels = set(metric._labelnames)
            name = metric._name
            if isinstance(metric, Counter):
                out[name + "_total"] = labels
            elif isinstance(metric, Histogram):
                out[name + "_count"] = labels
                out[name + "_sum"] = labels
                out[name + "_bucket"] = labels | {"le"}
            else:
                out[name] = labels
    assert len(out) > 30
    return out


def problems(expr: str, known: dict[str, set[str]]) -> list[str]:
    """Unknown metrics, and label names (matchers, by/without) no referenced metric has."""
    found: list[str] = []
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    names = [
        n
        for n in re.findall(
            r"(?<![\w{\"'.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?=\s*(?:\{|\)|\s|$|\[|==|>|<))", expr
        )
        if n not in PROMQL_WORDS
    ]
    metrics = [n for n in names if n.startswith("mcpmon_") or n in BUILTIN_SERIES]
    for n in names:
        if n.startswith("mcpmon_") and n not in known:
            found.append(f"unknown metric {n}")
    labels_here = set(TARGET_LABELS)
    for n in metrics:
        labels_here |= known.get(n, set()) | BUILTIN_SERIES.get(n, set())
    for metric, body in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", expr):
        have = known.get(metric, BUILTIN_SERIES.get(metric, set())) | TARGET_LABELS
        for label in re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", body):
            if label not in have:
                found.append(f"{metric} has no label {label}")
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        for label in [x.strip() for x in group.split(",") if x.strip()]:
            if label not in labels_here:
                found.append(f"no metric in the expression has the label {label}")
    return found


def dashboard_exprs() -> list[tuple[str, str]]:
    doc = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in doc["panels"] for t in p.get("targets", [])]


def rule_exprs() -> list[tuple[str, str]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [(r["alert"], r["expr"]) for g in doc["groups"] for r in g["rules"]]


@pytest.fixture(scope="module")
def promtool() -> Path:
    if not PROMTOOL.exists():
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "promtool.sh"), "install"], timeout=300, check=False
        )
    assert PROMTOOL.exists(), "promtool missing: bash scripts/promtool.sh install"
    return PROMTOOL


# ------------------------------------------------------------------ names
def test_every_metric_and_label_the_dashboard_reads_is_exported() -> None:
    known = exported()
    exprs = dashboard_exprs()
    assert len(exprs) >= 15
    bad = {title: p for title, e in exprs if (p := problems(e, known))}
    assert bad == {}


def test_every_metric_and_label_the_alert_rules_read_is_exported() -> None:
    known = exported()
    bad = {name: p for name, e in rule_exprs() if (p := problems(e, known))}
    assert bad == {}


def test_the_name_check_catches_misspellings() -> None:
    known = exported()
    assert problems("sum(rate(mcpmon_worker_event_total[5m]))", known) == [
        "unknown metric mcpmon_worker_event_total"
    ]
    assert problems('mcpmon_revoker_acks_total{outcome="failed"}', known) == [
        "mcpmon_revoker_acks_total has no label outcome"
    ]
    assert problems("sum by (severity) (mcpmon_worker_alerts_total)", known) == [
        "no metric in the expression has the label severity"
    ]
    assert problems("sum by (severity) (mcpmon_worker_alerts_by_severity_total)", known) == []


def test_the_dashboard_covers_what_operators_ask_for() -> None:
    text = " ".join(e for _, e in dashboard_exprs())
    for metric in (
        "mcpmon_worker_events_total",  # events in
        "mcpmon_worker_consumer_lag",  # lag
        "mcpmon_worker_alerts_by_severity_total",  # alerts by detector and severity
        "mcpmon_revoker_acks_total",  # revocations by outcome
        "mcpmon_worker_deadletters_total",  # dead letters by reason
        "mcpmon_proxy_refused_total",  # proxy refusals
        "mcpmon_proxy_call_seconds_bucket",  # proxy latency
        "mcpmon_proxy_policy_seconds_bucket",  # the proxy's inline charter decision time
    ):
        assert metric in text, metric
    doc = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    for p in doc["panels"]:
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
    assert [v["name"] for v in doc["templating"]["list"]] == ["datasource"]


def test_the_alert_rules_cover_what_the_issue_asks_for() -> None:
    names = {n for n, _ in rule_exprs()}
    for want in (
        "MCPMonWorkerDown",
        "MCPMonWorkerLagGrowing",
        "MCPMonDeadLetters",
        "MCPMonRevocationFailures",
    ):
        assert want in names
    doc = yaml.safe_load(ALERTS.read_text())
    for g in doc["groups"]:
        for r in g["rules"]:
            assert r["labels"]["severity"] in {"warning", "critical"}, r["alert"]
            assert r["annotations"]["summary"], r["alert"]


# ------------------------------------------------------------------ promtool
def test_promtool_checks_the_rules(promtool: Path) -> None:
    res = subprocess.run(
        [str(promtool), "check", "rules", str(ALERTS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"SUCCESS: {len(rule_exprs())} rules found" in res.stdout


def test_promtool_unit_tests_of_the_rules_pass(promtool: Path) -> None:
    res = subprocess.run(
        [str(promtool), "test", "rules", str(ALERT_TESTS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    tested = {
        t["alertname"]
        for case in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for t in case["alert_rule_test"]
        if t["exp_alerts"]
    }
    assert {"MCPMonWorkerDown", "MCPMonWorkerLagGrowing", "MCPMonRevocationFailures"} <= tested


def test_the_dashboard_queries_parse_as_promql(promtool: Path, tmp_path: Path) -> None:
    rules = [
        {"record": f"mcpmon:dashboard_{i}", "expr": e.replace("$__rate_interval", "5m")}
        for i, (_, e) in enumerate(dashboard_exprs())
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    res = subprocess.run(
        [str(promtool), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text(
        yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "x:y", "expr": "sum(("}]}]})
    )
    res = subprocess.run(
        [str(promtool), "check", "rules", str(bad)], capture_output=True, timeout=60, check=False
    )
    assert res.returncode != 0  # promtool really parses
