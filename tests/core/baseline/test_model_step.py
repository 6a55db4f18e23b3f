"""AgentBaseline's per-call protocol (``step``, ``learn_pending``, ``take_pending``) and the
running means' two sources, at the edges the engine never reaches (found by the model.py
mutation run at 0c398bd)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from monitor import testing as tb
from monitor.charter import Baseline
from monitor.core.baseline.counts import COUNT_MAX, T_TOOL
from monitor.core.baseline.features import h32
from monitor.core.baseline.model import AgentBaseline, CallStep

NOTHING = (None, None, None)


def _call(sec: float, tool: str = "t") -> tuple[object, float]:
    c = tb.call(sec, "a", "s", tool)
    return c, c.ts.timestamp()


def test_nothing_pending_before_a_step_after_learning_it_or_after_taking_it() -> None:
    m = AgentBaseline()
    assert m.pending() == NOTHING and m.take_pending() == NOTHING
    m.learn_pending()  # nothing waits: nothing is learned
    assert m.n_learned == 0
    c, t = _call(0)
    assert m.step(c, t, 0, 0.001) is False  # scored, not calibrated: cannot alert
    f, s, raw = m.pending()
    assert f is not None and s is not None and raw is not None
    m.learn_pending()
    assert m.n_learned == 1 and m.pending() == NOTHING
    m.learn_pending()  # learned once, not twice
    assert m.n_learned == 1
    c, t = _call(1)
    m.step(c, t, 0, 0.001)
    assert m.take_pending()[0] is not None
    assert m.take_pending() == NOTHING and m.pending() == NOTHING


def test_a_call_left_waiting_is_learned_by_the_next_step_exactly_as_if_learned_at_once() -> None:
    """The detector leaves a call judged without a finding waiting: the next step (or a
    reader: a snapshot, the arrays, a verdict) learns it first; the model ends the same."""
    eager, lazy = AgentBaseline(), AgentBaseline()
    for i in range(40):
        c, t = _call(i * 7, f"t{i % 3}")
        eager.step(c, t, 10, 0.001)
        eager.learn_pending()
        lazy.step(c, t, 10, 0.001)
        assert lazy.n_learned == i  # this call waits; the one before was learned by the step
    assert lazy.pending()[0] is not None
    assert lazy.snapshot() == eager.snapshot() and lazy.pending() == NOTHING
    c, t = _call(400)
    lazy.step(c, t, 10, 0.001)
    lazy.arrays()
    assert lazy.pending() == NOTHING and lazy.n_learned == 41  # the arrays learned it …
    eager.step(c, t, 10, 0.001)
    eager.learn_pending()
    assert lazy.snapshot() == eager.snapshot()  # … as the eager model did
    c, t = _call(407)
    lazy.step(c, t, 10, 0.001)
    assert lazy.apply_feedback("no-such-alert", "benign") is False
    assert lazy.pending() == NOTHING and lazy.n_learned == 42  # a verdict learns it first


def test_too_early_to_score_is_false_and_leaves_no_scores() -> None:
    m = AgentBaseline()
    c, t = _call(0)
    assert m.step(c, t, 200, 0.001) is False
    f, s, raw = m.pending()
    assert f is not None and s is None and raw is None


def test_learning_surprises_reads_the_running_means_from_the_state_when_no_score_cached_them() -> (
    None
):
    """``learn_one`` with surprises while ``score_one``'s cache is empty (an analyst's
    verdict on an older call) reads the means from the buffer: the same model as with
    them cached."""
    a, b = AgentBaseline(), AgentBaseline()
    for i in range(6):
        c, t = _call(i, f"t{i % 3}")
        for m in (a, b):
            f = m.observe(c, t)
            raw, s = m.score_one(f)
            m.learn_one(f, s, raw)  # each learn empties the cache
            if m is a:
                m.learn_one(f, s)  # a: from the buffer
            else:
                m.score_one(f)  # b: cached again first, from the same buffer
                m.learn_one(f, s)
    assert a.snapshot() == b.snapshot()


def test_a_count_at_its_maximum_stays_there() -> None:
    m = AgentBaseline()
    m.counts[3] = COUNT_MAX
    before = m.totals[T_TOOL]
    m._learn_slot(3, T_TOOL)
    assert m.counts[3] == COUNT_MAX and m.totals[T_TOOL] == before + 1
    m.snapshot()  # still packs


def _trained(calls: int = 400) -> AgentBaseline:
    """One tool on one server, a task every 5 calls (each task an episode that ends and
    feeds the calibration)."""
    m = AgentBaseline()
    for i in range(calls):
        c = tb.call(i * 60, "a", "s", "t", task_id=f"k{i // 5}")
        m.step(c, c.ts.timestamp(), 0, 0.5)
        m.learn_pending()
    return m


def test_alerting_needs_exactly_min_scores_calibration_scores() -> None:
    from monitor.core.baseline.calibration import MIN_SCORES

    base = _trained()
    assert base.n_cal >= MIN_SCORES
    # in the last task (k79): no episode ends, so the calibration does not move at this call
    odd = tb.call(400 * 60, "a", "elsewhere", "wipe_all", task_id="k79")
    for n_cal, can_alert in ((MIN_SCORES, True), (MIN_SCORES - 1, False)):
        m = AgentBaseline.restore(base.snapshot())
        m.n_cal = n_cal
        assert m.step(odd, odd.ts.timestamp(), 10, 0.5) is can_alert, n_cal


def test_the_call_step_computes_each_charters_settings_once_while_it_holds_them() -> None:
    """CallStep (the behaviour detector's on_call) asks for a charter baseline's settings on
    its first call and reuses them after, with agents of two charters (and of none)
    interleaved: one cache entry per baseline, not one last-baseline slot (found by the
    model.py mutation run at 80942d4)."""
    asked: list[Baseline] = []

    def settings(cfg: Baseline) -> tuple[int, float, float]:
        asked.append(cfg)
        return cfg.warmup_events, 0.001, 0.0001

    default, strict = Baseline(), Baseline(warmup_events=10)
    step = CallStep(default, settings, lambda *_: ["alert"])
    sections: list[dict[str, Any]] = [{}, {}]
    for i in range(6):
        c, t = _call(i * 7)
        ctx = SimpleNamespace(
            charter=None if i % 2 == 0 else SimpleNamespace(baseline=strict), call=c, t=t
        )
        assert step.on_call(ctx, SimpleNamespace(sections=sections[i % 2])) == ()
        assert step.pending_ctx is ctx
        assert step.pending_m is sections[i % 2]["behaviour_anomaly"]
    assert len(asked) == 2 and asked[0] is default and asked[1] is strict
    assert [s["behaviour_anomaly"].n_learned for s in sections] == [2, 2]  # 3 calls each


def test_an_agent_keeps_its_charters_settings_until_its_charter_changes() -> None:
    """Each model holds the settings of its charter's baseline (one identity test per
    call); agents of one charter share one computation, and an agent whose charter is
    replaced gets the new baseline's settings from its next call on."""
    asked: list[Baseline] = []

    def settings(cfg: Baseline) -> tuple[int, float, float]:
        asked.append(cfg)
        return cfg.warmup_events, 0.001, 0.0001

    first, second = Baseline(warmup_events=10), Baseline(warmup_events=20)
    step = CallStep(Baseline(), settings, lambda *_: ["alert"])
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    plan = [(a, first), (b, first), (a, first), (a, second), (b, first), (a, second), (a, first)]
    for i, (sections, cfg) in enumerate(plan):
        c, t = _call(i * 7)
        ctx = SimpleNamespace(charter=SimpleNamespace(baseline=cfg), call=c, t=t)
        assert step.on_call(ctx, SimpleNamespace(sections=sections)) == ()
        held = sections["behaviour_anomaly"].settings
        assert held[0] is cfg and held[1] == cfg.warmup_events
    assert asked == [first, second]  # back to the first: still cached by the step
    assert AgentBaseline.restore(a["behaviour_anomaly"].snapshot()).settings is None


def test_each_call_tells_the_window_its_own_task() -> None:
    """observe hashes a task id only when it differs from the last call's; every call still
    reaches the window with its own task's hash (0 with neither a task nor a session)."""
    m = AgentBaseline()
    plan = [("k1", None), ("k1", None), ("k2", None), (None, "s9"), (None, None), ("k1", "s9")]
    for i, (task, session) in enumerate(plan):
        c = tb.call(i * 7, "a", "s", "t", task_id=task, session_id=session)
        m.observe(c, c.ts.timestamp())
        want = task or session
        assert m.window.ep_key == ((h32(want) or 1) if want else 0), (task, session)


def test_a_models_first_call_reaches_the_window_with_its_own_tasks_hash() -> None:
    """The last-task memo starts matching no task id, however the first call's id is spelled:
    a new or restored model hashes it (the memo is derived: never snapshotted)."""
    for task in ("k1", "XXXX", "None", "0", "-"):
        m = AgentBaseline()
        c = tb.call(0, "a", "s", "t", task_id=task)
        m.observe(c, c.ts.timestamp())
        assert m.window.ep_key == h32(task), task
        r = AgentBaseline.restore(AgentBaseline().snapshot())
        r.observe(c, c.ts.timestamp())
        assert r.window.ep_key == h32(task), task


def test_a_task_whose_hash_is_zero_is_still_one_episode() -> None:
    """The window takes 0 for "no task". A task id hashing to 0 (an attacker can pick one)
    is kept as 1: its calls stay one episode across a long pause, and a call with no task
    after it starts a new one."""
    zero = "task-imomkhhlkjhh"  # found by solving crc32, affine over GF(2), in 3 bits a letter
    assert h32(zero) == 0
    m = AgentBaseline()
    for sec in (0, 3600, 7200):  # an hour between calls: past the episode gap
        c = tb.call(sec, "a", "s", "t", task_id=zero)
        m.observe(c, c.ts.timestamp())
    assert m.window.ep_key == 1 and m.window.ep_len == 3
    c = tb.call(7201, "a", "s", "t")
    m.observe(c, c.ts.timestamp())
    assert m.window.ep_key == 0 and m.window.ep_len == 1
