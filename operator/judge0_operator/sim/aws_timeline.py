"""The world's clock: scaled durations and a queue of things due later.

Every delay in the world is given in *world seconds* and divided by ``speed``. Due actions run
when someone advances the timeline — the world's ticker and, before each request, the AWS front
and the control API — so a request never sees a transition that is already overdue.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Timeline:
    """A min-heap of (due, callback); not thread-safe on its own (the EC2 model's lock guards it)."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    @staticmethod
    def now() -> float:
        return time.monotonic()

    def scaled(self, world_seconds: float) -> float:
        """Real seconds for a duration given in world seconds."""
        return world_seconds / self.speed

    def after(self, world_seconds: float, callback: Callable[[], None]) -> float:
        """Run ``callback`` once ``world_seconds`` (scaled) have passed; returns the due time."""
        due = self.now() + self.scaled(world_seconds)
        heapq.heappush(self._heap, (due, next(self._seq), callback))
        return due

    def advance(self, now: float | None = None) -> int:
        """Run every callback that is due (callbacks may schedule more); returns how many ran."""
        now = self.now() if now is None else now
        ran = 0
        while self._heap and self._heap[0][0] <= now:
            _, _, callback = heapq.heappop(self._heap)
            callback()
            ran += 1
        return ran

    def clear(self) -> None:
        self._heap.clear()

    def __len__(self) -> int:
        return len(self._heap)


def wall(mono: float) -> datetime:
    """The UTC wall-clock time of a monotonic instant (for timestamps shown through the APIs)."""
    return datetime.now(UTC) + timedelta(seconds=mono - time.monotonic())


def iso(dt: datetime) -> str:
    """EC2's timestamp format: ISO 8601 with milliseconds and a Z."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
