"""Coverage-guided fuzzing of the decoder and engine with atheris (libFuzzer for Python).

Run it directly, for as long as you like::

    .venv/bin/python tests/fuzz/atheris_decode.py -runs=200000
    .venv/bin/python tests/fuzz/atheris_decode.py -max_total_time=600 CORPUS_DIR

Every input goes through :func:`monitor.events.decode_event`; what decodes goes
through one long-lived :class:`~monitor.core.Engine` (lateness 30 s, so events
are also held and reordered) and every output must serialise. The only
exception allowed is :class:`~monitor.errors.DecodeError`: anything else is a
crash, and atheris stops with the input that caused it. With no corpus
directory it starts from a seed corpus of one valid event per type, which it
writes to a temporary directory; libFuzzer mutates those into near-valid
JSON. ``tests/fuzz/test_atheris.py`` runs it bounded in CI.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["monitor"]):
    from monitor.core import Engine, EngineSettings
    from monitor.core.state import AgentState
    from monitor.errors import DecodeError
    from monitor.events import decode_event
    from monitor.testing import charter

SEEDS = [
    b'{"type":"tool_call","event_id":"e1","ts":"2026-03-02T09:06:00Z","agent_id":"agent:a/1",'
    b'"server":"fs","tool":"read_file","task_id":"T1","credential_id":"c1","sponsor":"alice",'
    b'"args":{"path":"/x","url":"https://h/"},"resources":["file:///r/.env"],"bytes_out":10,'
    b'"outcome":"ok","session_id":"s1","tenant":"corp"}',
    b'{"type":"task_started","event_id":"e2","ts":"2026-03-02T09:00:00Z","agent_id":"agent:a/1",'
    b'"task_id":"T1","sponsor":"alice","agent_kind":"delegated"}',
    b'{"type":"task_ended","event_id":"e3","ts":"2026-03-02T09:10:00+01:00","agent_id":"agent:a/1",'
    b'"task_id":"T1"}',
    b'{"type":"credential_issued","event_id":"e4","ts":"2026-03-02T09:00:01Z",'
    b'"agent_id":"agent:a/1","credential_id":"c1","task_id":"T1","scopes":["r"],'
    b'"expires_at":"2026-03-02T09:30:00Z"}',
    b'{"type":"credential_revoked","event_id":"e5","ts":"2026-03-02T09:05:00Z",'
    b'"agent_id":"agent:a/1","credential_id":"c1","reason":"x"}',
    b'{"type":"sponsor_ended","event_id":"e6","ts":"2026-03-02T09:07:00Z","agent_id":"agent:a/1",'
    b'"sponsor":"alice"}',
    b'{"type":"alert_feedback","event_id":"e7","ts":"2026-03-02T09:08:00Z","agent_id":"agent:a/1",'
    b'"alert_id":"x","verdict":"benign"}',
    b'{"type":"charter_updated","event_id":"e8","ts":"2026-03-02T09:08:00Z","agent_id":"agent:a/1",'
    b'"charter":{"agent":"agent:b/*","kind":"autonomous","tools":[]}}',
]

ENGINE = Engine(
    [
        charter(
            "agent:a/*",
            "delegated",
            tools=[{"server": "fs", "tool": "read_file", "classes": ["read"]}],
            forbidden_chains=[{"name": "x", "sequence": ["read_secret", "egress"]}],
            limits={"task_grace_seconds": 10, "credential_max_ttl": 600},
        )
    ],
    EngineSettings(allowed_lateness_seconds=30),
)
RUNS = [0, 0]  # inputs, of which decoded


def _report() -> None:
    print(f"inputs {RUNS[0]}, decoded {RUNS[1]} (went through the engine)", file=sys.stderr)


def one_input(data: bytes) -> None:
    RUNS[0] += 1
    if RUNS[0] % 10_000 == 0:  # libFuzzer exits without running atexit handlers
        _report()
    try:
        event = decode_event(data)
    except DecodeError as err:
        if not err.reason:
            raise AssertionError("a DecodeError without a reason") from None
        return
    RUNS[1] += 1
    decision = ENGINE.process(event)
    for out in [*decision.alerts, *decision.revocations]:
        out.to_json()
    if RUNS[0] % 512 == 0:  # the state keeps round-tripping as hostile input piles up
        for st in list(ENGINE.states.values())[:8]:
            snap = st.snapshot()
            if AgentState.restore(snap).snapshot() != snap:
                raise AssertionError("agent state does not round-trip")


def main() -> None:
    argv = list(sys.argv)
    if not any(not a.startswith("-") for a in argv[1:]):  # no corpus given: seed one
        corpus = Path(tempfile.mkdtemp(prefix="mcpmon-atheris-"))
        for i, seed in enumerate(SEEDS):
            (corpus / f"seed-{i}.json").write_bytes(seed)
        argv.append(str(corpus))
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
