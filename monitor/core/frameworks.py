"""Framework tags per detector: OWASP Agentic Top 10 (2026), CSA MAESTRO, NIST AI RMF.

Names are as published. Each detector maps to the risks it evidences; NIST
functions say what the alert does: MEASURE (it was detected), MANAGE (access is
being ended), GOVERN (a policy/accountability gap).
"""

from __future__ import annotations

from monitor.output_contracts import FrameworkRef, Frameworks

OWASP_AGENTIC = {
    "ASI01": "Agent Goal Hijack",
    "ASI02": "Tool Misuse and Exploitation",
    "ASI03": "Identity and Privilege Abuse",
    "ASI04": "Agentic Supply Chain Vulnerabilities",
    "ASI05": "Unexpected Code Execution",
    "ASI06": "Memory & Context Poisoning",
    "ASI07": "Insecure Inter-Agent Communication",
    "ASI08": "Cascading Failures",
    "ASI09": "Human-Agent Trust Exploitation",
    "ASI10": "Rogue Agents",
}
MAESTRO = {
    "L1": "Foundation Models",
    "L2": "Data Operations",
    "L3": "Agent Frameworks",
    "L4": "Deployment and Infrastructure",
    "L5": "Evaluation and Observability",
    "L6": "Security and Compliance",
    "L7": "Agent Ecosystem",
}
NIST_FUNCTIONS = ("GOVERN", "MAP", "MEASURE", "MANAGE")

_BY_DETECTOR: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "out_of_charter_tool": (("ASI02", "ASI03"), ("L3", "L6"), ("MEASURE", "MANAGE")),
    "forbidden_chain": (("ASI01", "ASI02", "ASI05"), ("L2", "L3"), ("MEASURE", "MANAGE")),
    "lingering_access": (("ASI03",), ("L4", "L6"), ("GOVERN", "MANAGE")),
    "absent_sponsor": (("ASI03", "ASI09", "ASI10"), ("L6", "L7"), ("GOVERN", "MANAGE")),
    "rate_limit": (("ASI02", "ASI08"), ("L4",), ("MEASURE", "MANAGE")),
    "behaviour_anomaly": (("ASI01", "ASI10"), ("L5",), ("MEASURE",)),
    # hijack detectors: a granted tool used the way an injected instruction would
    "injected_destination": (("ASI01", "ASI02", "ASI06"), ("L2", "L3"), ("MEASURE", "MANAGE")),
    "high_impact_first_use": (("ASI01", "ASI02"), ("L3", "L5"), ("MEASURE",)),
    "retry_after_denial": (("ASI01", "ASI02", "ASI03"), ("L3", "L6"), ("MEASURE",)),
    "scope_widening": (("ASI02", "ASI03"), ("L3", "L4"), ("MEASURE",)),
    "shell_egress": (("ASI01", "ASI05"), ("L3", "L4"), ("MEASURE", "MANAGE")),
    "fan_out": (("ASI01", "ASI02", "ASI08"), ("L3", "L5"), ("MEASURE",)),
    # a destructive or privilege-granting command class the agent never used (alert only)
    "command_class_first_use": (("ASI02", "ASI03", "ASI10"), ("L3", "L4", "L6"), ("MEASURE",)),
    "standing_privilege": (("ASI03",), ("L6",), ("GOVERN",)),
    # a static or long-lived key where the charter asks for just-in-time credentials
    "static_credential": (("ASI03",), ("L4", "L6"), ("GOVERN", "MANAGE")),
    # a credential in a call's arguments: leaked to the tool, and to its logs
    "secret_in_transit": (("ASI02", "ASI03"), ("L2", "L6"), ("MEASURE", "MANAGE")),
    # more tenants or data domains in an hour than the charter allows
    "footprint_breadth": (("ASI02", "ASI03"), ("L2", "L6"), ("MEASURE", "MANAGE")),
    # a forged or broken policy update: the control plane itself is attacked
    "charter_rejected": (("ASI03", "ASI07"), ("L6",), ("GOVERN", "MANAGE")),
    # a policy change nobody authenticated: applied because the operator allowed it
    "charter_unsigned": (("ASI03", "ASI07"), ("L6",), ("GOVERN",)),
    # a policy change that grants more privilege (signed or not): someone must confirm it
    "charter_widened": (("ASI03",), ("L6",), ("GOVERN",)),
}


def frameworks_for(detector: str) -> Frameworks:
    owasp, maestro, nist = _BY_DETECTOR.get(detector, ((), (), ("MEASURE",)))
    return Frameworks(
        owasp_agentic=[FrameworkRef(id=i, name=OWASP_AGENTIC[i]) for i in owasp],
        maestro=[FrameworkRef(id=i, name=MAESTRO[i]) for i in maestro],
        nist_ai_rmf=list(nist),
    )
