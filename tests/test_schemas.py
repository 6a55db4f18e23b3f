from __future__ import annotations

from pathlib import Path

from monitor import schemas

ROOT = Path(__file__).resolve().parents[1]


def test_checked_in_schemas_match_the_models() -> None:
    assert schemas.stale(ROOT / "schemas") == [], "run: mcpmon schemas --out schemas"


def test_stale_detects_drift(tmp_path: Path) -> None:
    schemas.write(tmp_path)
    (tmp_path / "alert.schema.json").write_text("{}")
    (tmp_path / "old.schema.json").write_text("{}")
    assert schemas.stale(tmp_path) == ["alert.schema.json", "old.schema.json"]


def test_every_event_type_has_a_schema() -> None:
    names = set(schemas.generate())
    for typ in (
        "tool_call",
        "task_started",
        "task_ended",
        "credential_issued",
        "credential_revoked",
        "sponsor_active",
        "sponsor_ended",
        "charter_updated",
    ):
        assert f"event.{typ}.schema.json" in names
