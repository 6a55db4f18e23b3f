"""Redacting a call's arguments before its event leaves the proxy.

An agent's arguments carry what it was given: file contents with a PEM key,
an ``Authorization`` value, an AWS key in a shell command. Events go to Kafka,
to ``--to-file`` and, when they cannot be delivered, to the log; all of them
are read by more people than the agent's secrets are meant for. So every
string in the arguments, at any depth, and every key, goes through the
monitor's one :class:`~monitor.core.redact.Redactor` (its rules are the
monitor's, not the proxy's); and a value of any type under a key the rules
call secret (``password``, ``api_key`` ...) is replaced as a whole, because a
bare value (``"hunter2"``) does not look like a secret on its own.

>>> from monitor.core.redact import RedactionRules, Redactor
>>> redact_args(Redactor(RedactionRules()), {"password": "hunter2", "n": 3})
{'password': '[REDACTED:key-value]', 'n': 3}
"""

from __future__ import annotations

from typing import Any

from monitor.core.redact import Redactor


def redact_args(redactor: Redactor, args: dict[str, Any]) -> dict[str, Any]:
    """``args`` with every secret the redactor knows replaced (:meth:`Redactor.structure`: every
    string and key at any depth, a secret-named key's value whole, below 64 levels
    ``[REDACTED:too-deep]``); the input is not changed."""
    if not redactor:
        return args
    out = redactor.structure(args)
    return out if isinstance(out, dict) else {}
