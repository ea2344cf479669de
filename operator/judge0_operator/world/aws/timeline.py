"""The world's clock: scaled durations, a queue of things due later, and a clock you can hold.

Every delay in the world is given in *world seconds* and divided by ``speed``. Due actions run
when someone advances the timeline — the world's ticker and, before each request, the AWS front
and the control API — so a request never sees a transition that is already overdue.

The clock follows ``time.monotonic`` until frozen; a frozen clock moves only by ``step``, which
lets tests and scenarios walk through transitions exactly instead of racing real time.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Timeline:
    """A min-heap of (due, callback) on the world's clock; guarded by the EC2 model's lock."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._offset = 0.0
        self._frozen_at: float | None = None
        self._cursor: float | None = None  # while due callbacks run: the instant they were due
        self._epoch = time.time() - time.monotonic()  # world instant → Unix time

    # ---- the clock ------------------------------------------------------------------------------
    def now(self) -> float:
        if self._cursor is not None:
            return self._cursor
        return self._frozen_at if self._frozen_at is not None else time.monotonic() + self._offset

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def freeze(self) -> None:
        """Stop the world's clock where it is (real time passes, world time does not)."""
        if self._frozen_at is None:
            self._frozen_at = self.now()

    def resume(self) -> None:
        """Let the clock run again from where it stands."""
        if self._frozen_at is not None:
            self._offset = self._frozen_at - time.monotonic()
            self._frozen_at = None

    def step(self, world_seconds: float) -> None:
        """Move the clock forward by ``world_seconds`` (scaled); due actions run on the next advance."""
        if world_seconds < 0:
            raise ValueError("the clock only moves forward")
        if self._frozen_at is not None:
            self._frozen_at += self.scaled(world_seconds)
        else:
            self._offset += self.scaled(world_seconds)

    def scaled(self, world_seconds: float) -> float:
        """Real seconds for a duration given in world seconds."""
        return world_seconds / self.speed

    def wall(self, instant: float) -> datetime:
        """The UTC date-time of a world instant (for timestamps shown through the APIs)."""
        return datetime.fromtimestamp(self._epoch, UTC) + timedelta(seconds=instant)

    # ---- the queue ------------------------------------------------------------------------------
    def after(self, world_seconds: float, callback: Callable[[], None]) -> float:
        """Run ``callback`` once ``world_seconds`` (scaled) have passed; returns the due instant."""
        due = self.now() + self.scaled(world_seconds)
        heapq.heappush(self._heap, (due, next(self._seq), callback))
        return due

    def advance(self) -> int:
        """Run every callback that is due, in order, each seeing ``now()`` as the instant it was due
        (so a clock stepped past several steps plays them out as if time had flowed); returns how
        many ran. Callbacks may schedule more."""
        until = self.now()
        ran = 0
        try:
            while self._heap and self._heap[0][0] <= until:
                due, _, callback = heapq.heappop(self._heap)
                self._cursor = due
                callback()
                ran += 1
        finally:
            self._cursor = None
        return ran

    def clear(self) -> None:
        self._heap.clear()

    def __len__(self) -> int:
        return len(self._heap)


def iso(dt: datetime) -> str:
    """EC2's timestamp format: ISO 8601 with milliseconds and a Z."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
