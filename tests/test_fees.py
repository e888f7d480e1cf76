"""Fee schedules: flat and per-unit items, thresholds, rounding to the cent, unknowns."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from engine import load_policy
from tests.conftest import ROOT

GAP = ROOT / "tests" / "fixtures" / "broken_policies" / "policy-fee-threshold-gap"


def _case(**facts: object) -> dict[str, object]:
    return {"jurisdiction": "town", "as_of": "2024-06-01", "facts": {"permit": facts}}


def test_tiers_count_only_their_units() -> None:
    policy = load_policy(GAP, strict=False)  # units 11-20 are a gap (a warning, not an error)
    values = policy.values(_case(units=25), ["permit.fee", "permit.fee_lines"])
    # 10 units at $10 (up_to 10), 5 units beyond 20 at $5; units 11-20 are not charged.
    assert values == {"permit.fee": Decimal("125.00"),
                      "permit.fee_lines": ["first_units", "more_units"]}  # fmt: skip
    assert policy.values(_case(units=0), ["permit.fee"])["permit.fee"] == Decimal("0.00")


def test_an_unknown_quantity_leaves_the_fee_undetermined() -> None:
    policy = load_policy(GAP, strict=False)
    d = policy.evaluate(_case()).decisions["permit.fee"]
    assert (d.status, d.needs) == ("undetermined", ["permit.units"])


def test_lines_round_half_up_to_the_cent(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "policy"
    shutil.copytree(GAP, root)
    rules = root / "town" / "r1" / "rules.yaml"
    rules.write_text(rules.read_text().replace("unit_amount: $10", "unit_amount: $1 / 8"))
    policy = load_policy(root, strict=False)
    # 3 units x $0.125 = $0.375 -> $0.38 (half up); the total is the sum of rounded lines.
    result = policy.evaluate(_case(units=3))
    assert result.decisions["permit.fee"].value == Decimal("0.38")
    line = result.to_dict(version=1)["decisions"]["permit.fee"]["because"][0]["because"][0]
    assert line == {"line": "first_units", "citation": "TC 2.01", "text":
                    "Units 1 to 10: 3 × $0.125 = $0.38", "quantity": 3, "unit_amount": "0.125",
                    "amount": "0.38"}  # fmt: skip


def test_a_rule_gives_a_value_or_a_fee_not_both(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "policy"
    shutil.copytree(GAP, root)
    (root / "town" / "r1" / "rules.yaml").write_text(
        "sections:\n  - citation: TC 1.01\n    title: T\n    rules:\n"
        "      - id: permit.fee\n        type: money\n        value: $1\n"
        "        fee:\n          items:\n            - {id: a, title: A, amount: $1}\n"
        "      - id: permit.other\n        type: money\n"
    )
    problems = {(d.code, d.span.line if d.span else 0, d.message)
                for d in load_policy(root, strict=False).diagnostics}  # fmt: skip
    assert ("schema/invalid", 8, "give one of `value:` or `fee:`, not several") in problems
    assert ("schema/missing-key", 11, "missing `value:` or `fee:`") in problems
