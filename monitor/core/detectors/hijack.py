"""What the hijack detectors share: tool-name words, the session key, their state sections.

The hijack detectors (``hijack_*.py``, one concept each) look for what a
prompt-injected agent does with tools its charter *grants*: the charter cannot
see that, and a learned baseline sees it too late. They need a charter (its
``hijack`` key tunes them, :class:`monitor.charter.Hijack`) and keep their
per-agent state in ``AgentState.sections[<detector name>]`` as short lists of
plain values (``size`` of them), each bounded, so snapshots stay small and
round-trip as they are.

A tool is *high impact* when a word of its name (``delete_repo`` → ``delete``,
``repo``; ``sendMessage`` → ``send``, ``message``) or one of its capability
classes is in :data:`HIGH_IMPACT` (or the charter's ``hijack.high_impact``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any, ClassVar

from monitor.charter import Hijack
from monitor.core.detectors.base import CallContext, Detector, call_target, once_per_call
from monitor.core.policy import CompiledCharter
from monitor.core.state import AgentState
from monitor.core.values import value_digests
from monitor.events import ToolCall

#: Words (tool-name parts, capability classes) of tools whose misuse does harm.
HIGH_IMPACT: frozenset[str] = frozenset(
    {
        "delete", "remove", "destroy", "drop", "purge", "wipe", "erase", "truncate", "rm",
        "transfer", "pay", "payment", "payout", "wire", "refund", "withdraw", "charge",
        "send", "post", "publish", "forward", "reply",
        "share", "invite", "grant", "collaborator", "collaborators", "member", "members",
        "admin", "permission", "permissions", "role", "roles",
        "exec", "execute", "run", "shell", "bash", "command", "terminal", "eval",
        "upload", "deploy", "approve", "egress", "webhook",
    }
)  # fmt: skip
#: Words of tools that run commands (``shell_egress`` reads their arguments).
EXEC_WORDS: frozenset[str] = frozenset(
    {
        "exec", "execute", "run", "shell", "bash", "sh", "zsh", "cmd", "command", "terminal",
        "powershell", "pwsh", "eval", "script", "subprocess", "spawn", "system", "console",
    }
)  # fmt: skip

#: Words that make a tool a read whatever else its name says (``get_post``, ``list_shares``).
READ_WORDS: frozenset[str] = frozenset(
    {"get", "list", "read", "search", "fetch", "find", "query", "describe", "view", "show"}
)

#: Argument-name words that hold a destination: where data, money, access or a message goes.
DEST_WORDS: frozenset[str] = frozenset(
    {
        "to", "cc", "bcc", "recipient", "recipients", "email", "emails", "address",
        "user", "users", "member", "members", "invitee", "invitees", "channel", "channels",
        "url", "uri", "webhook", "account", "iban", "destination", "dest", "target",
        "phone", "number", "payee", "beneficiary", "assignee", "reviewer", "reviewers",
        "guest", "guests", "contact", "website", "site", "host", "endpoint", "link",
        "share", "shared", "invite", "grantee", "collaborator", "collaborators",
    }
)  # fmt: skip

#: A value that *is* an address: e-mail, URL, IBAN, IPv4, a phone or account number.
_ADDRESS = re.compile(
    r"""
    [A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}
  | [a-z][a-z0-9+.-]{1,15}://\S+
  | [A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?
  | (?:[0-9]{1,3}\.){3}[0-9]{1,3}
  | \+?[0-9][0-9 -]{4,30}[0-9]
    """,
    re.VERBOSE,
)


def is_address(token: str) -> bool:
    """Whether ``token`` (one value from :func:`monitor.core.values.values_in`) is an address
    (e-mail, URL, IBAN, IPv4, phone/account number) rather than an object id or a name."""
    return _ADDRESS.fullmatch(token.strip()) is not None


def dest_key(key: str) -> bool:
    """Whether an argument named ``key`` holds a destination (``to``, ``guest_ids``, ...)."""
    return not DEST_WORDS.isdisjoint(words(key))


_CAMEL = re.compile(r"[A-Z]?[a-z]+[0-9]*|[A-Z]+[0-9]*(?![a-z])|[0-9]+")
_DEFAULT = Hijack()


@lru_cache(maxsize=4096)
def words(name: str) -> frozenset[str]:
    """``"sendSlack_message-v2"`` → ``{"send", "slack", "message", "v2"}`` (lower case)."""
    out: set[str] = set()
    for part in re.split(r"[^A-Za-z0-9]+", name):
        out.update(w.lower() for w in _CAMEL.findall(part))
    return frozenset(out)


def rules(charter: CompiledCharter | None) -> Hijack:
    return charter.charter.hijack if charter is not None else _DEFAULT


def enabled(charter: CompiledCharter | None, name: str) -> bool:
    """Whether the hijack detector ``name`` runs for agents under ``charter`` (never without)."""
    if charter is None:
        return False
    r = charter.charter.hijack
    return r.enabled and name not in r.disabled


class HijackDetector(Detector):
    """What the six hijack detectors share: switched on and off per charter under ``hijack:``
    (:func:`enabled`), and judged against the agent's own past actions (OCSF *Behavioral*)."""

    analytic = "behavioral"
    #: Items in its state section (a detector with a ``section`` sets it).
    size: ClassVar[int] = 0

    @classmethod
    def load_state(cls, data: Any) -> list[Any]:
        if cls.section is None:  # one without state (shell_egress)
            return super().load_state(data)
        if not isinstance(data, list) or len(data) != cls.size:
            raise ValueError(f"not a list of {cls.size} items")
        return data

    def wants_calls(self, charter: CompiledCharter | None, kind: str) -> bool:
        return enabled(charter, self.name)


@lru_cache(maxsize=256)
def _impact_words(custom: tuple[str, ...] | None) -> frozenset[str]:
    return HIGH_IMPACT if custom is None else frozenset(custom)


@once_per_call
def high_impact(ctx: CallContext) -> bool:
    r = rules(ctx.charter)
    vocab = _impact_words(None if r.high_impact is None else tuple(r.high_impact))
    if not vocab.isdisjoint(ctx.classes):
        return True
    w = words(ctx.call.tool)
    return not vocab.isdisjoint(w) and READ_WORDS.isdisjoint(w)


def is_exec(ctx: CallContext) -> bool:
    return "exec" in ctx.classes or not EXEC_WORDS.isdisjoint(words(ctx.call.tool))


def session_key(ctx: CallContext) -> str:
    """The unit a session-scoped detector resets on: session, else task, else the agent."""
    c = ctx.call
    return c.session_id or c.task_id or ""


def section(st: AgentState, name: str, fresh: Callable[[], list[Any]], check: int) -> list[Any]:
    """The detector's state section; ``fresh()`` if absent or not a list of ``check`` items
    (a restored one is checked by :meth:`HijackDetector.load_state`: this is a second guard).
    A factory, so the calls that find their section (all but an agent's first) build nothing."""
    sec = st.sections.get(name)
    if not isinstance(sec, list) or len(sec) != check:
        sec = st.sections[name] = fresh()
    return sec


_MEMO: list[Any] = [None, None, None]  # [call object, event id, digests by key]


def arg_digests(call: ToolCall, max_keys: int = 16) -> list[tuple[str, list[str]]]:
    """8-hex digests of the values in each top-level argument of ``call`` (later keys as one).

    Extraction runs the secret rules per value, so it is the dearest step of the
    hijack detectors; several of them ask for the same call, so the last call's
    answer is kept (keyed by the call object and its event id: a pure function of
    the call, so replay and redelivery see the same).
    """
    memo = _MEMO
    if memo[0] is call and memo[1] == call.event_id:
        out: list[tuple[str, list[str]]] = memo[2]
        return out
    items = list(call.args.items())
    out = [(str(k), [d[:8] for d in value_digests(v)]) for k, v in items[:max_keys]]
    if len(items) > max_keys:
        out.append(("…", [d[:8] for d in value_digests(dict(items[max_keys:]))]))
    memo[0], memo[1], memo[2] = call, call.event_id, out
    return out


def target(ctx: CallContext) -> tuple[Any, list[str]]:
    return call_target(ctx)
