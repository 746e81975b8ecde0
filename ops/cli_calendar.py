"""``danbao calendar``: the business calendar payouts (T+N) and review SLAs count in."""

from __future__ import annotations

import logging
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ops.cli_common import console

calendar = typer.Typer(help="The business calendar: Chinese statutory holidays, make-up working days (调休), the override file.",
                       no_args_is_help=True)

OverridesOption = Annotated[Path | None, typer.Option(
    "--overrides", envvar="DANBAO_CALENDAR_OVERRIDES_FILE", exists=True, dir_okay=False,
    help="The calendar override file (TOML; see the runbook). Default: DANBAO_CALENDAR_OVERRIDES_FILE.")]


def _calendar(overrides: Path | None):  # type: ignore[no-untyped-def]
    from shared.business_days import BusinessCalendar
    from shared.calendar_overrides import OverridesError, load_overrides

    logging.getLogger("danbao.business_days").setLevel(logging.CRITICAL)  # this command says it itself
    try:
        return BusinessCalendar(load_overrides(overrides) if overrides is not None else None)
    except OverridesError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


@calendar.command("next-business-day")
def next_business_day(
    day: Annotated[str, typer.Argument(help="The day, YYYY-MM-DD (China).")],
    plus: Annotated[int, typer.Option(min=0, max=60, help="Which business day after DAY: 1 is the next one (T+1).")] = 1,
    overrides: OverridesOption = None,
) -> None:
    """Print the PLUS-th business day after DAY. Exit 1 if the count reaches a year without holiday data."""
    from shared.business_days import CalendarUnavailable, YearData

    try:
        start = date.fromisoformat(day)
    except ValueError:
        raise typer.BadParameter(f"{day!r} is not YYYY-MM-DD") from None
    cal = _calendar(overrides)
    try:
        found = cal.add_business_days(start, plus)
    except CalendarUnavailable as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    sys.stdout.write(f"{found.isoformat()}\n")
    provisional = sorted({y for y in range(start.year, found.year + 1) if cal.year_data(y) is YearData.PROVISIONAL})
    for year in provisional:
        console.print(f"[yellow]warning: {year} is provisional ({cal.source(year)})[/yellow]")


@calendar.command("check")
def check(
    year: Annotated[int, typer.Argument(min=1900, max=2200, help="The year, e.g. 2028.")],
    overrides: OverridesOption = None,
) -> None:
    """Say where YEAR's holiday data comes from and list its days off and make-up working days.
    Exit 0: official (the State Council's schedule is known); 2: provisional (statutory holidays only, no
    make-up working days: add the schedule to the override file); 1: no data (computations into it are refused)."""
    from shared.business_days import YearData

    cal = _calendar(overrides)
    data = cal.year_data(year)
    colour = {YearData.OFFICIAL: "green", YearData.PROVISIONAL: "yellow", YearData.NONE: "red"}[data]
    console.print(f"[{colour}]{year}: {data.value}[/{colour}] ({cal.source(year)})")
    if data is YearData.NONE:
        raise typer.Exit(1)
    table = Table(title=f"{year}: days off on weekdays, and working days on weekends")
    for column in ("date", "day", "what"):
        table.add_column(column)
    day = date(year, 1, 1)
    while day.year == year:
        weekend = day.weekday() >= 5
        working = cal.is_business_day(day)
        if working and weekend:
            table.add_row(day.isoformat(), day.strftime("%a"), cal.overrides.workdays.get(day) or "make-up working day (调休上班)")
        elif not working and not weekend:
            table.add_row(day.isoformat(), day.strftime("%a"), cal.holiday_name(day) or "day off")
        day += timedelta(days=1)
    console.print(table)
    if data is YearData.PROVISIONAL:
        raise typer.Exit(2)
