"""Charters: policy as code.

A charter says what one agent (or a glob of agents) may do: which tools, on
which tenants, data domains and resources, with which capability classes, and
which sequences of classes are forbidden. Documents are YAML; :func:`load_charter_file`
validates one and reports *every* problem with file, key path and line, because
a charter that silently ignores a misspelt key is a hole in the policy
(unknown keys are errors, not warnings).

The pydantic models here are the edge. The engine works on
:class:`monitor.core.policy.CompiledCharter`, built once per charter.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.errors import CharterError, CharterProblem, DecodeError
from monitor.identity import canonical_id

Name = Annotated[str, StringConstraints(min_length=1, max_length=512)]


def _valid_glob(v: str) -> str:
    from monitor.core.globs import compile_glob  # here: monitor.core imports this module

    compile_glob(v)  # ValueError names the pattern: a charter problem, not a crash later
    return v


Glob = Annotated[Name, AfterValidator(_valid_glob)]
ClassName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-(?:([01]\d|2[0-3]):([0-5]\d)|(24):(00))$")


def _minutes(m: re.Match[str]) -> tuple[int, int]:
    g = [x for x in m.groups() if x is not None]
    h1, m1, h2, m2 = (int(x) for x in g)
    return h1 * 60 + m1, h2 * 60 + m2


_SPIFFE_PATTERN = re.compile(r"(?i)spiffe://([^/]*)(.*)", re.DOTALL)


def canonical_agent_pattern(pattern: str) -> str:
    """An ``agent`` pattern in the spelling canonical agent ids have; ValueError if none can match.

    Events carry canonical ids (:mod:`monitor.identity`: SPIFFE scheme and trust
    domain lowercase), so a pattern is folded the same way: ``SPIFFE://Corp/
    agents/patcher-*`` governs ``spiffe://corp/agents/patcher-1``. The path
    keeps its case. A pattern no canonical id can match (a trailing ``/``, an
    empty segment, a control or invisible character) is refused at load, not
    left to govern nobody; its wildcards are checked as if they were letters.

    >>> canonical_agent_pattern("SPIFFE://Corp/agents/patcher-*")
    'spiffe://corp/agents/patcher-*'
    """
    m = _SPIFFE_PATTERN.fullmatch(pattern)
    probe = pattern.replace("*", "x").replace("?", "x")
    try:
        canonical_id(probe, "agent")
    except DecodeError as err:
        raise ValueError(
            f"no canonical agent id can match {pattern!r}: {err.reason.removeprefix('agent: ')}"
        ) from None
    if m is None:
        return pattern
    return f"spiffe://{m.group(1).lower()}{m.group(2)}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolGrant(_Strict):
    """A granted tool. ``tool`` may be a glob (``"*"`` grants the whole server)."""

    server: Glob
    tool: Glob
    classes: list[ClassName] = Field(default_factory=list)


class ResourceClass(_Strict):
    """Resources matching ``pattern`` give a call these capability classes.

    Patterns are globs: ``*`` stays inside one path segment, ``**`` crosses ``/``.
    """

    pattern: Glob
    classes: list[ClassName] = Field(min_length=1)


class ForbiddenChain(_Strict):
    """Steps (capability classes) that must not occur in this order.

    The chain matches when its steps occur in order, on distinct calls of the
    same agent, spanning at most ``within_calls`` calls (first and last step
    included) **and** at most ``within_seconds`` seconds from the first step.
    A missing window means "no limit" on that axis.
    """

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+$", max_length=128)]
    sequence: list[ClassName] = Field(min_length=2, max_length=16)
    within_calls: int | None = Field(default=None, ge=2)
    within_seconds: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _window_fits(self) -> ForbiddenChain:
        if self.within_calls is not None and self.within_calls < len(self.sequence):
            raise ValueError(
                f"within_calls={self.within_calls} is shorter than the sequence "
                f"({len(self.sequence)} steps): the chain could never match"
            )
        return self


class Limits(_Strict):
    max_calls_per_minute: int | None = Field(default=None, ge=1)
    credential_max_ttl: float | None = Field(default=None, gt=0, description="seconds")
    task_grace_seconds: float = Field(default=30, ge=0)
    sponsor_quiet_seconds: float | None = Field(default=None, gt=0)
    hours: str | None = Field(default=None, description='UTC window "HH:MM-HH:MM"')
    require_jit_credentials: bool | None = Field(
        default=None,
        description="Every call must carry a credential seen issued (credential_issued): no "
        "static or long-lived keys. Absent: true for delegated agents, false for autonomous.",
    )
    max_tenants_per_hour: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="distinct tenants an agent may touch in any sliding hour (state: 64 max)",
    )
    max_domains_per_hour: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="distinct data domains an agent may touch in any sliding hour (state: 64 max)",
    )

    def jit_required(self, kind: str) -> bool:
        """``require_jit_credentials`` in force for an agent of ``kind``."""
        if self.require_jit_credentials is not None:
            return self.require_jit_credentials
        return kind == "delegated"

    @field_validator("hours")
    @classmethod
    def _hours_format(cls, v: str | None) -> str | None:
        if v is None:
            return v
        m = _HOURS.match(v)
        if not m:
            raise ValueError(f'hours must look like "06:00-22:00" (UTC), got {v!r}')
        start, end = _minutes(m)
        if start == end:
            raise ValueError(f"hours {v!r} is an empty window (start equals end)")
        return v

    def hours_window(self) -> tuple[int, int] | None:
        """The allowed window as minutes of the day ``(start, end)``; may wrap midnight."""
        if self.hours is None:
            return None
        m = _HOURS.match(self.hours)
        return _minutes(m) if m is not None else None


class Baseline(_Strict):
    enabled: bool = True
    warmup_events: int = Field(default=200, ge=0)
    alert_score: float = Field(default=0.98, gt=0, le=1)
    revoke_score: float = Field(default=0.999, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Baseline:
        if self.revoke_score < self.alert_score:
            raise ValueError("revoke_score must be at least alert_score")
        return self


class Hijack(_Strict):
    """Tuning of the hijack detectors (``monitor/core/detectors/hijack_*.py``); all optional.

    They look for what a prompt-injected agent does with tools it *is* granted:
    an egress argument that came from what it just read (``injected_destination``),
    the first use of a high-impact tool (``high_impact_first_use``), a retry after
    a denial (``retry_after_denial``), resource paths climbing towards the root
    (``scope_widening``), a network one-liner in an exec call (``shell_egress``),
    a burst of distinct recipients, tools or servers (``fan_out``), and the first
    destructive or privilege-granting command or SQL statement of a class the agent
    never sent, through a tool it already uses (``command_class_first_use``: ``rm -rf``
    of a broad path, ``DROP DATABASE``, ``az role assignment create … Owner``, …).
    """

    enabled: bool = Field(default=True, description="false: none of the hijack detectors")
    disabled: list[ClassName] = Field(
        default_factory=list, description="Hijack detectors to turn off, by name"
    )
    provenance_window_calls: int = Field(
        default=8, ge=1, le=64, description="Reads this many calls back are an egress's source"
    )
    warmup_calls: int = Field(
        default=200,
        ge=0,
        description="Calls of the agent's life before first use, fan-out and a new command "
        "class (command_class_first_use) can fire",
    )
    high_impact: list[ClassName] | None = Field(
        default=None,
        description="Words (tool-name parts or capability classes) marking a high-impact "
        "tool; None: the built-in list (delete, transfer, pay, invite, share, send, exec, ...)",
    )
    first_use_needs_read: bool = Field(
        default=True,
        description="First use alerts only after an untrusted read within "
        "provenance_window_calls (false: any first use after warm-up)",
    )
    toolset_settled_sessions: int | None = Field(
        default=5,
        ge=1,
        le=1000,
        description="An agent's toolset is settled once this many sessions in a row brought no "
        "new tool (and it is a routine, see toolset_routine_share, or sparse, see "
        "toolset_sparse_sessions); after that, the first use "
        "of any granted tool on a server it already uses that is no sibling of the settled set "
        "alerts (high_impact_first_use; medium if high impact, else low), with no read and no "
        "call-count warm-up needed. None: only the warm-up/read rule",
    )
    toolset_routine_share: float = Field(
        default=0.7,
        gt=0,
        le=1,
        description="A toolset only settles when each of its tools was used in at least this "
        "share of the agent's sessions so far: an agent that picks from a long tail of tools "
        "is never judged by tool novelty",
    )
    toolset_sparse_sessions: int | None = Field(
        default=20,
        ge=1,
        le=1000,
        description="A toolset that is no routine also settles (as a *sparse* one) after this "
        "many sessions when toolset_settled_sessions in a row brought no new tool and no tool "
        "was a one-off (every tool used in at least two sessions: the Good-Turing estimate of "
        "a new tool next session is then zero); a sparse toolset alerts like a settled one "
        "except on read tools (a new read is learned quietly). None: only routines settle. "
        "command_class_first_use is armed after this many sessions too (or warmup_calls)",
    )
    new_tool_sessions: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Sessions a new tool (or a new command class) alerts in before it joins "
        "a settled toolset (one session, perhaps the hijacked one, does not teach a tool)",
    )
    retry_within_calls: int = Field(default=3, ge=1, le=32)
    retry_within_seconds: float = Field(default=300, gt=0)
    scope_widening_levels: int = Field(
        default=3, ge=1, le=64, description="Levels climbed above a session's first path"
    )
    fan_out_window_seconds: float = Field(default=300, gt=0, le=86400)
    fan_out_min_distinct: int = Field(
        default=8, ge=2, le=64, description="Distinct recipients (or 2x: tools/servers)"
    )
    fan_out_habit_factor: float = Field(default=2.0, ge=1)


class Charter(_Strict):
    """One charter document. See the README section "Writing a charter"."""

    agent: Name = Field(
        description="Exact agent id or a glob such as spiffe://corp/agents/patcher-*"
    )
    kind: Literal["delegated", "autonomous"]
    mission: Annotated[str, StringConstraints(max_length=4096)] = ""
    mode: Literal["enforce", "observe"] = Field(
        default="observe", description="observe = shadow: alert, never revoke"
    )
    tools: list[ToolGrant] = Field(default_factory=list)
    resource_classes: list[ResourceClass] = Field(default_factory=list)
    builtin_secret_sources: bool = Field(
        default=True, description="Apply the built-in secret-source resource patterns."
    )
    tenants: list[Name] | None = Field(default=None, description="None: any tenant")
    data_domains: list[Name] | None = Field(default=None, description="None: any domain")
    resources: list[Glob] | None = Field(default=None, description="Allowed resource globs")
    forbidden_chains: list[ForbiddenChain] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    baseline: Baseline = Field(default_factory=Baseline)
    hijack: Hijack = Field(default_factory=Hijack)

    @field_validator("agent")
    @classmethod
    def _canonical_agent(cls, v: str) -> str:
        return canonical_agent_pattern(v)

    @model_validator(mode="after")
    def _unique_chain_names(self) -> Charter:
        names = [c.name for c in self.forbidden_chains]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"forbidden_chains names must be unique, repeated: {dupes}")
        return self


def charter_warnings(c: Charter) -> list[str]:
    """Valid but probably not meant: patterns whose ``*`` stops at ``/`` where ``**`` was
    likely wanted, ``[`` that is matched literally (see :func:`monitor.core.globs.pattern_warnings`).
    """
    from monitor.core.globs import pattern_warnings

    out = [f"resources: {w}" for p in c.resources or () for w in pattern_warnings(p)]
    out += [
        f"resource_classes[{i}].pattern: {w}"
        for i, rc in enumerate(c.resource_classes)
        for w in pattern_warnings(rc.pattern)
    ]
    return out


# --------------------------------------------------------------------------- loading


def _lines(
    node: yaml.Node,
    path: tuple[str, ...],
    out: dict[tuple[str, ...], int],
    dupes: list[tuple[str, int]],
) -> None:
    """Record the 1-based line of every key path; collect repeated mapping keys.

    A repeated key would silently override the first one in plain YAML loading,
    which for a policy is a hole like a misspelt key: it is reported instead.
    """
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            sub = (*path, name)
            if name in seen:
                dupes.append((".".join(sub), key.start_mark.line + 1))
            seen.add(name)
            out[sub] = key.start_mark.line + 1
            _lines(value, sub, out, dupes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            sub = (*path, str(i))
            out[sub] = item.start_mark.line + 1
            _lines(item, sub, out, dupes)


def _line_for(lines: dict[tuple[str, ...], int], loc: tuple[str, ...]) -> int | None:
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def _problems(
    err: ValidationError, name: str, lines: dict[tuple[str, ...], int]
) -> list[CharterProblem]:
    out = []
    for e in err.errors(include_url=False):
        loc = tuple(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (misspelt? unknown keys are rejected so no rule is silently ignored)"
        out.append(CharterProblem(name, ".".join(loc), _line_for(lines, loc), msg))
    return out


def parse_charter(
    data: Any, name: str = "<charter>", lines: dict[tuple[str, ...], int] | None = None
) -> Charter:
    """Validate a charter document already parsed into Python data."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise CharterError(
            [CharterProblem(name, "", lines.get((), 1), "a charter must be a YAML mapping")]
        )
    try:
        return Charter.model_validate(data)
    except ValidationError as err:
        raise CharterError(_problems(err, name, lines)) from None


def _is_empty(node: yaml.Node | None) -> bool:
    """An empty document (e.g. after a trailing ``---``)."""
    return node is None or (
        isinstance(node, yaml.ScalarNode)
        and node.tag == "tag:yaml.org,2002:null"
        and not node.value
    )


def _load_located(text: str, name: str) -> list[tuple[Charter, int | None]]:
    """Charters in a YAML text, each with the line of its ``agent`` key."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(err, "problem", None) or str(err)
        raise CharterError([CharterProblem(name, "", line, f"YAML syntax: {problem}")]) from None
    charters: list[tuple[Charter, int | None]] = []
    problems: list[CharterProblem] = []
    for node in nodes:
        if _is_empty(node):
            continue
        lines: dict[tuple[str, ...], int] = {}
        dupes: list[tuple[str, int]] = []
        _lines(node, (), lines, dupes)
        problems += [
            CharterProblem(
                name, key, line, "key repeated (the earlier value would be silently lost)"
            )
            for key, line in dupes
        ]
        data = yaml.SafeLoader(text).construct_document(node)
        try:
            charters.append((parse_charter(data, name, lines), lines.get(("agent",))))
        except CharterError as err:
            problems.extend(err.problems)
    if problems:
        raise CharterError(problems)
    if not charters:
        raise CharterError([CharterProblem(name, "", None, "no charter document in file")])
    return charters


def load_charter_text(text: str, name: str = "<charter>") -> list[Charter]:
    """Load every charter in a YAML text (``---`` separates several documents)."""
    return [c for c, _ in _load_located(text, name)]


def _read(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CharterError([CharterProblem(str(p), "", None, f"cannot read: {err}")]) from None


def load_charter_file(path: str | Path) -> list[Charter]:
    p = Path(path)
    return load_charter_text(_read(p), str(p))


def load_charter_dir(path: str | Path) -> list[Charter]:
    """Load ``*.yaml`` / ``*.yml`` from a directory (or one file), reporting all problems.

    Two charters for the same ``agent`` pattern are an error (which one governs
    would otherwise depend on load order).
    """
    p = Path(path)
    if p.is_file():
        files = [p]
    elif p.is_dir():
        files = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
        if not files:
            raise CharterError([CharterProblem(str(p), "", None, "no *.yaml charter files here")])
    else:
        raise CharterError([CharterProblem(str(p), "", None, "no such file or directory")])
    located: list[tuple[Charter, str, int | None]] = []
    problems: list[CharterProblem] = []
    for f in files:
        try:
            located += [(c, str(f), line) for c, line in _load_located(_read(f), str(f))]
        except CharterError as err:
            problems.extend(err.problems)
    first: dict[str, tuple[str, int | None]] = {}
    for c, src, line in located:
        if c.agent in first:
            f0, l0 = first[c.agent]
            where = f0 if l0 is None else f"{f0}:{l0}"
            problems.append(
                CharterProblem(
                    src, "agent", line, f"a second charter for {c.agent!r} (first at {where})"
                )
            )
        else:
            first[c.agent] = (src, line)
    if problems:
        raise CharterError(problems)
    return [c for c, _, _ in located]
