"""Compile one OCSF class, and every object it can reach, from the OCSF schema sources.

The published schema (github.com/ocsf/ocsf-schema, Apache-2.0) is a tree of
JSON files: a dictionary of attributes and types, classes that ``extends``
a parent and ``$include`` profiles, objects that extend ``_entity`` and so on.
The test suite validates every OCSF finding the sink writes against the
result (tests/sinks/ocsf_schema.py), so this resolves the tree once into one
file: per class/object, each attribute with its type, object type, array-ness,
requirement, enum values and the profile that adds it.

The CI machine cannot reach GitHub; the compiled file is committed
(tests/sinks/ocsf/) with the schema's licence and notice. Regenerate with a
checkout or bare clone of ocsf-schema:

    python scripts/ocsf_compile.py --repo PATH --rev REV --class detection_finding \\
        --out tests/sinks/ocsf/ocsf-1.3.0-detection_finding.json

REV for 1.3.0: 5b8f2ac2^ — the last commit of the 1.3.0 line on main
("v1.4.0 prep" moved main to 1.4.0-dev right after the 1.3.0 release).
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any


class Source:
    def __init__(self, repo: str, rev: str) -> None:
        self.repo, self.rev = repo, rev
        self._cache: dict[str, Any] = {}

    def load(self, path: str) -> Any:
        if path not in self._cache:
            text = subprocess.run(
                ["git", "-C", self.repo, "show", f"{self.rev}:{path}"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            self._cache[path] = json.loads(text)
        return self._cache[path]

    def files(self, folder: str) -> list[str]:
        out = subprocess.run(
            ["git", "-C", self.repo, "ls-tree", "-r", "--name-only", self.rev, folder],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return [p for p in out.split() if p.endswith(".json")]


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """An attribute refined by a child: its keys override, enum values add up (as OCSF does)."""
    out = {**old, **new}
    if "enum" in old and "enum" in new:
        out["enum"] = {**old["enum"], **new["enum"]}
    return out


def _attributes(src: Source, spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A spec's attributes with its ``$include`` files merged in (tagged with their profile)."""
    out: dict[str, dict[str, Any]] = {}
    attrs = dict(spec.get("attributes", {}))
    for inc in attrs.pop("$include", []):
        doc = src.load(inc)
        profile = doc.get("name") if doc.get("meta") == "profile" else None
        for name, a in _attributes(src, doc).items():
            a = dict(a)
            if profile and "profile" not in a:
                a["profile"] = profile
            out[name] = _merge(out.get(name, {}), a)
    for name, a in attrs.items():
        out[name] = _merge(out.get(name, {}), a)
    return out


def _resolved(src: Source, index: dict[str, str], name: str) -> dict[str, Any]:
    spec = src.load(index[name])
    parent = spec.get("extends")
    attrs: dict[str, dict[str, Any]] = {}
    profiles: list[str] = []
    if parent:
        base = _resolved(src, index, parent)
        attrs, profiles = base["attributes"], list(base["profiles"])
    for k, a in _attributes(src, spec).items():
        attrs[k] = _merge(attrs.get(k, {}), a)
    profiles += [p for p in spec.get("profiles", []) if p not in profiles]
    return {"attributes": attrs, "profiles": profiles}


def compile_class(src: Source, class_name: str) -> dict[str, Any]:
    dictionary = src.load("dictionary.json")
    types = dictionary["types"]["attributes"]
    classes = {src.load(p)["name"]: p for p in src.files("events")}
    objects = {src.load(p)["name"]: p for p in src.files("objects")}
    version = src.load("version.json")["version"]

    def base_type(t: str) -> str:
        while t in types and "type" in types[t]:
            t = types[t]["type"]
        return t

    def finish(raw: dict[str, Any], want: list[str]) -> dict[str, Any]:
        attrs = {}
        for name, a in raw["attributes"].items():
            d = _merge(dictionary["attributes"].get(name, {}), a)
            t = d.get("type", "object_t")
            entry: dict[str, Any] = {
                "requirement": d.get("requirement", "optional"),
                "is_array": bool(d.get("is_array", False)),
            }
            if t in objects or t == "object":
                entry["type"], entry["object_type"] = "object_t", t
                if t in objects:
                    want.append(t)
            else:
                entry["type"] = base_type(t)
                entry["type_name"] = t
            if "enum" in d:
                entry["enum"] = sorted(int(k) if k.lstrip("-").isdigit() else k for k in d["enum"])
            if "profile" in d:
                entry["profile"] = d["profile"]
            if "regex" in types.get(t, {}):
                entry["regex"] = types[t]["regex"]
            attrs[name] = entry
        return {"attributes": attrs, "profiles": raw["profiles"]}

    want: list[str] = []
    out: dict[str, Any] = {
        "version": version,
        "class": class_name,
        "class_def": finish(_resolved(src, classes, class_name), want),
        "objects": {},
    }
    while want:
        name = want.pop()
        if name in out["objects"]:
            continue
        out["objects"][name] = finish(_resolved(src, objects, name), want)
    # class_uid, category_uid, type_uid: computed by the schema server from the category's
    # and the class's own uid (the source files leave the dictionary's placeholder 0)
    spec = src.load(classes[class_name])
    cat = src.load("categories.json")["attributes"][spec["category"]]["uid"]
    class_uid = cat * 1000 + spec["uid"]
    cattrs = out["class_def"]["attributes"]
    cattrs["category_uid"]["enum"] = [cat]
    cattrs["class_uid"]["enum"] = [class_uid]
    cattrs["type_uid"]["enum"] = [class_uid * 100 + a for a in cattrs["activity_id"]["enum"]]
    # observable.type_id: the schema server adds every type, attribute and object that
    # declares an ``observable`` number to the two the source file lists (0, 99)
    kinds = {v["observable"] for v in types.values() if "observable" in v}
    kinds |= {v["observable"] for v in dictionary["attributes"].values() if "observable" in v}
    kinds |= {src.load(p).get("observable") for p in objects.values()} - {None}
    if "observable" in out["objects"]:
        tid = out["objects"]["observable"]["attributes"]["type_id"]
        tid["enum"] = sorted(set(tid["enum"]) | kinds)
    out["objects"] = dict(sorted(out["objects"].items()))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", required=True, help="ocsf-schema git checkout or bare clone")
    p.add_argument("--rev", required=True, help="the commit to compile (see the module doc)")
    p.add_argument("--class", dest="cls", default="detection_finding")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    compiled = compile_class(Source(a.repo, a.rev), a.cls)
    compiled["source"] = {"repo": "https://github.com/ocsf/ocsf-schema", "rev": a.rev}
    Path(a.out).write_text(json.dumps(compiled, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
