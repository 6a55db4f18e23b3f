from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import DecodeError
from monitor.tap.exceptions import MappingConfigError
from monitor.tap.mapping import FieldMapping, load_mapping, parse_mapping

LINE = {
    "headers": {"X-Agent-Id": "agent:code-assistant/inst-31", "mcp-session-id": "4f2a"},
    "route": "/mcp/github",
    "body": {
        "params": {
            "_meta": {"com.example/task_id": "TASK-4411", "user": 1234},
            "arguments": {"path": "/srv/app/.env", "paths": ["a.py", "b.py", 3]},
        }
    },
}


def test_paths_fallbacks_and_defaults() -> None:
    m = parse_mapping(
        """
        fields:
          agent_id: [headers.x-agent-id, body.params._meta.agent]
          sponsor: [body.params._meta.sponsor, headers.x-sponsor]
          task_id: body.params._meta.com.example/task_id
          session_id: headers.mcp-session-id
          server: route
          credential_id: body.params._meta.user
        defaults: {tenant: corp, server: unused, sponsor: nobody@corp.example}
        """
    )
    assert m.ids(LINE) == {
        "agent_id": "agent:code-assistant/inst-31",
        "sponsor": "nobody@corp.example",  # no path resolved: the default
        "task_id": "TASK-4411",
        "session_id": "4f2a",
        "credential_id": "1234",  # numbers become text
        "tenant": "corp",
        "server": "/mcp/github",  # a path that resolves beats the default
    }


def test_missing_identity_names_the_paths_tried() -> None:
    m = parse_mapping("fields: {agent_id: [headers.x-user, jwt.sub]}\ndefaults: {server: s}")
    with pytest.raises(DecodeError) as e:
        m.ids(LINE)
    assert e.value.field == "agent_id"
    assert (
        e.value.reason == "no agent_id: 'headers.x-user', 'jwt.sub' not in the line and no default"
    )


def test_missing_identity_without_any_rule_says_what_to_configure() -> None:
    with pytest.raises(
        DecodeError, match=r"no agent_id: the mapping names no field \(fields.agent_id\)"
    ):
        FieldMapping().ids(LINE)
    with pytest.raises(DecodeError, match="no server"):
        parse_mapping("defaults: {agent_id: a}").ids(LINE)


def test_a_value_that_is_not_text_is_an_error_not_a_guess() -> None:
    m = parse_mapping("fields: {agent_id: headers}\ndefaults: {server: s}")
    with pytest.raises(DecodeError, match="agent_id: the value at 'headers' is a dict"):
        m.ids(LINE)


def test_empty_strings_fall_through_to_the_next_path() -> None:
    m = parse_mapping("fields: {agent_id: [a, b]}\ndefaults: {server: s}")
    assert m.ids({"a": "", "b": "agent-b"})["agent_id"] == "agent-b"


def test_resources_collect_every_path_that_resolves() -> None:
    m = parse_mapping(
        "fields: {resources: [body.params.arguments.path, body.params.arguments.paths, nope]}"
    )
    assert m.resources(LINE) == ["/srv/app/.env", "a.py", "b.py"]


def test_a_user_mapping_lays_over_a_preset() -> None:
    preset = parse_mapping("body: msg\nfields: {agent_id: jwt.sub}\ndefaults: {server: gw}")
    user = parse_mapping("fields: {agent_id: jwt.act.sub}\ndefaults: {tenant: corp}")
    merged = user.over(preset)
    assert merged.body is not None and merged.body.text == "msg"
    assert merged.fields["agent_id"][0].text == "jwt.act.sub"
    assert merged.defaults == {"server": "gw", "tenant": "corp"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fields: {agent: x}", "fields.agent"),  # unknown target, named
        ("feilds: {agent_id: x}", "feilds: Extra inputs are not permitted"),
        ("defaults: {ts: now}", "defaults.ts"),  # ts has no constant default
        ("fields: {agent_id: 'a..b'}", "empty segment"),
        ("fields: [1, 2]", "fields"),
        ("- just a list", "expected a mapping of keys"),
        ("fields: {agent_id: [a, b}\n", "<mapping>:1: not valid YAML"),
    ],
)
def test_bad_mapping_files_name_the_key(text: str, message: str) -> None:
    with pytest.raises(MappingConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_mapping(text)


def test_load_mapping_reads_a_file_and_names_it_in_errors(tmp_path: Path) -> None:
    good = tmp_path / "map.yaml"
    good.write_text("defaults: {agent_id: a, server: s}\n")
    assert load_mapping(good).ids({}) == {"agent_id": "a", "server": "s"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("defaults:\n  agent: a\n")
    with pytest.raises(MappingConfigError, match=f"{bad}: defaults.agent"):
        load_mapping(bad)
    with pytest.raises(MappingConfigError, match="No such file"):
        load_mapping(tmp_path / "missing.yaml")
    assert parse_mapping("").ids is not None  # an empty file is an empty mapping
