"""Leader election on a ``coordination.k8s.io/v1`` Lease, as a pure state machine.

No I/O and no clock of its own: the renewal thread (``renewal.py``) asks ``next_step(now)``
what to do, does it (a GET, a create or an update carrying the observed ``resourceVersion``,
so the API server's optimistic concurrency decides every race), and reports back. ``now`` is
a monotonic clock: wall-clock time (``renewTime``) is written for people and never compared.

The rules are client-go's (controller-runtime, Cluster API and Karpenter use them):

- a standby takes the Lease when it is free (no holder, e.g. released on shutdown) or when its
  record has not changed for ``leaseDurationSeconds`` *as timed by the standby itself* from the
  moment it saw that record — clocks of different machines are never compared;
- the leader renews every ``retry_period``; a leader that has not had a renewal confirmed
  within ``renew_deadline`` of the last confirmed one is lost, and must stop acting at once.
  Because ``renew_deadline < lease_duration``, a leader that keeps that rule has stopped before
  any standby can consider the Lease expired (the margin absorbs request latency and clock rate);
- ``is_fresh(now)`` is what a caller checks before every mutating cloud call.

What the client-go implementation and the Python client's ``leaderelection`` module get wrong
and this one does not: renewal times come from a monotonic clock, a lost leader is reported
(the caller exits the process; nothing keeps running), and shutdown releases the Lease.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class Timings:
    """controller-runtime's defaults: lease 15 s, renew deadline 10 s, retry 2 s."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError(
                "leader election needs lease duration > renew deadline > retry period > 0, got "
                f"{self.lease_duration:g} / {self.renew_deadline:g} / {self.retry_period:g} s"
            )

    @property
    def lease_duration_seconds(self) -> int:
        """What goes into ``spec.leaseDurationSeconds`` (an integer; rounded up, never shorter)."""
        return max(1, math.ceil(self.lease_duration))

    @property
    def request_timeout(self) -> float:
        """Each Lease request gives up before the next retry is due."""
        return self.retry_period * 0.8


@dataclass(frozen=True)
class LeaseRecord:
    """The parts of a Lease the election reads (``holder`` is "" when nobody holds it)."""

    resource_version: str
    holder: str = ""
    lease_duration_seconds: int | None = None
    transitions: int = 0
    acquire_time: str | None = None
    renew_time: str | None = None


class Role(Enum):
    STANDBY = "standby"
    LEADING = "leading"
    STOPPED = "stopped"  # lost, released or stopped before leading: the runner ends


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Read:
    """GET the Lease; report ``observed(record or None for 404, now)``."""


@dataclass(frozen=True)
class Write:
    """Create (``resource_version`` None) or update the Lease with these spec values.

    ``keep_acquire_time`` is True for a renewal (``acquireTime`` stays what it was); the writer
    fills ``acquireTime``/``renewTime`` with the wall clock. Report ``written``/``conflict``/``failed``.
    """

    purpose: str  # "acquire" | "renew" | "release"
    resource_version: str | None
    holder: str
    lease_duration_seconds: int
    transitions: int
    keep_acquire_time: bool
    acquire_time: str | None = None  # the current one, kept by a renewal


@dataclass(frozen=True)
class Lost:
    """Leadership is gone: stop acting now (exit the process)."""

    reason: str


@dataclass(frozen=True)
class Done:
    """Stopped (released, or asked to stop before ever leading)."""


Step = Sleep | Read | Write | Lost | Done


class LeaseElection:
    """One replica's view of the election. Not thread-safe: the runner serialises access."""

    def __init__(self, identity: str, timings: Timings | None = None) -> None:
        if not identity:
            raise ValueError("the election needs a non-empty identity")
        self.identity = identity
        self.timings = timings or Timings()
        self.role = Role.STANDBY
        self.record: LeaseRecord | None = None  # the last version seen or written
        self.missing = False  # the last read answered 404
        self.renewed_at: float | None = None  # when the last confirmed write was *sent* (leading)
        self._observed_at: float | None = None  # when ``record`` was first seen in its current version
        self._need_read = True  # decide on a fresh read (standby: every cycle; leader: after a 409)
        self._next_at = 0.0
        self._release_requested = False
        self._lost_reason = ""

    # --- questions ------------------------------------------------------------------------------
    @property
    def holder(self) -> str:
        return self.record.holder if self.record is not None else ""

    def is_fresh(self, now: float) -> bool:
        """Leading, with a renewal confirmed within the renew deadline: safe to act."""
        return (
            self.role is Role.LEADING
            and self.renewed_at is not None
            and now - self.renewed_at < self.timings.renew_deadline
        )

    def deadline(self) -> float | None:
        """When a leader that hears nothing more must stop (None unless leading)."""
        if self.role is not Role.LEADING or self.renewed_at is None:
            return None
        return self.renewed_at + self.timings.renew_deadline

    def request_timeout(self, now: float) -> float:
        """Shorter than the retry period, and for a leader never past its deadline."""
        timeout = self.timings.request_timeout
        deadline = self.deadline()
        if deadline is not None:
            timeout = min(timeout, deadline - now)
        return max(timeout, 0.05)

    def expired(self, now: float) -> bool:
        """The observed record is free, ours, or unchanged for its lease duration."""
        record = self.record
        if record is None:
            return False
        if record.holder in ("", self.identity):
            return True
        return now >= self._expires_at()

    # --- the next step --------------------------------------------------------------------------
    def next_step(self, now: float) -> Step:
        if self.role is Role.STOPPED:
            return Lost(self._lost_reason) if self._lost_reason else Done()
        if self.role is Role.LEADING:
            return self._leading_step(now)
        return self._standby_step(now)

    def _leading_step(self, now: float) -> Step:
        deadline = self.deadline()
        assert deadline is not None and self.record is not None
        if now >= deadline:
            return self._lose(f"no renewal confirmed within the renew deadline ({self.timings.renew_deadline:g}s)")
        if self._release_requested:
            return self._write("release", now)
        if now < self._next_at:
            return Sleep(min(self._next_at, deadline) - now)
        if self._need_read:
            return Read()  # after a conflict: who holds it now?
        if self.missing:
            return self._write("acquire", now)  # someone deleted it: create it again (races end in 409)
        if self.record.holder != self.identity:
            return self._lose(f"the lease is held by {self.record.holder or 'nobody'} now")
        return self._write("renew", now)

    def _standby_step(self, now: float) -> Step:
        if self._release_requested:
            self.role = Role.STOPPED
            return Done()
        if now < self._next_at:
            return Sleep(self._next_at - now)
        if self._need_read:
            return Read()
        self._need_read = True  # the next cycle looks again
        if self.missing or self.expired(now):
            return self._write("acquire", now)
        # Look again after a retry period, or right when the lease would expire if that is sooner:
        # a crashed leader is then replaced within lease duration + retry period of its last renewal.
        wait = min(self.timings.retry_period, max(self._expires_at() - now, 0.0))
        self._next_at = now + wait
        return Sleep(wait)

    def _expires_at(self) -> float:
        record = self.record
        if record is None or self._observed_at is None:
            return float("inf")
        return self._observed_at + (record.lease_duration_seconds or self.timings.lease_duration)

    def _write(self, purpose: str, now: float) -> Write:
        record = self.record
        if purpose == "release":
            assert record is not None
            return Write(
                purpose,
                record.resource_version,
                holder="",
                lease_duration_seconds=1,  # as client-go: a released lease is free at once
                transitions=record.transitions,
                keep_acquire_time=False,
            )
        if purpose == "renew":
            assert record is not None
            return Write(
                purpose,
                record.resource_version,
                holder=self.identity,
                lease_duration_seconds=self.timings.lease_duration_seconds,
                transitions=record.transitions,
                keep_acquire_time=True,
                acquire_time=record.acquire_time,
            )
        if self.missing or record is None:
            return Write(
                purpose,
                None,
                holder=self.identity,
                lease_duration_seconds=self.timings.lease_duration_seconds,
                transitions=0,
                keep_acquire_time=False,
            )
        changed = record.holder != self.identity
        return Write(
            purpose,
            record.resource_version,
            holder=self.identity,
            lease_duration_seconds=self.timings.lease_duration_seconds,
            transitions=record.transitions + (1 if changed else 0),
            keep_acquire_time=not changed,
            acquire_time=record.acquire_time,
        )

    def _lose(self, reason: str) -> Lost:
        self.role = Role.STOPPED
        self._lost_reason = reason
        return Lost(reason)

    # --- outcomes -------------------------------------------------------------------------------
    def observed(self, record: LeaseRecord | None, now: float) -> None:
        """A GET came back (None: 404)."""
        self._need_read = False
        if record is None:
            self.missing = True
            return
        self.missing = False
        if self.record is None or record.resource_version != self.record.resource_version:
            self._observed_at = now
        self.record = record

    def written(self, step: Write, record: LeaseRecord, sent_at: float) -> str:
        """The write succeeded (``sent_at``: when it was sent). Returns what happened:
        ``acquired``, ``renewed`` or ``released``."""
        self.record = record
        self.missing = False
        self._observed_at = sent_at
        self._need_read = False
        if step.purpose == "release":
            self.role = Role.STOPPED
            self.renewed_at = None
            return "released"
        was_leading = self.role is Role.LEADING
        self.role = Role.LEADING
        self.renewed_at = sent_at
        self._next_at = sent_at + self.timings.retry_period
        return "renewed" if was_leading else "acquired"

    def conflict(self, step: Write, now: float) -> None:
        """409: someone wrote first (or created it first). Read again at once."""
        if step.purpose == "release":
            self._stop_after_release()
            return
        self._need_read = True
        self._next_at = now

    def failed(self, step: Step, now: float) -> None:
        """A request failed or timed out: retry after the retry period (a leader: until its deadline)."""
        if isinstance(step, Write) and step.purpose == "release":
            self._stop_after_release()
            return
        self._need_read = self.role is not Role.LEADING  # a leader retries its renewal as it was
        self._next_at = now + self.timings.retry_period

    def request_release(self) -> None:
        """Shutting down: a leader releases the Lease at its next step; a standby just stops."""
        self._release_requested = True

    def _stop_after_release(self) -> None:
        """The release could not be written: stop anyway (the Lease expires on its own)."""
        self.role = Role.STOPPED
        self.renewed_at = None
