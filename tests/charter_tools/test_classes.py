from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.charters_from_traffic.classes import Classifier, infer_classes, load_mapping
from monitor.errors import MonitorError


@pytest.mark.parametrize(
    ("server", "tool", "args", "want"),
    [
        ("web", "http_post", {}, ("egress",)),
        ("email", "send_email", {"to": "a@b.c"}, ("egress",)),
        ("fleet", "apply_patch", {}, ("exec", "write")),
        ("ci", "run_tests", {}, ("exec",)),
        ("warehouse", "run_query", {}, ("read",)),  # running a query reads
        ("warehouse", "grant_role", {}, ("admin",)),
        ("vault", "get_db_credential", {}, ("credential",)),
        ("vault", "read_secret", {}, ("read_secret",)),
        ("vault", "list_mounts", {}, ("read_secret",)),  # reads on a secrets server
        ("web", "fetch_url", {}, ("read_untrusted",)),
        ("crm", "lookup_customer", {}, ("pii", "read")),
        ("github", "createPullRequest", {}, ("write",)),  # camelCase splits too
        ("tools", "do_it", {"command": "ls"}, ("exec",)),  # arguments say what it does
        ("fs", "list_dir", {}, ("read",)),
    ],
)
def test_classes_from_names_and_arguments(server: str, tool: str, args: dict, want: tuple) -> None:
    assert Classifier().classes(server, tool, args) == want


def test_mapping_file_wins_over_inference(tmp_path: Path) -> None:
    f = tmp_path / "classes.yaml"
    f.write_text('classes:\n  "helpdesk/get_ticket": [read_untrusted]\n  "web/*": [read, egress]\n')
    c = load_mapping(f)
    assert c.classes("helpdesk", "get_ticket", {}) == ("read_untrusted",)
    assert c.classes("web", "fetch_url", {}) == ("egress", "read")
    assert c.classes("fs", "read_file", {}) == infer_classes("fs", "read_file")
    assert c.override("web", "anything") == ("web/*", "egress, read")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("classes: [a]\n", 'a "classes" mapping'),
        ("classes:\n  read_file: [read]\n", "classes.read_file: keys are 'server/tool' globs"),
        ('classes:\n  "fs/x": []\n', "classes.fs/x: a non-empty list"),
        ('classes:\n  "fs/x": [Read]\n', "classes.fs/x: a non-empty list"),
        ("classes: {}\nextra: 1\n", "unknown key(s) ['extra']"),
    ],
)
def test_mapping_errors_name_the_entry(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(MonitorError, match=re.escape(message)):
        load_mapping(f)
