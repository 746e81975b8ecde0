"""The operator's calendar override file (``DANBAO_CALENDAR_OVERRIDES_FILE``): the State Council's holiday
schedule for years the ``holidays`` package does not carry yet. TOML, one table per year::

    # 国务院办公厅关于2028年部分节假日安排的通知
    [2028]
    source = "国办发明电〔2027〕N号, 2027-11-xx"
    holidays = ["2028-01-01", "2028-01-25..2028-02-02 春节"]   # days off (放假), a date or an inclusive range
    workdays = ["2028-01-22 春节调休", "2028-02-05"]            # make-up working days (调休上班)

- A table for a year makes that year **official**: its schedule is then taken as complete (the package's
  statutory holidays and observed days, plus these days off, minus these working days).
- ``holidays``: days off besides the package's (bridge days of a golden week, an extra day).
- ``workdays``: days that are working days whatever else says: the make-up Saturdays and Sundays, and any
  weekday the package counts as a holiday that the notice does not grant.
- An entry is ``YYYY-MM-DD`` or ``YYYY-MM-DD..YYYY-MM-DD`` (inclusive, at most 31 days), optionally followed by
  a space and a note. A date lies in the table's year or the December before it (a notice may move a
  working day there). No date is both a holiday and a workday.
- ``source`` (optional) names the notice; ``danbao calendar check`` prints it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

KEYS = {"source", "holidays", "workdays"}
MAX_RANGE_DAYS = 31


class OverridesError(ValueError):
    """The override file cannot be read as documented; the message says where."""


@dataclass(frozen=True)
class CalendarOverrides:
    holidays: dict[date, str] = field(default_factory=dict)  # day -> note ("" if none)
    workdays: dict[date, str] = field(default_factory=dict)
    years: frozenset[int] = frozenset()
    sources: dict[int, str] = field(default_factory=dict)


def _entries(year: int, kind: str, items: Any, where: str) -> dict[date, str]:
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise OverridesError(f"{where}: {kind} must be a list of strings")
    days: dict[date, str] = {}
    for item in items:
        spec, _, note = item.strip().partition(" ")
        first, _, last = spec.partition("..")
        try:
            start, end = date.fromisoformat(first), date.fromisoformat(last or first)
        except ValueError:
            raise OverridesError(f"{where}: {kind} entry {item!r} is not YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD") from None
        if not start <= end or (end - start).days >= MAX_RANGE_DAYS:
            raise OverridesError(f"{where}: {kind} range {spec!r} must run forward, {MAX_RANGE_DAYS} days at most")
        for offset in range((end - start).days + 1):
            day = start + timedelta(days=offset)
            if not (day.year == year or (day.year == year - 1 and day.month == 12)):
                raise OverridesError(f"{where}: {kind} date {day} is outside {year} and the December before it")
            days[day] = note.strip()
    return days


def parse_overrides(text: str, where: str = "calendar overrides") -> CalendarOverrides:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OverridesError(f"{where}: not TOML: {exc}") from None
    holidays: dict[date, str] = {}
    workdays: dict[date, str] = {}
    sources: dict[int, str] = {}
    for key, table in document.items():
        if not (key.isdigit() and len(key) == 4) or not isinstance(table, dict):
            raise OverridesError(f"{where}: {key!r} is not a year's table ([2028])")
        year, here = int(key), f"{where} [{key}]"
        unknown = set(table) - KEYS
        if unknown:
            raise OverridesError(f"{here}: unknown keys {sorted(unknown)}; allowed: {sorted(KEYS)}")
        off = _entries(year, "holidays", table.get("holidays", []), here)
        on = _entries(year, "workdays", table.get("workdays", []), here)
        both = sorted(set(off) & set(on))
        if both:
            raise OverridesError(f"{here}: {both[0]} is both a holiday and a workday")
        holidays.update(off)
        workdays.update(on)
        if not isinstance(table.get("source", ""), str):
            raise OverridesError(f"{here}: source must be a string")
        sources[year] = table.get("source", "")
    clash = sorted(set(holidays) & set(workdays))
    if clash:
        raise OverridesError(f"{where}: {clash[0]} is both a holiday and a workday (in two years' tables)")
    return CalendarOverrides(holidays, workdays, frozenset(sources), sources)


def load_overrides(path: Path) -> CalendarOverrides:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OverridesError(f"calendar override file {path.name}: {exc.strerror}") from None
    return parse_overrides(text, f"calendar override file {path.name}")
