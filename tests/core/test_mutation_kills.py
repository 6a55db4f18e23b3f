"""Fast unit tests written to kill mutants that survived ``make mutate`` (results/mutation.md).

The Hypothesis contract suites (test_detector_contract.py, test_event_time.py)
catch most of these too, but take ~40 s a run; mutation testing runs the fast
tests, so what they alone would let through is pinned here, one behaviour a
test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from monitor.core import state as S
from monitor.core.baseline.model import AgentBaseline
from monitor.core.state import MAX_PENDING_BYTES, MAX_SEEN, AgentState, held_size
from monitor.events import (
    AlertFeedback,
    CredentialIssued,
    CredentialRevoked,
    ToolCall,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _call(**kw: Any) -> ToolCall:
    base: dict[str, Any] = dict(event_id="e1", ts=T0, agent_id="a", server="srv", tool="t")
    base.update(kw)
    return ToolCall(**base)


# ---------------------------------------------------------------- state.held_size


def test_held_size_counts_every_identifier_field_args_and_resources_exactly() -> None:
    # each field a different length, so leaving any one out changes the sum
    ev = _call(
        event_id="e" * 3,
        sponsor="s" * 5,
        task_id="t" * 7,
        session_id="x" * 11,
        credential_id="c" * 13,
        tenant="n" * 17,
        data_domain="d" * 19,
        server="v" * 23,
        tool="o" * 29,
        trace_id="r" * 31,
        args={"k": "v" * 37},
        resources=["a" * 41, "b" * 43],
    )
    ids = 3 + 5 + 7 + 11 + 13 + 17 + 19 + 23 + 29 + 31
    args = len(orjson.dumps({"k": "v" * 37}))
    resources = 41 + 43 + 3 * 2
    assert held_size(ev) == 128 + ids + args + resources


def test_held_size_of_a_bare_call_is_the_fixed_overhead_plus_its_ids() -> None:
    assert held_size(_call()) == 128 + len("e1") + len("srv") + len("t")


def test_held_size_counts_reason_alert_id_note_and_scopes() -> None:
    revoked = CredentialRevoked(
        event_id="e", ts=T0, agent_id="a", credential_id="cc", reason="r" * 10
    )
    assert held_size(revoked) == 128 + 1 + 2 + 10
    feedback = AlertFeedback(
        event_id="e", ts=T0, agent_id="a", alert_id="x" * 12, verdict="benign", note="n" * 20
    )
    assert held_size(feedback) == 128 + 1 + 12 + 20
    issued = CredentialIssued(
        event_id="e", ts=T0, agent_id="a", credential_id="cc", scopes=["s" * 4], expires_at=T0
    )
    assert held_size(issued) == 128 + 1 + 2 + 4 + 3


def test_held_size_of_args_that_cannot_be_serialised_is_too_big_to_hold() -> None:
    ev = _call(args={"x": {1, 2}})  # a set: orjson cannot write it
    assert held_size(ev) == 128 + len("e1") + len("srv") + len("t") + MAX_PENDING_BYTES


# ---------------------------------------------------------------- state snapshot / restore


def _busy_state() -> AgentState:
    """A state with every section filled, the event-id ring wrapped past its start."""
    st = AgentState("spiffe://corp/agents/a")
    st.kind = "delegated"
    st.n_calls = 7
    st.last_ts = 1_000.5
    for i in range(MAX_SEEN + 5):
        st.seen_before(f"ev-{i}")
    assert st.seen_pos == 5
    st.start_task("t1", 10.0, "alice")
    st.end_task("t1", 20.0, "end-1", None)
    st.issue_credential("c1", "t1", 11.0, 500.0)
    st.revoke_credential("c2", 12.0)
    st.sponsor_seen("alice", 13.0)
    st.sections["forbidden_chain"] = {"exfil": ["sig", [[1, 2.0, ["e"], ["c1"]], None]]}
    st.sections["rate_limit"] = [100, 3, [0] * 60]
    st.recently(st.alerted, "k-alert", 30.0, 300.0, 32)
    st.recently(st.commanded, "k-cmd", 31.0, 300.0, 32)
    st.set_timer(99.0, "absent_sponsor", "alice")
    baseline = st.sections["behaviour_anomaly"] = AgentBaseline()
    baseline.observe(_call(args={"q": 1}), 5.0)
    held = _call(event_id="held-1", args={"k": "v"}, resources=["r"])
    st.pending = [[40.0, "held-1", held, held_size(held)]]
    return st


def _plain(st: AgentState) -> dict[str, Any]:
    out = {k: getattr(st, k) for k in AgentState.__slots__ if k not in ("sections", "pending")}
    out["sections"] = st._dump()
    out["pending"] = [[t, eid, ev.model_dump(), n] for t, eid, ev, n in st.pending]
    # the ring restores oldest-first: compare it in that order
    out["seen_ring"] = st.seen_ring[st.seen_pos :] + st.seen_ring[: st.seen_pos]
    del out["seen_pos"]
    return out


def test_a_restored_state_is_the_state_that_was_snapshot() -> None:
    st = _busy_state()
    back = AgentState.restore(st.snapshot())
    assert _plain(back) == _plain(st)
    assert isinstance(back.sections["behaviour_anomaly"], AgentBaseline)
    assert back.seen_pos == 0
    assert back.snapshot() == st.snapshot()  # and it snapshots to the same bytes


def test_a_snapshot_is_version_6_with_or_without_held_events() -> None:
    st = _busy_state()
    doc = orjson.loads(st.snapshot())
    assert doc[0] == S.SNAPSHOT_VERSION == 6 and len(doc) == 14
    assert doc[4][0][1] == "held-1"
    st.pending = []
    doc = orjson.loads(st.snapshot())
    assert doc[0] == 6 and len(doc) == 14 and doc[4] is None
    assert AgentState.restore(st.snapshot()).pending == []


def test_a_fresh_state_round_trips_with_its_minus_infinity_clock() -> None:
    doc = orjson.loads(AgentState("a").snapshot())
    assert doc[2] is None  # -inf is not JSON
    assert doc[5] == {}  # no detector has kept anything yet
    back = AgentState.restore(AgentState("a").snapshot())
    assert back.last_ts == float("-inf") and back.sections == {} and back.kind is None


def test_after_restore_the_ring_forgets_the_oldest_id_first() -> None:
    st = _busy_state()  # remembers ev-5 .. ev-260; ev-5 is the oldest
    back = AgentState.restore(st.snapshot())
    assert back.seen_before("ev-5") and back.seen_before("ev-260")
    assert not back.seen_before("ev-4")  # forgotten before the snapshot; remembered now
    assert back.seen_before("ev-6") and back.seen_before("ev-4")
    assert not back.seen_before("ev-5")  # ev-5 was the oldest: it went for ev-4


def _v5(st: AgentState) -> list[Any]:
    """``st`` in version 5's layout (its fixed chain, rate and baseline slots)."""
    doc = orjson.loads(st.snapshot())
    _, agent_id, last_ts, ring, held, sections, *plain = doc
    kind, n_calls, tasks, creds, sponsors, alerted, commanded, timers = plain
    chains = dict(sections.pop("forbidden_chain", {}))
    if "footprint_breadth" in sections:
        chains["#footprint"] = sections.pop("footprint_breadth")
    rate = sections.pop("rate_limit", None)
    baseline = sections.pop("behaviour_anomaly", None)
    return [5, agent_id, kind, n_calls, last_ts, ring, tasks, creds, sponsors, chains, rate,
            alerted, commanded, timers, baseline, held, sections]  # fmt: skip


def test_older_snapshot_versions_restore() -> None:
    st = _busy_state()
    st.sections["footprint_breadth"] = [{"ab": 1.0}, {}]
    st.sections["fan_out"] = [{"t1": 5}, [0, 1, 0], [0, 0, 0], [0, 0, 0], None, False]
    v5 = _v5(st)
    back = AgentState.restore(orjson.dumps(v5))
    assert _plain(back) == _plain(st)  # the same sections (in another order)
    assert AgentState.restore(back.snapshot()).snapshot() == back.snapshot()
    v4 = v5[:-1]
    v4[0] = 4
    back = AgentState.restore(orjson.dumps(v4))
    assert "fan_out" not in back.sections and back.pending[0][1] == "held-1"
    assert back.sections["footprint_breadth"] == [{"ab": 1.0}, {}]
    v3 = v4[:-1]  # without the held events
    v3[0] = 3
    v2 = [2, *v3[1:]]
    v2[5] = S._unpack_keys(v3[5])  # version 2 wrote the ring as a JSON list
    back = AgentState.restore(orjson.dumps(v2))
    assert back.seen == set(S._unpack_keys(v3[5]))
    assert isinstance(back.sections["behaviour_anomaly"], AgentBaseline)
    v1 = v2[:-1]
    v1[0] = 1
    back = AgentState.restore(orjson.dumps(v1))
    assert "behaviour_anomaly" not in back.sections
    assert back.n_calls == 7 and back.tasks["t1"][1] == 20.0
    assert back.sections["rate_limit"] == [100, 3, [0] * 60]


@pytest.mark.parametrize("doc", [[], [7, "a"], [0, "a"], ["3", "a"]])
def test_an_unknown_snapshot_is_refused_with_its_version(doc: Any) -> None:
    with pytest.raises(ValueError, match="unsupported agent-state snapshot"):
        AgentState.restore(orjson.dumps(doc))


def test_a_version_5_snapshot_with_a_bad_hijack_element_is_corrupt() -> None:
    bad = _v5(_busy_state())
    bad[-1] = ["not", "an", "object"]
    with pytest.raises(ValueError, match="corrupt agent-state snapshot"):
        AgentState.restore(orjson.dumps(bad))


def test_event_id_keys_pack_as_unsigned_64_bit() -> None:
    keys = [0, 1, 2**63, 2**64 - 1]
    packed = S._pack_keys(keys)
    assert isinstance(packed, str) and len(packed) == 44  # 32 bytes in base64
    assert S._unpack_keys(packed) == keys


# ---------------------------------------------------------------- state ledger, memories, timers


def test_a_fresh_state_knows_nothing() -> None:
    st = AgentState("a")
    assert (st.kind, st.n_calls, st.last_ts, st.seen_pos) == (None, 0, float("-inf"), 0)


def test_event_keys_are_stable_64_bit_little_endian_blake2b() -> None:
    from hashlib import blake2b

    digest = blake2b(b"ev-1", digest_size=8).digest()
    assert S.event_key("ev-1") == int.from_bytes(digest, "little")
    assert S.event_key("ev-1") != int.from_bytes(digest, "big")


def test_the_event_id_ring_overwrites_oldest_first_one_slot_at_a_time() -> None:
    st = AgentState("a")
    for i in range(MAX_SEEN + 2):
        st.seen_before(f"e{i}")
    assert st.seen_pos == 2
    assert not st.seen_before("e0") and st.seen_pos == 3  # e0 was forgotten; e2 goes for it
    assert st.seen_before("e3") and not st.seen_before("e2")


def test_evict_keeps_the_cap_and_drops_ended_records_first() -> None:
    d = {"a": [None], "b": ["ended"], "c": [None]}
    S._evict(d, 3, prefer=0)
    assert list(d) == ["a", "c"]
    S._evict(d, 3, prefer=0)
    assert list(d) == ["a", "c"]  # below the cap: nothing goes
    S._evict(d, 2, prefer=0)
    assert list(d) == ["c"]  # none ended: the oldest goes
    d = {"a": ["x"], "b": ["y"]}
    S._evict(d, 2)
    assert list(d) == ["b"]  # no preference: the oldest, ended or not


def test_tasks_keep_their_earliest_start_first_sponsor_and_earliest_end() -> None:
    st = AgentState("a")
    st.start_task("t", 10.0, None)
    st.start_task("t", 5.0, "alice")
    st.start_task("t", 7.0, "bob")
    assert st.task("t")[:3] == [5.0, None, "alice"]
    st.end_task("t", 30.0, "end-a", None)
    st.end_task("t", 30.0, "end-b", None)  # same time: the first end event stays
    st.end_task("t", 20.0, "end-c", None)
    assert (st.task("t")[S.T_ENDED], st.task("t")[S.T_END_EVENT]) == (20.0, "end-c")
    rec = st.end_task("u", 40.0, "end-u", "carol")  # an end without a start starts it
    assert rec == [40.0, 40.0, "carol", [], "end-u"] and st.task("u") is rec


def test_a_full_task_ledger_forgets_an_ended_task_first() -> None:
    st = AgentState("a")
    for i in range(S.MAX_TASKS):
        st.start_task(f"t{i}", float(i), None)
    st.end_task("t3", 50.0, "e", None)
    st.start_task("new", 60.0, None)
    assert "t3" not in st.tasks and "t0" in st.tasks and len(st.tasks) == S.MAX_TASKS


def test_credentials_link_to_their_task_once_and_revocations_keep_the_earliest_time() -> None:
    st = AgentState("a")
    st.issue_credential("c1", "t", 10.0, 100.0)
    st.issue_credential("c1", "t", 11.0, 100.0)
    assert st.task("t") == [10.0, None, None, ["c1"], None]  # implied task, linked once
    st.issue_credential("c0", None, 12.0, 100.0)
    assert st.creds["c0"] == [None, 12.0, 100.0, None] and st.task("t")[S.T_CREDS] == ["c1"]
    st.revoke_credential("c1", 30.0)
    st.revoke_credential("c1", 30.0)
    st.revoke_credential("c1", 20.0)
    st.revoke_credential("c1", 40.0)
    assert st.creds["c1"][S.C_REVOKED] == 20.0
    st.revoke_credential("cx", 5.0)  # revoked before it was seen issued
    assert st.creds["cx"] == [None, None, None, 5.0]


def test_a_full_credential_ledger_forgets_a_revoked_one_first() -> None:
    st = AgentState("a")
    for i in range(S.MAX_CREDS):
        st.issue_credential(f"c{i}", None, float(i), 1e9)
    st.revoke_credential("c5", 50.0)
    st.issue_credential("new", None, 60.0, 1e9)
    assert "c5" not in st.creds and "c0" in st.creds and len(st.creds) == S.MAX_CREDS
    st.revoke_credential("c6", 61.0)
    st.revoke_credential("gone", 62.0)  # a new record: a revoked one (c6) makes room
    assert "c6" not in st.creds and "c0" in st.creds and len(st.creds) == S.MAX_CREDS


def test_a_task_forgets_only_credentials_the_ledger_forgot_past_16() -> None:
    st = AgentState("a")
    for i in range(16):
        st.issue_credential(f"c{i}", "t", float(i), 1e9)
    assert len(st.task("t")[S.T_CREDS]) == 16
    del st.creds["c0"]
    st.issue_credential("c16", "t", 20.0, 1e9)
    assert st.task("t")[S.T_CREDS] == [f"c{i}" for i in range(1, 17)]


def test_an_end_or_a_credential_never_rewrites_a_known_tasks_start() -> None:
    # the ledger keeps what task_started said; a later event only adds the end / a credential
    st = AgentState("a")
    st.start_task("t", 10.0, None)
    st.end_task("t", 30.0, "end-1", "bob")
    assert st.task("t")[:3] == [10.0, 30.0, None]  # bob (from the end) is not the sponsor
    st.start_task("u", 10.0, None)
    st.issue_credential("c1", "u", 4.0, 100.0)  # issued before the task's (skewed) start
    assert st.task("u") == [10.0, None, None, ["c1"], None]


def test_a_second_end_at_the_same_instant_keeps_the_first_end_event() -> None:
    st = AgentState("a")
    st.end_task("t", 30.0, "end-a", None)
    st.end_task("t", 30.0, "end-b", None)
    assert (st.task("t")[S.T_ENDED], st.task("t")[S.T_END_EVENT]) == (30.0, "end-a")


def test_a_task_keeps_all_16_credential_ids_even_when_the_ledger_forgot_one() -> None:
    st = AgentState("a")
    for i in range(15):
        st.issue_credential(f"c{i}", "t", float(i), 1e9)
    del st.creds["c0"]
    st.issue_credential("c15", "t", 20.0, 1e9)  # the 16th: no trimming yet
    assert st.task("t")[S.T_CREDS] == [f"c{i}" for i in range(16)]


def test_live_credentials_exclude_revoked_and_expired_at_the_instant() -> None:
    st = AgentState("a")
    st.issue_credential("c1", "t", 1.0, 100.0)
    st.issue_credential("c2", "t", 1.0, 100.0)
    st.issue_credential("c3", "t", 1.0, 200.0)
    st.revoke_credential("c1", 5.0)
    assert st.live_credentials("t", 99.0) == ["c2", "c3"]
    assert st.live_credentials("t", 100.0) == ["c3"]  # expiring at ts: not live
    assert st.live_credentials("other", 99.0) == []
    st.tasks["t"][S.T_CREDS] = []  # the task record made anew: every credential is looked at
    assert st.live_credentials("t", 99.0) == ["c2", "c3"]


def test_a_tasks_live_credentials_are_its_own_list_not_a_scan_of_the_ledger() -> None:
    # c1 was issued for t, then re-issued for u: t's revocation still ends it (its list holds
    # it); a scan of the ledger by task would miss it
    st = AgentState("a")
    st.issue_credential("c1", "t", 1.0, 100.0)
    st.issue_credential("c2", "t", 2.0, 100.0)
    st.issue_credential("c1", "u", 3.0, 100.0)
    assert st.live_credentials("t", 50.0) == ["c1", "c2"]
    assert st.live_credentials("u", 50.0) == ["c1"]


def test_sponsors_come_back_after_ending_only_with_a_later_event() -> None:
    st = AgentState("a")
    st.sponsor_seen("alice", 10.0)
    st.sponsor_seen("alice", 5.0)
    assert st.sponsors["alice"][S.S_ACTIVE] == 10.0
    rec = st.sponsor("alice")
    rec[S.S_ENDED], rec[S.S_END_EVENT] = 20.0, "end"
    st.sponsor_seen("alice", 20.0)  # same instant as the end: still ended
    assert rec[S.S_ENDED] == 20.0 and rec[S.S_ACTIVE] == 20.0
    st.sponsor_seen("alice", 21.0)
    assert rec == [21.0, None, None]


def test_recently_is_a_half_open_window_and_forgets_the_oldest_when_full() -> None:
    st = AgentState("a")
    memo: dict[str, float] = {}
    assert not st.recently(memo, "k", 0.0, 10.0, 2)
    assert st.recently(memo, "k", 9.9, 10.0, 2)
    assert not st.recently(memo, "k", 10.0, 10.0, 2)  # exactly the window later: new again
    assert not st.recently(memo, "j", 11.0, 10.0, 2)
    assert list(memo) == ["k", "j"]
    assert not st.recently(memo, "i", 12.0, 10.0, 2)
    assert list(memo) == ["j", "i"]  # full at 2: the oldest went


def test_timers_move_in_place_and_fire_at_the_watermark() -> None:
    st = AgentState("a")
    st.set_timer(10.0, "absent_sponsor", "alice")
    st.set_timer(20.0, "absent_sponsor", "bob")
    st.set_timer(30.0, "lingering", "alice")  # same key, other detector: another timer
    st.set_timer(15.0, "absent_sponsor", "alice")  # moved
    assert sorted(st.timers) == [
        [15.0, "absent_sponsor", "alice"],
        [20.0, "absent_sponsor", "bob"],
        [30.0, "lingering", "alice"],
    ]
    assert st.next_due() == 15.0
    assert st.pop_due(14.9) == []
    assert st.pop_due(20.0) == [[15.0, "absent_sponsor", "alice"], [20.0, "absent_sponsor", "bob"]]
    assert st.timers == [[30.0, "lingering", "alice"]]


def test_a_full_timer_list_drops_the_one_furthest_away() -> None:
    st = AgentState("a")
    for i in range(S.MAX_TIMERS):
        st.set_timer(float(i), "d", f"k{i}")
    st.set_timer(-1.0, "d", "new")
    assert len(st.timers) == S.MAX_TIMERS
    assert [-1.0, "d", "new"] in st.timers and [31.0, "d", "k31"] not in st.timers


def test_held_events_snapshot_as_json_without_empty_fields() -> None:
    st = AgentState("a")
    ev = _call(event_id="h1")
    st.pending = [[40.0, "h1", ev, held_size(ev)]]
    held = orjson.loads(st.snapshot())[4]
    assert held == [[40.0, "h1", ev.model_dump(mode="json", exclude_none=True)]]


# ---------------------------------------------------------------- decision: ids, dedup, targets

import base64  # noqa: E402
import hashlib  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from monitor.core.decision import DecisionStep, finding_id, memo_key, stable_id  # noqa: E402
from monitor.core.detectors.base import Finding  # noqa: E402
from monitor.core.redact import RedactionRules, Redactor  # noqa: E402
from monitor.errors import DecodeError  # noqa: E402
from monitor.identity import canonical_id, canonical_optional  # noqa: E402

CHARTER: Any = SimpleNamespace(
    kind="delegated", mode="enforce", pattern="spiffe://corp/agents/*", mission="patch hosts"
)


def _finding(**kw: Any) -> Finding:
    base: dict[str, Any] = dict(
        detector="lingering_access",
        key="limits.task_grace",
        clause_text="calls end with the task",
        severity="high",
        reason="call after the task ended",
        evidence=["ev-1", "ev-2"],
    )
    base.update(kw)
    return Finding(**base)


def _decide(findings: list[Finding], st: AgentState | None = None, **kw: Any) -> Any:
    step = DecisionStep(300.0, kw.pop("revoke_min", "high"), False, kw.pop("redact", None))
    args: dict[str, Any] = dict(charter=CHARTER, sponsor=None, credential_id=None)
    args.update(kw)
    return step.decide(findings, 1000.0, st or AgentState("agent-1"), **args)


def test_ids_are_the_documented_hashes() -> None:
    assert stable_id("a", "b") == hashlib.sha256(b"a\x1fb").hexdigest()[:32]
    assert len(stable_id("x")) == 32
    digest = hashlib.blake2b(b"k", digest_size=9).digest()
    assert memo_key("k") == base64.b64encode(digest).decode() and len(memo_key("k")) == 12


def test_alert_and_command_ids_hash_agent_detector_key_dedup_target_and_every_evidence() -> None:
    f = _finding(dedup="d1", revoke="task", task_id="t1", credential_ids=["c2", "c1", "c2"])
    (alert,), (cmd,), suppressed = _decide([f])
    assert suppressed == 0
    cause = ("ev-1", "ev-2", "t=1000.0")  # every evidence event and the event time
    assert alert.alert_id == finding_id(
        "agent-1", "lingering_access", "limits.task_grace", "d1", *cause
    )
    target = "task|t1||c1,c2"
    assert cmd.command_id == finding_id(
        "agent-1", target, "lingering_access", "limits.task_grace", "d1", *cause
    )
    assert cmd.credential_ids == ["c1", "c2"] and cmd.session_id is None


def test_a_commands_expiry_is_the_latest_of_its_credentials_whatever_their_order() -> None:
    from monitor.core.decision import latest_expiry

    st = AgentState("a")
    st.issue_credential("late", None, 1.0, 500.0)
    st.issue_credential("early", None, 1.0, 200.0)
    want = datetime.fromtimestamp(500.0, UTC)
    assert latest_expiry(st, ["late", "early"]) == latest_expiry(st, ["early", "late"]) == want
    assert latest_expiry(st, []) is None
    assert latest_expiry(st, ["late", "unknown"]) is None  # one unknown: the deny-list cannot tell
    st.revoke_credential("revoked-first", 1.0)  # known only as revoked: no expiry
    assert latest_expiry(st, ["late", "revoked-first"]) is None


def test_an_agent_command_never_expires_even_when_its_credentials_do() -> None:
    st = AgentState("agent-1")
    st.issue_credential("c1", None, 1.0, 5000.0)
    f = _finding(revoke="agent", credential_ids=["c1"])
    _, (cmd,), _ = _decide([f], st)
    assert (cmd.scope, cmd.credential_ids, cmd.expires_at) == ("agent", ["c1"], None)
    _, (cred,), _ = _decide([_finding(revoke="credential", credential_ids=["c1"], key="k2")], st)
    assert cred.expires_at == datetime.fromtimestamp(5000.0, UTC)  # the same credential alone


def test_finding_ids_are_length_prefixed_so_parts_cannot_run_into_each_other() -> None:
    assert finding_id("a|b", "c") != finding_id("a", "b|c")
    assert finding_id("a\x1fb") != finding_id("a", "b")
    h = hashlib.sha256(b"1:a2:bc").hexdigest()[:32]
    assert finding_id("a", "bc") == h


def test_without_evidence_the_id_names_the_instant() -> None:
    (alert,), _, _ = _decide([_finding(evidence=[])])
    assert alert.alert_id == finding_id(
        "agent-1", "lingering_access", "limits.task_grace", "", "t=1000.0"
    )


def test_a_repeated_finding_is_counted_once_and_the_next_ones_still_decided() -> None:
    a, b = _finding(), _finding(key="tools", reason="other")
    alerts, _, suppressed = _decide([a, a, a, b])
    assert suppressed == 2
    assert [x.clause.key for x in alerts] == ["limits.task_grace", "tools"]
    assert _decide([])[2] == 0


def test_the_alert_names_the_sponsor_given_or_the_tasks() -> None:
    st = AgentState("agent-1")
    st.start_task("t1", 1.0, "alice")
    (al,), _, _ = _decide([_finding(task_id="t1")], st, sponsor="bob")
    assert al.sponsor == "bob"
    (al,), _, _ = _decide([_finding(task_id="t1", key="k2")], st)
    assert al.sponsor == "alice"
    (al,), _, _ = _decide([_finding(task_id="unknown", key="k3")], st)
    assert al.sponsor is None
    st.start_task("t2", 1.0, None)
    (al,), _, _ = _decide([_finding(key="k4")], st, sponsor=None)
    assert al.sponsor is None and al.task_id is None


def test_the_alert_carries_kind_session_and_mission() -> None:
    st = AgentState("agent-1")
    (al,), _, _ = _decide([_finding(session_id="s1")], st)
    assert (al.agent_kind, al.session_id, al.clause.mission) == ("delegated", "s1", "patch hosts")
    st.kind = "autonomous"
    (al,), _, _ = _decide([_finding(key="k2")], st)
    assert al.agent_kind == "autonomous"
    (al,), _, _ = _decide([_finding(key="k3")], AgentState("x"), charter=None)
    assert (al.agent_kind, al.clause.mission, al.clause.charter, al.mode) == (
        None,
        "",
        None,
        "observe",
    )


def test_session_revocations_target_the_session_other_scopes_do_not() -> None:
    st = AgentState("agent-1")
    s1 = _finding(revoke="session", session_id="s1", dedup="1")
    s2 = _finding(revoke="session", session_id="s2", dedup="2")
    _, cmds, _ = _decide([s1, s2], st)
    assert [c.session_id for c in cmds] == ["s1", "s2"]  # two sessions: two targets
    cause = ("ev-1", "ev-2", "t=1000.0")
    want = finding_id(
        "agent-1", "session||s1|", "lingering_access", "limits.task_grace", "1", *cause
    )
    assert cmds[0].command_id == want
    st = AgentState("agent-1")
    t1 = _finding(revoke="task", task_id="t", session_id="s1", dedup="1")
    t2 = _finding(revoke="task", task_id="t", session_id="s2", dedup="2")
    _, cmds, _ = _decide([t1, t2], st)
    assert len(cmds) == 1 and cmds[0].session_id is None  # one task: one command
    _, cmds, _ = _decide([_finding(revoke="session", dedup="3")], AgentState("agent-1"))
    assert cmds[0].command_id == finding_id(
        "agent-1", "session|||", "lingering_access", "limits.task_grace", "3", *cause
    )


def test_a_command_target_is_commanded_again_only_after_the_dedup_window() -> None:
    st = AgentState("agent-1")
    step = DecisionStep(300.0, "high", False)
    f = _finding(revoke="credential", credential_ids=["c1"])
    (first,) = step.decide([f], 0.0, st, CHARTER, None, None)[1]
    g = _finding(revoke="credential", credential_ids=["c1"], dedup="other")
    assert step.decide([g], 299.0, st, CHARTER, None, None)[1] == []  # within the window
    h = _finding(revoke="credential", credential_ids=["c1"], dedup="later", evidence=["ev-9"])
    (again,) = step.decide([h], 1e9, st, CHARTER, None, None)[1]
    assert again.credential_ids == ["c1"] and again.command_id != first.command_id


def test_a_command_reason_is_redacted_too() -> None:
    red = Redactor(RedactionRules())
    f = _finding(revoke="task", task_id="t", reason="saw password=hunter2 in args")
    (al,), (cmd,), _ = _decide([f], redact=red)
    assert "hunter2" not in cmd.reason and "hunter2" not in al.reason
    assert "[REDACTED:key-value]" in cmd.reason


# ---------------------------------------------------------------- identity


@pytest.mark.parametrize(
    ("ch", "name"),
    [
        ("\u2028", "U+2028"),
        ("\u2029", "U+2029"),
        ("\ue000", "U+E000"),
        ("\ud800", "U+D800"),
        ("\u0378", "U+0378"),
    ],
)
def test_separators_private_use_surrogates_and_unassigned_are_invisible(ch: str, name: str) -> None:
    with pytest.raises(DecodeError) as err:
        canonical_id(f"t{ch}1", "task_id")
    assert str(err.value) == f"task_id: invisible character {name}"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "empty"),
        (" a", "leading or trailing white space"),
        ("ｐatcher", "characters that Unicode normalisation (NFKC) changes"),
        ("spiffe:///agents/a", "SPIFFE ID has no trust domain"),
        ("spiffe://corp/", "SPIFFE ID ends with '/'"),
        ("spiffe://corp/a//b", "SPIFFE ID has an empty path segment"),
        ("spiffe://corp/a%62", "SPIFFE ID is percent-encoded"),
    ],
)
def test_each_refusal_says_exactly_why(value: str, why: str) -> None:
    with pytest.raises(DecodeError) as err:
        canonical_id(value, "agent_id")
    assert str(err.value) == f"agent_id: {why}"


def test_non_ascii_that_normalisation_keeps_is_an_identifier() -> None:
    assert canonical_id("josé@example.org", "sponsor") == "josé@example.org"


def test_canonical_optional_keeps_none_and_canonicalises_the_rest() -> None:
    assert canonical_optional(None, "sponsor") is None
    assert canonical_optional("SPIFFE://Corp/a", "sponsor") == "spiffe://corp/a"
    with pytest.raises(DecodeError) as err:
        canonical_optional("", "session_id")
    assert str(err.value) == "session_id: empty"


def test_an_alerts_free_text_ids_are_redacted() -> None:
    red = Redactor(RedactionRules())
    secret = "token=abc123secret"
    f = _finding(task_id=f"t-{secret}", session_id=f"s-{secret}")
    (al,), _, _ = _decide([f], redact=red, credential_id=f"c-{secret}", sponsor=f"p-{secret}")
    for v in (al.task_id, al.session_id, al.credential_id, al.sponsor):
        assert v is not None and "abc123secret" not in v and "[REDACTED:key-value]" in v


@pytest.mark.parametrize(
    "data",
    [
        b'{"v":3}',
        b"5",
        b'"x"',
        b"[]",
        b"[99]",
        b"[3, 1, 2]",
        b'[3,"a",null,0,null,5,{},{},{},{},{},{},{},[],[],[]]',
    ],
)
def test_a_corrupt_snapshot_is_one_value_error_whatever_its_shape(data: bytes) -> None:
    with pytest.raises(ValueError, match="agent-state snapshot"):
        AgentState.restore(data)


@pytest.mark.parametrize(
    ("data", "version"), [(b"[99]", "99"), (b'["3", "a"]', "'3'"), (b"[]", "None"), (b"5", "None")]
)
def test_an_unsupported_snapshot_names_its_version(data: bytes, version: str) -> None:
    with pytest.raises(
        ValueError, match=rf"^unsupported agent-state snapshot \(version {version}\)$"
    ):
        AgentState.restore(data)


def test_a_corrupt_snapshot_names_the_error_it_hit() -> None:
    ring_not_a_list = b'[3,"a",null,0,null,5,{},{},{},{},null,{},{},[],null]'
    with pytest.raises(ValueError, match=r"^corrupt agent-state snapshot: TypeError: 'int' object"):
        AgentState.restore(ring_not_a_list)
    with pytest.raises(ValueError, match=r"^corrupt agent-state snapshot: ValueError: not enough"):
        AgentState.restore(b"[3, 1, 2]")
