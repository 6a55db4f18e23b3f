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
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.errors import CharterError, CharterProblem

Name = Annotated[str, StringConstraints(min_length=1, max_length=512)]
ClassName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolGrant(_Strict):
    """A granted tool. ``tool`` may be a glob (``"*"`` grants the whole server)."""

    server: Name
    tool: Name
    classes: list[ClassName] = Field(default_factory=list)


class ResourceClass(_Strict):
    """Resources matching ``pattern`` give a call these capability classes.

    Patterns are globs: ``*`` stays inside one path segment, ``**`` crosses ``/``.
    """

    pattern: Name
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

    @field_validator("hours")
    @classmethod
    def _hours_format(cls, v: str | None) -> str | None:
        if v is not None and not _HOURS.match(v):
            raise ValueError(f'hours must look like "06:00-22:00" (UTC), got {v!r}')
        return v

    def hours_window(self) -> tuple[int, int] | None:
        """The allowed window as minutes of the day ``(start, end)``; may wrap midnight."""
        if self.hours is None:
            return None
        m = _HOURS.match(self.hours)
        if m is None:  # pragma: no cover - validated above
            return None
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        return h1 * 60 + m1, h2 * 60 + m2


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
    resources: list[Name] | None = Field(default=None, description="Allowed resource globs")
    forbidden_chains: list[ForbiddenChain] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    baseline: Baseline = Field(default_factory=Baseline)

    @model_validator(mode="after")
    def _unique_chain_names(self) -> Charter:
        names = [c.name for c in self.forbidden_chains]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"forbidden_chains names must be unique, repeated: {dupes}")
        return self


# --------------------------------------------------------------------------- loading


def _lines(node: yaml.Node, path: tuple[str, ...], out: dict[tuple[str, ...], int]) -> None:
    """Record the 1-based line of every key path in a composed YAML tree."""
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, str(key.value))
            out[sub] = key.start_mark.line + 1
            _lines(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            sub = (*path, str(i))
            out[sub] = item.start_mark.line + 1
            _lines(item, sub, out)


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
    if not isinstance(data, dict):
        raise CharterError([CharterProblem(name, "", 1, "a charter must be a YAML mapping")])
    try:
        return Charter.model_validate(data)
    except ValidationError as err:
        raise CharterError(_problems(err, name, lines or {})) from None


def load_charter_text(text: str, name: str = "<charter>") -> list[Charter]:
    """Load every charter in a YAML text (``---`` separates several documents)."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(err, "problem", None) or str(err)
        raise CharterError([CharterProblem(name, "", line, f"YAML syntax: {problem}")]) from None
    charters: list[Charter] = []
    problems: list[CharterProblem] = []
    for node in nodes:
        if node is None:
            continue
        lines: dict[tuple[str, ...], int] = {}
        _lines(node, (), lines)
        data = yaml.SafeLoader(text).construct_document(node)
        try:
            charters.append(parse_charter(data, name, lines))
        except CharterError as err:
            problems.extend(err.problems)
    if problems:
        raise CharterError(problems)
    if not charters:
        raise CharterError([CharterProblem(name, "", None, "no charter document in file")])
    return charters


def load_charter_file(path: str | Path) -> list[Charter]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CharterError([CharterProblem(str(p), "", None, f"cannot read: {err}")]) from None
    return load_charter_text(text, str(p))


def load_charter_dir(path: str | Path) -> list[Charter]:
    """Load ``*.yaml`` / ``*.yml`` from a directory (or one file), reporting all problems."""
    p = Path(path)
    if p.is_file():
        return load_charter_file(p)
    if not p.is_dir():
        raise CharterError([CharterProblem(str(p), "", None, "no such file or directory")])
    files = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
    if not files:
        raise CharterError([CharterProblem(str(p), "", None, "no *.yaml charter files here")])
    charters: list[Charter] = []
    problems: list[CharterProblem] = []
    for f in files:
        try:
            charters.extend(load_charter_file(f))
        except CharterError as err:
            problems.extend(err.problems)
    seen: set[str] = set()
    for c in charters:
        if c.agent in seen:
            problems.append(
                CharterProblem(str(p), "agent", None, f"two charters for agent pattern {c.agent!r}")
            )
        seen.add(c.agent)
    if problems:
        raise CharterError(problems)
    return charters
