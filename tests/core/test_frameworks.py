"""Framework tags per detector: OWASP Agentic Top 10, CSA MAESTRO, NIST AI RMF."""

from __future__ import annotations

from monitor.core.detectors.base import REGISTRY
from monitor.core.frameworks import MAESTRO, NIST_FUNCTIONS, OWASP_AGENTIC, frameworks_for


def test_a_detector_is_tagged_with_the_published_names_of_its_risks() -> None:
    f = frameworks_for("absent_sponsor")
    assert [(r.id, r.name) for r in f.owasp_agentic] == [
        ("ASI03", "Identity and Privilege Abuse"),
        ("ASI09", "Human-Agent Trust Exploitation"),
        ("ASI10", "Rogue Agents"),
    ]
    assert [(r.id, r.name) for r in f.maestro] == [
        ("L6", "Security and Compliance"),
        ("L7", "Agent Ecosystem"),
    ]
    assert f.nist_ai_rmf == ["GOVERN", "MANAGE"]


def test_an_unknown_detector_is_only_measured() -> None:
    f = frameworks_for("some_future_detector")
    assert (f.owasp_agentic, f.maestro, f.nist_ai_rmf) == ([], [], ["MEASURE"])


def test_every_registered_detector_has_known_tags() -> None:
    for name in REGISTRY:
        f = frameworks_for(name)
        assert f.owasp_agentic, name
        assert all(OWASP_AGENTIC[r.id] == r.name for r in f.owasp_agentic)
        assert all(MAESTRO[r.id] == r.name for r in f.maestro)
        assert set(f.nist_ai_rmf) <= set(NIST_FUNCTIONS)
