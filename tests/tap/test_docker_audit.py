"""``--format docker-audit``: field-by-field from the sample; a pre-call decision record."""

from __future__ import annotations

from tests.tap.support import events, map_sample, skipped


def test_allowed_invoke_field_by_field() -> None:
    e = events(map_sample("docker-audit"))[0]
    assert e["event_id"].startswith("dkr-")
    del e["event_id"]
    assert e == {
        "type": "tool_call",
        "ts": "2026-08-20T09:14:05Z",
        "agent_id": "claude-code",  # client_name: self-reported
        "tenant": "team-dev",  # working_set (no org_id)
        "server": "github-official",
        "tool": "search_code",
        "args": {},  # never logged
        "resources": [],
        "outcome": "unknown",  # allowed: the call has not run yet
        "bytes_in": 0,
        "bytes_out": 0,
    }


def test_denials_including_policy_errors_and_prompts_skipped() -> None:
    out = map_sample("docker-audit")
    assert [(e["tool"], e["outcome"]) for e in events(out)] == [
        ("search_code", "unknown"),
        ("read_file", "unknown"),
        ("delete_repository", "denied"),
        ("apply_patch", "unknown"),
        ("fetch", "denied"),  # outcome_reason policy_error is recorded as denied
    ]
    assert [s.reason for s in skipped(out)] == ["trigger prompt of a prompt"]


def test_actor_and_org_win_when_the_backend_adds_them() -> None:
    import orjson

    from tests.tap.support import SAMPLES, feed, lines_of, preset

    doc = orjson.loads(SAMPLES["docker-audit"].read_bytes().splitlines()[0])
    doc.update(actor_id="user-42", org_id="acme")
    [e] = events(feed(preset("docker-audit"), lines_of([orjson.dumps(doc)])))
    assert (e["agent_id"], e["tenant"]) == ("user-42", "acme")
