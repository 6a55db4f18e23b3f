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
    transport   {"session_id": ...}: Mcp-Session-Id on HTTP when the transport issued
                and checked it (a session of a handshake protocol: an unknown id is
                refused, 404); not for protocol 2026-07-28, which has no sessions, so
                the header there is the caller's word; on stdio one id per proxy
                process (one stdio proxy serves one client)

For example (identity from verified claims only)::

    fields:
      agent_id: [claims.act.sub, claims.sub]   # RFC 8693: the actor is the agent
      sponsor: claims.sub                      # the human in sub
      credential_id: claims.jti
      task_id: claims.task_id
      resources: [arguments.path, arguments.uri]
    defaults: {server: fleet, tenant: corp, agent_kind: delegated}

Defaults: ``server`` is the upstream's ``serverInfo.name`` unless configured;
``session_id`` falls back to ``transport.session_id`` and ``trace_id`` to
``meta.traceparent``. Constants given as flags (``--agent-id`` ...) are
laid over the file's ``defaults``. A path wins over a default when it resolves.

Trust. ``meta``, ``headers``, ``arguments`` and ``tool`` are what the *client*
says; ``claims`` (verified) and ``transport`` are not. So:

- claims are never read from an unverified token: a mapping that names
  ``claims.*`` without ``--jwt-key`` / ``--jwt-jwks-url`` is a configuration error;
- once bearer tokens are verified, a call without a good token is refused, and
  the fields that say *who* calls (:data:`VERIFIED_ONLY`) may come from claims,
  the transport or configuration only: a mapping that also lists a header or
  ``_meta`` path for them is a configuration error (else a caller without a
  token, or whose token lacks the claim, would name itself);
- without verification, a mapping that takes identity from the caller's word
  starts with a warning (``identity_from_unverified_source``): that is only
  sound behind a component that authenticates and sets those headers;
- every identity field is canonical (:func:`monitor.identity.canonical_id`):
  a spelling it refuses is refused, naming the field; and when the mapping
  names a ``credential_id``, a call that resolves none is refused (else a
  caller could leave its credential out of the deny-list check).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from monitor.errors import DecodeError
from monitor.events import AgentKind
from monitor.identity import IDENTITY_FIELDS, canonical_id
from monitor.proxy.exceptions import IdentityConfigError
from monitor.tap.exceptions import MappingConfigError
from monitor.tap.mapping import FieldMapping, load_mapping
from monitor.tap.paths import DottedPath

#: Roots a proxy mapping path may start with.
ROOTS = ("meta", "headers", "claims", "arguments", "tool", "transport")
#: Roots whose values the caller chooses (nothing checks them).
UNVERIFIED_ROOTS = ("meta", "headers", "arguments", "tool")
#: Fields that say who calls: from verified sources only once tokens are verified.
VERIFIED_ONLY = ("agent_id", "agent_kind", "sponsor", "credential_id", "tenant", "session_id")
#: Fields canonicalised (``monitor.identity.canonical_id``) before the deny-list and events.
CANONICAL = (*IDENTITY_FIELDS, "tenant")
#: Identity constants a flag may set.
CONSTANTS = ("agent_id", "agent_kind", "sponsor", "task_id", "credential_id", "tenant", "server")
_FALLBACKS = {"session_id": "transport.session_id", "trace_id": "meta.traceparent"}
_KINDS = get_args(AgentKind)


class TokenExpired(DecodeError):
    """A bearer token that verifies (signature, audience, issuer) but is past its own ``exp``.

    Not an unknown caller: who it is, is known and verified, only its time is up.
    So the gateway refuses it as its own check (``token_expired``) and emits the
    call's event (``outcome: denied``, ``denied_by: token_expired``) from
    ``identity``, the identity the expired token's claims resolve to. A token
    that does not verify stays a plain :class:`DecodeError` (refused as
    ``no_identity``, no event: nothing in it can be trusted).
    """

    def __init__(
        self,
        reason: str,
        claims: dict[str, Any],
        expired_at: float,
        identity: Identity | None = None,
    ) -> None:
        super().__init__(reason, "claims")
        self.claims = claims
        self.expired_at = expired_at
        self.identity = identity


@dataclass(frozen=True, slots=True)
class JwtConfig:
    """How bearer tokens are verified before their claims are used.

    The key is a PEM public key or HMAC secret (``key``) or a JWKS URL
    (``jwks_url``, keys fetched with PyJWT's ``PyJWKClient``: the set is cached
    ``jwks_lifespan`` seconds, and a token naming an unknown ``kid`` refetches
    it, at most once per ``jwks_cooldown`` seconds, so a rotated-in key is found
    and a rotated-out one is dropped at the next fetch). Every token must carry
    ``exp``; ``aud`` and ``iss`` are required and checked unless turned off
    explicitly (``no_audience`` / ``no_issuer``): a token minted for another
    service, or by another issuer sharing the key, is not a credential here.
    """

    key: str | None = None
    algorithms: tuple[str, ...] = ("RS256",)
    audience: str | None = None
    issuer: str | None = None
    no_audience: bool = False
    no_issuer: bool = False
    jwks_url: str | None = None
    jwks_lifespan: float = 300.0
    jwks_cooldown: float = 30.0
    jwks_timeout: float = 5.0
    _jwks: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.key is None) == (self.jwks_url is None):
            raise IdentityConfigError(
                "bearer-token verification needs exactly one of --jwt-key FILE and "
                "--jwt-jwks-url URL"
            )
        if self.audience is None and not self.no_audience:
            raise IdentityConfigError(
                "--jwt-audience AUD is required: the audience this proxy's tokens are minted "
                "for (or --jwt-no-audience to accept tokens minted for any service)"
            )
        if self.issuer is None and not self.no_issuer:
            raise IdentityConfigError(
                "--jwt-issuer ISS is required: the issuer whose tokens are accepted "
                "(or --jwt-no-issuer to accept any issuer holding the key)"
            )
        if self.audience is not None and self.no_audience:
            raise IdentityConfigError("--jwt-audience and --jwt-no-audience contradict each other")
        if self.issuer is not None and self.no_issuer:
            raise IdentityConfigError("--jwt-issuer and --jwt-no-issuer contradict each other")
        if self.jwks_url is not None:
            from jwt import PyJWKClient
            from jwt.exceptions import PyJWKClientError

            try:
                client = PyJWKClient(
                    self.jwks_url,
                    cache_jwk_set=True,
                    lifespan=self.jwks_lifespan,
                    cooldown_duration=self.jwks_cooldown,
                    timeout=self.jwks_timeout,
                )
            except PyJWKClientError as err:
                raise IdentityConfigError(f"--jwt-jwks-url {self.jwks_url}: {err}") from None
            object.__setattr__(self, "_jwks", client)

    @property
    def fetches_keys(self) -> bool:
        """True when verifying may do network I/O (JWKS): run it off the event loop."""
        return self._jwks is not None

    def claims(self, headers: Mapping[str, str] | None) -> dict[str, Any]:
        """The verified claims of the request's bearer token.

        Raises :class:`DecodeError` for a missing token or one that does not
        verify: a caller without a good token is refused, never anonymous; and
        :class:`TokenExpired` (a :class:`DecodeError`, with the verified claims)
        for one that verifies but is past its ``exp``.
        """
        import jwt

        auth = _header(headers, "authorization")
        if not auth:
            raise DecodeError("no bearer token (Authorization: Bearer ...)", "claims")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise DecodeError("Authorization header is not a bearer token", "claims")
        token = token.strip()
        require = ["exp"]
        if not self.no_audience:
            require.append("aud")
        if not self.no_issuer:
            require.append("iss")
        options: dict[str, Any] = {"require": require, "verify_aud": not self.no_audience}
        try:
            key: Any = self.key
            if self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
            try:
                claims = self._decode(jwt, token, key, options)
            except jwt.ExpiredSignatureError as err:
                # verified in every other respect, or this raises: only its time is up
                claims = self._decode(jwt, token, key, {**options, "verify_exp": False})
                if isinstance(claims, dict):
                    raise TokenExpired(
                        f"bearer token rejected: {err}", dict(claims), float(claims["exp"])
                    ) from None
        except jwt.PyJWTError as err:
            raise DecodeError(f"bearer token rejected: {err}", "claims") from None
        if not isinstance(claims, dict):
            raise DecodeError("bearer token rejected: claims are not a JSON object", "claims")
        return dict(claims)

    def _decode(self, jwt: Any, token: str, key: Any, options: dict[str, Any]) -> Any:
        return jwt.decode(
            token,
            key,
            algorithms=list(self.algorithms),
            audience=None if self.no_audience else self.audience,
            issuer=None if self.no_issuer else self.issuer,
            options=options,
        )


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
                "the identity mapping reads claims.* but no --jwt-key / --jwt-jwks-url is given: "
                "the proxy never uses the claims of a token it has not verified"
            )
        if jwt is not None:
            for target in VERIFIED_ONLY:
                for p in mapping.fields.get(target, ()):
                    if p.text.split(".", 1)[0] in UNVERIFIED_ROOTS:
                        raise IdentityConfigError(
                            f"fields.{target}: path {p.text!r} is the caller's word; with "
                            "bearer tokens verified, who calls comes from claims.* (or "
                            "configuration) only: a caller without a token, or whose token "
                            f"lacks the claim, would name its own {target}"
                        )
        #: credential_id is required per call when the mapping says where to find it
        self._credential_required = bool(mapping.fields.get("credential_id"))

    def unverified_sources(self) -> dict[str, list[str]]:
        """Identity fields this mapping takes from the caller's word (field → paths).

        ``run`` logs them at start (``identity_from_unverified_source``); sound
        only behind a component that authenticates the caller and sets them.
        """
        out: dict[str, list[str]] = {}
        for target in CANONICAL:
            paths = [
                p.text
                for p in self.mapping.fields.get(target, ())
                if p.text.split(".", 1)[0] in UNVERIFIED_ROOTS
            ]
            if paths:
                out[target] = paths
        return out

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
                if k in CANONICAL:
                    try:
                        v = canonical_id(v, k)
                    except DecodeError as err:
                        raise IdentityConfigError(
                            f"--{k.replace('_', '-')}: {err.reason}"
                        ) from None
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
        claims: dict[str, Any] | None = None,
        *,
        session_header: bool = False,
    ) -> dict[str, Any]:
        """What the mapping reads; ``claims``: already verified (else read from the token);
        ``session_header``: see :meth:`resolve`."""
        session = (_header(headers, "mcp-session-id") if session_header else None) or (
            self.session_id
        )
        doc: dict[str, Any] = {
            "tool": tool,
            "arguments": dict(arguments or {}),
            "meta": dict(meta or {}),
            "headers": dict(headers or {}),
            "transport": {"session_id": session} if session else {},
        }
        if claims is not None:
            doc["claims"] = claims
        elif self.jwt is not None:  # verifying: no call without a good token
            doc["claims"] = self.jwt.claims(headers)
        return doc

    def resolve(
        self,
        tool: str,
        arguments: Mapping[str, Any] | None,
        meta: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        session_header: bool = False,
    ) -> Identity:
        """The call's identity; raises :class:`DecodeError` naming what is missing or bad,
        :class:`TokenExpired` with the identity its verified claims resolve to when the
        bearer token is past its expiry (a bad identity in those claims: the DecodeError).
        ``session_header``: the transport issued and checked ``Mcp-Session-Id``, so it is
        ``transport.session_id``; else that header is the caller's word and is not."""
        try:
            doc = self.document(tool, arguments, meta, headers, session_header=session_header)
        except TokenExpired as err:
            expired = self.document(
                tool, arguments, meta, headers, claims=err.claims, session_header=session_header
            )
            err.identity = self._identity(expired)
            raise
        return self._identity(doc)

    def _identity(self, doc: dict[str, Any]) -> Identity:
        ids = self.mapping.ids(doc)
        for k, v in ids.items():  # first: a refusal below quotes the value
            if len(v) > 512:
                raise DecodeError(f"{k}: longer than 512 characters", k)
        kind = ids.get("agent_kind")
        if kind is not None and kind not in _KINDS:
            raise DecodeError(
                f"agent_kind {kind!r} is not one of {', '.join(_KINDS)}", "agent_kind"
            )
        for k, v in ids.items():
            if k in CANONICAL:
                ids[k] = canonical_id(v, k)  # one spelling per identity, or refused
        if self._credential_required and "credential_id" not in ids:
            tried = ", ".join(repr(p.text) for p in self.mapping.fields["credential_id"])
            raise DecodeError(
                f"no credential_id: {tried} not in the request (a call the deny-list cannot "
                "check by its credential is refused)",
                "credential_id",
            )
        return Identity(ids, self.mapping.resources(doc))
