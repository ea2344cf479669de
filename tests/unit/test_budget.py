"""Client-side token buckets mirroring EC2's, driven by a fake clock whose sleep advances it."""

from __future__ import annotations

import asyncio

import pytest

from judge0_operator.aws.budget import EC2_BUCKETS, ApiBudget, BucketSpec, TokenBucket, bucket_name


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("operation", "bucket"),
    [
        ("RunInstances", "run-instances"),
        ("TerminateInstances", "mutating"),
        ("RebootInstances", "mutating"),
        ("StartInstances", "mutating"),
        ("DescribeInstances", "describe"),
        ("DescribeInstanceStatus", "describe"),
        ("SendCommand", "ssm-mutating"),
        ("GetCommandInvocation", "ssm-describe"),
    ],
)
def test_operations_map_to_ec2_buckets(operation: str, bucket: str) -> None:
    assert bucket_name(operation) == bucket


def test_default_buckets_match_ec2_documentation() -> None:
    assert EC2_BUCKETS["run-instances"] == BucketSpec(5, 2)
    assert EC2_BUCKETS["mutating"] == BucketSpec(50, 5)
    assert EC2_BUCKETS["describe"] == BucketSpec(100, 20)


async def test_burst_up_to_capacity_then_waits_at_refill_rate() -> None:
    t = FakeTime()
    bucket = TokenBucket(BucketSpec(5, 2), clock=t.clock, sleep=t.sleep)
    for _ in range(5):
        assert await bucket.acquire() == 0
    assert t.now == 0
    waited = await bucket.acquire()
    assert waited == pytest.approx(0.5)
    assert t.now == pytest.approx(0.5)
    await bucket.acquire()
    assert t.now == pytest.approx(1.0)


async def test_refill_is_capped_at_capacity() -> None:
    t = FakeTime()
    bucket = TokenBucket(BucketSpec(5, 2), clock=t.clock, sleep=t.sleep)
    for _ in range(5):
        await bucket.acquire()
    t.now += 1000
    assert bucket.tokens == pytest.approx(5)
    for _ in range(5):
        await bucket.acquire()
    assert bucket.wait_time() == pytest.approx(0.5)


async def test_try_acquire_never_waits() -> None:
    t = FakeTime()
    bucket = TokenBucket(BucketSpec(2, 1), clock=t.clock, sleep=t.sleep)
    assert bucket.try_acquire()
    assert bucket.try_acquire()
    assert not bucket.try_acquire()
    assert t.sleeps == []
    t.now += 1
    assert bucket.try_acquire()


async def test_concurrent_waiters_are_served_in_order_at_the_refill_rate() -> None:
    t = FakeTime()
    bucket = TokenBucket(BucketSpec(1, 2), clock=t.clock, sleep=t.sleep)
    served: list[tuple[int, float]] = []

    async def take(n: int) -> None:
        await bucket.acquire()
        served.append((n, t.now))

    await asyncio.gather(*(take(n) for n in range(5)))
    assert [n for n, _ in served] == [0, 1, 2, 3, 4]
    assert [at for _, at in served] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0])


async def test_resource_tokens_for_batched_terminations() -> None:
    t = FakeTime()
    budget = ApiBudget(clock=t.clock, sleep=t.sleep)
    assert await budget.acquire_resources("terminate-resources", 1000) == 0
    waited = await budget.acquire_resources("terminate-resources", 40)
    assert waited == pytest.approx(2.0)  # 40 instances at 20 per second


async def test_buckets_are_independent() -> None:
    t = FakeTime()
    budget = ApiBudget(clock=t.clock, sleep=t.sleep)
    for _ in range(5):
        await budget.acquire("RunInstances")
    assert await budget.acquire("DescribeInstances") == 0
    assert await budget.acquire("TerminateInstances") == 0
    assert await budget.acquire("RunInstances") == pytest.approx(0.5)


def test_rejects_non_positive_specs() -> None:
    with pytest.raises(ValueError):
        TokenBucket(BucketSpec(0, 1))
