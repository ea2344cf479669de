"""Crash points: "kill the operator right after the Nth call of this kind", done by the world.

A crash-safety sweep needs the operator to die at an exact moment — after a cloud call was
processed but before its answer reached the operator, or after a status write was committed —
and that moment is known only to the server side. So the world does it: ``arm`` a trigger
naming a *point*, a count and the operator's process id; the AWS front and the Kubernetes
emulator call ``hit`` after each successful call; on the Nth hit since arming the world sends the
signal (SIGKILL by default) before the answer is written.

Points: an AWS action (``RunInstances``, ``TerminateInstances``, ``SendCommand``, …: counted when
answered 2xx) or ``kube:<resource>[/<subresource>]`` for successful Kubernetes writes (POST, PUT,
PATCH, DELETE), e.g. ``kube:judge0fleets/status``. Only a child process of the world's own
process may be signalled (the world never kills a stranger).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judge0_operator.world.faults.errors import FaultError

SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "STOP": signal.SIGSTOP}


def parent_of(pid: int) -> int | None:
    """The parent pid of ``pid`` from /proc, or None if it is not running."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1])


@dataclass
class Trigger:
    id: str
    point: str
    nth: int
    pid: int
    signal: str = "KILL"
    hits: int = 0
    fired_at: float | None = None  # time.time() of the kill
    armed_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "point": self.point,
            "nth": self.nth,
            "pid": self.pid,
            "signal": self.signal,
            "hits": self.hits,
            "fired": self.fired_at is not None,
            "firedAt": self.fired_at,
        }


class CrashTriggers:
    """Armed triggers and per-point hit counts; safe to call from moto's threads and the loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._armed: dict[str, Trigger] = {}
        self._fired: list[Trigger] = []
        self.counts: dict[str, int] = {}  # every point ever hit (since reset), armed or not

    def arm(self, point: str, nth: int, pid: int, signal_name: str = "KILL") -> Trigger:
        if not point or not isinstance(point, str):
            raise FaultError("'point' is required: an AWS action or kube:<resource>[/<subresource>]")
        if isinstance(nth, bool) or not isinstance(nth, int) or nth < 1:
            raise FaultError("'nth' must be a positive integer")
        if signal_name not in SIGNALS:
            raise FaultError(f"'signal' must be one of {', '.join(SIGNALS)}")
        if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 1:
            raise FaultError("'pid' must be a process id")
        if parent_of(pid) != os.getpid():
            raise FaultError(f"pid {pid} is not a child of the world's process: the world kills only its own")
        with self._lock:
            trigger = Trigger(f"c-{next(self._ids):05d}", point, nth, pid, signal_name)
            self._armed[trigger.id] = trigger
            return trigger

    def disarm(self, trigger_id: str | None = None) -> int:
        with self._lock:
            if trigger_id is None:
                count = len(self._armed)
                self._armed.clear()
                return count
            return 1 if self._armed.pop(trigger_id, None) is not None else 0

    def hit(self, point: str) -> Trigger | None:
        """Count one successful call at ``point``; fire (and return) a trigger that reaches its count."""
        with self._lock:
            self.counts[point] = self.counts.get(point, 0) + 1
            fired = None
            for trigger in list(self._armed.values()):
                if trigger.point != point:
                    continue
                trigger.hits += 1
                if trigger.hits >= trigger.nth:
                    del self._armed[trigger.id]
                    trigger.fired_at = time.time()
                    self._fired.append(trigger)
                    fired = trigger
        if fired is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(fired.pid, SIGNALS[fired.signal])
        return fired

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "armed": [t.to_dict() for t in self._armed.values()],
                "fired": [t.to_dict() for t in self._fired],
                "counts": dict(self.counts),
            }

    def reset(self) -> None:
        with self._lock:
            self._armed.clear()
            self._fired.clear()
            self.counts.clear()
