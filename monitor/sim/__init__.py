"""Realistic, labelled, deterministic MCP traffic: agents, charters, violations, near-misses.

Why this exists: a detector is only as credible as the traffic it is measured on.
Hand-written fixtures test one rule at a time; this module produces a working
day of a mixed fleet — delegated coding and support assistants acting for named
humans, autonomous patchers, ETL jobs and monitors with workload identities —
with the lifecycle around the calls (tasks, task-bound and short-lived
credentials, sponsor heartbeats, sessions ending), and plants labelled
violations and *near-misses* in it. :mod:`monitor.evaluate` scores the engine
on it: every attack must be found, no near-miss may alert, and the benign
background must stay silent.

Determinism: everything comes from ``random.Random(seed)`` (a planning stream,
and one derived stream per agent) and from ``start``; nothing reads the wall
clock or the global ``random``. The same arguments give byte-identical files.

Example::

    sim = simulate(agents=40, minutes=30, seed=7)
    write(sim, "sim")          # sim/events.jsonl, sim/labels.jsonl, sim/charters/*.yaml

    # big runs, without holding the events in memory (~40k events/s)
    agents, minutes = size_for_events(500_000)
    write_stream("big", agents, minutes, seed=7)

Agents and charters
-------------------
=========  ==========  ================================  =============================
archetype  kind        id                                charter
=========  ==========  ================================  =============================
coding     delegated   ``coding-assistant-007``          fleet ``coding-assistant-*``
support    delegated   ``support-mail-003``              fleet ``support-mail-*``
patcher    autonomous  ``spiffe://corp/agents/patcher-2``  fleet ``.../patcher-*``
etl        autonomous  ``spiffe://corp/agents/etl-4``      one per agent (its domains)
monitor    autonomous  ``spiffe://corp/agents/monitor-1``  fleet ``.../monitor-*``
=========  ==========  ================================  =============================

Benign traffic is correct *by construction* against the rule detectors in
:mod:`monitor.core.detectors`: calls stay inside granted tools, tenants,
domains, resources and hours; each archetype's minimum gap between calls keeps
it well under its rate limit; delegated calls happen only inside open tasks,
with ``sponsor_active`` at most every 240 s while the sponsor works and
``sponsor_ended`` only between tasks; credentials live at most the charter's
maximum and are re-issued before they expire. Forbidden chains are avoided by a
per-agent guard that mirrors the chain automaton: after a call carrying a
chain's first class, a call carrying a later class is replaced by a safe call
(or deferred) until the window has passed by calls *or* by seconds. The guard
is conservative: it may block more than the engine would flag, never less.

Scenarios
---------
:data:`SCENARIOS` lists 17 injected violations (``label="attack"``, with the
detector and severity the engine must raise) and 9 benign near-misses
(``label="near_miss"``, which must raise nothing); :func:`describe` gives the
story of each. With ``agents=N`` about a third of the agents carry one
scenario each — but never fewer than ``min(len(scenarios), N // 2)`` — cycling
through the list in order, so every scenario appears once
``N >= 2 * len(scenarios)`` (52 agents; 18 with ``attacks=False``, which keeps
only the near-misses). Attacks come first, round-robin over the five rule
detectors, so ``agents=40`` already carries every attack.

Each scenario lives on its own agent as a script run at an anchor time drawn
inside the run, with at least 65 s of silence from that agent before and after
(so rate windows and dedup keys never mix with its background). A script needs
up to 13 minutes; one that does not fit in ``minutes`` is skipped and its
carrier stays a plain background agent.

Behaviour-only attacks
----------------------
:data:`BEHAVIOUR_SCENARIOS` are nine attacks that no rule can see — every call
is granted, inside its tenant, domain, resources, hours and rate limit, and
clear of forbidden chains — shaped like real hijacks (issue 14): inside an
otherwise normal task of 3-10 calls, one malicious call with a granted tool
toward an ordinary-looking destination that first appeared in what a read of
the same session returned — a free-mail address in a ticket body
(``injected_recipient``), "new bank details" for a refund
(``injected_refund_account``), a link on a plain domain in an advisory
(``injected_report_url``), a handle to add as a collaborator
(``workspace_invite``), an account to share a table with (``injected_share``);
and the known agent-attack shapes: a sibling tool right after a denial
(``denied_then_sibling``), listing up the file tree (``scope_climb``), a shell
one-liner with egress (``shell_one_liner``), posting to 9-12 channels
(``fan_out_channels``). Sizes are ordinary. :data:`~monitor.sim.scenarios.EXPECTED`
names the behaviour-layer detector each is built for; labels say
``detector="behaviour_anomaly"`` (the layer). A baseline needs history first,
so they are planted only in runs of at least :data:`BEHAVIOUR_MIN_MINUTES`
minutes, on a quarter of the agents no rule scenario took
(:func:`behaviour_carriers`), and a carrier plays its script only once it has
made its charter's ``baseline.warmup_events`` calls (plus
:data:`WARMUP_MARGIN`) of benign traffic; a carrier that cannot get there
before the end stays plain.

Reads carry ``result_digests`` (:func:`monitor.core.values.value_digests` of
the values their result held), as a gateway logging response bodies fills
them, and benign flows reuse what they read: a support reply goes to the
requester the ticket and the CRM record showed (often a free-mail address; the
request names the requester, so it is legitimate), a patcher reads the
advisory's CVE, a monitor the pods its log search named. Those are provenance
near-misses in every run. Not modelled: results of ``list_hosts`` carry no
digests (a host name read there and patched would look injected to
``injected_destination``, whose history does not learn from calls it flagged).

Labels (``labels.jsonl``), one per planted scenario::

    {"event_id": ..., "agent_id": ..., "label": "attack" | "near_miss",
     "detector": "forbidden_chain" | ... | null, "scenario": "exfiltration",
     "severity": "critical" | ... | null}

``event_id`` is the event the alert's ``evidence`` must contain: the call, or
the last step of a chain, or the ``credential_issued`` event for TTL and
issued-after-end findings. Unlabelled events are benign.

Layout: :mod:`~monitor.sim.scenarios` (what is planted), :mod:`~monitor.sim.charters`,
:mod:`~monitor.sim.plan` (who the agents are), :mod:`~monitor.sim.agent` (the base
classes and the script registry :data:`SCRIPTS`), one module per archetype
(:mod:`~monitor.sim.coding`, :mod:`~monitor.sim.support`, :mod:`~monitor.sim.patcher`,
:mod:`~monitor.sim.etl`, :mod:`~monitor.sim.monitoring`), :mod:`~monitor.sim.run`
(events in time order) and :mod:`~monitor.sim.io` (the files).
"""

from __future__ import annotations

from monitor.sim.agent import SCRIPTS
from monitor.sim.charters import (
    charter_document,
    coding_charter,
    etl_charter,
    monitor_charter,
    patcher_charter,
    safe_name,
    support_charter,
)
from monitor.sim.io import WriteSummary, write, write_charters, write_stream
from monitor.sim.plan import AgentPlan, Plan, plan
from monitor.sim.run import (
    Simulation,
    SimulationStream,
    describe,
    iter_events,
    simulate,
    size_for_events,
    stream,
)
from monitor.sim.scenarios import (
    BEHAVIOUR_MIN_MINUTES,
    BEHAVIOUR_SCENARIOS,
    BEHAVIOUR_SHARE,
    SCENARIO_BY_NAME,
    SCENARIOS,
    WARMUP_MARGIN,
    Scenario,
    behaviour_carriers,
    carrier_count,
    scenarios_for,
)
from monitor.sim.vocab import (
    DEFAULT_START,
    EVENTS_PER_AGENT_MINUTE,
    LEAD_MS,
    POST_GAP_MS,
    PRE_GAP_MS,
    TAIL_MS,
    fmt_ts,
)

__all__ = [
    "BEHAVIOUR_MIN_MINUTES",
    "BEHAVIOUR_SCENARIOS",
    "BEHAVIOUR_SHARE",
    "DEFAULT_START",
    "EVENTS_PER_AGENT_MINUTE",
    "LEAD_MS",
    "POST_GAP_MS",
    "PRE_GAP_MS",
    "SCENARIOS",
    "SCENARIO_BY_NAME",
    "SCRIPTS",
    "TAIL_MS",
    "WARMUP_MARGIN",
    "AgentPlan",
    "Plan",
    "Scenario",
    "Simulation",
    "SimulationStream",
    "WriteSummary",
    "behaviour_carriers",
    "carrier_count",
    "charter_document",
    "coding_charter",
    "describe",
    "etl_charter",
    "fmt_ts",
    "iter_events",
    "monitor_charter",
    "patcher_charter",
    "plan",
    "safe_name",
    "scenarios_for",
    "simulate",
    "size_for_events",
    "stream",
    "support_charter",
    "write",
    "write_charters",
    "write_stream",
]
