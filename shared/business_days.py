"""Business days on the Chinese calendar (statutory holidays and make-up workdays), from the
chinese-calendar library. Used for T+N payouts and review SLAs."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, timezone

import chinese_calendar

log = logging.getLogger("danbao.business_days")
CHINA = timezone(timedelta(hours=8))


def is_business_day(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # the library has no data for that year yet: weekdays only
        log.warning("no holiday data for %s; counting weekdays only", day.year)
        return day.weekday() < 5


def add_business_days(day: date, n: int) -> date:
    """The ``n``-th business day after ``day``."""
    current = day
    while n > 0:
        current += timedelta(days=1)
        if is_business_day(current):
            n -= 1
    return current


def business_days_later(moment: datetime, n: int, at: time = time(9, 0)) -> datetime:
    """``at`` (China time) on the ``n``-th business day after ``moment``'s China date, in UTC."""
    target = add_business_days(moment.astimezone(CHINA).date(), n)
    return datetime.combine(target, at, tzinfo=CHINA).astimezone(timezone.utc)
