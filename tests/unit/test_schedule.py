"""Schedule windows: open/closed at a moment, next opening, time zones and DST, pre-warming, errors."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from judge0_operator.api.scaling import ScheduleWindow
from judge0_operator.decide.schedule import (
    ScheduleError,
    evaluate_schedules,
    validate_cron,
    validate_schedules,
    validate_time_zone,
    window_state,
)


def window(cron: str, duration: int = 3600, minimum: int = 5, tz: str = "UTC", name: str | None = None):
    return ScheduleWindow(cron=cron, duration_seconds=duration, min_replicas=minimum, time_zone=tz, name=name)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "expr", ["30 8 * * 1-5", "*/15 * * * *", "0 9 1,15 * *", "0 0 29 2 *", "0 12 * JAN MON"]
)
def test_valid_cron_expressions_pass(expr):
    assert validate_cron(expr) is None


@pytest.mark.parametrize(
    "expr",
    [
        "61 * * * *",  # minute out of range
        "a b c d e",  # not cron
        "* * * * * *",  # 6 fields (seconds) — the API says 5
        "0 9 * *",  # 4 fields
        "0 0 30 2 *",  # 30 February never comes
        "*/0 * * * *",  # zero step
    ],
)
def test_invalid_cron_expressions_are_explained(expr):
    problem = validate_cron(expr)
    assert problem is not None and problem


def test_time_zones_are_checked():
    assert validate_time_zone("Europe/Berlin") is None
    assert validate_time_zone("Mars/Olympus_Mons") is not None
    assert validate_time_zone("../etc/passwd") is not None


def test_validate_schedules_names_the_field():
    problems = validate_schedules(
        [window("0 9 * * *"), window("0 9 * * * *"), window("0 9 * * *", tz="Nowhere/X")]
    )
    assert len(problems) == 2
    assert problems[0].startswith("spec.scaling.schedules[1].cron:")
    assert problems[1].startswith("spec.scaling.schedules[2].timeZone:")


def test_evaluating_an_invalid_window_raises_naming_the_field():
    with pytest.raises(ScheduleError) as caught:
        evaluate_schedules([window("0 9 * * *"), window("99 9 * * *")], utc(2024, 5, 6, 12))
    assert caught.value.path == "spec.scaling.schedules[1].cron"
    assert "spec.scaling.schedules[1].cron" in str(caught.value)


def test_naive_now_is_refused():
    with pytest.raises(ValueError):
        window_state(window("0 9 * * *"), datetime(2024, 5, 6, 12))


# --- open / closed ---------------------------------------------------------------------------------
EXAM = window("0 9 * * *", duration=3 * 3600, minimum=8, name="exam")


@pytest.mark.parametrize(
    "now,active",
    [
        (utc(2024, 5, 6, 8, 59, 59), False),
        (utc(2024, 5, 6, 9, 0, 0), True),  # opens exactly at the fire
        (utc(2024, 5, 6, 11, 59, 59), True),
        (utc(2024, 5, 6, 12, 0, 0), False),  # closes exactly at fire + duration
    ],
)
def test_window_boundaries(now, active):
    assert window_state(EXAM, now).active is active


def test_open_window_reports_opening_closing_and_next_opening():
    state = window_state(EXAM, utc(2024, 5, 6, 10))
    assert state.opened_at == utc(2024, 5, 6, 9)
    assert state.closes_at == utc(2024, 5, 6, 12)
    assert state.next_opening == utc(2024, 5, 7, 9)
    assert state.label == "exam"


def test_prewarm_window_fires_before_the_exam():
    # Exam 09:00-12:00 on weekdays; the window opens at 08:30 so nodes are warm at 09:00.
    prewarm = window("30 8 * * 1-5", duration=int(3.5 * 3600), minimum=10, name="exam-prewarm")
    monday = date(2024, 5, 6)
    assert not window_state(prewarm, datetime.combine(monday, time(8, 29), UTC)).active
    assert window_state(prewarm, datetime.combine(monday, time(8, 30), UTC)).active
    assert window_state(prewarm, datetime.combine(monday, time(9, 0), UTC)).active
    assert window_state(prewarm, datetime.combine(monday, time(11, 59), UTC)).active
    assert not window_state(prewarm, datetime.combine(monday, time(12, 0), UTC)).active
    saturday = date(2024, 5, 11)
    assert not window_state(prewarm, datetime.combine(saturday, time(9), UTC)).active
    assert window_state(prewarm, datetime.combine(saturday, time(9), UTC)).next_opening == utc(
        2024, 5, 13, 8, 30
    )


def test_highest_floor_among_active_windows_wins():
    windows = [
        window("0 8 * * *", duration=6 * 3600, minimum=3, name="office"),
        window("0 9 * * *", duration=3600, minimum=12, name="exam"),
        window("0 9 * * *", duration=3600, minimum=12, name="exam-copy"),
        window("0 20 * * *", duration=3600, minimum=40, name="evening"),
    ]
    during_exam = evaluate_schedules(windows, utc(2024, 5, 6, 9, 30))
    assert during_exam.floor == 12
    assert during_exam.winner is not None and during_exam.winner.label == "exam"  # first listed on a tie
    assert {w.label for w in during_exam.active} == {"office", "exam", "exam-copy"}
    assert during_exam.next_change == utc(2024, 5, 6, 10, 0)  # the exam closes first
    after_exam = evaluate_schedules(windows, utc(2024, 5, 6, 10, 30))
    assert after_exam.floor == 3
    assert after_exam.next_opening == utc(2024, 5, 6, 20)
    night = evaluate_schedules(windows, utc(2024, 5, 6, 23))
    assert night.floor == 0 and night.winner is None
    assert night.next_opening == utc(2024, 5, 7, 8)


def test_unnamed_window_is_labelled_by_position():
    state = evaluate_schedules([window("0 9 * * *"), window("0 9 * * *", minimum=9)], utc(2024, 5, 6, 9, 5))
    assert state.winner is not None and state.winner.label == "schedules[1]"


def test_no_windows_means_no_floor_and_nothing_next():
    state = evaluate_schedules([], utc(2024, 5, 6))
    assert (state.floor, state.winner, state.next_opening, state.next_change) == (0, None, None, None)


# --- time zones and daylight saving ----------------------------------------------------------------
BERLIN_EXAM = window("0 9 * * 1-5", duration=3 * 3600, minimum=8, tz="Europe/Berlin")


def test_berlin_exam_opens_at_nine_local_on_both_sides_of_spring_forward():
    # Friday 29 March 2024: CET (UTC+1) → 08:00 UTC. Monday 1 April 2024: CEST (UTC+2) → 07:00 UTC.
    assert window_state(BERLIN_EXAM, utc(2024, 3, 29, 8, 0)).active
    assert not window_state(BERLIN_EXAM, utc(2024, 3, 29, 7, 30)).active
    assert window_state(BERLIN_EXAM, utc(2024, 4, 1, 7, 30)).active
    assert window_state(BERLIN_EXAM, utc(2024, 4, 1, 9, 59)).active
    assert not window_state(BERLIN_EXAM, utc(2024, 4, 1, 10, 0)).active
    # Seen from Friday afternoon, the next opening is Monday 09:00 CEST.
    assert window_state(BERLIN_EXAM, utc(2024, 3, 29, 14)).next_opening == utc(2024, 4, 1, 7)


def test_new_york_window_across_fall_back():
    daily = window("0 8 * * *", duration=3600, tz="America/New_York")
    # 2 Nov 2024 EDT (UTC-4) → 12:00 UTC; 4 Nov 2024 EST (UTC-5) → 13:00 UTC.
    assert window_state(daily, utc(2024, 11, 2, 12, 30)).active
    assert not window_state(daily, utc(2024, 11, 4, 12, 30)).active
    assert window_state(daily, utc(2024, 11, 4, 13, 30)).active


def test_duration_is_real_time_across_a_dst_change():
    # Opens Saturday 30 March 2024 23:00 CET (22:00 UTC) for 6 h; clocks jump 02:00 → 03:00 that
    # night, so it closes at 04:00 UTC = 06:00 CEST, not at 05:00 local wall-clock time.
    overnight = window("0 23 * * 6", duration=6 * 3600, tz="Europe/Berlin")
    state = window_state(overnight, utc(2024, 3, 31, 3, 59))
    assert state.active
    assert state.opened_at == utc(2024, 3, 30, 22)
    assert state.closes_at == utc(2024, 3, 31, 4)
    assert not window_state(overnight, utc(2024, 3, 31, 4)).active


DAILY_TZS = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney"]


@settings(max_examples=150, deadline=None)
@given(
    tz_name=st.sampled_from(DAILY_TZS),
    hour=st.integers(0, 23).filter(lambda h: h not in (1, 2, 3)),  # keep clear of DST gaps/folds
    minute=st.integers(0, 59),
    duration=st.integers(60, 20 * 3600),
    now=st.datetimes(
        min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
    ),
)
def test_daily_window_matches_local_wall_clock(tz_name, hour, minute, duration, now):
    """Oracle: the latest local HH:MM at or before now, converted with zoneinfo, open for duration."""
    tz = ZoneInfo(tz_name)
    local_today = now.astimezone(tz).date()
    fires = [
        datetime.combine(local_today + timedelta(days=d), time(hour, minute), tz).astimezone(UTC)
        for d in (-2, -1, 0, 1, 2)
    ]
    opened = max(f for f in fires if f <= now)
    upcoming = min(f for f in fires if f > now)
    state = window_state(window(f"{minute} {hour} * * *", duration=duration, tz=tz_name), now)
    assert state.opened_at == opened
    assert state.next_opening == upcoming
    assert state.active is (now < opened + timedelta(seconds=duration))


def test_window_whose_local_time_is_skipped_by_spring_forward_still_opens():
    # 02:30 does not exist in Berlin on 31 March 2024; the window must not silently skip that day.
    nightly = window("30 2 * * *", duration=3600, tz="Europe/Berlin")
    state = window_state(nightly, utc(2024, 3, 31, 1, 30))  # 03:30 CEST
    assert state.active
    assert state.opened_at is not None and utc(2024, 3, 31, 0, 30) <= state.opened_at <= utc(
        2024, 3, 31, 1, 30
    )
