"""command_class_first_use, table by table: every rule's programs, flags and bounds.

The firing lines and near misses of ``test_hijack_command`` show each class once; these
tables walk every entry of every rule table (each cloud verb, each sudo option, each log
service, each admin group, each wrapper), each bound (path and token lengths, the SQL
statement split) and the detector's state and alert fields, asserting the exact class set
returned, so a dropped entry or a merged condition changes an answer here.
Each table is one test (a loop collecting every mismatch): fast, and one red line per row.
"""

from __future__ import annotations

from typing import Any

import pytest

from monitor.core.detectors.base import CallContext
from monitor.core.detectors.command_classes import (
    CLASSES,
    MAX_SCAN,
    audit_path,
    broad_path,
    call_classes,
    names,
    shell_classes,
    sql_classes,
)
from monitor.core.detectors.hijack_command import CommandClassFirstUse
from monitor.core.state import AgentState
from monitor.testing import call

REC, DROP, DELALL, DISK, AUDIT = (
    "recursive_delete",
    "db_drop",
    "db_delete_all",
    "disk_wipe",
    "audit_off",
)
TEAR, GRANT, DBGRANT, OPEN, SUDO, ADMIN = (
    "cloud_teardown",
    "cloud_admin_grant",
    "db_grant_all",
    "open_permissions",
    "sudo",
    "admin_group",
)
NONE: set[str] = set()

CLOUD: list[tuple[str, set[str]]] = [
    ("az --verbose group delete --name rg --yes", {TEAR}),
    ("az group delete --name rg", {TEAR}),
    ("az group list", NONE),
    ("az monitor diagnostic-settings delete --name d --resource r", {AUDIT}),
    ("az monitor log-analytics workspace delete -n w -g rg", {AUDIT}),
    ("az monitor log-analytics workspace show -n w -g rg", NONE),
    ("az role assignment create --assignee u --role 'User Access Administrator'", {GRANT}),
    ("az role assignment create --role Contributor --assignee u", {GRANT}),
    ("az role assignment create --role=Owner --assignee u", {GRANT}),
    ("az role assignment create --role Reader --assignee u", NONE),
    (
        "aws iam attach-user-policy --policy-arn=arn:aws:iam::aws:policy/AdministratorAccess",
        {GRANT},
    ),
    (
        "aws iam attach-role-policy --role-name r --policy-arn arn:aws:iam::aws:policy/PowerUserAccess",
        {GRANT},
    ),
    (
        'aws iam put-role-policy --role-name r --policy-name p --policy-document {"Action":"*"}',
        {GRANT},
    ),
    ('aws iam create-policy --policy-name p --policy-document {"Action":"iam:*"}', {GRANT}),
    ('aws iam create-policy --policy-name p --policy-document {"Action":"s3:Get*"}', NONE),
    ("aws iam add-user-to-group --group-name Admins --user-name eve", {GRANT}),
    ("aws iam add-user-to-group --group-name devs --user-name eve", NONE),
    ("aws iam get-group --group-name admins", NONE),
    ("aws iam list-attached-user-policies --user-name AdministratorAccess", NONE),
    ("aws iam", NONE),
    ("aws s3 rb s3://bucket --force", {TEAR}),
    ("aws s3 rm s3://bucket --recursive", {TEAR}),
    ("aws s3 rm s3://bucket/ --recursive", {TEAR}),
    ("aws s3 rm s3://bucket/logs --recursive", NONE),
    ("aws s3 rm s3://bucket/logs/2024/ --recursive", NONE),
    ("aws s3 rm s3://bucket", NONE),
    ("aws s3 ls s3://bucket --recursive", NONE),
    ("aws s3 cp ./dist s3://bucket --recursive", NONE),
    ("aws cloudtrail stop-logging --name t", {AUDIT}),
    ("aws cloudtrail delete-trail --name t", {AUDIT}),
    ("aws cloudtrail describe-trails", NONE),
    ("aws logs delete-log-group --log-group-name g", {AUDIT}),
    ("aws guardduty delete-detector --detector-id d", {AUDIT}),
    ("gcloud projects add-iam-policy-binding p --member=user:e --role=roles/owner", {GRANT}),
    (
        "gcloud projects add-iam-policy-binding p --member=user:e --role=roles/storage.admin",
        {GRANT},
    ),
    ("gcloud projects delete acme --quiet", {TEAR}),
    ("gcloud logging sinks delete s", {AUDIT}),
    ("gcloud logging buckets delete b --location=global", {AUDIT}),
    ("gcloud logging sinks list", NONE),
    # every class of one stage counts, not only the last one found
    ("gcloud projects delete p add-iam-policy-binding --role=roles/owner", {TEAR, GRANT}),
    ("kubectl create clusterrolebinding x --clusterrole=cluster-admin --user=e", {GRANT}),
    ("kubectl create rolebinding x --clusterrole=admin --user=e -n prod", {GRANT}),
    ("kubectl create rolebinding x --clusterrole=view --user=e -n prod", NONE),
    ("kubectl create configmap x --from-literal=role=admin", NONE),
    ("oc create clusterrolebinding x --clusterrole=cluster-admin --user=e", {GRANT}),
    ("kubectl delete ns prod", {TEAR}),
    ("kubectl delete namespace prod", {TEAR}),
    ("kubectl delete namespaces a b", {TEAR}),
    ("oc delete namespace prod", {TEAR}),
    ("kubectl delete pods --all", {TEAR}),
    ("kubectl delete pods --all-namespaces -l app=x", {TEAR}),
    ("kubectl delete pod api-1", NONE),
    ("kubectl get ns", NONE),
    ("kubectl delete", NONE),
    ("terraform destroy -auto-approve", {TEAR}),
    ("sudo tofu destroy", {SUDO, TEAR}),  # bare "tofu destroy" misses the keyword gate: see notes
    ("pulumi destroy --yes", {TEAR}),
    ("terraform apply -destroy", {TEAR}),
    ("terraform apply", NONE),
]

WRAPPERS = ["exec", "nohup", "time", "command", "builtin", "env", "nice", "ionice"]
SUDO_FORMS = [
    "sudo", "doas", "pkexec", "sudo -E", "sudo -u root", "sudo -g adm", "sudo -U bob",
    "sudo -C 3", "sudo -h host", "sudo -p pw:", "sudo -u root -E", "/usr/bin/sudo -n",
]  # fmt: skip

DELETES: list[tuple[str, set[str]]] = [
    *[(f"{w} rm -rf ~", {REC}) for w in WRAPPERS],
    *[(f"{s} rm -rf ~", {SUDO, REC}) for s in SUDO_FORMS],
    ("rm --recursive ~", {REC}),
    ("rm --no-preserve-root -f ./x", {REC}),
    ("rm -rf / /var/log/syslog", {REC, AUDIT}),
    ("/usr/bin/rm -rf ~", {REC}),
    ("(rm -rf ~ )", {REC}),
    ("LC_ALL=C rm -rf ~", {REC}),
    ("X=1 rm -rf ~", {REC}),
    ("A=1 B=2 C=3 rm -rf ~", {REC}),
    ("nohup nice rm -rf ~", {REC}),
    ("LC_ALL=C nohup rm -rf ~", {REC}),
    ("LC_ALL=C sudo rm -rf ~", {SUDO, REC}),
    ("(LC_ALL=C rm -rf ~ )", {REC}),
    ("rm '-rf' ~", {REC}),
    ("rm -rf X/", NONE),  # a directory named X, not /
    ("Xrm -rf ~", NONE),  # another program
    ("rm -f ~", NONE),
    ("rm -rf ./build ~/.cache", NONE),
    ("find ./cache -newer / -delete", NONE),  # / is -newer's operand, not a start path
    ("find ./build ! / -delete", NONE),  # find refuses a path after the expression
    ("find ./build ( / ) -delete", NONE),
    ("find / -name rm", NONE),
    ("find / -exec ls {} +", NONE),
    ("find ~ -exec rm -rf {} +", {REC}),
    ("find / -delete", {REC}),
    ("del notes.txt", NONE),
    ("rd /q C:\\", NONE),
    ("Remove-Item -Recurse ./build", NONE),
    ("del C:\\", NONE),
    ("Remove-Item -r C:\\", {REC}),
    ("Remove-Item -Recurse C:\\Users", {REC}),
    ("rd /s /q C:\\", {REC}),
    ("rmdir /s /q C:\\Users", {REC}),
    ("Remove-Item ~/.agent/audit.log", {AUDIT}),
    ("ri audit.log", {AUDIT}),
    ("del audit.log", {AUDIT}),
    ("erase audit.log", {AUDIT}),
    ("rmdir /var/log/audit", NONE),
    ("rd /var/log/audit", NONE),
    ("Remove-Item -Recurse -Force / /var/log/audit", {REC, AUDIT}),
    ("shred notes.txt", NONE),
    ("unlink /dev/sdb", NONE),
    ("truncate -s 0 /dev/sdb", NONE),
    ("shred /dev/sda /var/log/syslog", {AUDIT, DISK}),
    ("unlink /var/log/auth.log", {AUDIT}),
    ("srm ~/.bash_history", {AUDIT}),
    ("truncate -s 0 /var/log/wtmp", {AUDIT}),
    ("dd if=/dev/zero of=/dev/nvme0n1", {DISK}),
    ("dd if=/dev/zero of=./img", NONE),
    ("mkfs.ext4.static /dev/sdb", {DISK}),
    ("sudo mkfs.ext4 /dev/sdb1", {SUDO, DISK}),
    # sudo: mke2fs, mkswap, mkntfs, mkdosfs alone miss the keyword gate (see the notes)
    *[
        (f"sudo {p} /dev/sdb", {SUDO, DISK})
        for p in ("mkfs", "mke2fs", "mkswap", "wipefs", "mkntfs", "mkdosfs")
    ],
    ("history -c |", {AUDIT}),  # an empty stage adds nothing
    ("history | grep ssh", NONE),
]

LOG_SERVICES = [
    "auditd", "rsyslog", "syslog", "syslog-ng", "systemd-journald", "journald", "auditbeat",
    "filebeat", "falco", "osqueryd", "otelcol-contrib", "otel-collector", "fluentd", "fluent-bit",
    "td-agent", "wazuh-agent", "splunkd", "splunkforwarder", "datadog-agent", "vector",
    "promtail", "cloudwatch-agent", "amazon-cloudwatch-agent", "google-fluentd", "omsagent",
    "auoms", "sysmon", "auditd.service",
]  # fmt: skip

LONG_VAR = "OTEL_" + "X" * 105 + "_SDK_DISABLED=true"  # 128 characters

AUDIT_LINES: list[tuple[str, set[str]]] = [
    *[(f"systemctl stop {s}", {AUDIT}) for s in LOG_SERVICES],
    *[(f"systemctl {v} rsyslog", {AUDIT}) for v in ("stop", "disable", "mask", "kill")],
    ("launchctl unload auditd", {AUDIT}),
    ("service auditd stop", {AUDIT}),
    ("sc stop auditd", {AUDIT}),
    ("systemctl stop --now rsyslog", {AUDIT}),
    ("Stop-Service -Name splunkd stop", {AUDIT}),
    ("systemctl stop nginx", NONE),
    ("systemctl start auditd", NONE),
    ("unset HISTFILE", {AUDIT}),
    ("unset PATH", NONE),
    ("unset FOO=otel", NONE),  # not a name: bash refuses it
    ("export OTEL_SERVICE_NAME", NONE),
    ("declare OTEL_TRACES_EXPORTER", NONE),
    ("set +o history", {AUDIT}),
    ("set +o history vi", {AUDIT}),
    ("set +o vi", NONE),
    ("set -o history", NONE),
    ("auditctl -D", {AUDIT}),
    ("auditctl -d always,exit", {AUDIT}),
    ("auditctl -e 0", {AUDIT}),
    ("auditctl -e 1", NONE),
    ("auditctl -l", NONE),
    ("journalctl --vacuum-time=1s", {AUDIT}),
    ("journalctl -u nginx", NONE),
    ("wevtutil cl Security", {AUDIT}),
    ("wevtutil clear-log System", {AUDIT}),
    ("wevtutil qe Security", NONE),
    ("wevtutil", NONE),
    ("auditpol /clear", {AUDIT}),
    ("auditpol /remove /allusers", {AUDIT}),
    ("auditpol /get /category:*", NONE),
    ("Clear-EventLog -LogName Security", {AUDIT}),
    (LONG_VAR + " ./run", {AUDIT}),
    ("X" + LONG_VAR + " ./run", NONE),  # a token past the 128-character bound
    ("(OTEL_SDK_DISABLED=true ./run)", {AUDIT}),
    ("OTEL_SDK_DISABLED=trueX ./run", NONE),
    ("sudo -i; OTEL_SDK_DISABLED=true ./run", {SUDO, AUDIT}),
    ("echo x > /dev/sda", {DISK}),
    ("echo x > '/dev/sda'", {DISK}),
    ("echo x > X/dev/sda", NONE),
    ("echo > /var/log/auth.log", {AUDIT}),
    ("echo > /var/log/x > /dev/sdb", {AUDIT, DISK}),
    ("echo > /dev/sdb > /var/log/x", {DISK, AUDIT}),
]

PRIVILEGE_LINES: list[tuple[str, set[str]]] = [
    ("su", {SUDO}),
    ("su -", {SUDO}),
    ("su -l", {SUDO}),
    ("su --login", {SUDO}),
    ("su -c id", {SUDO}),
    ("su root", {SUDO}),
    ("su -l bob", {SUDO}),
    ("su bob", NONE),
    ("chmod 777 /", {OPEN}),
    ("chmod -R 777 ./x", {OPEN}),
    ("chmod 4755 ./bin", {OPEN}),
    ("chmod u+s ./bin", {OPEN}),
    ("chmod o+w /etc", {OPEN}),
    ("chmod 777 ./x", NONE),
    ("chmod a+w ./x", NONE),
    ("chown -R bob /", {OPEN}),
    ("chown --recursive bob ~", {OPEN}),
    ("chown -R root:root /etc", {OPEN}),
    ("chown -R bob ./x", NONE),
    ("chown bob /", NONE),
    ("chown -R / ./build", NONE),  # "/" is the owner here
    ("chown -R ~ ./build", NONE),
    ("chown -R /etc", NONE),  # no owner: nothing changes
    *[
        (f"usermod -aG {g} bob", {ADMIN})
        for g in ("sudo", "wheel", "admin", "root", "adm", "docker", "administrators")
    ],
    ("usermod -aG dev,Docker bob", {ADMIN}),
    ("usermod -aG dev bob", NONE),
    ("gpasswd -a bob wheel", {ADMIN}),
    ("adduser bob sudo", {ADMIN}),
    ("sudo addgroup bob admin", {SUDO, ADMIN}),
    ("useradd -o -u 0 twin", {ADMIN}),
    ("useradd -u 0 bob", NONE),
    ("useradd -o -u 1000 bob", NONE),
    ("usermod -o -u 0 bob", NONE),
    ("net localgroup administrators bob /add", {ADMIN}),
    ("net localgroup administrators", NONE),
    ("net localgroup users bob /add", NONE),
    ("net user bob /add", NONE),
    ("Add-LocalGroupMember -Group Administrators -Member bob", {ADMIN}),
    ("Add-LocalGroupMember -Group Users -Member bob", NONE),
    ("echo 'bob ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/bob", {ADMIN}),
    ("echo x | tee /etc/sudoers.d/bob", {ADMIN}),
    ("echo x | tee -a /etc/sudoers", {ADMIN}),
    ("echo x | tee ./notes", NONE),
    ("cat /etc/sudoers", NONE),
    ("echo NOPASSWD", NONE),
    ("echo x > /dev/sdb > /etc/sudoers", {DISK, ADMIN}),
    ("tee /etc/sudoers.d/x > /dev/sdb", {DISK, ADMIN}),
    ("echo NOPASSWD /etc/sudoers > /dev/sdb", {DISK, ADMIN}),
]

DB_CLIENTS = [
    "psql", "mysql", "mariadb", "sqlite3", "sqlite", "sqlcmd", "clickhouse-client", "clickhouse",
    "bq", "snowsql", "cqlsh", "mongo", "mongosh", "duckdb", "osql", "isql", "db2", "sqlplus",
    "trino", "presto", "spark-sql", "hive", "beeline",
]  # fmt: skip

DB_LINES: list[tuple[str, set[str]]] = [
    *[(f"{c} -e 'DROP TABLE users'", {DROP}) for c in DB_CLIENTS],
    ("redis-cli FLUSHDB", {DROP}),
    ("psql -c 'DROP TABLE a' -c 'DELETE FROM b' -c 'GRANT ALL ON c TO d'", {DROP, DELALL, DBGRANT}),
    ("sudo psql -c 'DROP TABLE a'", {SUDO, DROP}),
]


def _check(table: list[tuple[str, set[str]]]) -> None:
    wrong = [(x, got, want) for x, want in table if (got := set(names(shell_classes(x)))) != want]
    assert wrong == []


def test_each_cloud_verb() -> None:
    _check(CLOUD)


def test_each_delete_form_wrapper_and_sudo_form() -> None:
    _check(DELETES)


def test_each_log_service_variable_and_audit_tool() -> None:
    _check(AUDIT_LINES)


def test_each_privilege_rule() -> None:
    _check(PRIVILEGE_LINES)


def test_each_database_client() -> None:
    _check(DB_LINES)


def test_s3_rm_without_a_url_does_not_crash() -> None:
    assert isinstance(shell_classes("aws s3 rm --recursive"), int)


SQL: list[tuple[str, set[str]]] = [
    ("(DELETE FROM t)", {DELALL}),
    ("X DROP TABLE t", NONE),  # not a statement that starts with DROP
    ("/**/" * 8 + "DROP TABLE t", {DROP}),
    ("-- why\nDROP TABLE t", {DROP}),
    ("# why\nTRUNCATE t", {DROP}),
    ("DELETE FROM t /* db.drop() */", {DROP, DELALL}),
    ("GRANT ALL ON x TO y /* db.drop() */", {DROP, DBGRANT}),
    ("x" * 249 + ".drop()", {DROP}),
    ("x" * 250 + ".drop()", NONE),  # a Mongo drop is looked for in the first 256 characters
    ("DROP TABLE a; SELECT 1; SELECT 2", {DROP}),
    ("SELECT 1; DELETE FROM b; SELECT 2", {DELALL}),
    ("SELECT ';'; DROP TABLE a", {DROP}),
    ('SELECT "a;DROP TABLE x"', NONE),
    ("DELETE FROM t LIMIT 10", NONE),
    ("GRANT dba TO eve", {DBGRANT}),
    ("ALTER USER eve WITH SUPERUSER", {DBGRANT}),
    ("GRANT SELECT ON t TO eve WITH GRANT OPTION", {DBGRANT}),
]


def test_sql_statements_split_on_semicolons_outside_literals() -> None:
    wrong = [(x, got, w) for x, w in SQL if (got := set(names(sql_classes(x)))) != w]
    assert wrong == []


@pytest.mark.parametrize(
    ("path", "broad"),
    [("'/'", True), ('"/etc"', True), ("~bob", True), ("X/", False), ("/" + "a" * 255, True),
     ("/" + "a" * 256, False), ("/" + "a" * 300, False), ("/dev/shm", False), ("/var/tmp", False),
     ("/dev/null", False), ("$HOME", True), ("%USERPROFILE%", True), ("C:\\Windows", True)],
)  # fmt: skip
def test_broad_path_bounds(path: str, broad: bool) -> None:
    assert broad_path(path) is broad


@pytest.mark.parametrize(
    ("path", "audit"),
    [("'/var/log/nginx/access.log'", True), ("/var/logX", False), ("/var/log", True),
     ("/var/log/" + "a" * 503, True), ("/var/log/" + "a" * 504, False), ("", False),
     ("~/.zsh_history", True), ("/home/u/.history", True), ("lastlog", True), ("/srv/app.log", False)],
)  # fmt: skip
def test_audit_path_bounds(path: str, audit: bool) -> None:
    assert audit_path(path) is audit


# ---------------------------------------------------------------- which arguments are read


def ctx(args: dict[str, Any], tool: str = "shell", index: int = 300, **kw: Any) -> CallContext:
    c = call(1, "agent:k", "box", tool, args=args, **kw)
    return CallContext(c, 1.0, "autonomous", None, None, frozenset(), index)


def classes(args: dict[str, Any], tool: str = "create_job") -> set[str]:
    return set(names(call_classes(ctx(args, tool))))


def test_which_arguments_are_sql_and_shell() -> None:
    big = "SELECT 1" + " " * MAX_SCAN
    table: list[tuple[str, dict[str, Any], set[str]]] = [
        ("bash", {"input": "rm -rf ~"}, {REC}),
        ("create_job", {"input": "rm -rf ~"}, NONE),
        ("postgres_execute", {"text": "DROP TABLE t"}, {DROP}),
        ("create_job", {"text": "DROP TABLE t"}, NONE),
        ("create_job", {"query": "DROP TABLE t"}, {DROP}),
        ("create_job", {"name": "x", "query": "DROP TABLE t"}, {DROP}),
        ("create_job", {"query": 5}, NONE),
        ("create_job", {"query": None}, NONE),
        ("create_job", {"query": ["DROP TABLE t"]}, {DROP}),
        ("create_job", {"query": {"q": "DROP TABLE t"}}, {DROP}),
        ("create_job", {"command": "sudo -i", "query": "DROP TABLE t"}, {SUDO, DROP}),
        ("create_job", {"query": "DROP TABLE t", "sql": "SELECT 1"}, {DROP}),
        ("create_job", {"query": "SELECT 1", "sql": "DROP TABLE users"}, {DROP}),
        ("create_job", {"query": big[: MAX_SCAN - 3], "sql": "DROP TABLE t"}, NONE),
        ("run_sql", {"query": "DROP TABLE t;" + " " * MAX_SCAN, "other": "x"}, {DROP}),
        ("run_sql", {"query": "SELECT 1;" + " " * 600 + "DROP TABLE t"}, {DROP}),
        ("create_job", {**{f"k{i}": "x" for i in range(64)}, "query": "DROP TABLE t"}, NONE),
        ("create_job", {}, NONE),
        # a scalar argument is no text: it spends none of the budget
        (
            "run_sql",
            {"query": "SELECT 1;" + " " * (MAX_SCAN - 21), "n": 5, "sql": "DROP TABLE t"},
            {DROP},
        ),
    ]
    wrong = [(t, a, got, w) for t, a, w in table if (got := classes(a, t)) != w]
    assert wrong == []


# ---------------------------------------------------------------- the detector and its state


def run(det: CommandClassFirstUse, st: AgentState, cmd: str, index: int, session: str) -> list[Any]:
    return list(det.on_call(ctx({"command": cmd}, index=index, session_id=session), st))


def test_load_state_refuses_each_malformed_field() -> None:
    good = [0, "a" * 16, 3, 0, [0xFFFF] * len(CLASSES)]
    assert CommandClassFirstUse.load_state(list(good)) == good
    bad = [
        [True, "", 0, 0, []],
        [0, 5, 0, 0, []],
        [0, "a" * 17, 0, 0, []],
        [0, "", "1", 0, []],
        [0, "", 0, "1", []],
        [0, "", 0, 0, ()],
        [0, "", 0, 0, [1 << 16]],
        [0, "", 0, 0, [1.0]],
    ]
    for b in bad:
        with pytest.raises(ValueError, match=r"^not a command_class_first_use section$"):
            CommandClassFirstUse.load_state(b)
    assert CommandClassFirstUse.load_state([1, "", 3, 0, [0, 1]])[4] == [0, 1] + [0] * (
        len(CLASSES) - 2
    )


def test_armed_only_after_warm_up_calls() -> None:
    det, st = CommandClassFirstUse(), AgentState("agent:k")
    assert run(det, st, "rm -rf ~", 200, "s1") == []  # call 200 of a 200-call warm-up: learned
    assert run(det, st, "rm -rf ~", 201, "s2") == []
    det, st = CommandClassFirstUse(), AgentState("agent:k")
    assert len(run(det, st, "rm -rf ~", 201, "s1")) == 1


def test_warm_up_learns_every_class_it_sees() -> None:
    det, st = CommandClassFirstUse(), AgentState("agent:k")
    run(det, st, "rm -rf ~", 1, "s1")
    run(det, st, "sudo -i", 2, "s1")
    assert run(det, st, "rm -rf ~", 300, "s2") == []
    assert run(det, st, "sudo -i", 301, "s2") == []


def test_one_alert_per_class_per_session_with_several_classes() -> None:
    det, st = CommandClassFirstUse(), AgentState("agent:k")
    assert len(run(det, st, "rm -rf ~", 300, "s1")) == 1
    assert len(run(det, st, "sudo -i", 301, "s1")) == 1
    assert run(det, st, "rm -rf ~", 302, "s1") == []


def test_learning_one_class_keeps_the_others() -> None:
    det, st = CommandClassFirstUse(), AgentState("agent:k")
    run(det, st, "history -c", 1, "w")  # learned in warm-up
    for i, s in enumerate(("s1", "s2")):  # new_tool_sessions: 2, then learned
        [f] = run(det, st, "sudo -i", 300 + i, s)
        assert f.details["use"] == i + 1
        assert f"(use {i + 1} of 2 before it is learned)" in f.reason
    assert run(det, st, "sudo -i", 310, "s3") == []
    assert run(det, st, "history -c", 311, "s3") == []
    sec = st.sections["command_class_first_use"]
    assert sec[4] == [0] * len(CLASSES)
    assert CommandClassFirstUse.load_state(CommandClassFirstUse.dump_state(sec)) == sec


def test_the_alert_fields() -> None:
    det, st = CommandClassFirstUse(), AgentState("agent:k")
    c = ctx({"command": "rm -rf ~"}, index=300, session_id="s1", task_id="t1", credential_id="c1")
    [f] = det.on_call(c, st)
    assert (f.detector, f.key, f.severity, f.score, f.revoke) == (
        "command_class_first_use",
        "hijack.warmup_calls",
        "medium",
        0.7,
        None,
    )
    assert f.clause_text == "an agent's commands stay within the value classes its own work uses"
    assert (f.task_id, f.session_id, f.credential_ids) == ("t1", "s1", ["c1"])
    assert f.dedup == "command_class:recursive_delete:s1"
    assert f.details == {
        "class": "recursive_delete",
        "family": "destructive",
        "calls_before": 299,
        "use": 1,
    }
    assert "sent a destructive command (recursive_delete) through box/shell" in f.reason
    assert "for the first time in 300 calls" in f.reason
    [p] = det.on_call(ctx({"command": "sudo -i"}, index=301, session_id="s1"), st)
    assert p.details["family"] == "privilege"
    assert "sent a privilege-granting command (sudo)" in p.reason


@pytest.mark.parametrize(
    ("kw", "key"),
    [({"task_id": "t1"}, "t1"), ({}, "E"), ({"session_id": "s1", "task_id": "t1"}, "s1")],
)
def test_the_dedup_key_is_session_else_task_else_event(kw: dict[str, Any], key: str) -> None:
    det, st = CommandClassFirstUse(), AgentState("agent:k")
    [f] = det.on_call(ctx({"command": "sudo -i"}, event_id="E", **kw), st)
    assert f.dedup == f"command_class:sudo:{key}"
    assert f.session_id == kw.get("session_id") and f.task_id == kw.get("task_id")
