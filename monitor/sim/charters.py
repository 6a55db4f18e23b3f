"""The charters of the simulated fleet, and their YAML documents."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from monitor.charter import Charter
from monitor.sim.vocab import _TENANTS

# --------------------------------------------------------------------------- charters


def _grants(*rows: str) -> list[dict[str, Any]]:
    """``"github/search_code read"`` → a tool grant; compact and easy to scan."""
    out = []
    for row in rows:
        target, *classes = row.split()
        server, tool = target.split("/")
        out.append({"server": server, "tool": tool, "classes": classes})
    return out


def _chain(name: str, first: str, then: str, calls: int, seconds: float) -> dict[str, Any]:
    return {
        "name": name,
        "sequence": [first, then],
        "within_calls": calls,
        "within_seconds": seconds,
    }


_EXFIL = _chain("exfiltration", "read_secret", "egress", 10, 600)


def coding_charter(pattern: str, hours: str | None) -> Charter:
    return Charter.model_validate({
        "agent": pattern,
        "kind": "delegated",
        "mission": "pair-program on the sponsor's ticket in the corp repositories",
        "mode": "enforce",
        "tools": _grants(
            "github/search_code read", "github/create_pull_request write", "fs/read_file read",
            "fs/list_dir read", "fs/edit_file write", "ci/run_tests exec", "git/commit write",
            "web/fetch_url read", "web/http_post egress", "github/add_collaborator admin",
        ),
        "resource_classes": [{"pattern": "https://**", "classes": ["egress"]}],
        "tenants": ["corp"],
        "data_domains": ["source_code"],
        "resources": [
            "file:///repo/**", "github://corp/*", "ci://corp/*", "git://corp/*",
            "https://docs.python.org/**", "https://pypi.org/**", "https://hooks.slack.com/**",
        ],
        "forbidden_chains": [_EXFIL],
        "limits": {
            "max_calls_per_minute": 40, "credential_max_ttl": 900, "task_grace_seconds": 30,
            "sponsor_quiet_seconds": 900, "hours": hours,
        },
    })  # fmt: skip


def support_charter(pattern: str, hours: str | None) -> Charter:
    return Charter.model_validate({
        "agent": pattern,
        "kind": "delegated",
        "mission": "answer the sponsor's customer tickets by email",
        "mode": "observe",
        "tools": _grants(
            "helpdesk/get_ticket read_untrusted", "helpdesk/update_ticket write",
            "helpdesk/add_note write", "crm/lookup_customer read pii", "kb/search_articles read",
            "email/send_email egress", "billing/issue_refund write",
        ),
        "tenants": list(_TENANTS),
        "data_domains": ["support", "customer"],
        "resources": [
            "helpdesk://*/tickets/*", "crm://*/customers/*", "kb://support/**", "mailto:*",
            "billing://*/customers/*",
        ],
        "forbidden_chains": [_EXFIL],
        "limits": {
            "max_calls_per_minute": 30, "credential_max_ttl": 1800, "task_grace_seconds": 30,
            "sponsor_quiet_seconds": 600, "hours": hours,
        },
    })  # fmt: skip


def patcher_charter(pattern: str) -> Charter:
    return Charter.model_validate({
        "agent": pattern,
        "kind": "autonomous",
        "mission": "apply approved OS patches to the production fleet",
        "mode": "enforce",
        "tools": _grants(
            "fleet/list_hosts read", "fleet/get_host_facts read", "fleet/apply_patch write exec",
            "fleet/reboot_host exec", "advisories/get_advisory read", "vault/read_secret read_secret",
            "web/fetch_url read_untrusted", "web/http_post egress", "fleet/run_command exec",
        ),
        "tenants": ["corp"],
        "data_domains": ["infrastructure"],
        "resources": ["fleet://prod/*", "vault://secret/patching/*", "https://**"],
        "forbidden_chains": [_EXFIL, _chain("untrusted_exec", "read_untrusted", "exec", 8, 300)],
        "limits": {"max_calls_per_minute": 30, "credential_max_ttl": 900},
    })  # fmt: skip


def etl_charter(agent_id: str, domains: Sequence[str], mode: str) -> Charter:
    return Charter.model_validate({
        "agent": agent_id,
        "kind": "autonomous",
        "mission": f"load the nightly {' and '.join(domains)} extracts into the warehouse",
        "mode": mode,
        "tools": _grants(
            "vault/get_db_credential credential", "catalog/get_schema read",
            "warehouse/run_query read", "warehouse/load_table write", "warehouse/grant_role admin",
            "s3/get_object read", "s3/put_object write", "s3/share_object write",
        ),
        "tenants": ["corp"],
        "data_domains": list(domains),
        "resources": ["warehouse://prod/**", "s3://corp-datalake/**", "vault://database/creds/*"],
        "forbidden_chains": [
            _chain("privilege_escalation", "credential", "admin", 15, 900),
        ],
        "limits": {"max_calls_per_minute": 60, "credential_max_ttl": 3600, "task_grace_seconds": 60},
    })  # fmt: skip


def monitor_charter(pattern: str) -> Charter:
    return Charter.model_validate({
        "agent": pattern,
        "kind": "autonomous",
        "mission": "watch production health and page the on-call engineer",
        "mode": "observe",
        "tools": _grants(
            "metrics/query read", "logs/search read", "k8s/get_pods read",
            "pager/create_incident write", "chat/post_message egress", "chat/post_file egress",
        ),
        "tenants": ["corp"],
        "data_domains": ["observability"],
        "resources": [
            "prom://prod/*", "loki://prod/*", "k8s://prod/*", "pagerduty://services/*",
            "https://hooks.slack.com/**",
        ],
        "forbidden_chains": [_EXFIL],
        "limits": {"max_calls_per_minute": 60, "credential_max_ttl": 900},
    })  # fmt: skip


def _with_hours(charter: Charter, agent_id: str, hours: str) -> Charter:
    data = charter.model_dump(mode="json")
    data["agent"] = agent_id
    data["limits"]["hours"] = hours
    data["mission"] += " during the sponsor's shift"
    return Charter.model_validate(data)


def charter_document(charter: Charter) -> dict[str, Any]:
    """The YAML document for a charter: non-default keys, plus agent/kind/mode up front."""
    body = charter.model_dump(mode="json", exclude_defaults=True)
    doc: dict[str, Any] = {"agent": charter.agent, "kind": charter.kind, "mode": charter.mode}
    doc.update((k, v) for k, v in body.items() if k not in doc)
    return doc


def safe_name(pattern: str) -> str:
    """A file name for an agent pattern: ``.../patcher-*`` → ``spiffe_corp_agents_patcher-all``."""
    name = re.sub(r"[^A-Za-z0-9.-]+", "_", pattern.replace("*", "all")).strip("_.")
    return name or "charter"
