"""Schedule windows (exams, office hours): which are open at ``now`` and when the next one opens.

A window opens at each fire of its cron expression, read in the window's ``timeZone``, and stays
open ``durationSeconds``. Durations are added in UTC, so a window that spans a daylight-saving
change lasts exactly as long as it says. A window "pre-warms" simply by firing before the exam.
Pure: ``now`` is an argument; croniter does the cron arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from judge0_operator.api.scaling import ScheduleWindow

SCHEDULES_PATH = "spec.scaling.schedules"
_CRON_FIELDS = 5
_VALIDATION_REFERENCE = datetime(2000, 1, 1, tzinfo=UTC)  # fixed, so validation is pure
_JUST_AFTER = timedelta(microseconds=1)  # croniter's get_prev is strict; this makes it "≤ now"


class ScheduleError(ValueError):
    """A schedule window that cannot be evaluated; ``path`` names the offending field."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def validate_cron(expr: str) -> str | None:
    """Why ``expr`` is not a usable 5-field cron expression, or None when it is."""
    fields = expr.split()
    if len(fields) != _CRON_FIELDS:
        return f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}: {expr!r}"
    try:
        croniter(expr, _VALIDATION_REFERENCE).get_next(datetime)
    except CroniterError as error:  # bad syntax, out-of-range values, or a date that never occurs
        return f"invalid cron expression {expr!r}: {error}"
    return None


def validate_time_zone(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone, or None when it is."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown IANA time zone {name!r}"
    return None


def validate_schedules(windows: Sequence[ScheduleWindow]) -> list[str]:
    """Every problem with ``windows``, each prefixed with the field path (for a condition or Event)."""
    problems = []
    for index, window in enumerate(windows):
        if (problem := validate_cron(window.cron)) is not None:
            problems.append(f"{SCHEDULES_PATH}[{index}].cron: {problem}")
        if (problem := validate_time_zone(window.time_zone)) is not None:
            problems.append(f"{SCHEDULES_PATH}[{index}].timeZone: {problem}")
    return problems


def window_label(window: ScheduleWindow, index: int) -> str:
    """How status and Events name a window: its name, or its place in the list."""
    return window.name or f"schedules[{index}]"


@dataclass(frozen=True)
class WindowState:
    """One window evaluated at a moment. All datetimes are UTC."""

    index: int
    label: str
    min_replicas: int
    active: bool
    opened_at: datetime | None  # the latest opening ≤ now (None: the cron never fired before now)
    closes_at: datetime | None  # opened_at + duration
    next_opening: datetime | None  # the first opening strictly after now


@dataclass(frozen=True)
class ScheduleState:
    """All windows at a moment: the floor they impose and when that can next change."""

    windows: tuple[WindowState, ...] = ()

    @property
    def active(self) -> tuple[WindowState, ...]:
        return tuple(w for w in self.windows if w.active)

    @property
    def winner(self) -> WindowState | None:
        """The active window with the highest minReplicas (the first listed on a tie)."""
        active = self.active
        return max(active, key=lambda w: (w.min_replicas, -w.index)) if active else None

    @property
    def floor(self) -> int:
        winner = self.winner
        return winner.min_replicas if winner else 0

    @property
    def next_opening(self) -> datetime | None:
        return min((w.next_opening for w in self.windows if w.next_opening), default=None)

    @property
    def next_change(self) -> datetime | None:
        """The earliest opening or closing after now: the floor cannot change before then."""
        closings = (w.closes_at for w in self.active if w.closes_at)
        openings = (w.next_opening for w in self.windows if w.next_opening)
        return min([*closings, *openings], default=None)


def _require_aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(UTC)


def _zone(window: ScheduleWindow, index: int) -> ZoneInfo:
    if (problem := validate_time_zone(window.time_zone)) is not None:
        raise ScheduleError(f"{SCHEDULES_PATH}[{index}].timeZone", problem)
    return ZoneInfo(window.time_zone)


def _fire(window: ScheduleWindow, index: int, start: datetime, *, forward: bool) -> datetime | None:
    """The cron fire after (``forward``) or before ``start``, in UTC; None if there is none."""
    if (problem := validate_cron(window.cron)) is not None:
        raise ScheduleError(f"{SCHEDULES_PATH}[{index}].cron", problem)
    local_start = start.astimezone(_zone(window, index))
    try:
        it = croniter(window.cron, local_start)
        fire = it.get_next(datetime) if forward else it.get_prev(datetime)
    except CroniterError:  # valid syntax, but no such date within croniter's search horizon
        return None
    return fire.astimezone(UTC)


def window_state(window: ScheduleWindow, now: datetime, *, index: int = 0) -> WindowState:
    """Evaluate one window at ``now``. Raises ScheduleError naming the field if it is invalid."""
    now = _require_aware(now)
    opened_at = _fire(window, index, now + _JUST_AFTER, forward=False)
    closes_at = opened_at + timedelta(seconds=window.duration_seconds) if opened_at else None
    return WindowState(
        index=index,
        label=window_label(window, index),
        min_replicas=window.min_replicas,
        active=closes_at is not None and now < closes_at,
        opened_at=opened_at,
        closes_at=closes_at,
        next_opening=_fire(window, index, now, forward=True),
    )


def evaluate_schedules(windows: Sequence[ScheduleWindow], now: datetime) -> ScheduleState:
    """Evaluate every window at ``now`` (tz-aware). Raises ScheduleError on an invalid window."""
    return ScheduleState(tuple(window_state(w, now, index=i) for i, w in enumerate(windows)))
