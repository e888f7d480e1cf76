"""Calendars: a jurisdiction's time zone, business days and holidays.

Holiday dates come from the ``holidays`` library (for Washington: RCW 1.16.050 with the
Saturday → Friday / Sunday → Monday observed rule), filtered to the names the policy keeps, plus
the days an administrator adds or removes with a citation. Dates are computed once per year and
cached, so the evaluation path only does a set lookup.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

from engine.model import HolidaySpec

_OBSERVED = " (observed)"


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

    @cached_property
    def time_zone(self) -> dt.tzinfo:
        return ZoneInfo(self.time_zone_name)

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
            lib = holidays_lib.country_holidays(
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
        try:
            ZoneInfo(self.time_zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            return f"unknown time zone `{self.time_zone_name}`"
        return None

    def check_library(self) -> str | None:
        """A message when the holiday library does not know the country or subdivision."""
        spec = self.spec
        if spec is None or not spec.country:
            return None
        try:
            holidays_lib.country_holidays(spec.country, subdiv=spec.subdivision, years=2024)
        except (NotImplementedError, KeyError, ValueError) as exc:
            return str(exc).strip("'\"") or f"unknown country `{spec.country}`"
        return None

    def check_names(self) -> list[int]:
        """Indexes of the holiday names the policy keeps that the library never produces."""
        spec = self.spec
        if spec is None or spec.names is None or not spec.country:
            return []
        lib = holidays_lib.country_holidays(
            spec.country, subdiv=spec.subdivision, years=range(2020, 2031), observed=True
        )
        known = {n.removesuffix(_OBSERVED) for n in lib.values()}
        return [i for i, n in enumerate(spec.names) if n not in known]
