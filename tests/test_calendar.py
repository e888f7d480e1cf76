"""Kent's calendar: the Washington legal holidays of RCW 1.16.050 with their observed days, and
an administrator's additions and removals."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Policy, load_policy
from engine.model import HolidaySpec
from engine.run.calendar import Calendar
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


# Business-day arithmetic jumps whole weeks; it must count exactly as the day-by-day walk did.

WA = Calendar("America/Los_Angeles", (0, 1, 2, 3, 4),
              HolidaySpec(None, None, None, "US", "WA", None, (), ()))  # fmt: skip
# A four-day week, the library's holidays kept by name, days added and removed, and runs of
# holidays longer than a week (the jump must not count them twice, nor skip them).
_ADDED = tuple((D(2031, 3, 1) + dt.timedelta(days=i), "Closure", "Res. 1") for i in range(12))
ODD = Calendar("UTC", (1, 2, 3, 5),
               HolidaySpec(None, None, None, "US", "WA", ("Christmas Day", "Juneteenth"),
                           (*_ADDED, (D(2030, 1, 7), "Snow day", "Res. 2")),
                           ((D(2030, 12, 25), "Res. 3", None),)))  # fmt: skip
PLAIN = Calendar("UTC", (0, 2, 4), None)


def _walk(cal: Calendar, day: dt.date, count: int) -> dt.date:
    """The old business-day count: one day at a time."""
    step = dt.timedelta(days=1 if count >= 0 else -1)
    remaining = abs(count)
    while remaining:
        day += step
        if cal.is_business_day(day):
            remaining -= 1
    return day


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.sampled_from([WA, ODD, PLAIN]),
    st.dates(D(1990, 1, 1), D(2080, 12, 31)),
    st.one_of(st.integers(-40, 40), st.integers(-4000, 4000)),
)
def test_jumping_weeks_counts_as_the_walk_did(cal: Calendar, day: dt.date, count: int) -> None:
    assert cal.add_business_days(day, count) == _walk(cal, day, count)


def test_across_added_closures_and_weekends() -> None:
    for day in (D(2031, 2, 20), D(2031, 3, 15), D(2030, 1, 1)):
        for count in (-30, -7, -1, 0, 1, 4, 5, 9, 30, 400):
            assert ODD.add_business_days(day, count) == _walk(ODD, day, count), (day, count)


def test_a_billion_business_days_is_out_of_range_at_once() -> None:
    start = time.perf_counter()
    for cal in (WA, ODD, PLAIN):
        for count in (10**9, -(10**9), 10**18):
            with pytest.raises(OverflowError, match="out of range"):
                cal.add_business_days(D(2024, 1, 1), count)
    assert time.perf_counter() - start < 0.5


def test_a_count_to_the_end_of_the_library_is_fast_and_exact() -> None:
    start = time.perf_counter()
    last = WA.add_business_days(D(1800, 1, 1), 76_000)  # 291 years, in weeks
    assert time.perf_counter() - start < 3
    assert last == _walk(WA, D(1800, 1, 1), 76_000) and WA.is_business_day(last)
    assert WA.add_business_days(last, -76_000) <= D(1800, 1, 1)
    with pytest.raises(OverflowError, match="from 1777 to 2100"):
        WA.add_business_days(D(2100, 12, 1), 30)


def test_every_iana_zone_name_passes_the_name_check() -> None:
    import zoneinfo

    zones = zoneinfo.available_timezones()
    assert not [z for z in zones if Calendar(z, (0,), None).check_time_zone()]
