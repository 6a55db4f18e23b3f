"""Derived event ids are deterministic: re-tapping the same lines gives the same ids."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from monitor.tap.formats import FormatContext, make_format
from monitor.tap.formats.base import derive_event_id
from monitor.tap.mapping import parse_mapping
from monitor.tap.reader import FileSource
from monitor.tap.run import Tap, TapOptions
from monitor.tap.writers import FileWriter
from tests.tap.support import JSONRPC_SAMPLE, dumps, events, feed, jsonrpc, lines_of, ok, req

MAPPING = "defaults: {agent_id: a, server: s}"


def _ids(source: str, raws: list[bytes], mapping: str = MAPPING) -> list[str]:
    return [e["event_id"] for e in events(feed(jsonrpc(mapping, source=source), lines_of(raws)))]


def test_same_lines_same_ids_and_the_label_and_session_matter() -> None:
    raws = JSONRPC_SAMPLE.read_bytes().splitlines()
    first = _ids("gw-1", raws)
    assert len(set(first)) == 6
    assert _ids("gw-1", raws) == first
    assert set(_ids("gw-2", raws)).isdisjoint(first)  # another source: other ids
    wrapped = [orjson.dumps({"s": "S1", "b": orjson.loads(r)}) for r in raws]
    session = "body: b\nfields: {session_id: s}\n" + MAPPING
    assert set(_ids("gw-1", wrapped, session)).isdisjoint(first)


def test_ids_do_not_depend_on_the_response_or_the_clock() -> None:
    a = _ids("gw", dumps(req(1), ok(1)))
    b = _ids("gw", dumps(req(1), ok(1, isError=True)))
    c = _ids("gw", dumps(req(1)))  # never answered: unknown, same id
    assert a == b == c


def test_derive_event_id_separates_its_parts() -> None:
    assert derive_event_id("x", "ab", "c") != derive_event_id("x", "a", "bc")
    assert derive_event_id("x", b"a") == derive_event_id("x", "a")


def test_two_runs_over_a_file_write_identical_ids(tmp_path: Path) -> None:
    src = tmp_path / "gw.jsonl"
    src.write_bytes(JSONRPC_SAMPLE.read_bytes())

    def run(out: Path) -> list[str]:
        fmt = make_format("jsonrpc", FormatContext(source="gw", mapping=parse_mapping(MAPPING)))
        tap = Tap(
            FileSource(str(src)), fmt, FileWriter(out), TapOptions(source="gw", format="jsonrpc")
        )
        asyncio.run(tap.run())
        return [orjson.loads(x)["event_id"] for x in out.read_bytes().splitlines()]

    assert run(tmp_path / "a.jsonl") == run(tmp_path / "b.jsonl")
