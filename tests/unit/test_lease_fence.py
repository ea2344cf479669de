"""The lease fence: ``Leadership.fence`` and the one choke point every mutating AWS call passes
(``GuardedCaller``). A stale lease raises ``FencedError`` and the call is never made."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from judge0_operator.aws.circuit import CircuitBreakers, CircuitState
from judge0_operator.aws.guarded import FencedError, GuardedCaller, is_mutating
from judge0_operator.controller.election.leadership import Leadership
from judge0_operator.controller.election.state_machine import LeaseElection, LeaseRecord, Timings, Write

T = Timings(15, 10, 2)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def leading(clock: Clock) -> Leadership:
    election = LeaseElection("me", T)
    election.next_step(clock.now)
    election.observed(None, clock.now)
    step = election.next_step(clock.now)
    assert isinstance(step, Write)
    election.written(step, LeaseRecord("1", "me", 15), clock.now)
    return Leadership(election, clock)


def test_reads_are_never_fenced_and_everything_else_is() -> None:
    for read in ("DescribeInstances", "DescribeInstanceStatus", "GetCommandInvocation", "ListCommands"):
        assert not is_mutating(read)
    for write in ("RunInstances", "TerminateInstances", "RebootInstances", "StartInstances", "StopInstances",
                  "SendCommand", "CreateTags", "RegisterTargets", "SomeFutureOperation"):
        assert is_mutating(write)


def test_the_fence_admits_while_fresh_and_refuses_once_the_renew_deadline_passed() -> None:
    clock = Clock()
    leadership = leading(clock)
    clock.now = 9.9
    with leadership.fence("RunInstances"):
        pass
    clock.now = 10.0
    with pytest.raises(FencedError, match="RunInstances not sent: me may not act"), leadership.fence("RunInstances"):
        pytest.fail("entered a stale fence")


def test_a_standby_is_fenced() -> None:
    leadership = Leadership(LeaseElection("me", T), Clock())
    assert not leadership.may_act()
    with pytest.raises(FencedError, match="role standby"), leadership.fence("SendCommand"):
        pytest.fail("a standby entered the fence")


def test_stop_acting_refuses_new_calls_and_waits_for_those_in_flight() -> None:
    clock = Clock()
    leadership = leading(clock)
    inside, leave = threading.Event(), threading.Event()

    def in_flight() -> None:
        with leadership.fence("TerminateInstances"):
            inside.set()
            leave.wait(5)

    worker = threading.Thread(target=in_flight)
    worker.start()
    assert inside.wait(5)
    leadership.stop_acting()
    with pytest.raises(FencedError), leadership.fence("RunInstances"):
        pytest.fail("entered after stop_acting")
    assert not leadership.wait_idle(0.05)  # the terminate is still out
    leave.set()
    assert leadership.wait_idle(5)
    worker.join(5)


class Gate:
    """A fence whose verdict the test sets; records what it was asked about."""

    def __init__(self, open_: bool) -> None:
        self.open = open_
        self.asked: list[str] = []

    @contextmanager
    def __call__(self, operation: str) -> Iterator[None]:
        self.asked.append(operation)
        if not self.open:
            raise FencedError(f"{operation}: closed")
        yield


async def test_a_closed_fence_stops_the_call_before_it_is_made_and_is_no_aws_failure() -> None:
    sent: list[str] = []
    breakers = CircuitBreakers(failure_threshold=1, cooldown_seconds=60)
    gate = Gate(open_=False)
    caller = GuardedCaller("us-east-1", circuit=breakers, fence=gate)

    with pytest.raises(FencedError):
        await caller.call("RunInstances", lambda **kw: sent.append("RunInstances"), MinCount=1)
    assert sent == [] and gate.asked == ["RunInstances"]
    assert breakers.get("us-east-1", "RunInstances").state is CircuitState.CLOSED  # threshold 1, still closed

    answer = await caller.call("DescribeInstances", lambda **kw: sent.append("DescribeInstances") or "ok")
    assert answer == "ok" and sent == ["DescribeInstances"] and gate.asked == ["RunInstances"]

    gate.open = True
    await caller.call("RunInstances", lambda **kw: sent.append("RunInstances"), MinCount=1)
    assert sent == ["DescribeInstances", "RunInstances"]


async def test_the_fence_is_entered_in_the_worker_thread_right_before_the_call() -> None:
    threads: list[str] = []

    @contextmanager
    def fence(operation: str) -> Iterator[None]:
        threads.append(threading.current_thread().name)
        yield

    def call(**_: object) -> None:
        threads.append(threading.current_thread().name)

    await GuardedCaller("us-east-1", fence=fence).call("SendCommand", call)
    assert len(threads) == 2 and threads[0] == threads[1] != threading.main_thread().name
