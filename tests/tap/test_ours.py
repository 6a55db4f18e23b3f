"""``--format ours``: validated with the contract, passed through byte for byte."""

from __future__ import annotations

import pytest

from monitor.tap.exceptions import TapError
from monitor.tap.formats import FORMATS, FormatContext, make_format
from monitor.tap.lines import Mapped
from monitor.tap.mapping import parse_mapping
from tests.tap.support import ROOT, dead, feed, lines_of

EXAMPLES = ROOT / "examples" / "events.jsonl"


def test_valid_events_pass_through_unchanged_with_their_ids() -> None:
    raws = [r for r in EXAMPLES.read_bytes().splitlines() if r.strip()]
    out = feed(make_format("ours", FormatContext()), lines_of(raws))
    mapped = [o for o in out if isinstance(o, Mapped)]
    assert len(mapped) + len(dead(out)) == len(raws)
    assert len(dead(out)) == 2  # the example file carries two bad lines on purpose
    by_line = {m.lines[0]: m for m in mapped}
    for n, raw in enumerate(raws, 1):
        if n in by_line:
            assert by_line[n].value == raw.strip()
            assert by_line[n].event_id.encode() in raw and by_line[n].agent_id.encode() in raw


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{oops", "not JSON"),
        (
            b'{"type": "teleport", "event_id": "e", "ts": "2026-01-01T00:00:00Z", "agent_id": "a"}',
            "unknown event type 'teleport'",
        ),
        (
            b'{"type": "tool_call", "event_id": "e", "ts": "2026-01-01T00:00:00Z", "agent_id": "a", "tool": "t"}',
            "server",
        ),
    ],
)
def test_invalid_lines_are_dead_letters_naming_the_field(raw: bytes, reason: str) -> None:
    out = feed(make_format("ours", FormatContext()), lines_of([raw]))
    assert reason in dead(out)[0].reason


def test_registry_knows_every_preset_and_refuses_a_mapping_for_ours() -> None:
    assert list(FORMATS) == [
        "ours",
        "jsonrpc",
        "agentgateway",
        "toolhive",
        "teleport",
        "otel",
        "mcpx",
        "docker-audit",
        "auto",
    ]
    with pytest.raises(TapError, match="takes no --mapping"):
        make_format("ours", FormatContext(mapping=parse_mapping("defaults: {server: s}")))
    with pytest.raises(TapError, match="unknown format 'kong'"):
        make_format("kong", FormatContext())
