"""The pure core: decisions, retry schedule, targets, failure alert — no I/O."""

from __future__ import annotations

import ast
import hashlib
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import monitor.retry as retry_mod
import monitor.revoker.plan as plan_mod
from monitor.output_contracts import Alert
from monitor.retry import RetryPolicy
from monitor.revoker.plan import (
    FAILURE_DETECTOR,
    MAX_POLL_INTERVAL_SECONDS,
    OBSERVE_DETAIL,
    decide,
    failure_alert,
    observe_detail,
    records_per_poll,
    targets,
    worst_case_seconds,
)
from tests.revoker.support import T0, command


@pytest.mark.parametrize(
    ("mode", "applied", "action"),
    [
        ("enforce", False, "apply"),
        ("enforce", True, "skip"),
        ("observe", False, "observe"),
        ("observe", True, "observe"),
    ],
)
def test_decide(mode: str, applied: bool, action: str) -> None:
    assert decide(mode, applied) == action


def test_retry_schedule_is_exponential_capped_and_bounded() -> None:
    p = RetryPolicy(attempts=6, base_seconds=0.5, factor=2.0, max_seconds=3.0)
    assert p.schedule() == (0.5, 1.0, 2.0, 3.0, 3.0)
    assert [p.should_retry(n, True) for n in range(1, 7)] == [True] * 5 + [False]
    assert not p.should_retry(1, False)
    assert RetryPolicy(attempts=1).schedule() == ()


@given(
    attempts=st.integers(1, 30),
    base=st.floats(0, 10),
    factor=st.floats(1, 4),
    cap=st.floats(0, 60),
)
def test_retry_schedule_properties(attempts: int, base: float, factor: float, cap: float) -> None:
    s = RetryPolicy(attempts, base, factor, cap).schedule()
    assert len(s) == attempts - 1
    assert all(0 <= d <= cap for d in s)
    assert list(s) == sorted(s)  # never shrinks


@pytest.mark.parametrize("bad", [{"attempts": 0}, {"base_seconds": -1}, {"factor": 0.5}])
def test_retry_policy_rejects_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**bad)  # type: ignore[arg-type]


def test_targets_by_scope() -> None:
    t = targets(command(scope="task", credential_ids=["c1", "c1", "c2"], session_id="s1"))
    assert (t.credentials, t.task, t.session, t.agent) == (("c1", "c2"), "task-1", None, None)
    t = targets(command(scope="session", session_id="s1", credential_ids=[]))
    assert (t.credentials, t.task, t.session, t.agent) == ((), None, "s1", None)
    t = targets(command(scope="agent"))
    assert t.agent == "spiffe://corp/agents/a1" and t.task is None
    t = targets(command(scope="credential", credential_ids=["c9"]))
    assert (t.credentials, t.task, t.session, t.agent) == (("c9",), None, None, None)


def test_observe_detail_says_not_applied_and_what_it_would_do() -> None:
    d = observe_detail(command(mode="observe", scope="agent", credential_ids=[]))
    assert d.startswith(OBSERVE_DETAIL)
    assert "agent spiffe://corp/agents/a1" in d


def test_failure_alert_is_a_valid_deterministic_alert() -> None:
    cmd = command()
    a = failure_alert(cmd, "oauth", "oauth: HTTP 503", 5, T0)
    b = failure_alert(cmd, "oauth", "other text", 2, T0)
    assert a.alert_id == b.alert_id != failure_alert(cmd, "vault", "x", 1, T0).alert_id
    assert a.detector == FAILURE_DETECTOR and a.severity == "critical"
    assert a.details["command_id"] == "cmd-1" and a.details["attempts"] == 5
    assert "5 attempt(s)" in a.reason and "HTTP 503" in a.reason
    assert Alert.model_validate_json(a.to_json()) == a
    assert [f.id for f in a.frameworks.owasp_agentic] == ["ASI03"]


@pytest.mark.parametrize("module", [plan_mod, retry_mod])
def test_plan_is_pure(module: object) -> None:
    tree = ast.parse(Path(module.__file__).read_text())  # type: ignore[attr-defined]
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "hashlib", "dataclasses", "datetime", "typing", "monitor"}


def test_a_batch_of_commands_against_a_dead_actuator_still_polls_in_time() -> None:
    policy = RetryPolicy(attempts=5, base_seconds=0.5, factor=2.0, max_seconds=30)
    worst = worst_case_seconds(policy, 11.0)
    assert worst == 5 * 11.0 + (0.5 + 1 + 2 + 4)
    n = records_per_poll(worst)
    assert n == 3 and n * worst <= 0.8 * MAX_POLL_INTERVAL_SECONDS
    assert records_per_poll(1000.0) == 1  # never zero, even when one command is too slow
    assert records_per_poll(0.0) == 500


def test_records_per_poll_only_falls_back_to_its_cap_when_a_command_costs_nothing() -> None:
    """A worst case of a second (or less) still gets its exact share of the 240 s budget;
    only a worst case of 0 (no attempt can take time) falls back to the cap of 500."""
    assert records_per_poll(1.0) == 240
    assert records_per_poll(0.5) == 480
    assert records_per_poll(1.0, interval=10.0) == 8


@pytest.mark.parametrize("worst", [0.8, 1.6, 3.2, 0.1, 62.5, 7.0, 33.3])
def test_records_per_poll_is_the_largest_batch_that_fits_the_budget_exactly(worst: float) -> None:
    """The bound holds in exact arithmetic, not just up to float rounding: 0.8 is a little
    more than 4/5 in binary, so 300 commands of 0.8 s overshoot 240 s and 299 are taken
    (a quotient rounded up to a whole number must not add one)."""
    n = records_per_poll(worst)
    budget = Fraction(MAX_POLL_INTERVAL_SECONDS * 0.8)
    assert n * Fraction(worst) <= budget < (n + 1) * Fraction(worst)


def test_targets_are_described_in_order_and_nothing_when_empty() -> None:
    """The words an observe ack and a failure alert use for what a command ends: credentials,
    then task, session and agent, comma-separated; "nothing" when it names nothing."""
    t = targets(command(scope="session", session_id="s1", credential_ids=["c1", "c2"]))
    assert t.describe() == "credential c1, credential c2, session s1"
    assert targets(command(scope="agent", credential_ids=[])).describe() == (
        "agent spiffe://corp/agents/a1"
    )
    assert targets(command(scope="task", credential_ids=[])).describe() == "task task-1"
    empty = command(scope="credential", credential_ids=[])
    assert targets(empty).describe() == "nothing"
    assert observe_detail(empty) == f"{OBSERVE_DETAIL}; would revoke nothing"


def test_failure_alert_id_is_the_documented_hash_of_command_and_actuator() -> None:
    """Deterministic across revoker restarts and versions (SIEM rules dedup on it): the
    sha256 of detector, command_id and actuator joined by the unit separator, 32 hex chars."""
    a = failure_alert(command(), "oauth", "oauth: HTTP 503", 5, T0)
    assert a.alert_id == hashlib.sha256(b"revocation_failed\x1fcmd-1\x1foauth").hexdigest()[:32]


def test_failure_alert_names_what_a_siem_rule_matches_on() -> None:
    """The clause, the command's task, session and first credential, and details naming the
    scope, the actuator's error and every alert that caused the command."""
    cmd = command(
        scope="session",
        session_id="sess-7",
        task_id="task-7",
        credential_ids=["cred-a", "cred-b"],
        alert_ids=["alert-1", "alert-2"],
    )
    a = failure_alert(cmd, "vault", "vault: HTTP 503", 3, T0)
    assert (a.clause.charter, a.clause.key, a.clause.text) == (
        None,
        "revocation",
        "access is ended when a revocation command is issued",
    )
    assert (a.task_id, a.session_id, a.credential_id) == ("task-7", "sess-7", "cred-a")
    assert a.details == {
        "command_id": "cmd-1",
        "actuator": "vault",
        "attempts": 3,
        "scope": "session",
        "error": "vault: HTTP 503",
        "caused_by_alerts": "alert-1,alert-2",
    }
    bare = failure_alert(command(scope="agent", credential_ids=[]), "denylist", "x", 1, T0)
    assert bare.credential_id is None
    assert "revocation of agent spiffe://corp/agents/a1 by denylist failed" in bare.reason
