"""Business days on the Chinese calendar (statutory holidays and make-up working days, 调休), for T+N
payouts and review SLAs.

Two sources, the first winning:

1. The operator's override file (``DANBAO_CALENDAR_OVERRIDES_FILE``, see ``shared.calendar_overrides``):
   the State Council's schedule (国务院办公厅关于<year>年部分节假日安排的通知) for a year, as extra
   days off and extra working days.
2. The ``holidays`` package's China calendar: the statutory holidays, each one falling on a weekend
   moved to the next working day (observed), and, for the years whose State Council notice the package
   carries, the make-up working days.

Each year has one of three states (``YearData``):

- ``official``: the State Council's schedule is known (the package carries its notice, or the override
  file has a table for the year). Counted exactly.
- ``provisional``: the one year right after the last official one, whose notice is usually published in
  November or December: the package's statutory holidays and observed days are counted, but the
  make-up working days and any extra bridge days are not known. It is used, and reported loudly: a
  warning on every service's ``/health/ready``, the ``danbao_calendar_year_data`` metric, a log line.
- ``none``: any other year. A computation that reaches it raises ``CalendarUnavailable``; it is never
  counted as weekdays. Payments fails the payout it was scheduling (``calendar_unavailable``, the money
  goes back to the merchant's balance); onboarding's review SLA falls back to calendar days (an earlier
  deadline, never a later one). Both log an error and count it in ``danbao_calendar_refusals``.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from pathlib import Path

import holidays
from holidays.countries.china import ChinaStaticHolidays

from shared.calendar_overrides import CalendarOverrides, load_overrides

log = logging.getLogger("danbao.business_days")
CHINA = timezone(timedelta(hours=8))

FIRST_OFFICIAL_YEAR = 2001  # the package checks China against the State Council's notices from 2001
PACKAGE_LAST_OFFICIAL_YEAR = max(ChinaStaticHolidays.special_public_holidays)  # 2026 in holidays 0.108
MAX_BUSINESS_DAYS = 60  # far beyond T+3 and a 3-day SLA; a bound on the walk


class YearData(StrEnum):
    OFFICIAL = "official"
    PROVISIONAL = "provisional"
    NONE = "none"

    @property
    def metric(self) -> int:
        """``danbao_calendar_year_data``: 2 official, 1 provisional, 0 none."""
        return {YearData.OFFICIAL: 2, YearData.PROVISIONAL: 1, YearData.NONE: 0}[self]


class CalendarUnavailable(LookupError):
    """A business-day computation reached a year the calendar has no data for."""

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(f"the business calendar has no data for {year}: add the State Council's {year} schedule "
                         "to the calendar override file (DANBAO_CALENDAR_OVERRIDES_FILE)")


class BusinessCalendar:
    def __init__(self, overrides: CalendarOverrides | None = None) -> None:
        self.overrides = overrides or CalendarOverrides()
        self._package = holidays.China(language="en_US")  # statutory holidays, observed days and 调休 of known years
        official = [PACKAGE_LAST_OFFICIAL_YEAR, *self.overrides.years]
        self.last_official_year = max(official)
        self.refusals: Counter[int] = Counter()  # per year: computations refused since start
        self._warned: set[int] = set()

    # -- what is known --------------------------------------------------------------------------

    def year_data(self, year: int) -> YearData:
        if year in self.overrides.years or FIRST_OFFICIAL_YEAR <= year <= PACKAGE_LAST_OFFICIAL_YEAR:
            return YearData.OFFICIAL
        if year == self.last_official_year + 1:
            return YearData.PROVISIONAL
        return YearData.NONE

    def source(self, year: int) -> str:
        """Where a year's data comes from, in words."""
        data = self.year_data(year)
        if data is YearData.NONE:
            return "no data"
        if data is YearData.PROVISIONAL:
            return (f"holidays {holidays.__version__}: statutory holidays and observed days only, "
                    "no make-up working days (调休) yet")
        if year in self.overrides.years:
            return f"override file: {self.overrides.sources.get(year) or 'no source given'}"
        return f"holidays {holidays.__version__}: the State Council's notice"

    def warnings(self, today: date, horizon_days: int) -> list[str]:
        """What an operator must act on: a year from ``today`` to ``horizon_days`` ahead that is not official."""
        found = []
        for year in range(today.year, (today + timedelta(days=horizon_days)).year + 1):
            data = self.year_data(year)
            if data is YearData.PROVISIONAL:
                found.append(f"business calendar: {year} is provisional (statutory holidays only; the State Council's "
                             f"make-up working days are missing): add its schedule to the calendar override file")
            elif data is YearData.NONE:
                found.append(f"business calendar: no data for {year}: payouts into it are refused; add its schedule "
                             "to the calendar override file")
        return found

    # -- computing ------------------------------------------------------------------------------

    def is_business_day(self, day: date) -> bool:
        """A working day in mainland China; ``CalendarUnavailable`` for a year without data."""
        data = self.year_data(day.year)
        if data is YearData.NONE:
            self.refusals[day.year] += 1
            log.error("business calendar: no data for %s; refusing to count %s as a working day or not", day.year, day)
            raise CalendarUnavailable(day.year)
        if data is YearData.PROVISIONAL and day.year not in self._warned:
            self._warned.add(day.year)
            log.warning("business calendar: %s is provisional: statutory holidays only, no make-up working days; "
                        "add the State Council's schedule to the override file", day.year)
        if day in self.overrides.workdays:
            return True
        if day in self.overrides.holidays:
            return False
        return bool(self._package.is_working_day(day))

    def holiday_name(self, day: date) -> str | None:
        """Why ``day`` is a day off (an override's note or the package's name), None for a working day or weekend."""
        if day in self.overrides.holidays:
            return self.overrides.holidays[day] or "holiday (override file)"
        if day in self.overrides.workdays:
            return None
        return self._package.get(day)

    def add_business_days(self, day: date, n: int) -> date:
        """The ``n``-th business day after ``day``."""
        if not 0 <= n <= MAX_BUSINESS_DAYS:
            raise ValueError(f"n must be 0 to {MAX_BUSINESS_DAYS}")
        current = day
        while n > 0:
            current += timedelta(days=1)
            if self.is_business_day(current):
                n -= 1
        return current

    def business_days_later(self, moment: datetime, n: int, at: time = time(9, 0)) -> datetime:
        """``at`` (China time) on the ``n``-th business day after ``moment``'s China date, in UTC."""
        target = self.add_business_days(moment.astimezone(CHINA).date(), n)
        return datetime.combine(target, at, tzinfo=CHINA).astimezone(timezone.utc)


_default: BusinessCalendar | None = None


def configure(overrides_file: Path | None) -> BusinessCalendar:
    """Make the process's calendar: the package and the override file (``DANBAO_CALENDAR_OVERRIDES_FILE``).
    A malformed file raises, so a service fails at start-up rather than counting wrongly."""
    global _default
    _default = BusinessCalendar(load_overrides(overrides_file) if overrides_file is not None else None)
    return _default


def default_calendar() -> BusinessCalendar:
    """The calendar of this process, made from the platform settings on first use if nothing configured it."""
    if _default is None:
        from shared.settings import PlatformSettings

        return configure(PlatformSettings().calendar_overrides_file)
    return _default


def is_business_day(day: date) -> bool:
    return default_calendar().is_business_day(day)


def add_business_days(day: date, n: int) -> date:
    return default_calendar().add_business_days(day, n)


def business_days_later(moment: datetime, n: int, at: time = time(9, 0)) -> datetime:
    return default_calendar().business_days_later(moment, n, at)
