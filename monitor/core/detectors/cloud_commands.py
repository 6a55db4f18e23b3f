"""Cloud and infrastructure CLIs (``az``, ``aws``, ``gcloud``, ``kubectl``/``oc``,
``terraform``/``tofu``/``pulumi``): which value classes of
:mod:`monitor.core.detectors.command_classes` a stage of theirs carries.

``cloud_admin_grant``: an Owner/Contributor/…Administrator role assignment, an IAM
admin policy attached (or ``"Action": "*"``), an owner/editor/admin role binding, a
cluster-admin (role) binding. ``cloud_teardown``: a resource group, project, bucket,
namespace or whole stack deleted. ``audit_off``: diagnostic settings, trails, log
groups, GuardDuty detectors or logging sinks deleted or stopped. Each pattern is bounded,
so a hostile argument costs linear time.

>>> sorted(cloud_classes("az", "role assignment create --role owner".split(), "--role Owner"))
['cloud_admin_grant']
>>> cloud_classes("az", "role assignment list".split(), "az role assignment list")
set()
"""

from __future__ import annotations

import re

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


def cloud_classes(prog: str, low: list[str], stage: str) -> set[str]:
    """The value classes of one cloud-CLI stage: ``prog`` its program, ``low`` its
    arguments in lower case, ``stage`` the stage as written."""
    ops = [a for a in low if not a.startswith("-")]
    head = " ".join(ops[:4])
    out: set[str] = set()
    if prog == "az":
        if head.startswith("role assignment create") and _AZ_ADMIN_ROLE.search(stage):
            out.add("cloud_admin_grant")
        if head.startswith("group delete"):
            out.add("cloud_teardown")
        if head.startswith(
            ("monitor diagnostic-settings delete", "monitor log-analytics workspace delete")
        ):
            out.add("audit_off")
    elif prog == "aws":
        if head.startswith("iam "):
            verb = ops[1] if len(ops) > 1 else ""
            if (
                verb.startswith(("attach-", "put-", "create-policy"))
                and _AWS_ADMIN_POLICY.search(stage)
            ) or (verb == "add-user-to-group" and re.search(r"admin", stage, re.I)):
                out.add("cloud_admin_grant")
        elif head.startswith("s3 rb"):
            out.add("cloud_teardown")
        elif head.startswith("s3 rm") and "--recursive" in low:
            url = next((o for o in ops[2:] if o.startswith("s3://")), "")
            if url.rstrip("/").count("/") <= 2:  # the whole bucket
                out.add("cloud_teardown")
        elif head.startswith(("cloudtrail stop-logging", "cloudtrail delete-trail")) or (
            head.startswith(("logs delete-log-group", "guardduty delete-detector"))
        ):
            out.add("audit_off")
    elif prog == "gcloud":
        if "add-iam-policy-binding" in ops and _GCP_ADMIN_ROLE.search(stage):
            out.add("cloud_admin_grant")
        if head.startswith("projects delete"):
            out.add("cloud_teardown")
        if head.startswith(("logging sinks delete", "logging buckets delete")):
            out.add("audit_off")
    elif prog in ("kubectl", "oc"):
        binding = ops[1:2] in (["clusterrolebinding"], ["rolebinding"])
        if ops[:1] == ["create"] and binding and _K8S_ADMIN_ROLE.search(stage):
            out.add("cloud_admin_grant")
        if ops[:1] == ["delete"] and (
            (ops[1:2] and ops[1] in ("ns", "namespace", "namespaces"))
            or "--all" in low
            or "--all-namespaces" in low
        ):
            out.add("cloud_teardown")
    elif prog in ("terraform", "tofu", "pulumi") and ("destroy" in ops or "-destroy" in low):
        out.add("cloud_teardown")
    return out
