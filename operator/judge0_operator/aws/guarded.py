"""One guarded AWS call: circuit breaker, then budget, then the blocking boto3 call in a thread.

Shared by the EC2 observer and the actuators so every call is counted, timed, rate-limited and
classified the same way. Failures surface as ``AwsCallError`` (classified) or ``CircuitOpenError``
(no call was made).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

from judge0_operator import metrics
from judge0_operator.aws.budget import ApiBudget
from judge0_operator.aws.circuit import CircuitBreakers, CircuitState
from judge0_operator.aws.errors import ClassifiedError, classify

T = TypeVar("T")


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
        self, region: str, *, circuit: CircuitBreakers | None = None, budget: ApiBudget | None = None
    ) -> None:
        self.region = region
        self.circuit = circuit
        self.budget = budget

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
        started = time.monotonic()
        try:
            result = await asyncio.to_thread(fn, **kwargs)
        except asyncio.CancelledError:
            if breaker is not None:
                breaker.release()
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
