"""Detectors, one module each; importing this package registers them all."""

from __future__ import annotations

from monitor.core.detectors import (
    behaviour,
    chain,
    footprint,
    hijack_command,
    hijack_fanout,
    hijack_first_use,
    hijack_provenance,
    hijack_retry,
    hijack_scope,
    hijack_shell,
    lingering,
    out_of_charter,
    rate,
    secret_transit,
    sponsor,
    static_credential,
)
from monitor.core.detectors.base import REGISTRY, CallContext, Detector, Finding

__all__ = [
    "REGISTRY",
    "CallContext",
    "Detector",
    "Finding",
    "behaviour",
    "chain",
    "footprint",
    "hijack_command",
    "hijack_fanout",
    "hijack_first_use",
    "hijack_provenance",
    "hijack_retry",
    "hijack_scope",
    "hijack_shell",
    "lingering",
    "out_of_charter",
    "rate",
    "secret_transit",
    "sponsor",
    "static_credential",
]
