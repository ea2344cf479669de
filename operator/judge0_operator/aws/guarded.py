"""One guarded AWS call: circuit breaker, then budget, then the blocking boto3 call in a thread.

Shared by the EC2 observer and the actuators so every call is counted, timed, rate-limited and
classified the same way. Failures surface as ``AwsCallError`` (classified) or ``CircuitOpenError``
(no call was made).

With leader election a *fence* guards every mutating call (anything but Describe/Get/List): the
worker thread enters ``fence(operation)`` right before the request and leaves it when the answer
is in. A replica whose lease is not fresh raises ``FencedError`` there and the call is not sent;
the leader's shutdown waits for calls inside the fence before it releases the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from judge0_operator import metrics
from judge0_operator.aws.budget import ApiBudget
from judge0_operator.aws.circuit import CircuitBreakers, CircuitState
from judge0_operator.aws.errors import ClassifiedError, classify

T = TypeVar("T")

Fence = Callable[[str], AbstractContextManager[None]]
"""Entered around each mutating call; raises ``FencedError`` when this process may not act."""

READ_ONLY_PREFIXES = ("Describe", "Get", "List")


def is_mutating(operation: str) -> bool:
    """Everything that is not a read changes the world (an unknown new operation is fenced too)."""
    return not operation.startswith(READ_ONLY_PREFIXES)


class FencedError(Exception):
    """This process may no longer act (its lease is not fresh): the call was not made."""


class AwsCallError(Exception):
    """A failed AWS call, classified (the message is already a safe summary)."""

    def __init__(self, operation: str, error: ClassifiedError) -> None:
        super().__init__(f"{operation}: {error}")
        self.operation = operation
        self.error = error


class CircuitOpenError(Exception):
    """The breaker for (region, operation) is open: the call was not made."""

    def __init__(self, region: str, operation: str, retry_after: float, last_error: str | None) -> None:
        why = f"; last error: {last_error}" if last_error else ""
        super().__init__(f"circuit open for {operation} in {region}, retry in {retry_after:.0f}s{why}")
        self.region = region
        self.operation = operation
        self.retry_after = retry_after
        self.last_error = last_error


class GuardedCaller:
    """Calls boto3 for one region through its breakers and budget. Use from one event loop."""

    def __init__(
        self,
        region: str,
        *,
        circuit: CircuitBreakers | None = None,
        budget: ApiBudget | None = None,
        fence: Fence | None = None,
    ) -> None:
        self.region = region
        self.circuit = circuit
        self.budget = budget
        self.fence = fence

    async def call(self, operation: str, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Run ``fn(**kwargs)`` (a boto3 client method named ``operation``) in a worker thread."""
        breaker = self.circuit.get(self.region, operation) if self.circuit is not None else None
        if breaker is not None and breaker.state is CircuitState.OPEN:
            metrics.AWS_CALLS.labels(operation, "circuit-open").inc()
            raise CircuitOpenError(self.region, operation, breaker.retry_after(), breaker.last_error)
        if self.budget is not None:
            waited = await self.budget.acquire(operation)
            if waited:
                metrics.AWS_BUDGET_WAIT.labels(operation).inc(waited)
        if breaker is not None and not breaker.allow():
            metrics.AWS_CALLS.labels(operation, "circuit-open").inc()
            raise CircuitOpenError(self.region, operation, breaker.retry_after(), breaker.last_error)
        fence = self.fence if is_mutating(operation) else None

        def send() -> T:
            with fence(operation) if fence is not None else contextlib.nullcontext():
                return fn(**kwargs)

        started = time.monotonic()
        try:
            result = await asyncio.to_thread(send)
        except (asyncio.CancelledError, FencedError) as stopped:
            if breaker is not None:
                breaker.release()
            if isinstance(stopped, FencedError):
                metrics.AWS_CALLS.labels(operation, "fenced").inc()
            raise
        except Exception as exc:
            error = classify(exc)
            metrics.AWS_CALL_DURATION.labels(operation).observe(time.monotonic() - started)
            metrics.AWS_CALLS.labels(operation, error.kind).inc()
            if breaker is not None:
                breaker.record_failure(error.kind, str(error), http_status=error.http_status)
            raise AwsCallError(operation, error) from None
        metrics.AWS_CALL_DURATION.labels(operation).observe(time.monotonic() - started)
        metrics.AWS_CALLS.labels(operation, "ok").inc()
        if breaker is not None:
            breaker.record_success()
        return result
