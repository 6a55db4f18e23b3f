"""Where a format finds our fields in a gateway's line: the ``--mapping`` file.

No gateway logs our ``agent_id``, ``sponsor`` or ``task_id`` directly (see
``gateway-logs/README.md``): they sit in token claims, ``_meta`` keys or
headers that differ per deployment. So this is configuration, a small YAML
file of dotted paths (:mod:`monitor.tap.paths`) from the top of each line::

    body: body                      # where the protocol body sits (absent: the line is the body)
    fields:                         # target: a path, or a list tried in order
      agent_id: [jwt.act.sub, jwt.sub]   # verified claims as logged; not a header (caller's word)
      session_id: headers.mcp-session-id
      task_id: body.params._meta.com.example/task_id
      ts: time                      # RFC 3339 text, or epoch s / ms / µs / ns
      resources: [body.params.arguments.path, body.params.arguments.uri]
    defaults:                       # constants for targets no path gave
      server: fleet
      tenant: corp

Every path of ``resources`` that resolves contributes (a string or a list of
strings); for every other target the first path that resolves wins, then the
default. A required target (``agent_id``, ``server``) that neither gives
makes the line a dead letter whose reason names the paths tried.

Presets (issue 9) ship a :class:`FieldMapping` of their own and a user file
is laid over it with :meth:`FieldMapping.over`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from monitor.errors import DecodeError
from monitor.tap.exceptions import MappingConfigError
from monitor.tap.paths import MISSING, DottedPath

#: Targets a path may fill. ``ts`` and ``resources`` are not plain ids (see module doc).
Target = Literal[
    "agent_id",
    "agent_kind",
    "sponsor",
    "task_id",
    "session_id",
    "credential_id",
    "tenant",
    "data_domain",
    "server",
    "trace_id",
    "ts",
    "resources",
]
#: Targets that may have a constant default.
DefaultTarget = Literal[
    "agent_id",
    "agent_kind",
    "sponsor",
    "task_id",
    "credential_id",
    "tenant",
    "data_domain",
    "server",
]
ID_TARGETS: tuple[str, ...] = (
    "agent_id",
    "agent_kind",
    "sponsor",
    "task_id",
    "session_id",
    "credential_id",
    "tenant",
    "data_domain",
    "server",
    "trace_id",
)
REQUIRED: tuple[str, ...] = ("agent_id", "server")


class MappingFile(BaseModel):
    """The YAML document, validated at the edge; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    body: str | None = None
    fields: dict[Target, str | list[str]] = {}
    defaults: dict[DefaultTarget, str] = {}


@dataclass(frozen=True, slots=True)
class FieldMapping:
    body: DottedPath | None = None
    fields: dict[str, tuple[DottedPath, ...]] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_file(cls, doc: MappingFile) -> FieldMapping:
        paths: dict[str, tuple[DottedPath, ...]] = {}
        for target, spec in doc.fields.items():
            texts = [spec] if isinstance(spec, str) else spec
            paths[target] = tuple(DottedPath(t) for t in texts)
        return cls(
            body=DottedPath(doc.body) if doc.body else None,
            fields=paths,
            defaults={k: v for k, v in doc.defaults.items()},
        )

    def over(self, base: FieldMapping) -> FieldMapping:
        """This mapping laid over ``base`` (a preset): per target, ours wins."""
        return FieldMapping(
            body=self.body or base.body,
            fields={**base.fields, **self.fields},
            defaults={**base.defaults, **self.defaults},
        )

    # ------------------------------------------------------------ lookups (per line)
    def ids(self, doc: Any) -> dict[str, str]:
        """Every id target the line (or a default) gives; raises for a missing required one."""
        out: dict[str, str] = {}
        for target, paths, default in self._plan():
            value = self.first(doc, target) if paths else None
            if value is None:
                value = default
            if value is not None:
                out[target] = value
        for target in REQUIRED:
            if target not in out:
                raise DecodeError(self._missing(target), target)
        return out

    def _plan(self) -> tuple[tuple[str, tuple[DottedPath, ...], str | None], ...]:
        """The id targets this mapping can fill, computed once (the dataclass is frozen)."""
        plan = self._cache.get("plan")
        if plan is None:
            plan = tuple(
                (t, self.fields.get(t, ()), self.defaults.get(t))
                for t in ID_TARGETS
                if t in self.fields or t in self.defaults
            )
            self._cache["plan"] = plan
        return plan

    def raw(self, doc: Any, target: str) -> Any:
        """The first value any path of ``target`` finds, unconverted, or :data:`MISSING`."""
        for p in self.fields.get(target, ()):
            v = p.get(doc)
            if v is not MISSING and v is not None:
                return v
        return MISSING

    def resources(self, doc: Any) -> list[str]:
        out: list[str] = []
        for p in self.fields.get("resources", ()):
            v = p.get(doc)
            if isinstance(v, str):
                out.append(v)
            elif isinstance(v, list):
                out.extend(x for x in v if isinstance(x, str))
        return out

    def first(self, doc: Any, target: str) -> str | None:
        """The first path of ``target`` that resolves, as text; ``None`` when none does."""
        for p in self.fields.get(target, ()):
            v = p.get(doc)
            if v is MISSING or v is None or v == "":
                continue
            if isinstance(v, str):
                return v
            if isinstance(v, int | float) and not isinstance(v, bool):
                return str(v)
            raise DecodeError(
                f"{target}: the value at {p.text!r} is a {type(v).__name__}, expected a string",
                target,
            )
        return None

    def _missing(self, target: str) -> str:
        tried = self.fields.get(target, ())
        if tried:
            names = ", ".join(repr(p.text) for p in tried)
            return f"no {target}: {names} not in the line and no default"
        return f"no {target}: the mapping names no field (fields.{target}) and no default"


def parse_mapping(text: str, where: str = "<mapping>") -> FieldMapping:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise MappingConfigError(f"{where}{line}: not valid YAML: {err}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MappingConfigError(f"{where}: expected a mapping of keys, got {type(data).__name__}")
    try:
        doc = MappingFile.model_validate(data)
        return FieldMapping.from_file(doc)
    except ValidationError as err:
        e = err.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-"))
        raise MappingConfigError(f"{where}: {loc}: {e['msg']}") from None
    except ValueError as err:
        raise MappingConfigError(f"{where}: {err}") from None


def load_mapping(path: str | Path) -> FieldMapping:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as err:
        raise MappingConfigError(f"mapping file {p}: {err.strerror or err}") from None
    return parse_mapping(text, str(p))
