from __future__ import annotations

import pytest

from monitor.tap.paths import MISSING, DottedPath

DOC = {
    "params": {
        "_meta": {
            "io.modelcontextprotocol/clientInfo": {"name": "patcher-agent"},
            "traceparent": "00-abc-def-01",
        },
        "arguments": {"path": "/srv/.env"},
    },
    "headers": {"Mcp-Session-Id": "4f2a", "x-agent": "a1"},
    "delegation": {"chain": [{"sub": "alice"}, {"sub": "agent:x"}]},
    "n": 0,
}


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("params.arguments.path", "/srv/.env"),
        ("params._meta.io.modelcontextprotocol/clientInfo.name", "patcher-agent"),
        ("params._meta.traceparent", "00-abc-def-01"),
        ("headers.mcp-session-id", "4f2a"),  # header names: any case
        ("headers.X-AGENT", "a1"),
        ("delegation.chain.0.sub", "alice"),
        ("delegation.chain.-1.sub", "agent:x"),
        ("n", 0),  # falsy values are values
        ("params.arguments", {"path": "/srv/.env"}),
    ],
)
def test_paths_find_values(path: str, want: object) -> None:
    assert DottedPath(path).get(DOC) == want


@pytest.mark.parametrize(
    "path",
    [
        "params.nope",
        "params.arguments.path.deeper",
        "delegation.chain.2.sub",
        "delegation.chain.first",
        "params._meta.io.modelcontextprotocol/clientInfo.version",
    ],
)
def test_paths_that_do_not_resolve_are_missing(path: str) -> None:
    assert DottedPath(path).get(DOC) is MISSING


@pytest.mark.parametrize("text", ["", "a..b", ".a", "a."])
def test_empty_segments_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="empty segment"):
        DottedPath(text)


def test_lookup_does_not_mutate_the_document() -> None:
    import copy

    before = copy.deepcopy(DOC)
    DottedPath("headers.mcp-session-id").get(DOC)
    assert before == DOC


def test_exact_paths_do_not_retry_case_insensitively() -> None:
    doc = {"Mcp-Session-Id": "4f2a"}
    assert DottedPath("mcp-session-id").get(doc) == "4f2a"
    assert DottedPath("mcp-session-id", casefold=False).get(doc) is MISSING
    assert DottedPath("Mcp-Session-Id", casefold=False).get(doc) == "4f2a"
