"""A small circuit breaker per (region, operation): a broken API must not become a call storm.

Closed: calls flow. After ``failure_threshold`` consecutive failures that show the API itself
struggling (throttling, 5xx, connection errors, timeouts) it opens: calls are refused without
touching AWS. After ``cooldown_seconds`` it is half-open: one trial call goes through; success
closes it, failure opens it for another cool-down. Terminal, capacity and other 4xx answers
prove the API answers, so they count as success here.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from judge0_operator.aws.errors import ErrorKind

Clock = Callable[[], float]


class CircuitState(enum.IntEnum):
    """Values double as the metric: 0 closed, 1 half-open, 2 open."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


def trips_circuit(kind: ErrorKind, http_status: int | None = None) -> bool:
    """Does this failure show the API struggling? Throttling, 5xx and no answer at all do."""
    if kind == "throttled":
        return True
    return kind == "transient" and (http_status is None or http_status >= 500)


class CircuitBreaker:
    """One breaker. Used from the event loop only, so it needs no locks."""

    def __init__(
        self, *, failure_threshold: int = 5, cooldown_seconds: float = 30.0, clock: Clock = time.monotonic
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        self.last_error: str | None = None

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._clock() - self._opened_at >= self.cooldown_seconds:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_after(self) -> float:
        """Seconds until the breaker lets a trial call through (0 when it would now)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown_seconds - self._clock())

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one trial call at a time."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.OPEN or self._trial_in_flight:
            return False
        self._trial_in_flight = True
        return True

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False
        self.last_error = None

    def record_failure(self, kind: ErrorKind, message: str = "", *, http_status: int | None = None) -> None:
        """Record a failed call; only failures that ``trips_circuit`` can open the breaker."""
        if not trips_circuit(kind, http_status):
            self.record_success()
            return
        self.last_error = message or kind
        was_trial = self._trial_in_flight
        self._trial_in_flight = False
        self._failures += 1
        if was_trial or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()

    def release(self) -> None:
        """A granted call ended without a verdict (cancelled): let another trial through."""
        self._trial_in_flight = False


class CircuitBreakers:
    """The breakers of one operator process, one per (region, operation), created on first use."""

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        cooldown_seconds: float = 30.0,
        clock: Clock = time.monotonic,
        on_create: Callable[[str, str, CircuitBreaker], None] | None = None,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}
        self._on_create = on_create

    def get(self, region: str, operation: str) -> CircuitBreaker:
        key = (region, operation)
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = CircuitBreaker(
                failure_threshold=self.failure_threshold,
                cooldown_seconds=self.cooldown_seconds,
                clock=self._clock,
            )
            self._breakers[key] = breaker
            if self._on_create is not None:
                self._on_create(region, operation, breaker)
        return breaker

    def states(self) -> dict[tuple[str, str], CircuitState]:
        """Every breaker's state, for metrics and conditions."""
        return {key: b.state for key, b in self._breakers.items()}

    def reset(self, region: str) -> list[str]:
        """Close every breaker of the region (a human fixed the cause, e.g. IAM); the operations reset."""
        reset = []
        for (breaker_region, operation), breaker in self._breakers.items():
            if breaker_region == region and (breaker.state is not CircuitState.CLOSED or breaker.consecutive_failures):
                breaker.record_success()
                reset.append(operation)
        return sorted(reset)

    def not_closed(self, region: str | None = None) -> dict[tuple[str, str], CircuitBreaker]:
        """Breakers that are open or half-open (optionally in one region): an AWS-side condition."""
        return {
            key: b
            for key, b in self._breakers.items()
            if (region is None or key[0] == region) and b.state is not CircuitState.CLOSED
        }
