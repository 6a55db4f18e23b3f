"""score_one and learn_one inline the arithmetic of :mod:`.counts` and :mod:`.moments` for
speed; here a plain re-statement through those modules' own functions must agree with them,
call by call, on a stream that takes every branch (new and known servers, tools, shapes,
transitions, destinations, resources; fan-out, streaks, volumes of every outcome; more than a
week of event time, so the hour and the weekday count; tables full enough to be halved)."""

from __future__ import annotations

import random
from math import log

import pytest
from librt.vecs import vec

from monitor import testing as tb
from monitor.core.baseline import counts as ct
from monitor.core.baseline import model as md
from monitor.core.baseline import moments
from monitor.core.baseline.features import (
    F_BURST,
    F_BYTES_IN,
    F_BYTES_OUT,
    F_CHAIN,
    F_DESTINATION,
    F_ERRORS,
    F_FANOUT,
    F_HOUR,
    F_RATE,
    F_RESOURCE,
    F_SERVER,
    F_SHAPE,
    F_TASK,
    F_TOOL,
    F_TRANSITION,
    F_WEEKDAY,
    N_FEATURES,
    CallFeatures,
)
from monitor.core.baseline.model import AgentBaseline
from monitor.events import ToolCall


def _cat(c: int, total: int, new: float) -> float:
    return new if c == 0 else min(ct.seen_surprise(c, total), new)


def reference_score(m: AgentBaseline, f: CallFeatures) -> tuple[float, list[float]]:
    c, tot, sg, re = m.counts, m.totals, m.singles, m.reals
    s = [0.0] * N_FEATURES
    c_tool = c[ct.slot(ct.T_TOOL, f.tool)]
    if c[ct.slot(ct.T_SERVER, f.server)]:
        new = ct.novelty(tot[ct.T_TOOL], sg[ct.T_TOOL])
        s[F_TOOL] = _cat(c_tool, tot[ct.T_TOOL], new)
    else:
        s[F_SERVER] = ct.novelty(tot[ct.T_SERVER], sg[ct.T_SERVER])
    if c_tool:
        if f.transition >= 0:
            c_prev = c[ct.slot(ct.T_TOOL, f.prev_hash)]
            new = ct.novelty(tot[ct.T_TRANSITION], sg[ct.T_TRANSITION], min(c_prev, c_tool))
            s[F_TRANSITION] = _cat(c[ct.slot(ct.T_TRANSITION, f.transition)], c_prev, new)
            if s[F_TRANSITION] > re[md.R_EW + F_TRANSITION]:
                s[F_CHAIN] = re[md.R_CHAIN] + re[md.R_CHAIN + 1] + re[md.R_CHAIN + 2]
        k = c[ct.slot(ct.T_SHAPE, f.shape)]
        new = ct.novelty(tot[ct.T_SHAPE], sg[ct.T_SHAPE], c_tool)
        v = ct.seen_surprise(k, c_tool) if k else new
        s[F_SHAPE] = min(v, new) if v > 0.3 else v
    if f.destination_hashes:
        new = ct.novelty(tot[ct.T_DESTINATION], sg[ct.T_DESTINATION], c_tool)
        ks = [c[ct.slot(ct.T_DESTINATION, h)] for h in f.destination_hashes]
        s[F_DESTINATION] = max(_cat(k, tot[ct.T_DESTINATION], new) for k in ks)
        if f.fanout > 1 and all(ks):
            b = ct.bucket(f.fanout)
            s[F_FANOUT] = ct.tail_surprise(c, ct.T_FANOUT, b, tot[ct.T_FANOUT])
    if f.resource_hashes:
        new = ct.novelty(tot[ct.T_RESOURCE], sg[ct.T_RESOURCE], c_tool)
        ks = [c[ct.slot(ct.T_RESOURCE, h)] for h in f.resource_hashes]
        s[F_RESOURCE] = max(_cat(k, tot[ct.T_RESOURCE], new) for k in ks)
    for i, t, v in ((F_RATE, ct.T_RATE, f.rate), (F_BURST, ct.T_BURST, f.burst)):
        s[i] = ct.tail_surprise(c, t, ct.bucket(v), tot[t])
    s[F_TASK] = ct.tail_surprise(c, ct.T_TASK, ct.bucket(f.task_length), tot[ct.T_TASK])
    if f.error_streak:
        b = min(f.error_streak, 7)
        s[F_ERRORS] = ct.tail_surprise(c, ct.T_STREAK, b, tot[ct.T_STREAK])
    vs = f.tool % md.TOOL_SLOTS
    if f.outcome in ("ok", "error"):
        n_out = c[ct.OFFSET[ct.T_VOLUME_N] + vs]
        mean, var = re[md.R_OUT_MEAN + vs], re[md.R_OUT_VAR + vs]
        s[F_BYTES_OUT] = moments.upper_surprise(mean, var, n_out, f.bytes_out)
    mean, var = re[md.R_IN_MEAN + vs], re[md.R_IN_VAR + vs]
    s[F_BYTES_IN] = moments.upper_surprise(mean, var, c_tool, f.bytes_in)
    span = m.window.span()
    if span >= md.HOUR_AFTER:
        hours = [c[ct.OFFSET[ct.T_HOUR] + h % 24] for h in (f.hour - 1, f.hour, f.hour + 1)]
        near = hours[1] + 0.5 * (hours[0] + hours[2])
        s[F_HOUR] = -log((near + 0.25) / (2 * m.totals[ct.T_HOUR] + 6))
        if span >= md.WEEKDAY_AFTER:
            day = c[ct.OFFSET[ct.T_WEEKDAY] + f.weekday]
            s[F_WEEKDAY] = -log((day + 0.25) / (m.totals[ct.T_WEEKDAY] + 1.75))
    raw = 0.0
    for i in range(N_FEATURES):
        mean = re[md.R_EW + i]
        if s[i] > mean:
            s[i] = min(s[i], md.SURPRISE_CAP)
            raw += md.WEIGHTS[i] * (s[i] - mean)
    return raw, s


def reference_learn(m: AgentBaseline, f: CallFeatures, s: list[float]) -> None:
    c, tot, sg, re = m.counts, m.totals, m.singles, m.reals
    vs = f.tool % md.TOOL_SLOTS
    if f.outcome in ("ok", "error"):
        i = ct.OFFSET[ct.T_VOLUME_N] + vs
        moments.update(re, md.R_OUT_MEAN + vs, md.R_OUT_VAR + vs, c[i], f.bytes_out)
        c[i] = min(c[i] + 1, ct.COUNT_MAX)
    n_tool = c[ct.slot(ct.T_TOOL, f.tool)]
    moments.update(re, md.R_IN_MEAN + vs, md.R_IN_VAR + vs, n_tool, f.bytes_in)
    for i in m.slots_of(f):
        ct.add(c, tot, sg, i, ct.TABLE_OF[i])
    m.n_learned += 1
    a = max(1.0 / (m.n_scored + 1), md.EW_ALPHA)
    for i, v in enumerate(s):
        mean = re[md.R_EW + i]
        if v:  # a float32 slot: rounded as a float32 array stores it
            re[md.R_EW + i] = moments.f32(mean + a * min(v - mean, md.EW_CLIP))
        else:
            re[md.R_EW + i] = moments.f32(mean - a * mean) if mean > md.EW_ZERO else 0.0
    m.n_scored += 1


def _stream(n: int, seed: int) -> list[ToolCall]:
    rnd = random.Random(seed)
    tools = [("fs", "read"), ("fs", "write"), ("web", "get"), ("mail", "send"), ("ci", "run")]
    hosts = ["https://a.example/x", "https://b.example/y", "mailto:u@c.example"]
    files = ["file:///r/a/x", "file:///r/b/y", "s3://bucket/k/v"]
    out, t = [], 0.0
    for i in range(n):
        t += rnd.choice((1.0, 2.0, 5.0, 30.0, 400.0, 4000.0))
        server, tool = rnd.choice(tools) if rnd.random() < 0.9 else (f"s{i}", f"t{i}")
        res = rnd.sample(hosts + files, rnd.randint(0, 3))
        if rnd.random() < 0.05:
            res.append(f"https://new{i}.example/")
        args = {"p": "x" * rnd.choice((1, 20, 300))} if rnd.random() < 0.8 else {"q": 1}
        out.append(
            tb.call(
                t,
                "a",
                server,
                tool,
                session_id=f"s{int(t // 3000)}" if rnd.random() < 0.7 else None,
                resources=res,
                args=args,
                bytes_in=rnd.choice((100, 300, 2_000, 90_000)),
                bytes_out=rnd.choice((50, 500, 5_000, 800_000)),
                outcome=rnd.choice(("ok", "ok", "ok", "error", "denied", "unknown")),
            )
        )
    return out


@pytest.mark.parametrize("seed", [1])
def test_the_inlined_arithmetic_is_the_counting_modules_own(seed: int) -> None:
    m, ref = AgentBaseline(), AgentBaseline()
    calls = _stream(2_600, seed)
    assert calls[-1].ts.timestamp() - calls[0].ts.timestamp() > md.WEEKDAY_AFTER
    took = set()
    for c in calls:
        t = c.ts.timestamp()
        f, g = m.observe(c, t), ref.observe(c, t)
        raw, s = m.score_one(f)
        want_raw, want = reference_score(ref, g)
        assert list(s) == pytest.approx(want, rel=1e-9, abs=1e-12) and raw == pytest.approx(
            want_raw
        )
        took |= {i for i, v in enumerate(s) if v > 0}
        m.push(s)
        ref.push(vec[float](want))
        m.learn_one(f, s, raw)
        reference_learn(ref, g, want)
        ref.window.ep_bins.append(md.cal.score_bin(want_raw))
        m.arrays(), ref.arrays()  # every array written back into its buffer …
        assert bytes(m.buf) == bytes(ref.buf)  # … and the two byte for byte the same
    assert took == set(range(N_FEATURES))  # every feature was exercised
    assert m.totals[ct.T_TOOL] < m.n_learned  # the tool table was halved on the way


def test_cached_episode_surprises_match_a_model_restored_without_them() -> None:
    """score_one keeps the surprises it reads from the episode-level tables (rate, burst,
    task length, hour, weekday) until an episode ends; a model restored from the same
    snapshot has no such cache and computes them from the tables. Call by call, through
    many episode ends, halvings and more than a week of event time, both agree exactly."""
    m = AgentBaseline()
    calls = _stream(2_600, 3)
    fresh_checks = 0
    for c in calls:
        t = c.ts.timestamp()
        copy = AgentBaseline.restore(m.snapshot())
        f, g = m.observe(c, t), copy.observe(c, t)
        raw, s = m.score_one(f)
        want_raw, want = copy.score_one(g)
        assert (raw, s) == (want_raw, want)
        fresh_checks += m._ep is not None and copy._ep is not None
        m.push(s)
        m.learn_one(f, s, raw)
    assert fresh_checks == len(calls)
