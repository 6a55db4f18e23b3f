"""An oversized call's event is cut to fit the message limit, never refused or stuck."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from monitor.events import MAX_MESSAGE_BYTES, ToolCall, decode_event, encode_event
from monitor.proxy.emit import FIT_BYTES, FileEmitter, KafkaEmitter, fit
from monitor.proxy.metrics import ProxyMetrics
from tests.proxy.support import tool_call
from tests.revoker.servers import free_port


def _call(args: dict[str, Any], resources: list[str] | None = None, i: int = 0) -> ToolCall:
    return tool_call(
        i, session_id="s-1", server="fs", tool="write_file", args=args,
        resources=resources or [], bytes_in=5_000_000,
    )  # fmt: skip


def _sample(m: ProxyMetrics, name: str, **labels: str) -> float:
    return m.registry.get_sample_value(name, labels or None) or 0.0


def test_the_limit_leaves_room_under_the_workers_and_the_producers_1_mib() -> None:
    assert MAX_MESSAGE_BYTES - 16_384 < FIT_BYTES < MAX_MESSAGE_BYTES - 1024


def test_an_event_that_fits_is_sent_byte_for_byte_as_encoded() -> None:
    event = _call({"path": "/tmp/a", "content": "x" * 1000})
    assert fit(event) == (encode_event(event), 0)
    size = len(encode_event(event))
    assert fit(event, limit=size) == (encode_event(event), 0)  # at the limit: whole
    value, before = fit(event, limit=size - 1)  # one byte over: cut
    assert before == size
    assert len(value) < size


def test_a_long_string_keeps_its_head_and_tail_around_a_marker() -> None:
    content = "HEAD:" + "x" * 2_000_000 + ":TAIL https://paste.example/drop"
    event = _call({"path": "/tmp/a", "content": content}, ["file:///tmp/a"])
    value, before = fit(event)
    assert before == len(encode_event(event))
    assert len(value) <= FIT_BYTES
    got = decode_event(value)  # the worker reads it: not a dead letter
    assert isinstance(got, ToolCall)
    gone = len(content) - 4096
    assert got.args == {
        "path": "/tmp/a",
        "content": f"{content[:2048]}…[{gone} characters cut]…{content[-2048:]}",
    }
    assert got.args["content"].endswith(":TAIL https://paste.example/drop")
    # the rest of the call is as it was: who, what, how much was sent
    assert got.model_dump(exclude={"args"}) == event.model_dump(exclude={"args"})


def test_long_lists_and_objects_keep_their_first_items() -> None:
    rows = list(range(300_000))
    fields = {f"k{i}": i for i in range(100_000)}
    event = _call({"rows": rows, "fields": fields})
    value, before = fit(event)
    assert before > MAX_MESSAGE_BYTES
    args = orjson.loads(value)["args"]
    assert args["rows"] == [*range(1024), f"…[{300_000 - 1024} items cut]"]
    assert args["fields"] == {
        **{f"k{i}": i for i in range(1024)},
        "…": f"[{100_000 - 1024} keys cut]",
    }


def test_long_keys_are_cut_too() -> None:
    key = "k" * 5000
    event = _call({key: 1, "pad": "p" * 1_100_000})
    args = orjson.loads(fit(event)[0])["args"]
    assert args == {
        f"{'k' * 2048}…[904 characters cut]…{'k' * 2048}": 1,
        "pad": f"{'p' * 2048}…[{1_100_000 - 4096} characters cut]…{'p' * 2048}",
    }


@pytest.mark.parametrize(
    ("limit", "kept"),
    [(20_000, 4096), (4_000, 512), (700, 64)],
    ids=["first pass", "second pass", "third pass"],
)
def test_each_pass_cuts_harder_until_the_event_fits(limit: int, kept: int) -> None:
    event = _call({"content": "y" * 30_000})
    value, before = fit(event, limit=limit)
    assert before == len(encode_event(event))
    assert len(value) <= limit
    half = kept // 2
    assert orjson.loads(value)["args"]["content"] == (
        f"{'y' * half}…[{30_000 - 2 * half} characters cut]…{'y' * half}"
    )


def test_resources_keep_their_first_uris_without_a_marker() -> None:
    resources = [f"file:///data/{i:05d}/" + "r" * 4000 for i in range(1024)]
    event = _call({"path": "/data"}, resources)
    value, _ = fit(event)
    assert len(value) <= FIT_BYTES
    got = orjson.loads(value)["resources"]
    # 4 MiB of resources: the first pass keeps 1,024 of 4,096 characters, still too large
    assert len(got) == 128
    for i, r in enumerate(got):
        full = resources[i]
        assert r == f"{full[:256]}…[{len(full) - 512} characters cut]…{full[-256:]}"


def test_what_no_cut_makes_small_enough_leaves_a_marker_of_the_arguments() -> None:
    nested: dict[str, Any] = {"leaf": "v"}
    for depth in range(3):  # 20 keys a level: even 16 of each is 16**3 leaves
        nested = {f"n{depth}-{i}": nested for i in range(20)}
    event = _call(nested, ["file:///a", "file:///b"])
    size = len(encode_event(event))
    value, before = fit(event, limit=2_000)
    assert before == size
    doc = orjson.loads(value)
    assert doc["args"] == {"…": f"[{size} bytes of arguments cut]"}
    assert "resources" not in doc or doc["resources"] == []
    assert doc["tool"] == "write_file" and doc["agent_id"] == "agent-1"


def test_a_cut_event_is_logged_counted_and_written_as_one_readable_line(tmp_path: Path) -> None:
    metrics = ProxyMetrics()
    out = tmp_path / "calls.jsonl"
    big = _call({"content": "z" * 3_000_000}, i=1)

    async def go() -> None:
        sink = FileEmitter(out, metrics)
        await sink.start()
        sink.emit(_call({"content": "small"}, i=0))
        sink.emit(big)
        sink.emit(_call({"content": "small"}, i=2))
        await sink.close()

    with capture_logs() as logs:
        asyncio.run(go())
    lines = out.read_bytes().splitlines()
    assert [orjson.loads(x)["event_id"] for x in lines] == ["e0", "e1", "e2"]
    assert len(lines[1]) <= FIT_BYTES
    assert isinstance(decode_event(lines[1]), ToolCall)
    cut = [e for e in logs if e["event"] == "event_cut"]
    assert len(cut) == 1
    assert {k: cut[0][k] for k in ("event_id", "agent_id", "tool", "bytes", "sent_bytes")} == {
        "event_id": "e1",
        "agent_id": "agent-1",
        "tool": "write_file",
        "bytes": len(encode_event(big)),
        "sent_bytes": len(lines[1]),
    }
    assert cut[0]["log_level"] == "warning"
    assert _sample(metrics, "mcpmon_proxy_events_cut_total") == 1
    assert _sample(metrics, "mcpmon_proxy_events_emitted_total") == 3


def test_the_kafka_sink_buffers_the_cut_event() -> None:
    metrics = ProxyMetrics()
    sink = KafkaEmitter(f"127.0.0.1:{free_port()}", "mcp.events", metrics)  # no broker

    async def go() -> None:
        await sink.start()
        sink.emit(_call({"content": "z" * 3_000_000}))
        await sink.close(timeout=0.1)

    with capture_logs() as logs:
        asyncio.run(asyncio.wait_for(go(), 30))
    (lost,) = [e for e in logs if e["event"] == "event_not_emitted"]
    assert len(orjson.dumps(lost["tool_call"])) <= FIT_BYTES
    assert "characters cut" in lost["tool_call"]["args"]["content"]
    assert _sample(metrics, "mcpmon_proxy_events_cut_total") == 1


def _cut_args(args: dict[str, Any]) -> Any:
    """The arguments as sent, for arguments that need the first pass (a 1.1 MB pad)."""
    value, before = fit(_call({**args, "pad": "p" * 1_100_000}))
    assert before
    return orjson.loads(value)["args"]


def test_what_is_at_the_limit_of_a_pass_is_kept_whole() -> None:
    args = _cut_args(
        {"s": "s" * 4096, "rows": list(range(1024)), "obj": {str(i): i for i in range(1024)}}
    )
    assert args["s"] == "s" * 4096
    assert args["rows"] == list(range(1024))  # no "…[0 items cut]"
    assert args["obj"] == {str(i): i for i in range(1024)}


def test_strings_and_lists_inside_lists_are_cut_too() -> None:
    args = _cut_args({"batch": [["x" * 5000, list(range(2000))], "y" * 5000]})
    inner, text = args["batch"]
    x, rows = inner
    assert x == f"{'x' * 2048}…[904 characters cut]…{'x' * 2048}"
    assert rows == [*range(1024), f"…[{2000 - 1024} items cut]"]
    assert text == f"{'y' * 2048}…[904 characters cut]…{'y' * 2048}"


def test_a_pass_whose_result_is_exactly_the_limit_is_the_one_sent() -> None:
    event = _call({"content": "y" * 30_000})
    first, _ = fit(event, limit=20_000)  # what the first pass makes of it
    value, before = fit(event, limit=len(first))
    assert value == first and before == len(encode_event(event))
