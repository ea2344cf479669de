"""Client-side token buckets that mirror EC2's own request buckets (per account and region).

EC2 throttles with ``RequestLimitExceeded`` once a bucket is empty; spending our own tokens
first keeps a burst of remediations (or many fleets) from draining the account's shared budget
and throttling every other tool in it. Waiters are served in arrival order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class BucketSpec:
    capacity: float
    refill_per_second: float


# EC2 API request throttling (docs: "Request token bucket sizes and refill rates").
EC2_BUCKETS: dict[str, BucketSpec] = {
    "run-instances": BucketSpec(5, 2),
    "mutating": BucketSpec(50, 5),
    "describe": BucketSpec(100, 20),
    "terminate-resources": BucketSpec(1000, 20),  # TerminateInstances: instances, not requests
    # SSM has its own limits; kept apart so polling command results never starves EC2 calls.
    "ssm-mutating": BucketSpec(20, 5),
    "ssm-describe": BucketSpec(40, 10),
    # ELBv2 throttles per account and region too (its rates are not published): modest buckets of its own.
    "elb-mutating": BucketSpec(10, 5),
    "elb-describe": BucketSpec(20, 10),
}

_RUN = frozenset({"RunInstances"})
_SSM = frozenset(
    {"SendCommand", "GetCommandInvocation", "ListCommandInvocations", "DescribeInstanceInformation"}
)
_ELB = frozenset({"DescribeTargetHealth", "RegisterTargets", "DeregisterTargets"})
_READ_PREFIXES = ("Describe", "Get", "List")


def bucket_name(operation: str) -> str:
    """Which bucket an API operation (e.g. ``TerminateInstances``) draws from."""
    if operation in _RUN:
        return "run-instances"
    read = operation.startswith(_READ_PREFIXES)
    if operation in _SSM:
        return "ssm-describe" if read else "ssm-mutating"
    if operation in _ELB:
        return "elb-describe" if read else "elb-mutating"
    return "describe" if read else "mutating"


class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``refill_per_second``."""

    def __init__(
        self, spec: BucketSpec, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        if spec.capacity <= 0 or spec.refill_per_second <= 0:
            raise ValueError("capacity and refill rate must be positive")
        self.spec = spec
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(spec.capacity)
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.spec.capacity, self._tokens + elapsed * self.spec.refill_per_second)
        self._updated = now

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def wait_time(self, count: float = 1) -> float:
        """Seconds until ``count`` tokens are there (0 if they are now)."""
        self._refill()
        missing = min(count, self.spec.capacity) - self._tokens
        return max(0.0, missing / self.spec.refill_per_second)

    def try_acquire(self, count: float = 1) -> bool:
        """Take ``count`` tokens if they are there now; never waits. Above capacity takes all of it."""
        count = min(count, self.spec.capacity)
        if self._lock.locked() or self.wait_time(count) > 0:
            return False
        self._tokens -= count
        return True

    async def acquire(self, count: float = 1) -> float:
        """Wait for ``count`` tokens and take them; returns the seconds waited."""
        count = min(count, self.spec.capacity)
        waited = 0.0
        async with self._lock:  # FIFO: an early large request is not starved by later small ones
            while (delay := self.wait_time(count)) > 0:
                await self._sleep(delay)
                waited += delay
            self._tokens -= count
        return waited


class ApiBudget:
    """The buckets of one region; ``acquire(operation)`` waits for that operation's bucket."""

    def __init__(
        self,
        buckets: dict[str, BucketSpec] | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        specs = buckets or EC2_BUCKETS
        self._buckets = {name: TokenBucket(spec, clock=clock, sleep=sleep) for name, spec in specs.items()}

    def bucket(self, operation: str) -> TokenBucket:
        return self._buckets[bucket_name(operation)]

    async def acquire(self, operation: str, count: float = 1) -> float:
        """Wait until one ``operation`` request may go out; returns the seconds waited."""
        return await self.bucket(operation).acquire(count)

    async def acquire_resources(self, name: str, count: float) -> float:
        """Wait for resource tokens (``terminate-resources``) in addition to the request token."""
        return await self._buckets[name].acquire(count)
