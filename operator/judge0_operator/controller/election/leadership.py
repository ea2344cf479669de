"""What one replica knows of its leadership, behind one lock: the renewal thread
(``renewal.py``) keeps it current, the fence and the health server read it.

``Leadership.fence`` is the ``Fence`` (``aws/guarded.py``) every mutating AWS call and every
status write enters: Leases do not fence by themselves, so this narrows the window to what the
timings allow, and the crash-safety design (intents, client tokens, adoption) covers the rest.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from judge0_operator.aws.guarded import FencedError
from judge0_operator.controller.election.state_machine import LeaseElection

Clock = Callable[[], float]


class Leadership:
    """What the renewal thread knows, behind one lock, for the fence and the health server."""

    def __init__(self, election: LeaseElection, clock: Clock = time.monotonic) -> None:
        self.election = election
        self.clock = clock
        self.lock = threading.Lock()
        self.became_leader = threading.Event()
        self._acting = True
        self._in_flight = 0
        self._idle = threading.Condition(self.lock)

    @property
    def identity(self) -> str:
        return self.election.identity

    def may_act(self) -> bool:
        with self.lock:
            return self._acting and self.election.is_fresh(self.clock())

    @contextlib.contextmanager
    def fence(self, operation: str) -> Iterator[None]:
        """Around one mutating call: refuse it unless the lease is fresh; count it while in flight."""
        with self.lock:
            now = self.clock()
            if not self._acting or not self.election.is_fresh(now):
                renewed = self.election.renewed_at
                age = f"{now - renewed:.1f}s ago" if renewed is not None else "never"
                raise FencedError(
                    f"{operation} not sent: {self.identity} may not act "
                    f"(role {self.election.role.value}, last renewal confirmed {age})"
                )
            self._in_flight += 1
        try:
            yield
        finally:
            with self.lock:
                self._in_flight -= 1
                self._idle.notify_all()

    def stop_acting(self) -> None:
        """From now on every fenced call is refused (shutdown)."""
        with self.lock:
            self._acting = False

    def wait_idle(self, timeout: float) -> bool:
        """Until no fenced call is in flight (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
            return True

    def view(self) -> dict[str, Any]:
        with self.lock:
            return {
                "identity": self.identity,
                "role": self.election.role.value,
                "holder": self.election.holder,
                "fresh": self.election.is_fresh(self.clock()),
                "acting": self._acting,
            }
