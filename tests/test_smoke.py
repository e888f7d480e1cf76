"""The bundled example evaluates end to end through the public API."""

import datetime as dt

from engine import load_policy
from engine.compile.load import read_case


def test_bundled_example_evaluates_with_citations() -> None:
    policy = load_policy()
    result = policy.evaluate(read_case("examples/kent-co-and-permit.yaml"))
    expires = result.decisions["permit.expires_on"]
    assert expires.value == dt.date(2026, 4, 28)  # last inspection 2025-10-30 + 180 days
    assert expires.citations == ["IBC 105.5.1 as amended by KCC 14.01.030.D"]
    assert result.decisions["co.missing_approvals"].value == ["fire_prevention"]
    assert result.revision == "ord-4463"
