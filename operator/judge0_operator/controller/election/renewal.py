"""The renewal thread of ``--leader-election``: drives the pure ``LeaseElection`` with short,
timed-out Lease requests, on a thread of its own so a busy or blocked event loop cannot starve it.
When leadership is lost (no renewal confirmed within the renew deadline, or another holder) it
exits the process *at once* (``os._exit``): nothing winds down past the point where a standby may
take over."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Protocol

from judge0_operator import metrics
from judge0_operator.controller.election.leadership import Leadership
from judge0_operator.controller.election.state_machine import Done, LeaseRecord, Lost, Read, Sleep, Write

log = logging.getLogger(__name__)


class LeaseApiLike(Protocol):
    def get(self, timeout: float) -> LeaseRecord | None: ...

    def write(self, step: Write, timeout: float) -> LeaseRecord: ...


def exit_now(code: int) -> None:
    """Flush the logs and leave without unwinding anything (no handler may run after this)."""
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _exit_on_lost(reason: str) -> None:
    exit_now(1)


class LeaseRunner(threading.Thread):
    """The renewal thread: runs the election's steps until it is lost, released or stopped."""

    def __init__(
        self,
        leadership: Leadership,
        api: LeaseApiLike,
        *,
        lease_ref: str = "",
        on_lost: Callable[[str], None] = _exit_on_lost,
    ) -> None:
        super().__init__(name="lease-renewal", daemon=True)
        self.leadership = leadership
        self.api = api
        self.lease_ref = lease_ref
        self.on_lost = on_lost
        self._wake = threading.Event()
        self._seen_holder: str | None = None

    def release(self) -> None:
        """Release the Lease if held (else just stop); returns at once, ``join`` to wait."""
        with self.leadership.lock:
            self.leadership.election.request_release()
        self._wake.set()

    def run(self) -> None:
        try:
            self._run()
        except Exception as error:  # a bug here must not leave a leader acting without renewals
            log.exception("leader election: the renewal thread failed")
            self._lost(f"the renewal thread failed: {_brief(error)}")

    def _run(self) -> None:
        leadership, election, clock = self.leadership, self.leadership.election, self.leadership.clock
        while True:
            with leadership.lock:
                now = clock()
                step = election.next_step(now)
                timeout = election.request_timeout(now)
            if isinstance(step, Sleep):
                self._wake.wait(step.seconds)
                self._wake.clear()
            elif isinstance(step, Read):
                self._read(step, timeout)
            elif isinstance(step, Write):
                self._write(step, timeout)
            elif isinstance(step, Lost):
                self._lost(step.reason)
                return
            elif isinstance(step, Done):
                return

    def _read(self, step: Read, timeout: float) -> None:
        election = self.leadership.election
        try:
            record = self.api.get(timeout)
        except Exception as error:
            log.warning("leader election: reading the lease %s failed: %s", self.lease_ref, _brief(error))
            with self.leadership.lock:
                election.failed(step, self.leadership.clock())
            return
        with self.leadership.lock:
            election.observed(record, self.leadership.clock())
        self._note_holder(record.holder if record else "")

    def _write(self, step: Write, timeout: float) -> None:
        from judge0_operator.controller.election.lease_api import LeaseConflict

        election = self.leadership.election
        sent_at = self.leadership.clock()
        try:
            record = self.api.write(step, timeout)
        except LeaseConflict:
            log.info("leader election: %s of %s lost a race (409); reading again", step.purpose, self.lease_ref)
            with self.leadership.lock:
                election.conflict(step, self.leadership.clock())
            if step.purpose == "release":
                self._stepped_down("released (conflict: someone else wrote first)")
            return
        except Exception as error:
            log.warning("leader election: %s of %s failed: %s", step.purpose, self.lease_ref, _brief(error))
            with self.leadership.lock:
                election.failed(step, self.leadership.clock())
            if step.purpose == "release":
                self._stepped_down("stopped without releasing (it expires on its own)")
            return
        with self.leadership.lock:
            happened = election.written(step, record, sent_at)
        if happened == "acquired":
            metrics.LEADER.set(1)
            metrics.LEADERSHIP_CHANGES.inc()
            log.warning(
                "leader election: %s acquired the lease %s (transition %d): acting from now on",
                self.leadership.identity,
                self.lease_ref,
                record.transitions,
            )
            self._seen_holder = record.holder
            self.leadership.became_leader.set()
        elif happened == "released":
            self._stepped_down("released the lease")
        else:
            log.debug("leader election: renewed %s", self.lease_ref)

    def _stepped_down(self, how: str) -> None:
        metrics.LEADER.set(0)
        metrics.LEADERSHIP_CHANGES.inc()
        log.warning("leader election: %s %s", self.leadership.identity, how)

    def _lost(self, reason: str) -> None:
        metrics.LEADER.set(0)
        metrics.LEADERSHIP_CHANGES.inc()
        log.critical(
            "leader election: %s lost the lease %s: %s; exiting now", self.leadership.identity, self.lease_ref, reason
        )
        self.on_lost(reason)

    def _note_holder(self, holder: str) -> None:
        if holder != self._seen_holder:
            log.info("leader election: the lease %s is held by %s", self.lease_ref, holder or "nobody")
            self._seen_holder = holder


def _brief(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]
