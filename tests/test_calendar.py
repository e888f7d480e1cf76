"""Kent's calendar: the Washington legal holidays of RCW 1.16.050 with their observed days, and
an administrator's additions and removals."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import yaml

from engine import Policy, load_policy
from tests.conftest import ROOT

D = dt.date


def test_kent_holidays_2027_follow_rcw_1_16_050(policy: Policy) -> None:
    cal = policy.compiled[("kent", "ord-4463")].calendar
    days = cal.holidays(2027)
    assert sorted(days) == [
        D(2027, 1, 1), D(2027, 1, 18), D(2027, 2, 15), D(2027, 5, 31),
        D(2027, 6, 18),  # Juneteenth falls on a Saturday: observed Friday
        D(2027, 6, 19),
        D(2027, 7, 4), D(2027, 7, 5),  # Independence Day on a Sunday: observed Monday
        D(2027, 9, 6), D(2027, 11, 11), D(2027, 11, 25),
        D(2027, 11, 26),  # Native American Heritage Day, the Friday after Thanksgiving
        D(2027, 12, 24), D(2027, 12, 25),
        D(2027, 12, 31),  # New Year's Day 2028 falls on a Saturday
    ]  # fmt: skip
    assert days[D(2027, 12, 31)] == "New Year's Day (observed)"
    assert not cal.is_business_day(D(2027, 12, 31))
    assert cal.is_business_day(D(2027, 12, 30))
    assert not cal.is_business_day(D(2027, 12, 25))  # a Saturday anyway


def test_generic_layer_has_no_holidays(policy: Policy) -> None:
    cal = policy.compiled[("generic", "icc-2021")].calendar
    assert cal.holidays(2027) == {}
    assert cal.is_business_day(D(2027, 12, 31))


def _kent_with(tmp_path: Path, add: list[dict[str, str]], remove: list[dict[str, str]]) -> Policy:
    root = tmp_path / "policy"
    shutil.copytree(ROOT / "policy", root)
    path = root / "kent" / "jurisdiction.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    data["calendar"]["holidays"]["add"] = add
    data["calendar"]["holidays"]["remove"] = remove
    path.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    return load_policy(root)


def test_an_administrator_adds_and_removes_days_with_a_citation(tmp_path: Path) -> None:
    policy = _kent_with(
        tmp_path,
        add=[{"date": "2025-12-24", "name": "Christmas Eve", "citation": "Res. 9999 (example)"}],
        remove=[{"date": "2025-11-28", "citation": "Res. 9999 (example)"}],
    )
    cal = policy.compiled[("kent", "ord-4463")].calendar
    assert cal.holiday_name(D(2025, 12, 24)) == "Christmas Eve"
    assert cal.holiday_name(D(2025, 11, 28)) is None
    # The appeal deadline for a decision of 2025-12-10 (14 days: Wed 2025-12-24) now rolls to
    # Friday 2025-12-26, past Christmas.
    case = {"jurisdiction": "kent", "as_of": "2026-01-05",
            "facts": {"appeal": {"decision_on": "2025-12-10"}}}  # fmt: skip
    deadline = policy.values(case, ["appeal.filing_deadline"])["appeal.filing_deadline"]
    assert deadline.isoformat() == "2025-12-26T17:00:00-08:00"
    unchanged = load_policy(ROOT / "policy").values(case, ["appeal.filing_deadline"])
    assert unchanged["appeal.filing_deadline"].isoformat() == "2025-12-24T17:00:00-08:00"
