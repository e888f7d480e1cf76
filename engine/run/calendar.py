"""Calendars: a jurisdiction's time zone, business days and holidays.

Holiday dates come from the ``holidays`` library (for Washington: RCW 1.16.050 with the
Saturday → Friday / Sunday → Monday observed rule), filtered to the names the policy keeps, plus
the days an administrator adds or removes with a citation. Dates are computed once per year and
cached, so the evaluation path only does a set lookup. A calendar saved in the compiled-policy
cache (``engine.cache``) carries every year of its reach worked out, so a process that loads it
imports the library (some 0.2 s: every country's module) only for a year outside that reach.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cached_property
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dsl.values import RangeError
from engine.model import HolidaySpec

_OBSERVED = " (observed)"
# What an IANA zone name looks like (`America/Los_Angeles`, `Etc/GMT+8`): checked before the name
# reaches zoneinfo, which opens it as a file path.
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+-]{1,30}(/[A-Za-z0-9_+-]{1,30}){0,2}")


def holiday_library() -> ModuleType:
    """The ``holidays`` package, imported on first need (see the module's docstring)."""
    import holidays

    return holidays


class Calendar:
    """Business days and holidays of one jurisdiction.

    >>> cal = Calendar("America/Los_Angeles", (0, 1, 2, 3, 4),
    ...                HolidaySpec(None, None, None, "US", "WA", None, (), ()))
    >>> cal.holiday_name(dt.date(2027, 12, 31))
    "New Year's Day (observed)"
    >>> cal.is_business_day(dt.date(2027, 12, 31))
    False
    """

    def __init__(
        self, time_zone: str, business_days: tuple[int, ...], spec: HolidaySpec | None
    ) -> None:
        self.time_zone_name = time_zone
        self.business_days = frozenset(business_days)
        self.spec = spec
        self._years: dict[int, dict[dt.date, str]] = {}
        self._closed: set[dt.date] = set()
        self._open_years: set[int] = set()

    def __getstate__(self) -> dict[str, Any]:
        """Saved with every year of ``reach`` worked out (``engine.cache``): the days a loaded
        calendar gives are the library's, without the library."""
        spec = self.spec
        if spec is not None and spec.country:
            lo, hi = self.reach
            for year in range(lo.year, hi.year + 1):
                self.holidays(year)
        skip = ("time_zone", "_closed", "_open_years")
        return {k: v for k, v in vars(self).items() if k not in skip}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _closed=set(), _open_years=set())

    @cached_property
    def time_zone(self) -> dt.tzinfo:
        return ZoneInfo(self.time_zone_name)

    @cached_property
    def reach(self) -> tuple[dt.date, dt.date]:
        """The days business-day arithmetic may reach: the years the holiday library knows
        (outside them it gives no holidays at all, so a count there would silently skip
        them), or the whole calendar when the policy lists its holidays itself."""
        spec = self.spec
        if spec is None or not spec.country:
            return dt.date.min, dt.date.max
        lib = holiday_library().country_holidays(spec.country, subdiv=spec.subdivision)
        return dt.date(lib.start_year, 1, 1), dt.date(lib.end_year, 12, 31)

    def add_business_days(self, day: dt.date, count: int) -> dt.date:
        """``day`` moved by ``count`` business days (back, when negative), in O(weeks): whole
        weeks are jumped arithmetically (each holds every business weekday once) less the
        holidays in the jumped days, and only the last week or two walked day by day.

        Raises:
            OverflowError: the count leaves ``reach`` (a case error, ``case/out-of-range``).

        >>> cal = Calendar("UTC", (0, 1, 2, 3, 4), None)
        >>> cal.add_business_days(dt.date(2024, 1, 5), 1_000)
        datetime.date(2027, 11, 5)
        """
        step, remaining = (1, count) if count >= 0 else (-1, -count)
        per_week = len(self.business_days)
        if remaining and not per_week:
            raise RangeError("the calendar has no business days: the count is out of range")
        lo, hi = self.reach
        room = (hi - day).days if step > 0 else (day - lo).days
        if remaining > room:  # cheap refusal of counts that cannot fit at all
            raise self._past_reach(count)
        while remaining > 2 * per_week:
            weeks = remaining // per_week - 1  # leaves at least a week to walk: never overshoots
            target = day + dt.timedelta(days=7 * weeks * step)
            if not lo <= target <= hi:
                raise self._past_reach(count)
            done = weeks * per_week - self._closed_between(day, target)
            if done <= 0:  # every business day in the jump is a holiday: walk instead
                break
            remaining, day = remaining - done, target
        one = dt.timedelta(days=step)
        while remaining:
            if day == (hi if step > 0 else lo):
                raise self._past_reach(count)
            day += one
            if self.is_business_day(day):
                remaining -= 1
        return day

    def _closed_between(self, a: dt.date, b: dt.date) -> int:
        """The holidays on business weekdays after ``a`` up to ``b`` (``b`` up to before ``a``
        when ``b`` is earlier): the business days a jump from ``a`` to ``b`` passes closed."""
        forward = a <= b
        first, last = (a, b) if forward else (b, a)
        n = 0
        for year in range(first.year, last.year + 1):
            for day in self.holidays(year):
                inside = (first < day <= last) if forward else (first <= day < last)
                n += inside and day.weekday() in self.business_days
        return n

    def _past_reach(self, count: int) -> RangeError:
        lo, hi = self.reach
        return RangeError(f"{count:,} business days is out of range: business days are "
                             f"counted from {lo.year} to {hi.year}")  # fmt: skip

    def holidays(self, year: int) -> dict[dt.date, str]:
        """The holidays observed in ``year``: date → name (sorted by date)."""
        if year not in self._years:
            self._years[year] = self._compute(year)
        return self._years[year]

    def _compute(self, year: int) -> dict[dt.date, str]:
        spec = self.spec
        if spec is None:
            return {}
        days: dict[dt.date, str] = {}
        if spec.country:
            # Observed days of next year's holidays can fall in this year (Dec 31 for Jan 1).
            lib = holiday_library().country_holidays(
                spec.country, subdiv=spec.subdivision, years=(year, year + 1), observed=True
            )
            keep = None if spec.names is None else set(spec.names)
            for day, name in lib.items():
                base = name.removesuffix(_OBSERVED)
                if day.year == year and (keep is None or base in keep):
                    days[day] = name
        for day, name, _ in spec.add:
            if day.year == year:
                days[day] = name
        for day, _, _ in spec.remove:
            days.pop(day, None)
        return dict(sorted(days.items()))

    def holiday_name(self, day: dt.date) -> str | None:
        return self.holidays(day.year).get(day)

    def is_business_day(self, day: dt.date) -> bool:
        if day.weekday() not in self.business_days:
            return False
        if day.year not in self._open_years:
            self._closed.update(self.holidays(day.year))
            self._open_years.add(day.year)
        return day not in self._closed

    def check_time_zone(self) -> str | None:
        """A message when the time zone is not a known IANA zone, else None."""
        name = str(self.time_zone_name)
        shown = name if len(name) <= 60 else name[:57] + "..."
        if not _ZONE_NAME.fullmatch(name):
            return f"unknown time zone `{shown}`"
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # OSError: the tzdata package opens the name as a file (too long, a directory…)
            return f"unknown time zone `{shown}`"
        return None

    def check_library(self) -> str | None:
        """A message when the holiday library does not know the country or subdivision."""
        spec = self.spec
        if spec is None or not spec.country:
            return None
        try:
            holiday_library().country_holidays(spec.country, subdiv=spec.subdivision, years=2024)
        except (NotImplementedError, KeyError, ValueError) as exc:
            return str(exc).strip("'\"") or f"unknown country `{spec.country}`"
        return None

    def check_names(self) -> list[int]:
        """Indexes of the holiday names the policy keeps that the library never produces."""
        spec = self.spec
        if spec is None or spec.names is None or not spec.country:
            return []
        lib = holiday_library().country_holidays(
            spec.country, subdiv=spec.subdivision, years=range(2020, 2031), observed=True
        )
        known = {n.removesuffix(_OBSERVED) for n in lib.values()}
        return [i for i, n in enumerate(spec.names) if n not in known]
