"""The business calendar: the holidays package's China calendar, the operator's override file, and what
happens at a year without data (never counted as weekdays)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ops.cli import app
from shared.business_days import CHINA, PACKAGE_LAST_OFFICIAL_YEAR, BusinessCalendar, CalendarUnavailable, YearData
from shared.calendar_overrides import OverridesError, parse_overrides

PACKAGE = BusinessCalendar()

# An override for 2027 as an operator would write it from a State Council notice (illustrative dates: a golden
# week of Oct 1-7 with a make-up Sunday before it). The tests check the mechanism, not the real 2027 notice.
OVERRIDES_2027 = """
[2027]
source = "an illustrative notice"
holidays = ["2027-10-06..2027-10-07 国庆节"]
workdays = ["2027-09-26 国庆节调休", "2027-10-09"]
"""


def test_the_package_carries_the_state_councils_notices_up_to_2026() -> None:
    assert PACKAGE_LAST_OFFICIAL_YEAR == 2026
    assert PACKAGE.year_data(2026) is YearData.OFFICIAL
    assert PACKAGE.is_business_day(date(2026, 1, 4))        # a Sunday worked for New Year (调休上班)
    assert not PACKAGE.is_business_day(date(2026, 2, 23))   # the Monday that Sunday paid for
    assert PACKAGE.add_business_days(date(2026, 9, 30), 1) == date(2026, 10, 8)  # over the National Day week
    assert PACKAGE.add_business_days(date(2026, 11, 20), 1) == date(2026, 11, 23)  # Friday -> Monday


def test_a_payout_asked_for_on_new_years_eve_2026_goes_out_on_monday_the_4th() -> None:
    # Thursday 31 December 2026: 1 January is New Year's Day, then a weekend.
    assert PACKAGE.add_business_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert not PACKAGE.is_business_day(date(2027, 1, 1))
    asked = datetime(2026, 12, 31, 10, 0, tzinfo=CHINA)
    assert PACKAGE.business_days_later(asked, 1) == datetime(2027, 1, 4, 1, 0, tzinfo=timezone.utc)  # 09:00 China time


def test_spring_festival_2027_is_not_counted_as_working_days() -> None:
    # The package's 2027: New Year's Eve (Fri 5 Feb), the first three days (6-8 Feb), the two of them on the
    # weekend observed on Tue 9 and Wed 10.
    for day in (5, 8, 9, 10):
        assert not PACKAGE.is_business_day(date(2027, 2, day)), day
    assert PACKAGE.add_business_days(date(2027, 2, 4), 1) == date(2027, 2, 11)
    assert PACKAGE.add_business_days(date(2027, 2, 4), 3) == date(2027, 2, 15)


def test_national_day_2027_as_far_as_the_package_knows_it_and_as_the_override_file_completes_it() -> None:
    # The package: 1-3 October, the weekend's two observed on Mon 4 and Tue 5.
    assert [d for d in range(1, 8) if not PACKAGE.is_business_day(date(2027, 10, d))] == [1, 2, 3, 4, 5]
    assert PACKAGE.add_business_days(date(2027, 9, 30), 1) == date(2027, 10, 6)
    completed = BusinessCalendar(parse_overrides(OVERRIDES_2027))
    assert completed.add_business_days(date(2027, 9, 30), 1) == date(2027, 10, 8)
    assert completed.is_business_day(date(2027, 9, 26))  # the make-up Sunday
    assert completed.is_business_day(date(2027, 10, 9))
    assert completed.holiday_name(date(2027, 10, 6)) == "国庆节"


def test_2027_is_provisional_2028_has_no_data_and_is_never_counted_as_weekdays() -> None:
    assert PACKAGE.year_data(2027) is YearData.PROVISIONAL
    assert PACKAGE.year_data(2028) is YearData.NONE
    with pytest.raises(CalendarUnavailable, match="no data for 2028"):
        PACKAGE.is_business_day(date(2028, 1, 3))
    with pytest.raises(CalendarUnavailable):  # T+3 from the last Thursday of 2027 reaches 2028
        PACKAGE.add_business_days(date(2027, 12, 30), 3)
    with pytest.raises(CalendarUnavailable):
        PACKAGE.add_business_days(date(2031, 1, 3), 1)
    assert PACKAGE.refusals[2028] >= 2


def test_an_override_table_makes_its_year_official_and_the_next_one_provisional() -> None:
    completed = BusinessCalendar(parse_overrides(OVERRIDES_2027))
    assert completed.year_data(2027) is YearData.OFFICIAL and completed.year_data(2028) is YearData.PROVISIONAL
    assert "an illustrative notice" in completed.source(2027)
    assert completed.add_business_days(date(2027, 12, 30), 3) == date(2028, 1, 5)  # 31 Dec, (1 Jan off), 3, 4 ... 5


def test_the_readiness_warning_covers_the_years_within_the_horizon() -> None:
    assert PACKAGE.warnings(date(2026, 6, 1), 60) == []
    (warning,) = PACKAGE.warnings(date(2026, 11, 15), 60)
    assert "2027 is provisional" in warning
    assert any("no data for 2028" in w for w in PACKAGE.warnings(date(2027, 12, 1), 60))
    assert BusinessCalendar(parse_overrides(OVERRIDES_2027)).warnings(date(2026, 11, 15), 60) == []


@pytest.mark.parametrize(("text", "problem"), [
    ("[2027]\nholidays = ['2027-02-30']", "is not YYYY-MM-DD"),
    ("[2027]\nholidays = ['2027-10-07..2027-10-01']", "must run forward"),
    ("[2027]\nholidays = ['2027-01-01..2027-03-01']", "31 days at most"),
    ("[2027]\nholidays = ['2028-01-01']", "outside 2027"),
    ("[2027]\nholidays = ['2027-10-06']\nworkdays = ['2027-10-06']", "both a holiday and a workday"),
    ("[2027]\nholiday = ['2027-10-06']", "unknown keys"),
    ("[next]\nholidays = []", "not a year's table"),
    ("[2027\n", "not TOML"),
])
def test_a_malformed_override_file_is_refused_with_where_and_why(text: str, problem: str) -> None:
    with pytest.raises(OverridesError, match=problem):
        parse_overrides(text)


def test_a_make_up_day_may_lie_in_the_december_before_its_year() -> None:
    overrides = parse_overrides("[2027]\nworkdays = ['2026-12-27']")
    assert date(2026, 12, 27) in overrides.workdays


def test_the_calendar_command(tmp_path: Path) -> None:
    runner = CliRunner()
    found = runner.invoke(app, ["calendar", "next-business-day", "2026-12-31"])
    assert found.exit_code == 0 and found.stdout == "2027-01-04\n"
    plus = runner.invoke(app, ["calendar", "next-business-day", "2027-02-04", "--plus", "3"])
    assert plus.exit_code == 0 and plus.stdout == "2027-02-15\n"
    assert runner.invoke(app, ["calendar", "next-business-day", "2027-12-30", "--plus", "3"]).exit_code == 1
    assert runner.invoke(app, ["calendar", "check", "2026"]).exit_code == 0
    assert runner.invoke(app, ["calendar", "check", "2027"]).exit_code == 2
    assert runner.invoke(app, ["calendar", "check", "2028"]).exit_code == 1
    overrides = tmp_path / "calendar.toml"
    overrides.write_text(OVERRIDES_2027, encoding="utf-8")
    assert runner.invoke(app, ["calendar", "check", "2027", "--overrides", str(overrides)]).exit_code == 0
    after = runner.invoke(app, ["calendar", "next-business-day", "2027-09-30"], env={"DANBAO_CALENDAR_OVERRIDES_FILE": str(overrides)})
    assert after.stdout == "2027-10-08\n"


def test_a_service_reports_a_year_without_official_data_on_readiness_and_in_its_metrics(tmp_path: Path) -> None:
    from prometheus_client import generate_latest

    from services.payments.app import build
    from shared.settings import PlatformSettings

    runtime = build(platform=PlatformSettings(data_dir=tmp_path))
    runtime.clock.now = lambda: datetime(2026, 12, 31, 2, 0, tzinfo=timezone.utc)  # type: ignore[method-assign]
    assert [w for w in runtime.calendar_warnings() if "2027 is provisional" in w]
    with pytest.raises(CalendarUnavailable):
        runtime.calendar.add_business_days(date(2027, 12, 30), 3)
    runtime._calendar_metrics()
    scraped = generate_latest(runtime.registry).decode()
    assert 'danbao_calendar_year_data{year="2026"} 2.0' in scraped
    assert 'danbao_calendar_year_data{year="2027"} 1.0' in scraped
    assert 'danbao_calendar_year_data{year="2028"} 0.0' in scraped
    assert 'danbao_calendar_refusals{year="2028"}' in scraped
    runtime.clock.now = lambda: datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)  # type: ignore[method-assign]
    assert runtime.calendar_warnings() == []
