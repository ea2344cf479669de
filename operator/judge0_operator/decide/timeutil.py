"""RFC 3339 times for status fields, and small helpers for deadlines.

Status stores whole seconds in UTC (``2026-11-23T19:04:55Z``), as ``metav1.Time`` does. Writing
truncates, so a stored deadline is never later than the one computed: a check is at most a
second early, never late.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """``2026-11-23T19:04:55Z``: UTC, whole seconds (truncated)."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    """Parse an RFC 3339 time (fractional seconds and offsets accepted); None for None or garbage."""
    if not text:
        return None
    try:
        return utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def after(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(seconds=seconds)


def seconds_since(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else (now - moment).total_seconds()


def earliest_after(now: datetime, moments: Iterable[datetime | None]) -> datetime | None:
    """The earliest of ``moments`` strictly after ``now`` (past deadlines were handled this pass)."""
    return min((m for m in moments if m is not None and m > now), default=None)
