"""Legal deadlines: pure date arithmetic, so no database here."""

import calendar
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cases import deadlines
from cases.choices import RETIRED_REGULATIONS, Regulation
from cases.deadlines import (
    BAND_DUE_SOON,
    BAND_DUE_TEN,
    BAND_LATER,
    BAND_OVERDUE,
    MATARIKI_DAYS,
    RULES,
    DeadlineError,
    Period,
    Unit,
    add_months,
    add_nz_working_days,
    days_left,
    deadline_band,
    due_date,
    easter_sunday,
    extended_due_date,
    is_nz_working_day,
    latest_allowed_due_date,
    nz_public_holidays,
    nz_working_days_between,
    remaining_on_hold,
    resume_due_date,
    rule_for,
)

ALL_CODES = sorted(Regulation.values)
EXTENDABLE = sorted(code for code in ALL_CODES if rule_for(code).extension is not None)
CALENDAR_CODES = [code for code in ALL_CODES if code != Regulation.NZPA_NZL]

any_date = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
# Dates where the NZ rule is fully defined (Privacy Act 2020 and the Matariki schedule).
nz_date = st.dates(min_value=date(2021, 1, 1), max_value=date(2052, 10, 31))
regulations = st.sampled_from(ALL_CODES)


# --- Calendar months -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2025, 1, 31), 1, date(2025, 2, 28)),  # no 31 Feb: last day of February
        (date(2024, 1, 31), 1, date(2024, 2, 29)),  # leap year
        (date(2025, 1, 30), 1, date(2025, 2, 28)),
        (date(2024, 1, 29), 1, date(2024, 2, 29)),
        (date(2025, 1, 28), 1, date(2025, 2, 28)),
        (date(2025, 3, 31), 1, date(2025, 4, 30)),
        (date(2025, 1, 15), 1, date(2025, 2, 15)),
        (date(2025, 12, 15), 1, date(2026, 1, 15)),  # year roll
        (date(2025, 12, 31), 1, date(2026, 1, 31)),
        (date(2025, 12, 31), 2, date(2026, 2, 28)),
        (date(2023, 12, 31), 2, date(2024, 2, 29)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(1900, 1, 31), 1, date(1900, 2, 28)),  # 1900: century, not a leap year
        (date(2000, 1, 31), 1, date(2000, 2, 29)),  # 2000: divisible by 400, leap year
        (date(2025, 3, 31), -1, date(2025, 2, 28)),
        (date(2026, 1, 15), -1, date(2025, 12, 15)),
        (date(2025, 5, 17), 0, date(2025, 5, 17)),
    ],
)
def test_add_months_keeps_the_date_or_clamps_to_month_end(start, n, expected):
    assert add_months(start, n) == expected


@given(any_date, st.integers(min_value=-240, max_value=240))
def test_add_months_is_the_same_day_clamped_to_the_last_day(start, n):
    result = add_months(start, n)
    assert result.year * 12 + result.month == start.year * 12 + start.month + n
    last_day = calendar.monthrange(result.year, result.month)[1]
    assert result.day == min(start.day, last_day)


# --- Rules table -----------------------------------------------------------------------------


@pytest.mark.parametrize("code", ALL_CODES)
def test_every_regulation_code_has_a_sourced_rule(code):
    rule = rule_for(code)
    assert code in rule.regulations
    assert rule.label and rule.source
    assert rule.source_url.startswith("https://")
    assert rule.extension_note  # how to extend, or why the law allows none


def test_rules_cover_each_code_exactly_once_and_nothing_else():
    codes = [code for rule in RULES for code in rule.regulations]
    assert sorted(codes) == ALL_CODES


def test_rule_for_accepts_the_enum_member_and_the_plain_code():
    assert rule_for(Regulation.GDPR) is rule_for("gdpr")


@pytest.mark.parametrize("code", sorted(RETIRED_REGULATIONS))
def test_retired_codes_raise_with_their_replacement(code):
    with pytest.raises(DeadlineError, match=RETIRED_REGULATIONS[code]):
        rule_for(code)


@pytest.mark.parametrize("code", ["", "GDPR", "pdpa", "nope"])
def test_unknown_codes_raise_value_error_not_key_error(code):
    with pytest.raises(ValueError, match="Unknown regulation code"):
        rule_for(code)
    with pytest.raises(DeadlineError):
        due_date(code, date(2026, 1, 1))


@pytest.mark.parametrize(
    ("code", "period", "extension"),
    [
        (Regulation.GDPR, Period(1, Unit.MONTHS), Period(2, Unit.MONTHS)),
        (Regulation.CCPA, Period(45, Unit.DAYS), Period(45, Unit.DAYS)),
        (Regulation.CPRA_CA_USA, Period(45, Unit.DAYS), Period(45, Unit.DAYS)),
        (Regulation.VCDPA_VA_USA, Period(45, Unit.DAYS), Period(45, Unit.DAYS)),
        (Regulation.MHMDA_WA_USA, Period(45, Unit.DAYS), Period(45, Unit.DAYS)),
        (Regulation.ICDPA_IA_USA, Period(90, Unit.DAYS), Period(45, Unit.DAYS)),
        (Regulation.FDBR_FL_USA, Period(45, Unit.DAYS), Period(15, Unit.DAYS)),
        (Regulation.LGPD_BRA, Period(15, Unit.DAYS), None),
        (Regulation.NZPA_NZL, Period(20, Unit.NZ_WORKING_DAYS), Period(20, Unit.NZ_WORKING_DAYS)),
        (Regulation.PDPA_THA, Period(30, Unit.DAYS), None),
        (Regulation.APA_AUS, Period(30, Unit.DAYS), None),
        (Regulation.QL25_QC_CAN, Period(30, Unit.DAYS), None),
        (Regulation.HIPAA_USA, Period(30, Unit.DAYS), Period(30, Unit.DAYS)),
        (Regulation.PIPA_KOR, Period(10, Unit.DAYS), None),
    ],
)
def test_periods_match_the_law(code, period, extension):
    rule = rule_for(code)
    assert (rule.period, rule.extension) == (period, extension)


def test_ccpa_rule_says_to_acknowledge_within_ten_business_days():
    assert "10 business days" in rule_for(Regulation.CCPA).acknowledge_note
    assert "§7021" in rule_for(Regulation.CPRA_CA_USA).source


def test_periods_read_well_in_the_officer_table():
    assert str(Period(1, Unit.MONTHS)) == "1 calendar month"
    assert str(Period(45, Unit.DAYS)) == "45 calendar days"
    assert str(Period(20, Unit.NZ_WORKING_DAYS)) == "20 working days (NZ)"


def test_a_period_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        Period(0, Unit.DAYS)


# --- Due dates and extensions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "received", "due", "latest"),
    [
        (Regulation.GDPR, date(2025, 1, 31), date(2025, 2, 28), date(2025, 4, 28)),
        (Regulation.GDPR, date(2024, 1, 31), date(2024, 2, 29), date(2024, 4, 29)),
        (Regulation.GDPR, date(2025, 12, 3), date(2026, 1, 3), date(2026, 3, 3)),
        (Regulation.CCPA, date(2026, 1, 1), date(2026, 2, 15), date(2026, 4, 1)),
        (Regulation.ICDPA_IA_USA, date(2026, 1, 1), date(2026, 4, 1), date(2026, 5, 16)),
        (Regulation.FDBR_FL_USA, date(2026, 1, 1), date(2026, 2, 15), date(2026, 3, 2)),
        (Regulation.LGPD_BRA, date(2026, 1, 20), date(2026, 2, 4), date(2026, 2, 4)),
        (Regulation.HIPAA_USA, date(2026, 1, 1), date(2026, 1, 31), date(2026, 3, 2)),
        (Regulation.PIPA_KOR, date(2025, 12, 28), date(2026, 1, 7), date(2026, 1, 7)),
        # Received Fri 20 Mar 2026; Good Friday 3 Apr and Easter Monday 6 Apr do not count.
        (Regulation.NZPA_NZL, date(2026, 3, 20), date(2026, 4, 21), date(2026, 5, 20)),
    ],
)
def test_due_and_latest_allowed_dates(code, received, due, latest):
    assert due_date(code, received) == due
    assert latest_allowed_due_date(code, received) == latest


def test_gdpr_extension_is_two_months_after_the_due_date():
    assert extended_due_date(Regulation.GDPR, date(2025, 1, 10), date(2025, 2, 10)) == date(
        2025, 4, 10
    )


def test_lgpd_allows_no_extension():
    with pytest.raises(DeadlineError, match=r"allows no extension.*Art\. 19"):
        extended_due_date(Regulation.LGPD_BRA, date(2026, 1, 1), date(2026, 1, 16))


@pytest.mark.parametrize("code", sorted(c for c in ALL_CODES if rule_for(c).extension is None))
def test_laws_without_extension_refuse_one_and_cap_at_the_due_date(code):
    received = date(2026, 3, 2)
    with pytest.raises(DeadlineError):
        extended_due_date(code, received, due_date(code, received))
    assert latest_allowed_due_date(code, received) == due_date(code, received)


@pytest.mark.parametrize("code", EXTENDABLE)
def test_extension_of_the_initial_due_date_reaches_exactly_the_latest_allowed(code):
    received = date(2026, 3, 2)
    due = due_date(code, received)
    extended = extended_due_date(code, received, due)
    assert due < extended == latest_allowed_due_date(code, received)


def test_swapped_received_and_due_dates_are_refused():
    with pytest.raises(DeadlineError, match="before the request was received"):
        extended_due_date(Regulation.CCPA, date(2026, 2, 15), date(2026, 1, 1))


@given(regulations, any_date)
def test_due_date_is_never_before_receipt(code, received):
    assert due_date(code, received) > received


@given(st.sampled_from(EXTENDABLE), any_date, st.integers(min_value=0, max_value=400))
def test_extension_never_shortens(code, received, later_by):
    due = due_date(code, received) + timedelta(days=later_by)  # e.g. after holds
    assert extended_due_date(code, received, due) > due


@given(regulations, any_date)
def test_latest_allowed_is_never_before_the_due_date(code, received):
    assert latest_allowed_due_date(code, received) >= due_date(code, received)


# --- New Zealand working days ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 12, 24), True),  # Wednesday before the break
        (date(2025, 12, 25), False),  # break starts (Christmas)
        (date(2025, 12, 31), False),
        (date(2026, 1, 5), False),  # a Monday inside the break
        (date(2026, 1, 15), False),  # last day of the break, a Thursday
        (date(2026, 1, 16), True),  # first working day after the break
        (date(2026, 1, 17), False),  # Saturday
        (date(2026, 1, 18), False),  # Sunday
        (date(2026, 1, 26), True),  # Auckland Anniversary: regional, not excluded
        (date(2026, 2, 6), False),  # Waitangi Day, a Friday
        (date(2027, 2, 8), False),  # Waitangi Day (Sat 6 Feb 2027) Mondayised
        (date(2028, 2, 7), False),  # Waitangi Day (Sun 6 Feb 2028) Mondayised
        (date(2028, 2, 8), True),
        (date(2026, 4, 3), False),  # Good Friday
        (date(2026, 4, 6), False),  # Easter Monday
        (date(2026, 4, 7), True),
        (date(2026, 4, 27), False),  # ANZAC Day (Sat 25 Apr 2026) Mondayised
        (date(2027, 4, 26), False),  # ANZAC Day (Sun 25 Apr 2027) Mondayised
        (date(2025, 4, 25), False),  # ANZAC Day on a Friday
        (date(2026, 6, 1), False),  # King's Birthday: first Monday of June
        (date(2026, 6, 8), True),
        (date(2026, 7, 10), False),  # Matariki 2026
        (date(2026, 7, 9), True),
        (date(2026, 10, 26), False),  # Labour Day: fourth Monday of October
        (date(2026, 10, 19), True),
    ],
)
def test_is_nz_working_day(day, working):
    assert is_nz_working_day(day) is working


@pytest.mark.parametrize(
    ("year", "sunday"),
    [
        (1818, date(1818, 3, 22)),  # earliest possible
        (2000, date(2000, 4, 23)),
        (2019, date(2019, 4, 21)),
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2027, date(2027, 3, 28)),
        (2038, date(2038, 4, 25)),  # latest possible
        (2285, date(2285, 3, 22)),
    ],
)
def test_easter_sunday(year, sunday):
    assert easter_sunday(year) == sunday


def test_nz_holidays_for_2026():
    assert sorted(nz_public_holidays(2026)) == [
        date(2026, 2, 6),  # Waitangi Day
        date(2026, 4, 3),  # Good Friday
        date(2026, 4, 6),  # Easter Monday
        date(2026, 4, 27),  # ANZAC Day, Mondayised
        date(2026, 6, 1),  # King's Birthday
        date(2026, 7, 10),  # Matariki
        date(2026, 10, 26),  # Labour Day
    ]


def test_matariki_schedule_covers_2022_to_2052_and_always_falls_on_a_friday():
    assert sorted(MATARIKI_DAYS) == list(range(2022, 2053))
    assert all(day.year == year and day.weekday() == 4 for year, day in MATARIKI_DAYS.items())
    assert MATARIKI_DAYS[2022] == date(2022, 6, 24)
    assert MATARIKI_DAYS[2052] == date(2052, 6, 21)


def test_no_matariki_holiday_before_the_act():
    assert not any(day.month in (6, 7) and day.weekday() == 4 for day in nz_public_holidays(2021))


def test_nz_request_over_the_christmas_break():
    # Received Sat 20 Dec 2025: Mon 22 - Wed 24 Dec count, 25 Dec - 15 Jan do not, then
    # 16 Jan onwards; Waitangi Day (Fri 6 Feb) is skipped too.
    assert due_date(Regulation.NZPA_NZL, date(2025, 12, 20)) == date(2026, 2, 10)


def test_nz_request_received_inside_the_break_starts_counting_on_16_january():
    assert add_nz_working_days(date(2025, 12, 29), 1) == date(2026, 1, 16)
    assert due_date(Regulation.NZPA_NZL, date(2025, 12, 29)) == date(2026, 2, 13)


def test_nz_weekends_do_not_count():
    friday = date(2026, 3, 6)
    assert add_nz_working_days(friday, 1) == date(2026, 3, 9)  # Monday
    assert add_nz_working_days(friday, 5) == date(2026, 3, 13)  # next Friday


def test_nz_working_days_after_matariki_and_labour_day():
    assert add_nz_working_days(date(2026, 7, 9), 1) == date(2026, 7, 13)  # skips Fri 10 Jul
    assert add_nz_working_days(date(2026, 10, 23), 1) == date(2026, 10, 27)  # skips Labour Day


def test_nz_extension_adds_twenty_more_working_days():
    due = date(2026, 4, 21)
    assert extended_due_date(Regulation.NZPA_NZL, date(2026, 3, 20), due) == date(2026, 5, 20)
    assert nz_working_days_between(due, date(2026, 5, 20)) == 20


def test_adding_zero_nz_working_days_is_the_start_and_negative_is_refused():
    assert add_nz_working_days(date(2026, 3, 7), 0) == date(2026, 3, 7)
    with pytest.raises(ValueError, match="negative"):
        add_nz_working_days(date(2026, 3, 7), -1)


def test_nz_working_days_between_counts_after_start_up_to_end():
    assert nz_working_days_between(date(2026, 3, 6), date(2026, 3, 13)) == 5
    assert nz_working_days_between(date(2026, 3, 13), date(2026, 3, 6)) == 0


@given(nz_date, st.integers(min_value=1, max_value=60))
def test_nz_working_day_result_is_a_working_day_strictly_after_start(start, n):
    result = add_nz_working_days(start, n)
    assert result > start
    assert is_nz_working_day(result)
    assert nz_working_days_between(start, result) == n


@given(nz_date)
def test_nz_due_date_is_a_working_day(received):
    assert is_nz_working_day(due_date(Regulation.NZPA_NZL, received))


# --- Holds -----------------------------------------------------------------------------------


def test_gdpr_hold_then_resume_keeps_the_days_left():
    due = due_date(Regulation.GDPR, date(2026, 3, 1))  # 1 Apr
    remaining = remaining_on_hold(Regulation.GDPR, due, date(2026, 3, 11))
    assert remaining == 21
    assert resume_due_date(Regulation.GDPR, date(2026, 3, 21), remaining) == date(2026, 4, 11)


def test_nz_hold_counts_working_days_left():
    due = due_date(Regulation.NZPA_NZL, date(2026, 3, 20))  # Tue 21 Apr, over Easter
    paused = date(2026, 4, 2)  # Thursday before Good Friday
    remaining = remaining_on_hold(Regulation.NZPA_NZL, due, paused)
    assert remaining == 11  # 7-10 Apr, 13-17 Apr, 20-21 Apr
    resumed = date(2026, 4, 24)  # Friday; Mon 27 Apr is ANZAC Day Mondayised
    assert resume_due_date(Regulation.NZPA_NZL, resumed, remaining) == date(2026, 5, 12)


@pytest.mark.parametrize("code", [Regulation.GDPR, Regulation.NZPA_NZL])
def test_a_case_paused_while_overdue_stays_overdue_by_the_same_days(code):
    due = date(2026, 4, 21)
    remaining = remaining_on_hold(code, due, date(2026, 4, 24))
    assert remaining == -3
    assert resume_due_date(code, date(2026, 5, 4), remaining) == date(2026, 5, 1)


def test_paused_on_the_due_date_resumes_due_on_the_resume_day():
    remaining = remaining_on_hold(Regulation.CCPA, date(2026, 2, 15), date(2026, 2, 15))
    assert remaining == 0
    assert resume_due_date(Regulation.CCPA, date(2026, 3, 1), remaining) == date(2026, 3, 1)


def test_hold_functions_refuse_unknown_regulations():
    with pytest.raises(DeadlineError):
        remaining_on_hold("nope", date(2026, 2, 15), date(2026, 2, 1))
    with pytest.raises(DeadlineError):
        resume_due_date("nope", date(2026, 2, 1), 3)


@given(regulations, nz_date, st.integers(min_value=0, max_value=180))
def test_zero_length_hold_returns_the_same_due_date(code, received, paused_after):
    due = due_date(code, received)
    paused = received + timedelta(days=paused_after)  # before, on or after the due date
    remaining = remaining_on_hold(code, due, paused)
    assert resume_due_date(code, paused, remaining) == due


@given(st.sampled_from(CALENDAR_CODES), any_date, st.integers(0, 60), st.integers(0, 365))
def test_hold_preserves_calendar_days_left(code, received, paused_after, held):
    due = due_date(code, received)
    paused = received + timedelta(days=paused_after)
    resumed = paused + timedelta(days=held)
    remaining = remaining_on_hold(code, due, paused)
    assert days_left(resume_due_date(code, resumed, remaining), resumed) == days_left(due, paused)


@given(nz_date, st.integers(0, 40), st.integers(0, 200))
def test_nz_hold_preserves_working_days_left(received, paused_after, held):
    due = due_date(Regulation.NZPA_NZL, received)
    paused = received + timedelta(days=paused_after)
    resumed = paused + timedelta(days=held)
    remaining = remaining_on_hold(Regulation.NZPA_NZL, due, paused)
    new_due = resume_due_date(Regulation.NZPA_NZL, resumed, remaining)
    if remaining > 0:
        assert nz_working_days_between(resumed, new_due) == remaining
        assert is_nz_working_day(new_due)
    else:
        assert (new_due - resumed).days == remaining


# --- Days left and bands ---------------------------------------------------------------------


def test_days_left_is_negative_when_overdue():
    assert days_left(date(2026, 3, 10), date(2026, 3, 1)) == 9
    assert days_left(date(2026, 3, 10), date(2026, 3, 10)) == 0
    assert days_left(date(2026, 3, 10), date(2026, 3, 12)) == -2


@pytest.mark.parametrize(
    ("left", "band"),
    [
        (-30, BAND_OVERDUE),
        (-1, BAND_OVERDUE),
        (0, BAND_DUE_SOON),
        (5, BAND_DUE_SOON),
        (6, BAND_DUE_TEN),
        (10, BAND_DUE_TEN),
        (11, BAND_LATER),
        (365, BAND_LATER),
    ],
)
def test_deadline_band_boundaries(left, band):
    assert deadline_band(left) == band


def test_band_constants_are_exported_in_order():
    assert deadlines.DEADLINE_BANDS == ("overdue", "due_soon", "due_ten", "later")
    assert (deadlines.DUE_SOON_DAYS, deadlines.DUE_TEN_DAYS) == (5, 10)
