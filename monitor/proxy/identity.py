"""Who is calling: the identity of each ``tools/call``, from configuration and the request.

A proxy sees no agent ids, sponsors or tasks on the wire (see
``gateway-logs/README.md``): they come from where the deployment puts them.
So identity is the tap's mapping (:mod:`monitor.tap.mapping`, same YAML, same
dotted paths), read from one small document built per call::

    meta        the request's params._meta, as the client sent it
    headers     HTTP request headers (streamable HTTP only; names match any case)
    claims      the bearer token's claims, only once verified (--jwt-key)
    arguments   params.arguments
    tool        params.name
    transport   {"session_id": ...}: Mcp-Session-Id on HTTP; on stdio one id
                per proxy process (one stdio proxy serves one client)

For example::

    fields:
      agent_id: [claims.act.sub, claims.sub, meta.com.example/agent_id]
      sponsor: claims.sub            # RFC 8693: the human in sub, the agent in act.sub
      credential_id: claims.jti
      task_id: [claims.task_id, meta.com.example/task_id]
      resources: [arguments.path, arguments.uri]
    defaults: {server: fleet, tenant: corp, agent_kind: delegated}

Defaults: ``server`` is the upstream's ``serverInfo.name`` unless configured;
``session_id`` falls back to ``transport.session_id`` and ``trace_id`` to
``meta.traceparent``. Constants given as flags (``--agent-id`` ...) are
laid over the file's ``defaults``. A path wins over a default when it resolves.

Trust: ``meta`` and unverified headers are what the *client* says. For a stdio
proxy, which runs in the agent's own process tree, the trustworthy identity is
its configuration (flags / defaults); over HTTP, map identity from verified
token claims or from headers set by a component in front that authenticates.
Claims are never read from an unverified token: a mapping that names
``claims.*`` without a verification key is a configuration error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from monitor.errors import DecodeError
from monitor.events import AgentKind
from monitor.proxy.exceptions import IdentityConfigError
from monitor.tap.exceptions import MappingConfigError
from monitor.tap.mapping import FieldMapping, load_mapping
from monitor.tap.paths import DottedPath

#: Roots a proxy mapping path may start with.
ROOTS = ("meta", "headers", "claims", "arguments", "tool", "transport")
#: Identity constants a flag may set.
CONSTANTS = ("agent_id", "agent_kind", "sponsor", "task_id", "credential_id", "tenant", "server")
_FALLBACKS = {"session_id": "transport.session_id", "trace_id": "meta.traceparent"}
_KINDS = get_args(AgentKind)


@dataclass(frozen=True, slots=True)
class JwtConfig:
    """How bearer tokens are verified before their claims are used."""

    key: str
    algorithms: tuple[str, ...] = ("RS256",)
    audience: str | None = None
    issuer: str | None = None

    def claims(self, headers: Mapping[str, str] | None) -> dict[str, Any]:
        """The verified claims of the request's bearer token; {} when there is no token.

        Raises :class:`DecodeError` for a token that does not verify: a caller
        presenting a bad token is refused, never treated as anonymous.
        """
        import jwt

        auth = _header(headers, "authorization")
        if not auth:
            return {}
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise DecodeError("Authorization header is not a bearer token", "claims")
        try:
            return dict(
                jwt.decode(
                    token.strip(),
                    self.key,
                    algorithms=list(self.algorithms),
                    audience=self.audience,
                    issuer=self.issuer,
                    options={"verify_aud": self.audience is not None},
                )
            )
        except jwt.PyJWTError as err:
            raise DecodeError(f"bearer token rejected: {err}", "claims") from None


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    v = headers.get(name)
    if v is None:
        for k, val in headers.items():
            if k.lower() == name:
                return val
    return v


@dataclass(frozen=True, slots=True)
class Identity:
    """The identity fields of one call's ``tool_call`` event, and the resources it touches."""

    ids: dict[str, str]
    resources: list[str] = field(default_factory=list)

    @property
    def agent_id(self) -> str:
        return self.ids["agent_id"]


class IdentityResolver:
    """Resolves :class:`Identity` per call; built once, at start, with every error named."""

    def __init__(
        self,
        mapping: FieldMapping,
        *,
        jwt: JwtConfig | None = None,
        session_id: str | None = None,
    ) -> None:
        self.mapping = mapping
        self.jwt = jwt
        self.session_id = session_id
        self._needs_claims = any(
            p.text.split(".", 1)[0] == "claims" for ps in mapping.fields.values() for p in ps
        )
        if self._needs_claims and jwt is None:
            raise IdentityConfigError(
                "the identity mapping reads claims.* but no --jwt-key is given: the proxy never "
                "uses the claims of a token it has not verified"
            )

    @classmethod
    def build(
        cls,
        mapping_file: str | Path | None,
        constants: Mapping[str, str | None],
        *,
        upstream_name: str | None,
        jwt: JwtConfig | None = None,
        session_id: str | None = None,
    ) -> IdentityResolver:
        try:
            base = load_mapping(mapping_file) if mapping_file else FieldMapping()
        except MappingConfigError as err:
            raise IdentityConfigError(str(err)) from None
        where = str(mapping_file)
        if base.body is not None:
            raise IdentityConfigError(f"{where}: body: not used by the proxy (remove it)")
        for target, paths in base.fields.items():
            if target == "ts":
                raise IdentityConfigError(
                    f"{where}: fields.ts: not used by the proxy (events carry the proxy's clock)"
                )
            for p in paths:
                root = p.text.split(".", 1)[0]
                if root not in ROOTS:
                    raise IdentityConfigError(
                        f"{where}: fields.{target}: path {p.text!r} starts with {root!r}; "
                        f"a proxy path starts with one of {', '.join(ROOTS)}"
                    )
        fields = dict(base.fields)
        for target, path in _FALLBACKS.items():
            fields[target] = (*fields.get(target, ()), DottedPath(path))
        defaults = dict(base.defaults)
        if upstream_name and "server" not in defaults:
            defaults["server"] = upstream_name
        for k, v in constants.items():
            if k not in CONSTANTS:
                raise IdentityConfigError(f"unknown identity constant {k!r}")
            if v:
                defaults[k] = v
        kind = defaults.get("agent_kind")
        if kind is not None and kind not in _KINDS:
            raise IdentityConfigError(
                f"agent_kind {kind!r}: must be one of {', '.join(_KINDS)} (or left out: the "
                "charter decides)"
            )
        mapping = FieldMapping(body=None, fields=fields, defaults=defaults)
        return cls(mapping, jwt=jwt, session_id=session_id)

    def document(
        self,
        tool: str,
        arguments: Mapping[str, Any] | None,
        meta: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        session = _header(headers, "mcp-session-id") or self.session_id
        doc: dict[str, Any] = {
            "tool": tool,
            "arguments": dict(arguments or {}),
            "meta": dict(meta or {}),
            "headers": dict(headers or {}),
            "transport": {"session_id": session} if session else {},
        }
        if self._needs_claims and self.jwt is not None:
            doc["claims"] = self.jwt.claims(headers)
        return doc

    def resolve(
        self,
        tool: str,
        arguments: Mapping[str, Any] | None,
        meta: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Identity:
        """The call's identity; raises :class:`DecodeError` naming what is missing or bad."""
        doc = self.document(tool, arguments, meta, headers)
        ids = self.mapping.ids(doc)
        kind = ids.get("agent_kind")
        if kind is not None and kind not in _KINDS:
            raise DecodeError(
                f"agent_kind {kind!r} is not one of {', '.join(_KINDS)}", "agent_kind"
            )
        for k, v in ids.items():
            if len(v) > 512:
                raise DecodeError(f"{k}: longer than 512 characters", k)
        return Identity(ids, self.mapping.resources(doc))
