"""The value classes of command lines and SQL: what ``command_class_first_use`` reads.

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
  ``$HOME``, ``C:\\``, or ``--no-preserve-root``; Windows switches like ``/s`` are not
  paths), ``db_drop`` (``DROP TABLE|DATABASE|SCHEMA``, ``TRUNCATE``, ``FLUSHALL``,
  ``dropDatabase()``), ``db_delete_all`` (``DELETE`` with no ``WHERE``), ``disk_wipe``
  (``mkfs``, ``mke2fs``, ``mkswap`` … of a ``/dev/`` device, ``wipefs``, ``dd of=/dev/sdX``,
  ``shred`` or ``>`` of a block device), ``audit_off`` (deleting, shredding or truncating an audit or
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
  ``/etc/sudoers``, ``NOPASSWD``, ``net localgroup administrators … /add``);
persistence
  ``persistence`` (what makes something run again later: ``crontab -``/``FILE``/``-e``,
  ``systemctl enable|link``, ``launchctl load|bootstrap``, ``sc create``, ``schtasks
  /create``, ``Register-ScheduledTask``, a registry ``…\\CurrentVersion\\Run`` value, and
  ``>``, ``>>``, ``tee``, ``cp``, ``mv``, ``install`` or ``ln`` into a cron directory, a
  systemd unit directory, ``/etc/init.d``, ``/etc/rc.local``, a login shell's rc or profile
  file, ``~/.ssh/authorized_keys``, a launchd agent directory, ``.git/hooks/``,
  ``/etc/ld.so.preload`` or Windows' Startup folder: :func:`persist_path`);
credential access
  ``credential_store`` (not from the arguments' text: the charter classes the call a
  secret read, ``read_secret``, and a resource is a user's or host's credential store:
  ``~/.aws/…``, ``~/.ssh/…``, an ``id_rsa``-like key, ``~/.kube/…``, ``~/.azure/…``,
  ``~/.config/gcloud/…``, ``~/.docker/…``, ``.netrc``, ``.pgpass``, ``.git-credentials``.
  A project's ``.env`` is a secret read too, but coding agents read it in their work:
  the simulator's do, after warm-up, and counting it cost 31 false alerts there).

Near misses (quiet): ``rm -rf ./build``, ``rm file.txt``, ``rm -rf /tmp/x``, ``DELETE …
WHERE id=1``, ``SELECT``, ``az role assignment create … --role Reader``, ``az role
assignment list``, ``tail ~/.agent/audit.log``, ``ssh web01 'sudo systemctl status nginx'``
(the remote command is not this host's statement), ``crontab -l``, ``cat ~/.bashrc``,
``systemctl is-enabled nginx``, ``cp ~/.bashrc ~/.bashrc.bak``, ``schtasks /query``.

Cost: linear in the text read (at most :data:`MAX_SCAN` characters): a cheap keyword test
first, then statements and pipeline stages split once, tokens split once, each bounded
regex run once per stage; a line of at most :data:`CACHE_TEXT` characters is classified
once (an agent's routine repeats its commands).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from monitor.core.detectors.base import CallContext
from monitor.core.detectors.cloud_commands import cloud_classes
from monitor.core.detectors.hijack import words
from monitor.core.detectors.hijack_shell import MAX_SCAN, _text, command_line
from monitor.core.uris import canonical_resource

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
    "persistence",
    "credential_store",
)
PRIVILEGE: frozenset[str] = frozenset(
    {"cloud_admin_grant", "db_grant_all", "open_permissions", "sudo", "admin_group"}
)
#: Each class's family (the alert's ``details.family``).
FAMILY: dict[str, str] = {
    **dict.fromkeys(CLASSES, "destructive"),
    **dict.fromkeys(PRIVILEGE, "privilege"),
    "persistence": "persistence",
    "credential_store": "credential_access",
}
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
# Every class needs one of these (or one of the programs that have a rule, added to the
# gate below the rules); a line with none is done at once.
_KEYWORDS = (
    r"rm\b|rmdir|remove-item|\brd\b|find|mkfs|wipefs|\bdd\b|shred|truncate|unlink|drop|flush"
    r"|delete|grant|superuser|chmod|chown|sudo|doas|pkexec|\bsu\b|usermod|gpasswd|adduser"
    r"|useradd|sudoers|nopasswd|localgroup|localgroupmember|hist|unset|otel|audit|telemetry"
    r"|disable|systemctl|service|journalctl|cloudtrail|diagnostic|logging|wevtutil"
    r"|clear-eventlog|az\b|aws\b|gcloud|kubectl|terraform|pulumi|role|>"
    r"|cron|schtasks|scheduledtask|currentversion|winlogon|authorized_keys|profile"
    r"|bashrc|zshrc|zshenv|zlogin|bash_login|systemd|launch|init\.d|rc\.local|preload|hooks"
    r"|startup"
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
#: Every leading comment at once (``/* x */ /**/ -- y\n DROP TABLE``): each alternative starts
#: with its own character, so the run is matched without backtracking, linear in the text.
_LEADING_COMMENTS = re.compile(r"^(?:\s*(?:--[^\n]*(?:\n|$)|/\*.*?\*/|#[^\n]*(?:\n|$)))*", re.S)


_SQL_SPLIT = re.compile(r"'[^']*'|\"[^\"]*\"|;")


def _sql_statement_class(stmt: str) -> int:
    s = _LEADING_COMMENTS.sub("", stmt, count=1).lstrip(" \t\r\n(")
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


#: Where a write makes something run again later (cron, service units, init scripts, login
#: shells, authorized SSH keys, launchd, git hooks, the loader's preload list, Windows'
#: Startup folder): a path containing one of these (``~/.bashrc``, ``/etc/cron.d/job``).
_PERSIST_PATH = re.compile(
    r"(?:^|[/\\])(?:etc/cron[^/]*(?:/|$)|var/spool/cron|etc/systemd/|\.config/systemd/"
    r"|etc/init\.d/|etc/rc\.local$|etc/profile(?:\.d/|$)|etc/ld\.so\.preload$"
    r"|library/launch(?:agents|daemons)/|\.git/hooks/|\.ssh/authorized_keys2?$"
    r"|\.(?:bashrc|bash_profile|bash_login|profile|zshrc|zprofile|zshenv|zlogin)$)"
    r"|start menu[/\\]programs[/\\]startup",
    re.I,
)
#: ``>`` or ``>>`` and its target (persistence appends: ``echo … >> ~/.bashrc``).
_WRITE_OR_APPEND = re.compile(r"(?<![>&<])\d?>>?(?![>&])\s*([^\s;|&<>]{1,512})")
#: Registry keys that run a program at logon.
_RUN_KEY = re.compile(r"currentversion\\(?:run|runonce|policies\\explorer\\run)\b|winlogon", re.I)


#: A user's or host's credential store (cloud CLIs, SSH keys, kubeconfig, netrc, pgpass,
#: docker and git credentials), in a resource URI: not a project's own ``.env``, which
#: coding agents read in their work.
_CREDENTIAL_STORE = re.compile(
    r"/\.(?:aws|ssh|azure|kube|docker|config/gcloud)/|/\.(?:netrc|pgpass|git-credentials)$"
    r"|/id_(?:rsa|dsa|ecdsa|ed25519)[^/]*$",
    re.I,
)


def _credential_store(resource: str) -> bool:
    """Whether ``resource`` is a credential store as written or as the server resolves it
    (``/home/u/%2eaws/credentials``: :func:`monitor.core.uris.canonical_resource`), as the
    charter classes it a secret read in either form."""
    return bool(
        _CREDENTIAL_STORE.search(resource) or _CREDENTIAL_STORE.search(canonical_resource(resource))
    )


def persist_path(path: str) -> bool:
    """Whether writing ``path`` can make something run again later (see :data:`_PERSIST_PATH`).

    >>> persist_path("~/.bashrc"), persist_path("/etc/cron.d/job"), persist_path("./profile.txt")
    (True, True, False)
    """
    return bool(_PERSIST_PATH.search(path.strip("'\"")))


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


@dataclass(slots=True)
class _Stage:
    """One pipeline stage, split once: its program and arguments in the forms the rules read."""

    prog: str
    args: list[str]  # quotes stripped
    low: list[str]  # ``args`` in lower case
    flags: list[str]
    operands: list[str]
    text: str  # the stage as written
    statement: str  # the whole statement the stage is part of

    def recursive(self) -> bool:
        return any(_RECURSIVE_FLAG.match(f) for f in self.flags) or "--recursive" in self.low


def _rm(s: _Stage) -> int:
    mask = 0
    if "--no-preserve-root" in s.low or (s.recursive() and any(map(broad_path, s.operands))):
        mask |= _BIT["recursive_delete"]
    if any(map(audit_path, s.operands)):
        mask |= _BIT["audit_off"]
    return mask


def _shred(s: _Stage) -> int:
    mask = _BIT["audit_off"] if any(map(audit_path, s.operands)) else 0
    if s.prog == "shred" and any(_DEVICE.match(o) for o in s.operands):
        mask |= _BIT["disk_wipe"]
    return mask


def _find(s: _Stage) -> int:
    paths = []
    for a in s.args:
        if a.startswith(("-", "(", "!")):
            break
        paths.append(a)
    deletes = "-delete" in s.low or ("-exec" in s.low and "rm" in s.low)
    return _BIT["recursive_delete"] if deletes and any(map(broad_path, paths)) else 0


_WIN_SWITCH = re.compile(r"^/[a-z?](?::\S*)?$", re.I)  # ``/s``, ``/q``, ``/a:h``: not paths


def _windows_delete(s: _Stage) -> int:
    mask = 0
    recursive = any(x in ("-recurse", "-r", "/s") for x in s.low)
    paths = [o for o in s.operands if not _WIN_SWITCH.match(o)]
    if recursive and any(map(broad_path, paths)):
        mask |= _BIT["recursive_delete"]
    if s.prog in ("remove-item", "ri", "del", "erase") and any(map(audit_path, paths)):
        mask |= _BIT["audit_off"]
    return mask


def _dd(s: _Stage) -> int:
    return (
        _BIT["disk_wipe"]
        if any(a.startswith("of=") and _DEVICE.match(a[3:]) for a in s.args)
        else 0
    )


def _history(s: _Stage) -> int:
    return _BIT["audit_off"] if "-c" in s.low else 0


def _variables(s: _Stage) -> int:
    names = [o for o in s.operands if "=" not in o]
    if s.prog == "unset" and any(_TELEMETRY_VAR.search(o) for o in names):
        return _BIT["audit_off"]
    if s.prog == "set" and s.low[:2] == ["+o", "history"]:
        return _BIT["audit_off"]
    return 0


def _services(s: _Stage) -> int:
    stops = s.prog == "stop-service" or any(
        a in ("stop", "disable", "mask", "kill", "unload") for a in s.low
    )
    mask = _BIT["audit_off"] if stops and any(_LOG_SERVICES.match(o) for o in s.operands) else 0
    verb = s.low[0] if s.low else ""
    installs = {
        "systemctl": verb in ("enable", "link", "preset") or "enable" in s.low,
        "launchctl": verb in ("load", "bootstrap", "enable", "submit"),
        "sc": verb == "create" or (verb == "config" and "start=" in s.low and "auto" in s.low),
    }.get(s.prog, False)
    return mask | (_BIT["persistence"] if installs else 0)


def _crontab(s: _Stage) -> int:
    """``crontab FILE``, ``crontab -`` and ``crontab -e`` install a table; ``-l`` lists it,
    ``-r`` removes it."""
    quiet = {"-l", "-r", "-h", "--help", "-v", "-V", "-T"}
    return 0 if quiet.intersection(s.args) else _BIT["persistence"]


def _scheduled_tasks(s: _Stage) -> int:
    creates = s.prog in ("register-scheduledtask", "new-service") or (
        s.prog == "schtasks" and "/create" in s.low
    )
    return _BIT["persistence"] if creates else 0


def _registry(s: _Stage) -> int:
    writes = s.prog in ("new-itemproperty", "set-itemproperty") or s.low[:1] == ["add"]
    return _BIT["persistence"] if writes and _RUN_KEY.search(s.text) else 0


def _copies(s: _Stage) -> int:
    """``cp``, ``mv``, ``install``, ``ln`` of something into a persistence path (the last
    operand is the destination)."""
    return _BIT["persistence"] if s.operands[1:] and persist_path(s.operands[-1]) else 0


def _auditctl(s: _Stage) -> int:
    off = "-d" in s.args or "-D" in s.args or ("-e" in s.args and "0" in s.args)
    return _BIT["audit_off"] if off else 0


def _journalctl(s: _Stage) -> int:
    return _BIT["audit_off"] if any(a.startswith("--vacuum") for a in s.low) else 0


def _event_logs(s: _Stage) -> int:
    cleared = {
        "wevtutil": bool(s.low) and s.low[0] in ("cl", "clear-log"),
        "auditpol": "/clear" in s.low or "/remove" in s.low,
    }.get(s.prog, True)
    return _BIT["audit_off"] if cleared else 0


def _chmod(s: _Stage) -> int:
    modes = [o for o in s.operands if _WORLD_MODE.match(o) or _SETID_MODE.match(o)]
    paths = [o for o in s.operands if o not in modes]
    setid = any(_SETID_MODE.match(m) for m in modes)
    world = any(_WORLD_MODE.match(m) for m in modes)
    if setid or (world and (s.recursive() or any(map(broad_path, paths)))):
        return _BIT["open_permissions"]
    return 0


def _chown(s: _Stage) -> int:
    return _BIT["open_permissions"] if s.recursive() and any(map(broad_path, s.operands[1:])) else 0


def _accounts(s: _Stage) -> int:
    groups: set[str] = set()
    for a in s.args:
        groups.update(g.lower() for g in a.split(","))
    root_twin = s.prog == "useradd" and "-o" in s.args and "0" in s.args
    return _BIT["admin_group"] if not _ADMIN_GROUPS.isdisjoint(groups) or root_twin else 0


def _net(s: _Stage) -> int:
    add = s.low[:1] == ["localgroup"] and "administrators" in s.low and "/add" in s.low
    return _BIT["admin_group"] if add else 0


def _add_localgroupmember(s: _Stage) -> int:
    return _BIT["admin_group"] if "administrators" in s.low else 0


def _su(s: _Stage) -> int:
    root = not s.args or s.low[0] in ("-", "-l", "--login", "-c", "root")
    return _BIT["sudo"] if root else 0


def _db_client(s: _Stage) -> int:
    mask = 0
    for name, pat in _SQL_IN_LINE:
        if pat.search(s.statement):
            mask |= _BIT[name]
    return mask


def _cloud_cli(s: _Stage) -> int:
    mask = 0
    for name in cloud_classes(s.prog, s.low, s.text):
        mask |= _BIT[name]
    return mask


#: The rule of each program (one per program, as the programs' rule sets do not overlap).
_PROGRAM_RULES: dict[str, Callable[[_Stage], int]] = {
    "rm": _rm,
    **dict.fromkeys(("shred", "unlink", "truncate", "srm"), _shred),
    "find": _find,
    **dict.fromkeys(("remove-item", "ri", "del", "rd", "rmdir", "erase"), _windows_delete),
    "dd": _dd,
    "history": _history,
    **dict.fromkeys(("unset", "export", "set", "setenv", "declare"), _variables),
    **dict.fromkeys(("systemctl", "service", "launchctl", "sc", "stop-service"), _services),
    "crontab": _crontab,
    **dict.fromkeys(("schtasks", "register-scheduledtask", "new-service"), _scheduled_tasks),
    **dict.fromkeys(("reg", "new-itemproperty", "set-itemproperty"), _registry),
    **dict.fromkeys(("cp", "mv", "install", "ln"), _copies),
    "auditctl": _auditctl,
    "journalctl": _journalctl,
    **dict.fromkeys(("wevtutil", "clear-eventlog", "auditpol"), _event_logs),
    "chmod": _chmod,
    "chown": _chown,
    **dict.fromkeys(("usermod", "gpasswd", "adduser", "useradd", "addgroup"), _accounts),
    "net": _net,
    "add-localgroupmember": _add_localgroupmember,
    "su": _su,
    **dict.fromkeys(
        ("az", "aws", "gcloud", "kubectl", "oc", "terraform", "tofu", "pulumi"), _cloud_cli
    ),
    **dict.fromkeys(DB_CLIENTS, _db_client),
}
_ANY = re.compile(
    _KEYWORDS
    + r"|\b(?:"
    + "|".join(sorted(map(re.escape, {*_PROGRAM_RULES, *_DISK_PROGS}), key=len, reverse=True))
    + r")\b",
    re.I,
)


def _writes(s: _Stage) -> int:
    """What the stage writes with ``>`` or ``tee``: a device, an audit log, the sudoers file."""
    mask = 0
    if ">" in s.text:
        for m in _REDIRECT.finditer(s.text):
            dest = m.group(2).strip("'\"")
            if _DEVICE.match(dest):
                mask |= _BIT["disk_wipe"]
            elif audit_path(dest):
                mask |= _BIT["audit_off"]
            elif _SUDOERS.search(dest):
                mask |= _BIT["admin_group"]
    if s.prog == "tee" and any(_SUDOERS.search(o) for o in s.operands):
        mask |= _BIT["admin_group"]
    if ">" in s.text and any(persist_path(m) for m in _WRITE_OR_APPEND.findall(s.text)):
        mask |= _BIT["persistence"]
    if s.prog == "tee" and any(map(persist_path, s.operands)):
        mask |= _BIT["persistence"]
    if "nopasswd" in s.text.lower() and "sudoers" in s.statement.lower():
        mask |= _BIT["admin_group"]
    return mask


def _stage_classes(stage: str, statement: str) -> int:
    tokens = stage.split()
    if not tokens:
        return 0
    prog, at, sudo = _program(tokens)
    args = [t.strip("'\"") for t in tokens[at + 1 :]]
    s = _Stage(
        prog,
        args,
        [a.lower() for a in args],
        [a for a in args if a.startswith("-")],
        [a for a in args if a and not a.startswith("-")],
        stage,
        statement,
    )
    mask = _BIT["sudo"] if sudo else 0
    rule = _PROGRAM_RULES.get(prog)
    if rule is not None:
        mask |= rule(s)
    elif prog.split(".", 1)[0] in _DISK_PROGS and any(o.startswith("/dev/") for o in s.operands):
        mask |= _BIT["disk_wipe"]  # mkfs.ext4 /dev/sdb1 (not ``--help``, not an image file)
    return mask | _writes(s)


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
    """The value classes of one call's arguments (see the module doc for which are read),
    and ``credential_store`` when the charter classes the call a secret read and a resource
    is a user's or host's credential store (:data:`_CREDENTIAL_STORE`)."""
    mask = 0
    if "read_secret" in ctx.classes and any(map(_credential_store, ctx.call.resources)):
        mask = _BIT["credential_store"]
    args = ctx.call.args
    if not args:
        return mask
    shell = command_line(ctx)
    if shell:
        mask |= _shell(shell)
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
