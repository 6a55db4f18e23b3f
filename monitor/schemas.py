"""JSON Schema files for every public contract, generated from the pydantic models.

``mcpmon schemas`` writes them into ``schemas/``; a test regenerates them and
fails when the checked-in files are stale, so the files users build against
never drift from the code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, TypeAdapter

from monitor.charter import Charter
from monitor.events import EVENT_TYPES, Event
from monitor.output_contracts import Alert, RevocationAck, RevocationCommand

SCHEMA_ID_BASE = "https://mcp-monitor.dev/schemas/v1/"


def _models() -> dict[str, Any]:
    out: dict[str, Any] = {"event": TypeAdapter(Event)}
    out.update({f"event.{name}": model for name, model in EVENT_TYPES.items()})
    out.update(
        {
            "charter": Charter,
            "alert": Alert,
            "revocation_command": RevocationCommand,
            "revocation_ack": RevocationAck,
        }
    )
    return out


def generate() -> dict[str, bytes]:
    """File name -> JSON Schema bytes (stable key order, trailing newline)."""
    files: dict[str, bytes] = {}
    for name, model in _models().items():
        if isinstance(model, type) and issubclass(model, BaseModel):
            schema = model.model_json_schema()
        else:
            schema = model.json_schema()
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{SCHEMA_ID_BASE}{name}.schema.json",
            **schema,
        }
        files[f"{name}.schema.json"] = (
            orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        )
    return files


def write(out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in generate().items():
        p = out / name
        p.write_bytes(data)
        written.append(p)
    return written


def stale(out_dir: str | Path) -> list[str]:
    """Names of schema files that are missing, different or no longer generated."""
    out = Path(out_dir)
    want = generate()
    bad = [
        n for n, data in want.items() if not (out / n).is_file() or (out / n).read_bytes() != data
    ]
    bad += [p.name for p in out.glob("*.schema.json") if p.name not in want]
    return sorted(bad)
