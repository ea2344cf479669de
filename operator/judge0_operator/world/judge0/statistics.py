"""What Postgres would answer ``/statistics`` with: per-node counters (submissions themselves are
forgotten) and the payload built from them, grown by what ``disk-filling`` put in the database."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from judge0_operator.world.aws.disk import BASE_PERCENT, DISK_BYTES
from judge0_operator.world.judge0.availability import fault_number
from judge0_operator.world.judge0.catalog import IN_QUEUE, LANGUAGES, STATUSES

STATISTICS_CACHE_SECONDS = 600.0


@dataclass(slots=True)
class Statistics:
    """What Postgres would answer ``/statistics`` with, kept as counters (submissions are forgotten)."""

    total: int = 0
    by_language: Counter[int] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    by_day: Counter[date] = field(default_factory=Counter)
    cached: dict[str, Any] | None = None
    cached_at: float = 0.0

    def created(self, language_id: int) -> None:
        self.total += 1
        self.by_language[language_id] += 1
        self.by_status[IN_QUEUE] += 1
        today = datetime.now(UTC).date()
        self.by_day[today] += 1
        if len(self.by_day) > 40:
            for day in [d for d in self.by_day if d < today - timedelta(days=31)]:
                del self.by_day[day]

    def moved(self, old: int, new: int) -> None:
        self.by_status[old] -= 1
        self.by_status[new] += 1


def disk_database_bytes(faults: Mapping[str, Mapping[str, Any]]) -> int:
    """``disk-filling``: what of the filled volume is Postgres (all of it but the dangling images)."""
    params = faults.get("disk-filling")
    if params is None:
        return 0
    used = fault_number(params, "usedPercent", BASE_PERCENT)
    share = used - BASE_PERCENT - fault_number(params, "danglingImagesPercent", 0)
    return max(0, int(DISK_BYTES * share / 100))


def statistics_payload(stats: Statistics, extra_bytes: int = 0) -> dict[str, Any]:
    """``InfoController#statistics`` shape, from the node's counters."""
    now = datetime.now(UTC)
    today = now.date()
    days = [today - timedelta(days=offset) for offset in range(1, 31)]
    last_30_days = {day.isoformat(): stats.by_day.get(day, 0) for day in days}
    languages = [{"language": {"id": lid, "name": LANGUAGES[lid].name if lid in LANGUAGES else None},
                  "count": n} for lid, n in stats.by_language.most_common() if n > 0]
    statuses = [{"status": {"id": sid, "name": STATUSES[sid]}, "count": n}
                for sid, n in stats.by_status.most_common() if n > 0]
    size = 8_400_000 + 2_048 * stats.total + extra_bytes
    until = now + timedelta(seconds=STATISTICS_CACHE_SECONDS)
    return {
        "created_at": now.isoformat(timespec="milliseconds"),
        "cached_until": until.isoformat(timespec="milliseconds"),
        "submissions": {"total": stats.total, "today": stats.by_day.get(today, 0),
                        "last_30_days": last_30_days},
        "languages": languages,
        "statuses": statuses,
        "database": {"size_pretty": f"{size // 1024} kB", "size_in_bytes": size},
    }
