"""Validate an OCSF event against the compiled published schema (scripts/ocsf_compile.py).

Checks what a SIEM's OCSF parser relies on: every attribute is defined for its
class or object (or added by a profile the event declares in
``metadata.profiles``), values have the attribute's type, ``*_id`` values are
in their enum, required attributes are present, regex-typed strings match,
and every observable's ``name`` is a real attribute path of the event.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).parent / "ocsf"
SCHEMA_FILE = HERE / "ocsf-1.3.0-detection_finding.json"

_SCALARS: dict[str, tuple[type, ...]] = {
    "string_t": (str,),
    "integer_t": (int,),
    "long_t": (int,),
    "timestamp_t": (int,),
    "port_t": (int,),
    "float_t": (float, int),
    "boolean_t": (bool,),
}


@cache
def schema() -> dict[str, Any]:
    return orjson.loads(SCHEMA_FILE.read_bytes())  # type: ignore[no-any-return]


def _check(value: Any, a: dict[str, Any], path: str, profiles: set[str], errors: list[str]) -> None:
    t = a["type"]
    if t == "object_t":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object, got {type(value).__name__}")
        elif a["object_type"] != "object":  # 'object' is free-form (unmapped)
            _object(value, schema()["objects"][a["object_type"]], path, profiles, errors)
        return
    if t == "json_t":
        return
    ok = _SCALARS.get(t)
    if ok is None:
        errors.append(f"{path}: unknown type {t}")
        return
    if not isinstance(value, ok) or (t != "boolean_t" and isinstance(value, bool)):
        errors.append(f"{path}: expected {a.get('type_name', t)}, got {value!r}")
        return
    if "enum" in a and value not in a["enum"]:
        errors.append(f"{path}: {value!r} is not one of {a['enum']}")
    if "regex" in a and isinstance(value, str) and not re.match(a["regex"], value):
        errors.append(f"{path}: {value!r} does not match the {a['type_name']} pattern")


def _object(
    obj: dict[str, Any], d: dict[str, Any], path: str, profiles: set[str], errors: list[str]
) -> None:
    attrs = d["attributes"]
    for key, value in obj.items():
        where = f"{path}.{key}" if path else key
        a = attrs.get(key)
        if a is None:
            errors.append(f"{where}: not an attribute of this {path or 'class'}")
            continue
        if "profile" in a and a["profile"] not in profiles:
            errors.append(f"{where}: needs the {a['profile']!r} profile in metadata.profiles")
        if value is None:
            errors.append(f"{where}: null (leave the attribute out instead)")
            continue
        if a["is_array"]:
            if not isinstance(value, list):
                errors.append(f"{where}: expected an array")
                continue
            for i, v in enumerate(value):
                _check(v, a, f"{where}[{i}]", profiles, errors)
        else:
            _check(value, a, where, profiles, errors)
    for key, a in attrs.items():
        needed = a["requirement"] == "required" and ("profile" not in a or a["profile"] in profiles)
        if needed and key not in obj:
            errors.append(f"{path + '.' if path else ''}{key}: required and missing")


def attribute_path_exists(dotted: str) -> bool:
    """Whether ``actor.user.uid``-style ``dotted`` names an attribute of the class."""
    d = schema()["class_def"]
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        a = d["attributes"].get(part)
        if a is None:
            return False
        if i == len(parts) - 1:
            return True
        if a["type"] != "object_t" or a["object_type"] == "object":
            return False
        d = schema()["objects"][a["object_type"]]
    return False


def validate(event: dict[str, Any]) -> list[str]:
    """Every way ``event`` departs from the schema (empty: valid)."""
    errors: list[str] = []
    profiles = set(event.get("metadata", {}).get("profiles", []))
    unknown = profiles - set(schema()["class_def"]["profiles"])
    errors += [f"metadata.profiles: {p!r} does not apply to this class" for p in sorted(unknown)]
    _object(event, schema()["class_def"], "", profiles, errors)
    for i, ob in enumerate(event.get("observables", [])):
        name = ob.get("name", "")
        if not attribute_path_exists(name):
            errors.append(f"observables[{i}].name: {name!r} is not an attribute path of the event")
    return errors
