"""What the live view shows: the latest sample, the phase, and a timeline of what happened.

The runner writes, the view reads; both run on one event loop, so no locking is needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from judge0_operator.simulate.samples import Sample

Level = Literal["info", "good", "warn", "bad"]


@dataclass(frozen=True)
class TimelineEntry:
    t: float  # epoch seconds
    kind: str  # phase, fault, clear, healed, action, condition, health, event, note
    text: str
    level: Level = "info"


@dataclass
class SimState:
    scenario: str
    speed: float
    started: float = field(default_factory=time.time)
    origin: float | None = None  # when the scenario clock started (fleet Ready)
    scenario_clock: float = 0.0
    phase: str = "starting"
    latest: Sample | None = None
    timeline: list[TimelineEntry] = field(default_factory=list)
    listeners: list[Callable[[TimelineEntry], None]] = field(default_factory=list)

    def add(self, kind: str, text: str, level: Level = "info", t: float | None = None) -> TimelineEntry:
        entry = TimelineEntry(time.time() if t is None else t, kind, text, level)
        self.timeline.append(entry)
        for listener in self.listeners:
            listener(entry)
        return entry

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self.add("phase", phase)

    def elapsed(self, t: float | None = None) -> float:
        """Seconds since the scenario started (or since launch, before that)."""
        now = time.time() if t is None else t
        return now - (self.origin if self.origin is not None else self.started)
