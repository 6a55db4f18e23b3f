"""Vault lease revocation against a real local server with Vault's API shape."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson
import pytest

from monitor.revoker.actuators.vault import VaultLeases
from monitor.revoker.exceptions import ActuatorError
from tests.revoker.servers import Behaviour, HTTPServer, Reply, Request, closed_url
from tests.revoker.support import command

Start = Callable[[Behaviour], HTTPServer]
TOKEN = "hvs.test"


class Vault:
    """``PUT /v1/sys/leases/revoke`` and ``/revoke-prefix/<prefix>``: 204, 403 bad token."""

    def __init__(self) -> None:
        self.leases = {"cred-1", "cred-2", "mcp/creds/a1/x", "mcp/creds/a1/y", "mcp/creds/b2/z"}
        self.calls: list[tuple[str, str]] = []

    def __call__(self, req: Request) -> Reply:
        if req.headers.get("x-vault-token") != TOKEN:
            return Reply(403, b'{"errors":["permission denied"]}')
        if req.method != "PUT":
            return Reply(405)
        if req.path == "/v1/sys/leases/revoke":
            lease = orjson.loads(req.body)["lease_id"]
            self.calls.append(("revoke", lease))
            self.leases.discard(lease)
            return Reply(204)
        prefix_path = "/v1/sys/leases/revoke-prefix/"
        if req.path.startswith(prefix_path):
            prefix = req.path[len(prefix_path) :]
            self.calls.append(("revoke-prefix", prefix))
            self.leases = {x for x in self.leases if not x.startswith(prefix)}
            return Reply(204)
        return Reply(404, b'{"errors":[]}')


def leases(addr: str, token: str = TOKEN, template: str = "", timeout: float = 2.0) -> VaultLeases:
    return VaultLeases(addr, token, prefix_template=template, timeout=timeout)


async def apply(act: VaultLeases, **kw: object) -> str:
    try:
        return await act.apply(command(**kw))
    finally:
        await act.aclose()


def refused_but_its_leases_revoked(v: Vault, err: pytest.ExceptionInfo[ActuatorError]) -> str:
    """A refused prefix still revokes the command's own leases, by id, and nothing else (the
    default command holds cred-1 and cred-2): a final error, its text without that note."""
    assert not err.value.retryable
    assert sorted(v.calls) == [("revoke", "cred-1"), ("revoke", "cred-2")]
    text, note = str(err.value).rsplit("; ", 1)
    assert note == "its 2 lease(s) revoked"
    return text


def test_revokes_each_credential_lease(http_server: Start) -> None:
    v = Vault()
    srv = http_server(v)
    detail = asyncio.run(apply(leases(srv.url(""))))
    assert sorted(v.calls) == [("revoke", "cred-1"), ("revoke", "cred-2")]
    assert detail == "revoked 2 lease(s)" and "cred-1" not in v.leases


def test_revoke_prefix_for_a_wider_scope(http_server: Start) -> None:
    v = Vault()
    srv = http_server(v)
    detail = asyncio.run(
        apply(
            leases(srv.url(""), template="mcp/creds/{agent_id}/"),
            scope="agent",
            agent_id="a1",
            credential_ids=[],
        )
    )
    assert v.calls == [("revoke-prefix", "mcp/creds/a1/")]
    assert v.leases == {"cred-1", "cred-2", "mcp/creds/b2/z"}
    assert detail == "revoked 0 lease(s) and prefix mcp/creds/a1/"


def test_an_empty_placeholder_never_widens_the_prefix(http_server: Start) -> None:
    v = Vault()
    srv = http_server(v)
    with pytest.raises(ActuatorError) as err:
        asyncio.run(
            apply(leases(srv.url(""), template="mcp/{task_id}/"), scope="agent", task_id=None)
        )
    assert "unsafe prefix" in refused_but_its_leases_revoked(v, err)


def test_permission_denied_is_final(http_server: Start) -> None:
    srv = http_server(Vault())
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(leases(srv.url(""), token="wrong")))
    assert not err.value.retryable and "HTTP 403" in str(err.value)


def test_sealed_vault_503_is_retryable(http_server: Start) -> None:
    srv = http_server(lambda r: Reply(503, b'{"errors":["Vault is sealed"]}'))
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(leases(srv.url(""))))
    assert err.value.retryable and "sealed" in str(err.value)


def test_down_is_retryable() -> None:
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(leases(closed_url(""))))
    assert err.value.retryable


def test_slow_is_retryable(http_server: Start) -> None:
    srv = http_server(lambda r: Reply(204, delay=0.6))
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(leases(srv.url(""), timeout=0.1)))
    assert err.value.retryable


def test_defaults_send_no_namespace_and_no_prefix(http_server: Start) -> None:
    """Without a prefix template only the command's leases are revoked, and without a
    namespace none is sent (Vault Enterprise would scope the token to it)."""
    v = Vault()
    srv = http_server(v)
    act = VaultLeases(srv.url(""), TOKEN)
    assert asyncio.run(apply(act, scope="agent", agent_id="a1")) == "revoked 2 lease(s)"
    assert sorted(v.calls) == [("revoke", "cred-1"), ("revoke", "cred-2")]
    assert all("x-vault-namespace" not in r.headers for r in srv.requests)


def test_the_namespace_is_sent_with_every_request(http_server: Start) -> None:
    v = Vault()
    srv = http_server(v)
    act = VaultLeases(srv.url(""), TOKEN, prefix_template="mcp/creds/{agent_id}/", namespace="t1")
    asyncio.run(apply(act, scope="agent", agent_id="a1"))
    assert len(srv.requests) == 3
    assert all(r.headers.get("x-vault-namespace") == "t1" for r in srv.requests)


@pytest.mark.parametrize(
    ("base", "path"),
    [
        ("/", ""),  # VAULT_ADDR written with a trailing slash
        ("/tenant-X/", "/tenant-X"),  # a Vault behind a reverse proxy, under a path
    ],
)
def test_the_address_may_end_with_a_slash(http_server: Start, base: str, path: str) -> None:
    srv = http_server(lambda r: Reply(204))
    asyncio.run(apply(leases(srv.url(base)), credential_ids=["cred-1"]))
    assert [(r.method, r.path) for r in srv.requests] == [("PUT", f"{path}/v1/sys/leases/revoke")]


def test_a_credential_command_revokes_its_leases_and_no_prefix(http_server: Start) -> None:
    """A prefix would revoke the agent's other leases: credential scope names its own."""
    v = Vault()
    srv = http_server(v)
    detail = asyncio.run(
        apply(
            leases(srv.url(""), template="mcp/creds/{agent_id}/"), scope="credential", agent_id="a1"
        )
    )
    assert detail == "revoked 2 lease(s)"
    assert sorted(v.calls) == [("revoke", "cred-1"), ("revoke", "cred-2")]


@pytest.mark.parametrize(
    ("template", "kw", "prefix"),
    [
        (
            "mcp/sessions/{session_id}/",
            {"scope": "session", "session_id": "sess-7"},
            "mcp/sessions/sess-7/",
        ),
        ("mcp/{scope}/{agent_id}/", {"scope": "agent"}, "mcp/agent/a1/"),
        ("mcp/{task_id}/{scope}", {"scope": "task"}, "mcp/task-1/task"),
        ("{task_id}/", {"scope": "task", "task_id": "X"}, "X/"),  # any content is a prefix
    ],
)
def test_every_placeholder_fills_the_prefix(
    http_server: Start, template: str, kw: dict[str, str], prefix: str
) -> None:
    v = Vault()
    srv = http_server(v)
    detail = asyncio.run(
        apply(leases(srv.url(""), template=template), agent_id="a1", credential_ids=[], **kw)
    )
    assert v.calls == [("revoke-prefix", prefix)]
    assert detail == f"revoked 0 lease(s) and prefix {prefix}"


@pytest.mark.parametrize(
    ("template", "kw", "refused"),
    [
        ("mcp/{task_id}/", {"scope": "agent", "task_id": None}, "mcp//"),
        ("mcp/{session_id}/", {"scope": "agent"}, "mcp//"),  # no session id
        ("mcp/{session_id}/", {"scope": "session", "session_id": ""}, "mcp//"),
        ("/mcp/{agent_id}/", {"scope": "agent"}, "/mcp/a1/"),  # a leading slash
        ("{task_id}", {"scope": "agent", "task_id": None}, ""),  # no prefix: every lease
        ("{task_id}/", {"scope": "agent", "task_id": None}, "/"),
    ],
)
def test_a_prefix_with_an_empty_part_is_refused_and_nothing_is_sent(
    http_server: Start, template: str, kw: dict[str, object], refused: str
) -> None:
    """An empty part would revoke far more than asked (``mcp//`` or the empty prefix:
    every lease): refused, finally, naming the prefix; only the command's own leases go."""
    v = Vault()
    srv = http_server(v)
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(leases(srv.url(""), template=template), agent_id="a1", **kw))
    assert refused_but_its_leases_revoked(v, err) == f"vault: refusing unsafe prefix {refused!r}"
    with pytest.raises(ActuatorError) as alone:  # no leases: the refusal alone, still final
        asyncio.run(
            apply(leases(srv.url(""), template=template), agent_id="a1", credential_ids=[], **kw)
        )
    assert not alone.value.retryable
    assert str(alone.value) == f"vault: refusing unsafe prefix {refused!r}"


def test_a_spiffe_agent_revokes_under_its_path(http_server: Start) -> None:
    """``{agent_path}``: a SPIFFE ID's trust domain and path, the way leases are named per
    agent; ``{agent_id}`` would put ``spiffe://`` in the path and is refused, saying so."""
    v = Vault()
    srv = http_server(v)
    spiffe = "spiffe://corp/agents/a1"
    detail = asyncio.run(
        apply(
            leases(srv.url(""), template="mcp/creds/{agent_path}/"),
            agent_id=spiffe,
            scope="agent",
            credential_ids=[],
        )
    )
    assert v.calls == [("revoke-prefix", "mcp/creds/corp/agents/a1/")]
    assert detail == "revoked 0 lease(s) and prefix mcp/creds/corp/agents/a1/"
    plain = asyncio.run(
        apply(
            leases(srv.url(""), template="mcp/creds/{agent_path}/"),
            agent_id="a1",
            scope="agent",
            credential_ids=[],
        )
    )
    assert plain == "revoked 0 lease(s) and prefix mcp/creds/a1/"  # any other id as it is
    with pytest.raises(ActuatorError) as err:
        asyncio.run(
            apply(
                leases(srv.url(""), template="mcp/creds/{agent_id}/"),
                agent_id=spiffe,
                scope="agent",
                credential_ids=[],
            )
        )
    assert not err.value.retryable
    assert str(err.value) == (
        "vault: refusing agent_id 'spiffe://corp/agents/a1' in the revoke prefix: it is not a"
        " path-safe segment (A-Z a-z 0-9 . _ ~ : @ + = -); use {agent_path} for a SPIFFE ID"
    )


@pytest.mark.parametrize(
    ("template", "kw", "key", "value"),
    [
        # a dot segment climbs out of the prefix: httpx resolves it before the request leaves
        ("mcp/creds/{task_id}/", {"task_id": ".."}, "task_id", ".."),
        ("mcp/creds/{task_id}/", {"task_id": "."}, "task_id", "."),
        (
            "mcp/creds/{agent_id}/{task_id}/",
            {"task_id": "../../../../sys/seal"},
            "task_id",
            "../../../../sys/seal",
        ),
        ("mcp/creds/{session_id}/", {"scope": "session", "session_id": ".."}, "session_id", ".."),
        ("mcp/creds/{agent_path}/", {"agent_id": "a1/../.."}, "agent_path", "a1/../.."),
        ("mcp/creds/{agent_path}/", {"agent_id": "../x"}, "agent_path", "../x"),
        # a query or fragment ends the path: the prefix left is the parent's
        ("mcp/creds/{task_id}/", {"task_id": "?"}, "task_id", "?"),
        ("mcp/creds/{task_id}/", {"task_id": "x#"}, "task_id", "x#"),
        # an escape Vault would decode into a separator or a dot segment
        ("mcp/creds/{task_id}/", {"task_id": "%2e%2e"}, "task_id", "%2e%2e"),
        ("mcp/creds/{task_id}/", {"task_id": "a/b"}, "task_id", "a/b"),  # one segment only
        ("mcp/creds/{task_id}/", {"task_id": "a\\b"}, "task_id", "a\\b"),
    ],
)
def test_a_hostile_id_never_reaches_the_vault_path(
    http_server: Start, template: str, kw: dict[str, str], key: str, value: str
) -> None:
    """Ids come from traffic. One that would widen the revocation (every lease under the
    parent) or reach another API with the revoker's token is refused, finally, naming the
    placeholder and the value; no path is built of it. The command's own leases are still
    revoked by id: a hostile id must not keep the agent's credentials alive."""
    v = Vault()
    srv = http_server(v)
    kw = {"agent_id": "a1", "scope": "task", **kw}
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(leases(srv.url(""), template=template), **kw))
    assert refused_but_its_leases_revoked(v, err) == (
        f"vault: refusing {key} {value!r} in the revoke prefix: it is not a path-safe segment"
        " (A-Z a-z 0-9 . _ ~ : @ + = -)"
    )
    assert all(r.path == "/v1/sys/leases/revoke" for r in srv.requests)
    # without leases to revoke, the refusal is all there is, and nothing is sent
    srv.requests.clear()
    with pytest.raises(ActuatorError) as alone:
        asyncio.run(apply(leases(srv.url(""), template=template), **kw, credential_ids=[]))
    assert str(alone.value) == refused_but_its_leases_revoked(v, err)
    assert srv.requests == []


@pytest.mark.parametrize(
    "template", ["mcp/../{agent_path}/", "mcp/./{agent_path}/", "mcp/?/{agent_path}", "mcp/#"]
)
def test_a_template_that_climbs_or_cuts_its_path_is_refused(
    http_server: Start, template: str
) -> None:
    v = Vault()
    srv = http_server(v)
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(leases(srv.url(""), template=template), agent_id="a1", scope="agent"))
    assert "refusing unsafe prefix" in refused_but_its_leases_revoked(v, err)


def test_an_unused_placeholders_value_is_not_judged(http_server: Start) -> None:
    """Only the values the template puts in the path are checked: a SPIFFE agent id is fine
    beside a template of task ids."""
    v = Vault()
    srv = http_server(v)
    detail = asyncio.run(
        apply(
            leases(srv.url(""), template="mcp/tasks/{task_id}/"),
            task_id="t-1:a@b+c=d~e",
            credential_ids=[],
        )
    )
    assert v.calls == [("revoke-prefix", "mcp/tasks/t-1:a@b+c=d~e/")]
    assert detail.endswith("prefix mcp/tasks/t-1:a@b+c=d~e/")


def test_a_bad_template_is_refused_naming_it(http_server: Start) -> None:
    """A placeholder Vault's actuator does not know is a configuration error: final."""
    v = Vault()
    srv = http_server(v)
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(leases(srv.url(""), template="mcp/{tenant}/"), scope="agent"))
    text = refused_but_its_leases_revoked(v, err)
    assert text == "vault: bad prefix template 'mcp/{tenant}/': 'tenant'"
    with pytest.raises(ActuatorError) as alone:  # no leases: the refusal alone, still final
        asyncio.run(
            apply(leases(srv.url(""), template="mcp/{tenant}/"), scope="agent", credential_ids=[])
        )
    assert not alone.value.retryable and str(alone.value) == text


def test_nothing_to_revoke_sends_nothing(http_server: Start) -> None:
    srv = http_server(Vault())
    detail = asyncio.run(apply(leases(srv.url("")), scope="agent", credential_ids=[]))
    assert detail == "nothing to revoke: no lease ids and no prefix for this scope"
    assert srv.requests == []


def test_errors_name_the_vault_actuator(http_server: Start) -> None:
    """The ack and the revocation_failed alert say which actuator failed, and how."""
    srv = http_server(Vault())
    with pytest.raises(ActuatorError) as status:
        asyncio.run(apply(leases(srv.url(""), token="wrong"), credential_ids=["cred-1"]))
    url = srv.url("/v1/sys/leases/revoke")
    assert str(status.value) == f'vault: HTTP 403 from {url}: {{"errors":["permission denied"]}}'
    with pytest.raises(ActuatorError) as down:
        asyncio.run(apply(leases(closed_url(""))))
    assert str(down.value).startswith("vault: ConnectError: ")


def test_a_failed_attempt_reports_the_first_call_whatever_answered_first(
    http_server: Start,
) -> None:
    """The leases (then the prefix) are revoked together, but an attempt ends when every
    request has its answer, and reports the first failing call in that order: the ack and
    the alert do not depend on which answer came first."""

    def replies(req: Request) -> Reply:
        if req.path == "/v1/sys/leases/revoke" and orjson.loads(req.body)["lease_id"] == "cred-1":
            return Reply(400, b'{"errors":["invalid lease ID"]}', delay=0.5)  # late, final
        return Reply(503, b'{"errors":["Vault is sealed"]}')  # the rest: at once, retryable

    srv = http_server(replies)
    act = leases(srv.url(""), template="mcp/creds/{agent_id}/")
    with pytest.raises(ActuatorError) as err:
        asyncio.run(apply(act, scope="agent", agent_id="a1"))
    assert not err.value.retryable and "invalid lease ID" in str(err.value)
    assert len(srv.requests) == 3
