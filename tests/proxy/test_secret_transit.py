"""secret_in_transit on proxied traffic: the secret never leaves the proxy, the alert fires.

Through the real proxy (its emit path, redaction on by default) and then the
worker's engine replaying what the proxy emitted: a secret in the arguments is
in the event only as the redactor's mark of its family, a secret in the result
only as the family's name (``result_secrets``); both raise ``secret_in_transit``
and no output holds the secret.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from monitor.core import Engine
from monitor.replay import replay_file
from monitor.testing import charter
from tests.core.secret_corpus import FAMILIES
from tests.proxy.support import AGENT, proxied

AWS = FAMILIES["aws-key"][0]
GH = FAMILIES["github-token"][0]
CHARTER = charter(
    AGENT["agent_id"], tools=[{"server": "fleet", "tool": "read_file", "classes": ["read"]}]
)


def _run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def _proxied_calls(tmp_path: Path, *calls: dict[str, Any]) -> list[dict[str, Any]]:
    async def go() -> Any:
        async with proxied(tmp_path, redis_url=None) as p:
            for args in calls:
                await p.client.call_tool("read_file", args)
            return p

    p = _run(go())
    raw = p.events_path.read_text()
    assert AWS not in raw and GH not in raw  # the secret never left the proxy
    return p.events()


def _replayed(tmp_path: Path) -> list[dict[str, Any]]:
    out = tmp_path / "out"
    replay_file(str(tmp_path / "events.jsonl"), Engine([CHARTER]), out)
    text = (out / "alerts.jsonl").read_text()
    assert AWS not in text and GH not in text
    alerts = [orjson.loads(x) for x in text.splitlines()]
    return [a for a in alerts if a["detector"] == "secret_in_transit"]


def test_a_secret_in_the_arguments_is_redacted_at_the_proxy_and_still_raises_the_alert(
    tmp_path: Path,
) -> None:
    # read_file echoes its path: the prompt's key is in the arguments only
    [event] = _proxied_calls(tmp_path, {"path": "/srv/app.py", "note": f"deploy with {GH}"})
    assert event["args"]["note"] == "deploy with [REDACTED:github-token]"
    assert "result_secrets" not in event  # the result held none
    [alert] = _replayed(tmp_path)
    assert alert["details"] == {"families": "github-token", "arguments": "args.note"}
    assert alert["evidence"] == [event["event_id"]] and alert["severity"] == "high"


def test_a_secret_in_the_result_reaches_the_event_as_its_family_and_raises_the_alert(
    tmp_path: Path,
) -> None:
    # the result is "contents of <path>": the key the tool returned is in the result
    plain, leaky = _proxied_calls(tmp_path, {"path": "/srv/app.py"}, {"path": f"/srv/{AWS}"})
    assert "result_secrets" not in plain  # near miss: a result with no secret
    assert leaky["result_secrets"] == ["aws-key"]
    found = {a["details"].get("in", "arguments"): a for a in _replayed(tmp_path)}
    assert set(found) == {"result", "arguments"}  # the path held it too
    assert found["result"]["details"] == {"families": "aws-key", "in": "result"}
    assert "in its result" in found["result"]["reason"]
    assert found["result"]["evidence"] == [leaky["event_id"]]
