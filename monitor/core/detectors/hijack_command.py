"""command_class_first_use: a destructive or privilege-granting command the agent never ran.

Why: a hijacked coding or cloud agent is steered to a tool it uses every day
(``shell``, ``sql_query``), with an argument of a kind it never sends: ``rm -rf ~``
instead of ``rm -rf ./build/tmp``, ``DROP DATABASE`` instead of ``DELETE … WHERE``,
``az role assignment create … --role Owner`` instead of ``az role assignment list``.
Neither the tool nor a destination is new, and nothing leaves the host, so tool
novelty and ``shell_egress`` are silent; the argument's *value class* is new.

Which arguments are read (the scanning code of ``shell_egress``, shared):

- an exec-like tool (:func:`monitor.core.detectors.hijack_shell.exec_tool`): every
  string argument, as command lines; any other tool: its command-shaped arguments
  (``command``, ``cmd``, ``script``, … holding a shell line);
- SQL: an argument named ``sql``, ``query``, ``statement``, … (:data:`SQL_KEYS`), or any
  string argument of a tool whose name says database (``sql_query``, ``run_sql``,
  ``postgres_execute``, :data:`DB_TOOL_WORDS`), read statement by statement, each
  from its start (a ``SELECT`` whose string literal holds ``DROP TABLE`` is a select);
  in a command line, SQL counts only in a statement that runs a database client
  (``psql -c "DROP DATABASE app"``; ``grep -r "DROP TABLE" migrations/`` is quiet).

Value classes (:data:`CLASSES`; bit ``i`` of the agent's mask is ``CLASSES[i]``):

destructive
  ``recursive_delete`` (``rm -r``/``-rf``, ``find … -delete``, ``Remove-Item -Recurse``,
  ``rd /s`` of a broad path: ``/``, a top-level directory other than ``/tmp``, ``~``,
  ``$HOME``, ``C:\\``, or ``--no-preserve-root``), ``db_drop`` (``DROP TABLE|DATABASE|
  SCHEMA``, ``TRUNCATE``, ``FLUSHALL``, ``dropDatabase()``), ``db_delete_all`` (``DELETE``
  with no ``WHERE``), ``disk_wipe`` (``mkfs``, ``wipefs``, ``dd of=/dev/sdX``, ``shred`` or
  ``>`` of a block device), ``audit_off`` (deleting, shredding or truncating an audit or
  system log or shell history, ``history -c``, ``unset HISTFILE``, unsetting or disabling
  OpenTelemetry / audit / telemetry variables, stopping ``auditd``/``rsyslog``/journald and
  log shippers, ``auditctl -e 0|-D``, ``aws cloudtrail stop-logging|delete-trail``,
  ``az monitor diagnostic-settings delete``, ``gcloud logging sinks delete``,
  ``wevtutil cl``), ``cloud_teardown`` (``az group delete``, ``gcloud projects delete``,
  ``aws s3 rb``, ``aws s3 rm s3://bucket --recursive``, ``kubectl delete namespace``/
  ``--all``, ``terraform destroy``);
privilege
  ``cloud_admin_grant`` (``az role assignment create … Owner|Contributor|…Administrator``,
  ``aws iam attach-*-policy … AdministratorAccess|PowerUserAccess|IAMFullAccess``, an IAM
  policy with ``"Action": "*"``, ``gcloud … add-iam-policy-binding … roles/owner|editor|
  *admin``, ``kubectl create clusterrolebinding|rolebinding … cluster-admin|admin``),
  ``db_grant_all`` (``GRANT ALL``, ``WITH GRANT OPTION``, ``SUPERUSER``, a DBA role),
  ``open_permissions`` (``chmod`` world-writable recursively or on a broad path, a
  setuid/setgid bit, ``chown -R`` of a broad path), ``sudo`` (a statement run through
  ``sudo``/``doas``/``pkexec``/``su``), ``admin_group`` (``usermod -aG sudo|wheel|admin|
  root|docker``, ``gpasswd``/``adduser`` into them, ``useradd -o -u 0``, writing
  ``/etc/sudoers``, ``NOPASSWD``, ``net localgroup administrators … /add``).

Near misses (quiet): ``rm -rf ./build``, ``rm file.txt``, ``rm -rf /tmp/x``, ``DELETE …
WHERE id=1``, ``SELECT``, ``az role assignment create … --role Reader``, ``az role
assignment list``, ``tail ~/.agent/audit.log``, ``ssh web01 'sudo systemctl status nginx'``
(the remote command is not this host's statement).

When it alerts: the first :data:`hijack.warmup_calls <monitor.charter.Hijack>` calls of the
agent's life, or its first ``hijack.toolset_sparse_sessions`` sessions if that comes
first, only learn which classes it uses. After that a class the agent never used raises
one **medium** alert per session, alert only (no revocation suggested), until it has been
used in ``hijack.new_tool_sessions`` sessions (then it is learned: an operator's new
routine stops alerting; one hijacked session does not teach it). No read is needed
before it (unlike a tool's first use): the class is the evidence. The reason names the
class and the tool, never the argument (it may hold a secret). Turn it off per charter
with ``hijack.disabled: [command_class_first_use]``.

Example: a coding agent that in 200 calls ran ``rm -rf ./build/tmp`` and
``DELETE FROM sessions WHERE …`` calls ``shell(command="rm -rf ~/")`` → medium
``recursive_delete``; ``sql_query(query="DROP DATABASE app")`` → medium ``db_drop``.

Cost: linear in the text read (at most :data:`MAX_SCAN` characters): a cheap keyword test
first, then statements and pipeline stages split once, tokens split once, each bounded
regex run once per stage; a line of at most :data:`CACHE_TEXT` characters is classified
once (an agent's routine repeats its commands). State (``AgentState.sections["command_class_first_use"]``):
``[learned mask, session digest, sessions seen, mask alerted this session, uses]`` where
``uses`` holds, per class, the sessions it was used in since the agent was armed; well under
200 bytes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from hashlib import blake2b
from typing import Any

from monitor.core.detectors.base import CallContext, Finding, register
from monitor.core.detectors.hijack import HijackDetector, rules, section, session_key, words
from monitor.core.detectors.hijack import target as call_scope
from monitor.core.detectors.hijack_shell import MAX_SCAN, _text, command_text, exec_tool
from monitor.core.state import AgentState

NAME = "command_class_first_use"

#: The value classes, in bit order (append only: the order is in saved state).
CLASSES: tuple[str, ...] = (
    "recursive_delete",
    "db_drop",
    "db_delete_all",
    "disk_wipe",
    "audit_off",
    "cloud_teardown",
    "cloud_admin_grant",
    "db_grant_all",
    "open_permissions",
    "sudo",
    "admin_group",
)
PRIVILEGE: frozenset[str] = frozenset(
    {"cloud_admin_grant", "db_grant_all", "open_permissions", "sudo", "admin_group"}
)
_BIT = {c: 1 << i for i, c in enumerate(CLASSES)}

#: Argument-name words that hold SQL (whatever the tool is called).
SQL_KEYS: frozenset[str] = frozenset(
    {"sql", "query", "queries", "statement", "statements", "stmt", "ddl", "dml"}
)
#: Tool-name words of a database tool: every string argument is read as SQL.
DB_TOOL_WORDS: frozenset[str] = frozenset(
    {"sql", "postgres", "postgresql", "mysql", "sqlite", "mssql", "database", "db", "redis",
     "mongo", "mongodb", "clickhouse", "snowflake", "bigquery", "duckdb", "supabase"}
)  # fmt: skip
#: Programs whose command line carries SQL (or a database's own commands).
DB_CLIENTS: frozenset[str] = frozenset(
    {"psql", "mysql", "mariadb", "sqlite3", "sqlite", "sqlcmd", "clickhouse-client",
     "clickhouse", "bq", "snowsql", "cqlsh", "redis-cli", "mongo", "mongosh", "duckdb",
     "osql", "isql", "db2", "sqlplus", "trino", "presto", "spark-sql", "hive", "beeline"}
)  # fmt: skip

# ------------------------------------------------------------------ the keyword gate
# Every class needs one of these; a line with none is done at once.
_ANY = re.compile(
    r"rm\b|rmdir|remove-item|\brd\b|find|mkfs|wipefs|\bdd\b|shred|truncate|unlink|drop|flush"
    r"|delete|grant|superuser|chmod|chown|sudo|doas|pkexec|\bsu\b|usermod|gpasswd|adduser"
    r"|useradd|sudoers|nopasswd|localgroup|localgroupmember|hist|unset|otel|audit|telemetry"
    r"|disable|systemctl|service|journalctl|cloudtrail|diagnostic|logging|wevtutil"
    r"|clear-eventlog|az\b|aws\b|gcloud|kubectl|terraform|pulumi|role|>",
    re.I,
)
_STATEMENT_SEP = re.compile(r"\|\||&&|[;&\n]")
_STAGE_SEP = re.compile(r"\|")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_WRAPPERS = frozenset({"exec", "nohup", "time", "command", "builtin", "env", "nice", "ionice"})
_SUDO = frozenset({"sudo", "doas", "pkexec"})

# ------------------------------------------------------------------ paths
_TMP_ROOTS = frozenset({"/tmp", "/var/tmp", "/dev/shm", "/dev/null"})
_HOME = frozenset({"~", "$home", "${home}", "%userprofile%", "$env:userprofile", "$env:home"})
_WIN_ROOT = re.compile(r"^[a-z]:\\?(?:windows|users|program files|programdata)?\\?$", re.I)
_STRIP_GLOB = re.compile(r"(?:[/\\]\.?\*)+$|[/\\]+\.?$")


def broad_path(token: str) -> bool:
    """``/``, a top-level directory other than ``/tmp``, ``~``/``$HOME`` (and ``/*`` of them),
    ``C:\\``: a path whose removal ends a system or a user, not a build directory."""
    p = token.strip("'\"")
    if not p or len(p) > 256:
        return False
    p = _STRIP_GLOB.sub("", p)
    if p in ("", "/"):
        return token.strip("'\"") != ""
    low = p.lower()
    if low in _HOME or (low.startswith("~") and "/" not in low):
        return True
    if _WIN_ROOT.match(p):
        return True
    return p.startswith("/") and p.count("/") == 1 and low not in _TMP_ROOTS


_AUDIT_PATH = re.compile(
    r"audit|^/var/log(?:/|$)|(?:^|/)\.(?:bash_|zsh_|sh_|python_|psql_|mysql_)?history$"
    r"|(?:^|/)(?:wtmp|btmp|lastlog|utmp|secure|auth\.log|syslog|messages)$",
    re.I,
)


def audit_path(token: str) -> bool:
    """An audit file, a system log (``/var/log/…``) or a shell history."""
    p = token.strip("'\"")
    return 0 < len(p) <= 512 and _AUDIT_PATH.search(p) is not None


_DEVICE = re.compile(r"^/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|disk|md\d|dm-|mapper/|root|rdisk)", re.I)

# ------------------------------------------------------------------ SQL
_SQL_DROP = re.compile(
    r"^(?:drop\s+(?:table|database|schema|keyspace|collection)\b"
    r"|truncate\b|flushall\b|flushdb\b)",
    re.I,
)
_SQL_DELETE = re.compile(r"^delete\b", re.I)
_SQL_WHERE = re.compile(r"\bwhere\b|\blimit\b", re.I)
_SQL_GRANT = re.compile(
    r"^(?:grant\s+all\b|grant\b.{0,512}?\bwith\s+(?:grant|admin)\s+option\b"
    r"|grant\s+(?:dba|sysadmin|db_owner|rds_superuser|cloudsqlsuperuser|azure_pg_admin"
    r"|superuser|pg_write_all_data|pg_execute_server_program)\b"
    r"|(?:alter|create)\s+(?:user|role)\b.{0,512}?\bsuperuser\b"
    r"|alter\s+server\s+role\s+sysadmin\b|exec(?:ute)?\s+sp_addsrvrolemember\b)",
    re.I | re.S,
)
# in a command line (a database client's statement): anywhere, not only at the start
_SQL_IN_LINE = (
    (
        "db_drop",
        re.compile(
            r"\bdrop\s+(?:table|database|schema|keyspace)\b|\btruncate\s+table\b"
            r"|\bflushall\b|\bflushdb\b|\.dropdatabase\s*\(",
            re.I,
        ),
    ),
    ("db_delete_all", re.compile(r"\bdelete\s+from\s+[\w.\"`\[\]]{1,128}\s*(?:;|['\"]|$)", re.I)),
    ("db_grant_all", re.compile(r"\bgrant\s+all\b|\bwith\s+grant\s+option\b|\bsuperuser\b", re.I)),
)
_MONGO_DROP = re.compile(r"\.drop(?:database)?\s*\(\s*\)", re.I)
_LEADING_COMMENT = re.compile(r"^\s*(?:--[^\n]*(?:\n|$)|/\*[^*]{0,1024}\*/|#[^\n]*(?:\n|$))")


_SQL_SPLIT = re.compile(r"'[^']*'|\"[^\"]*\"|;")


def _sql_statement_class(stmt: str) -> int:
    s = stmt
    for _ in range(8):  # a few leading comments (``/* x */ DROP TABLE``), bounded
        m = _LEADING_COMMENT.match(s)
        if m is None:
            break
        s = s[m.end() :]
    s = s.lstrip(" \t\r\n(")
    mask = 0
    if _SQL_DROP.match(s) or _MONGO_DROP.search(s[:256]):
        mask |= _BIT["db_drop"]
    if _SQL_DELETE.match(s) and _SQL_WHERE.search(s) is None:
        mask |= _BIT["db_delete_all"]
    if _SQL_GRANT.match(s):
        mask |= _BIT["db_grant_all"]
    return mask


def sql_classes(text: str) -> int:
    """The classes of the SQL statements in ``text`` (each read from its start)."""
    text = text[:MAX_SCAN]
    if not _ANY.search(text):
        return 0
    mask = 0
    start = 0
    for m in _SQL_SPLIT.finditer(text):  # ``;`` outside string literals ends a statement
        if m.group(0) == ";":
            mask |= _sql_statement_class(text[start : m.start()])
            start = m.end()
    return mask | _sql_statement_class(text[start:])


# ------------------------------------------------------------------ shell
_RECURSIVE_FLAG = re.compile(r"^-[a-zA-Z]*[rR][a-zA-Z]*$")
_WORLD_MODE = re.compile(r"^(?:[0-7]?[0-7][0-7][2367]|(?:[ugo]*a[ugo]*|o|ugo)[+=][rwxX]*w[rwxX]*)$")
_SETID_MODE = re.compile(r"^(?:[2467][0-7]{3}|[ugoa]*\+[rwxX]*[st][rwxX]*)$")
_DISK_PROGS = frozenset({"mkfs", "mke2fs", "mkswap", "wipefs", "mkntfs", "mkdosfs"})
_REDIRECT = re.compile(r"(?<![>&<\d])(\d?)>(?!>|&)\s*([^\s;|&<>]{1,512})")
_SUDOERS = re.compile(r"/etc/sudoers|nopasswd", re.I)
_ADMIN_GROUPS = frozenset({"sudo", "wheel", "admin", "root", "adm", "docker", "administrators"})
_LOG_SERVICES = re.compile(
    r"^(?:auditd|rsyslog|syslog|syslog-ng|systemd-journald|journald|auditbeat|filebeat|falco"
    r"|osqueryd|otelcol\S*|otel-collector|fluentd|fluent-bit|td-agent|wazuh-agent|splunkd"
    r"|splunkforwarder|datadog-agent|vector|promtail|cloudwatch-agent|amazon-cloudwatch-agent"
    r"|google-fluentd|omsagent|auoms|sysmon)(?:\.service)?$",
    re.I,
)
_TELEMETRY_VAR = re.compile(r"otel|audit|telemetry|tracing|histfile|syslog|exporter", re.I)
_TELEMETRY_OFF = re.compile(
    r"^(?:\w*(?:otel|audit|telemetry|tracing|logging)\w*disabled?\w*=['\"]?(?:true|1|yes|on)"
    r"|\w*(?:otel|telemetry|tracing|logging)\w*(?:enabled?|exporter)\w*=['\"]?(?:false|0|no|none|off)"
    r"|histfile=['\"]?(?:/dev/null)?['\"]?|histsize=['\"]?0|histfilesize=['\"]?0)['\"]?$",
    re.I,
)
_AZ_ADMIN_ROLE = re.compile(
    r"--role[\s=]+['\"]?(?:owner|contributor|user access administrator"
    r"|role based access control administrator|[\w -]{0,48}administrator"
    r"|8e3af657-a8ff-443c-a75c-2fe8c4bcb635|b24988ac-6180-42a0-ab88-20f7382dd24c"
    r"|18d7d88d-d35e-4fb5-a5c3-7773c20a72d9)\b",
    re.I,
)
_AWS_ADMIN_POLICY = re.compile(
    r"(?:administratoraccess|poweruseraccess|iamfullaccess|"
    r"['\"]action['\"]\s*:\s*\[?\s*['\"](?:\*|iam:\*)['\"])",
    re.I,
)
_GCP_ADMIN_ROLE = re.compile(r"roles/(?:owner|editor|[\w.]{0,64}admin(?:istrator)?)\b", re.I)
_K8S_ADMIN_ROLE = re.compile(r"--(?:cluster)?role[\s=]+['\"]?(?:cluster-admin|admin)\b", re.I)


def _program(tokens: list[str]) -> tuple[str, int, bool]:
    """The stage's program (basename, lower case), its index, and whether sudo ran it."""
    sudo = False
    i = 0
    n = len(tokens)
    while i < n:
        t = tokens[i].lstrip("({`'\"").lower()
        if not t or _ASSIGN.match(tokens[i].lstrip("({`'\"")):
            i += 1
            continue
        base = t.rsplit("/", 1)[-1]
        if base in _SUDO:
            sudo = True
            i += 1
            while i < n and tokens[i].startswith("-"):  # sudo -E -u root …
                i += 2 if tokens[i] in ("-u", "-g", "-U", "-C", "-h", "-p") else 1
            continue
        if base in _WRAPPERS:
            i += 1
            continue
        return base, i, sudo
    return "", n, sudo


def _stage_classes(stage: str, statement: str) -> int:
    tokens = stage.split()
    if not tokens:
        return 0
    prog, at, sudo = _program(tokens)
    args = [t.strip("'\"") for t in tokens[at + 1 :]]
    flags = [a for a in args if a.startswith("-")]
    operands = [a for a in args if a and not a.startswith("-")]
    low = [a.lower() for a in args]
    mask = _BIT["sudo"] if sudo else 0
    if prog in ("su",) and (not args or low[0] in ("-", "-l", "--login", "-c", "root")):
        mask |= _BIT["sudo"]
    if prog == "rm":
        recursive = any(_RECURSIVE_FLAG.match(f) for f in flags) or "--recursive" in low
        if "--no-preserve-root" in low or (recursive and any(map(broad_path, operands))):
            mask |= _BIT["recursive_delete"]
        if any(map(audit_path, operands)):
            mask |= _BIT["audit_off"]
    elif prog in ("shred", "unlink", "truncate", "srm"):
        if any(map(audit_path, operands)):
            mask |= _BIT["audit_off"]
        if prog == "shred" and any(_DEVICE.match(o) for o in operands):
            mask |= _BIT["disk_wipe"]
    elif prog == "find":
        paths = []
        for a in args:
            if a.startswith(("-", "(", "!")):
                break
            paths.append(a)
        if ("-delete" in low or ("-exec" in low and "rm" in low)) and any(map(broad_path, paths)):
            mask |= _BIT["recursive_delete"]
    elif prog in ("remove-item", "ri", "del", "rd", "rmdir", "erase"):
        recursive = any(x in ("-recurse", "-r", "/s") for x in low)
        if recursive and any(map(broad_path, operands)):
            mask |= _BIT["recursive_delete"]
        if prog in ("remove-item", "ri", "del", "erase") and any(map(audit_path, operands)):
            mask |= _BIT["audit_off"]
    elif prog.split(".", 1)[0] in _DISK_PROGS:
        mask |= _BIT["disk_wipe"]
    elif prog == "dd":
        if any(a.startswith("of=") and _DEVICE.match(a[3:]) for a in args):
            mask |= _BIT["disk_wipe"]
    elif prog == "history" and "-c" in low:
        mask |= _BIT["audit_off"]
    elif prog in ("unset", "export", "set", "setenv", "declare"):
        names = [o for o in operands if "=" not in o]
        if prog == "unset" and any(_TELEMETRY_VAR.search(o) for o in names):
            mask |= _BIT["audit_off"]
        if prog == "set" and low[:2] == ["+o", "history"]:
            mask |= _BIT["audit_off"]
    elif prog in ("systemctl", "service", "launchctl", "sc", "stop-service"):
        if any(a in ("stop", "disable", "mask", "kill", "unload") for a in low) and any(
            _LOG_SERVICES.match(o) for o in operands
        ):
            mask |= _BIT["audit_off"]
    elif prog == "auditctl":
        if "-d" in args or "-D" in args or ("-e" in args and "0" in args):
            mask |= _BIT["audit_off"]
    elif prog == "journalctl":
        if any(a.startswith("--vacuum") for a in low):
            mask |= _BIT["audit_off"]
    elif prog in ("wevtutil", "clear-eventlog", "auditpol"):
        cleared = {
            "wevtutil": bool(low) and low[0] in ("cl", "clear-log"),
            "auditpol": "/clear" in low or "/remove" in low,
        }.get(prog, True)
        if cleared:
            mask |= _BIT["audit_off"]
    elif prog == "chmod":
        modes = [o for o in operands if _WORLD_MODE.match(o) or _SETID_MODE.match(o)]
        recursive = any(_RECURSIVE_FLAG.match(f) for f in flags) or "--recursive" in low
        paths = [o for o in operands if o not in modes]
        if any(_SETID_MODE.match(m) for m in modes) or (
            any(_WORLD_MODE.match(m) for m in modes) and (recursive or any(map(broad_path, paths)))
        ):
            mask |= _BIT["open_permissions"]
    elif prog == "chown":
        recursive = any(_RECURSIVE_FLAG.match(f) for f in flags) or "--recursive" in low
        if recursive and any(map(broad_path, operands[1:])):
            mask |= _BIT["open_permissions"]
    elif prog in ("usermod", "gpasswd", "adduser", "useradd", "addgroup"):
        groups: set[str] = set()
        for a in args:
            groups.update(g.lower() for g in a.split(","))
        if not _ADMIN_GROUPS.isdisjoint(groups) or (
            prog == "useradd" and "-o" in args and "0" in args
        ):
            mask |= _BIT["admin_group"]
    elif prog == "net" and low[:1] == ["localgroup"] and "administrators" in low:
        if "/add" in low:
            mask |= _BIT["admin_group"]
    elif prog == "add-localgroupmember" and "administrators" in low:
        mask |= _BIT["admin_group"]
    elif prog in ("az", "aws", "gcloud", "kubectl", "oc", "terraform", "tofu", "pulumi"):
        mask |= _cloud(prog, low, stage)
    elif prog in DB_CLIENTS:
        for name, pat in _SQL_IN_LINE:
            if pat.search(statement):
                mask |= _BIT[name]
    # what the stage writes with ``>``: a device, an audit log, the sudoers file
    if ">" in stage:
        for m in _REDIRECT.finditer(stage):
            dest = m.group(2).strip("'\"")
            if _DEVICE.match(dest):
                mask |= _BIT["disk_wipe"]
            elif audit_path(dest):
                mask |= _BIT["audit_off"]
            elif _SUDOERS.search(dest):
                mask |= _BIT["admin_group"]
    if prog == "tee" and any(_SUDOERS.search(o) for o in operands):
        mask |= _BIT["admin_group"]
    if "nopasswd" in stage.lower() and ("sudoers" in statement.lower()):
        mask |= _BIT["admin_group"]
    return mask


def _cloud(prog: str, low: list[str], stage: str) -> int:
    ops = [a for a in low if not a.startswith("-")]
    head = " ".join(ops[:4])
    mask = 0
    if prog == "az":
        if head.startswith("role assignment create") and _AZ_ADMIN_ROLE.search(stage):
            mask |= _BIT["cloud_admin_grant"]
        if head.startswith("group delete"):
            mask |= _BIT["cloud_teardown"]
        if head.startswith(
            ("monitor diagnostic-settings delete", "monitor log-analytics workspace delete")
        ):
            mask |= _BIT["audit_off"]
    elif prog == "aws":
        if head.startswith("iam "):
            verb = ops[1] if len(ops) > 1 else ""
            if (
                verb.startswith(("attach-", "put-", "create-policy"))
                and _AWS_ADMIN_POLICY.search(stage)
            ) or (verb == "add-user-to-group" and re.search(r"admin", stage, re.I)):
                mask |= _BIT["cloud_admin_grant"]
        elif head.startswith("s3 rb"):
            mask |= _BIT["cloud_teardown"]
        elif head.startswith("s3 rm") and "--recursive" in low:
            url = next((o for o in ops[2:] if o.startswith("s3://")), "")
            if url.rstrip("/").count("/") <= 2:  # the whole bucket
                mask |= _BIT["cloud_teardown"]
        elif head.startswith(("cloudtrail stop-logging", "cloudtrail delete-trail")) or (
            head.startswith(("logs delete-log-group", "guardduty delete-detector"))
        ):
            mask |= _BIT["audit_off"]
    elif prog == "gcloud":
        if "add-iam-policy-binding" in ops and _GCP_ADMIN_ROLE.search(stage):
            mask |= _BIT["cloud_admin_grant"]
        if head.startswith("projects delete"):
            mask |= _BIT["cloud_teardown"]
        if head.startswith(("logging sinks delete", "logging buckets delete")):
            mask |= _BIT["audit_off"]
    elif prog in ("kubectl", "oc"):
        binding = ops[1:2] in (["clusterrolebinding"], ["rolebinding"])
        if ops[:1] == ["create"] and binding and _K8S_ADMIN_ROLE.search(stage):
            mask |= _BIT["cloud_admin_grant"]
        if ops[:1] == ["delete"] and (
            (ops[1:2] and ops[1] in ("ns", "namespace", "namespaces"))
            or "--all" in low
            or "--all-namespaces" in low
        ):
            mask |= _BIT["cloud_teardown"]
    elif prog in ("terraform", "tofu", "pulumi") and ("destroy" in ops or "-destroy" in low):
        mask |= _BIT["cloud_teardown"]
    return mask


def shell_classes(text: str) -> int:
    """The classes of the command lines in ``text`` (first :data:`MAX_SCAN` characters)."""
    text = text[:MAX_SCAN]
    if not _ANY.search(text):
        return 0
    mask = 0
    for stmt in _STATEMENT_SEP.split(text):
        if not _ANY.search(stmt):
            continue
        for tok in stmt.split():
            if "=" in tok and len(tok) <= 128 and _TELEMETRY_OFF.match(tok.strip("'\"(")):
                mask |= _BIT["audit_off"]
                break
        for stage in _STAGE_SEP.split(stmt):
            mask |= _stage_classes(stage, stmt)
    return mask


def names(mask: int) -> list[str]:
    return [c for i, c in enumerate(CLASSES) if mask >> i & 1]


@lru_cache(maxsize=4096)
def _sql_key(key: str) -> bool:
    return not SQL_KEYS.isdisjoint(words(key))


@lru_cache(maxsize=4096)
def _db_tool(tool: str) -> bool:
    return not DB_TOOL_WORDS.isdisjoint(words(tool))


#: Command lines and queries repeat in an agent's routine: short ones are classified once.
CACHE_TEXT = 512


@lru_cache(maxsize=2048)
def _shell_cached(text: str) -> int:
    return shell_classes(text)


@lru_cache(maxsize=2048)
def _sql_cached(text: str) -> int:
    return sql_classes(text)


def _shell(text: str) -> int:
    return _shell_cached(text) if len(text) <= CACHE_TEXT else shell_classes(text)


def _sql(text: str) -> int:
    return _sql_cached(text) if len(text) <= CACHE_TEXT else sql_classes(text)


def call_classes(ctx: CallContext) -> int:
    """The value classes of one call's arguments (see the module doc for which are read)."""
    args = ctx.call.args
    if not args:
        return 0
    shell = _text(args) if exec_tool(ctx) else command_text(args)
    mask = _shell(shell) if shell else 0
    db = _db_tool(ctx.call.tool)
    budget = MAX_SCAN
    for k, v in list(args.items())[:64]:
        if budget <= 0:
            break
        if not (db or _sql_key(str(k))):
            continue
        sql = v if isinstance(v, str) else _text(v, budget) if isinstance(v, (list, dict)) else ""
        if sql:
            mask |= _sql(sql[:budget])
            budget -= len(sql)
    return mask


# ------------------------------------------------------------------ the detector
_LEARNED, _SKEY, _SESSIONS, _ALERTED, _USES = range(5)


def _state(st: AgentState) -> list[Any]:
    return section(st, NAME, [0, "", 0, 0, [0] * len(CLASSES)], 5)


def _digest(key: str) -> str:
    return blake2b(key.encode(), digest_size=4).hexdigest()


@register
class CommandClassFirstUse(HijackDetector):
    name = NAME
    section = NAME
    size = 5

    @classmethod
    def load_state(cls, data: Any) -> list[Any]:
        sec = super().load_state(data)
        learned, skey, sessions, alerted, uses = sec
        if (
            not isinstance(learned, int)
            or isinstance(learned, bool)
            or not isinstance(skey, str)
            or len(skey) > 16
            or not isinstance(sessions, int)
            or not isinstance(alerted, int)
            or not isinstance(uses, list)
            or len(uses) > len(CLASSES)
            or not all(isinstance(u, int) and 0 <= u < 1 << 16 for u in uses)
        ):
            raise ValueError("not a command_class_first_use section")
        uses.extend([0] * (len(CLASSES) - len(uses)))  # a section from fewer classes
        return sec

    def on_call(self, ctx: CallContext, st: AgentState) -> Sequence[Finding]:
        sec = _state(st)
        skey = _digest(session_key(ctx))
        if sec[_SKEY] != skey:
            sec[_SKEY] = skey
            sec[_SESSIONS] += 1
            sec[_ALERTED] = 0
        mask = call_classes(ctx)
        new = mask & ~sec[_LEARNED]
        if not new:
            return ()
        r = rules(ctx.charter)
        sparse = r.toolset_sparse_sessions
        armed = ctx.index > r.warmup_calls or (sparse is not None and sec[_SESSIONS] > sparse)
        if not armed:
            sec[_LEARNED] |= new  # still learning what the agent's work uses
            return ()
        out: list[Finding] = []
        for i, name in enumerate(CLASSES):
            bit = 1 << i
            if not new & bit or sec[_ALERTED] & bit:
                continue
            sec[_ALERTED] |= bit
            sec[_USES][i] += 1
            nth = sec[_USES][i]
            if nth >= r.new_tool_sessions:
                sec[_LEARNED] |= bit
                sec[_USES][i] = 0
            out.append(self._finding(ctx, name, nth, r.new_tool_sessions))
        return out

    def _finding(self, ctx: CallContext, cls_name: str, nth: int, learn_after: int) -> Finding:
        c = ctx.call
        family = "privilege" if cls_name in PRIVILEGE else "destructive"
        what = "privilege-granting" if family == "privilege" else "destructive"
        _, creds = call_scope(ctx)
        return Finding(
            NAME,
            "hijack.warmup_calls",
            "an agent's commands stay within the value classes its own work uses",
            "medium",
            f"{c.agent_id} sent a {what} command ({cls_name}) through {c.server}/{c.tool} "
            f"for the first time in {ctx.index} calls: the tool is routine, this kind of "
            f"argument is not (use {nth} of {learn_after} before it is learned)",
            [c.event_id],
            score=0.7,
            revoke=None,
            credential_ids=creds,
            task_id=c.task_id,
            session_id=c.session_id,
            dedup=f"command_class:{cls_name}:{c.session_id or c.task_id or c.event_id}",
            details={
                "class": cls_name,
                "family": family,
                "calls_before": ctx.index - 1,
                "use": nth,
            },
        )
