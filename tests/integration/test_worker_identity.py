"""Issue 13 on the real broker: re-spelled identities, integer and far-future times, repeated keys.

Every bad spelling of ``spiffe://corp/agents/patcher-7`` (``corp//agents``, a
trailing ``/``, ``%70``, a leading space, a zero-width space, a fullwidth
letter, a NUL), an integer ``ts``, a repeated JSON key and a ``ts`` in 2199 must
land in ``mcp.deadletter`` with their reasons; the scheme and trust domain in
capitals fold to the canonical agent, which is judged against its charter
(enforce), and the events after the 2199 one are on time (not ``late``).
"""

from __future__ import annotations

import asyncio

import orjson

from monitor.kafka_io import produce, read_topics
from tests.integration.helpers import docs, multiset, read_outputs
from tests.integration.workers import Run
from tests.worker.support import EXAMPLE_CHARTERS, replay_outputs

AGENT = "spiffe://corp/agents/patcher-7"


def _call(event_id: str, minute: int = 6, **kw: object) -> dict[str, object]:
    return {
        "type": "tool_call",
        "event_id": event_id,
        "ts": f"2026-03-02T09:{minute:02d}:00Z",
        "agent_id": AGENT,
        "server": "fleet",
        "tool": "list_hosts",
        "outcome": "ok",
        "tenant": "corp",
        **kw,
    }


RESPELLED = [
    ("spiffe://corp//agents/patcher-7", "empty path segment"),
    ("spiffe://corp/agents/patcher-7/", "ends with '/'"),
    ("spiffe://corp/agents/%70atcher-7", "percent-encoded"),
    (" spiffe://corp/agents/patcher-7", "white space"),
    ("spiffe://corp/agents/\u200bpatcher-7", "invisible character U+200B"),
    ("spiffe://corp/agents/\uff50atcher-7", "NFKC"),
    ("spiffe://corp/agents/patcher-7\u0000", "control character U+0000"),
]

#: (raw value, the reason its dead letter must give; None: a valid event)
SEQUENCE: list[tuple[bytes, str | None]] = [
    (orjson.dumps(_call("ok-1")), None),
    # the scheme and trust domain in capitals: the same agent, judged by its charter
    (
        orjson.dumps(
            _call(
                "folded-1", agent_id="SPIFFE://CORP/agents/patcher-7", server="shell", tool="exec"
            )
        ),
        None,
    ),
    *[
        (orjson.dumps(_call(f"bad-id-{i}", agent_id=a, server="shell", tool="exec")), why)
        for i, (a, why) in enumerate(RESPELLED)
    ],
    (orjson.dumps(_call("int-ts", ts=1772442000)), "RFC 3339"),
    (
        b'{"type":"tool_call","event_id":"dup-1","ts":"2026-03-02T09:06:00Z","agent_id":"'
        + AGENT.encode()
        + b'","server":"shell","tool":"exec","server":"fleet","tool":"list_hosts"}',
        "duplicate JSON key 'server'",
    ),
    (
        orjson.dumps(_call("future-1", ts="2199-01-01T00:00:00Z")),
        "ahead of the judging clock",
    ),
    # after the 2199 one: on time, judged against the charter (not late, not observed)
    (orjson.dumps(_call("after-1", minute=7, server="shell", tool="rm")), None),
]


def test_bad_identities_and_times_are_dead_letters_and_the_canonical_agent_is_judged(
    run: Run,
) -> None:
    worker = run.start_worker(EXAMPLE_CHARTERS)
    worker.wait_ready()
    # one key, one partition: the order (and so the event time) is that of SEQUENCE
    records = [(AGENT.encode(), raw) for raw, _ in SEQUENCE]
    metas = asyncio.run(produce(run.bootstrap, run.topics["events"], records))
    expected_dead = {
        (m.partition, m.offset): reason
        for m, (_, reason) in zip(metas, SEQUENCE, strict=True)
        if reason is not None
    }
    want_a, want_r = replay_outputs([raw for raw, _ in SEQUENCE], EXAMPLE_CHARTERS)

    dead = asyncio.run(
        read_topics(
            run.bootstrap,
            [run.topics["deadletter"]],
            until=lambda r: len(r) >= len(expected_dead),
            timeout=60,
            settle=1.0,
        )
    )
    seen = {}
    for rec in dead:
        doc = orjson.loads(rec.value)
        seen[(doc["partition"], doc["offset"])] = doc
    assert set(seen) == set(expected_dead), worker.tail()
    for where, reason in expected_dead.items():
        assert reason in seen[where]["reason"], (reason, seen[where]["reason"])
    fields = sorted(d["field"] for d in seen.values())
    assert fields == sorted(["agent_id"] * len(RESPELLED) + ["ts", "ts", "server"])

    out = read_outputs(run, len(want_a) + len(want_r), timeout=60)
    alerts, commands = docs(out["alerts"]), docs(out["revocations"])
    assert multiset(alerts) == multiset(want_a)  # the worker judges as replay does
    assert multiset(commands) == multiset(want_r)
    # the folded id and the call after 2199 are the canonical agent's, judged by its charter
    judged = {
        (a["evidence"][0], a["agent_id"], a["clause"]["key"], a["clause"]["charter"])
        for a in alerts
    }
    assert ("folded-1", AGENT, "tools", "spiffe://corp/agents/patcher-*") in judged
    assert ("after-1", AGENT, "tools", "spiffe://corp/agents/patcher-*") in judged
    assert not [a for a in alerts if a["detector"] == "late_event"]
    assert not [a for a in alerts if a["clause"]["key"] == "charter"]  # no "no charter" agent
    assert {c["agent_id"] for c in commands} == {AGENT}
    assert {c["mode"] for c in commands} == {"enforce"}
    assert worker.alive
    logged = [r for r in worker.logs() if r.get("event") == "deadletter"]
    assert len(logged) == len(expected_dead)
