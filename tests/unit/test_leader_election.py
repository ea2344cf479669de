"""The Lease election state machine (``controller/election/state_machine.py``): pure, driven with a fake clock.

The last test runs two replicas against a simulated API server with optimistic concurrency
(a write must carry the current resourceVersion), random timing, request latency and freezes,
and checks the one property that matters: never two replicas fresh (allowed to act) at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from judge0_operator.controller.election.state_machine import (
    Done,
    LeaseElection,
    LeaseRecord,
    Lost,
    Read,
    Role,
    Sleep,
    Timings,
    Write,
)

T = Timings(lease_duration=15, renew_deadline=10, retry_period=2)


def held_by(holder: str, rv: str = "7", transitions: int = 3, duration: int | None = 15) -> LeaseRecord:
    return LeaseRecord(
        resource_version=rv,
        holder=holder,
        lease_duration_seconds=duration,
        transitions=transitions,
        acquire_time="2024-01-01T00:00:00.000000Z",
        renew_time="2024-01-01T00:00:01.000000Z",
    )


def as_written(step: Write, rv: str) -> LeaseRecord:
    """What the API server answers for a successful write of ``step``."""
    return LeaseRecord(
        resource_version=rv,
        holder=step.holder,
        lease_duration_seconds=step.lease_duration_seconds,
        transitions=step.transitions,
        acquire_time=step.acquire_time if step.keep_acquire_time else "now",
        renew_time="now",
    )


def leader(now: float = 0.0, rv: str = "10") -> tuple[LeaseElection, Write]:
    """An election that created the Lease at ``now`` and leads."""
    election = LeaseElection("me", T)
    assert isinstance(election.next_step(now), Read)
    election.observed(None, now)
    step = election.next_step(now)
    assert isinstance(step, Write)
    election.written(step, as_written(step, rv), now)
    return election, step


# --- timings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lease", "renew", "retry"), [(10, 10, 2), (15, 10, 10), (15, 10, 0), (5, 10, 2)])
def test_timings_must_be_ordered(lease: float, renew: float, retry: float) -> None:
    with pytest.raises(ValueError, match="lease duration > renew deadline > retry period"):
        Timings(lease, renew, retry)


def test_defaults_are_controller_runtimes_and_requests_time_out_before_the_next_retry() -> None:
    timings = Timings()
    assert (timings.lease_duration, timings.renew_deadline, timings.retry_period) == (15, 10, 2)
    assert 0 < timings.request_timeout < timings.retry_period
    assert Timings(2.5, 2, 0.5).lease_duration_seconds == 3  # an integer field, rounded up, never shorter


# --- acquiring -----------------------------------------------------------------------------------


def test_a_missing_lease_is_created_and_the_creator_leads() -> None:
    election = LeaseElection("me", T)
    assert isinstance(election.next_step(0.0), Read)
    election.observed(None, 0.0)
    step = election.next_step(0.0)
    assert isinstance(step, Write)
    assert step.resource_version is None and step.holder == "me" and step.transitions == 0
    assert step.lease_duration_seconds == 15
    assert not election.is_fresh(0.0)
    assert election.written(step, as_written(step, "1"), 0.0) == "acquired"
    assert election.role is Role.LEADING and election.is_fresh(0.5)


def test_a_held_lease_is_taken_only_after_it_stayed_unchanged_for_its_duration() -> None:
    election = LeaseElection("me", T)
    election.next_step(100.0)
    election.observed(held_by("other"), 100.0)
    now = 100.0
    while True:
        step = election.next_step(now)
        if isinstance(step, Write):
            break
        assert isinstance(step, Read | Sleep)
        if isinstance(step, Read):
            election.observed(held_by("other"), now)  # the same version every time: nobody renews
        else:
            assert 0 <= step.seconds <= T.retry_period
            now += step.seconds
    assert now - 100.0 == pytest.approx(15.0)  # looked again right at the expiry, not up to a retry later
    assert step.resource_version == "7"  # the update carries the version it saw: a race ends in 409
    assert step.holder == "me" and step.transitions == 4 and not step.keep_acquire_time


def test_every_renewal_by_the_holder_restarts_the_standbys_expiry_clock() -> None:
    election = LeaseElection("me", T)
    election.next_step(0.0)
    election.observed(held_by("other", rv="1"), 0.0)
    election.next_step(0.0)  # sleep
    election.next_step(14.0)  # read
    election.observed(held_by("other", rv="2"), 14.0)  # renewed meanwhile
    assert not election.expired(20.0)
    assert not election.expired(28.9)
    assert election.expired(29.0)


def test_the_records_own_duration_counts_so_a_released_short_lease_is_free_sooner() -> None:
    election = LeaseElection("me", T)
    election.next_step(0.0)
    election.observed(held_by("other", duration=1), 0.0)
    assert not election.expired(0.5)
    assert election.expired(1.0)


def test_a_released_lease_is_taken_at_once() -> None:
    election = LeaseElection("me", T)
    election.next_step(0.0)
    election.observed(held_by("", rv="9", duration=1), 0.0)
    step = election.next_step(0.0)
    assert isinstance(step, Write) and step.holder == "me" and step.resource_version == "9"


def test_losing_the_race_to_acquire_reads_again_and_stands_by() -> None:
    election = LeaseElection("me", T)
    election.next_step(0.0)
    election.observed(None, 0.0)
    step = election.next_step(0.0)
    assert isinstance(step, Write)
    election.conflict(step, 0.1)
    assert election.role is Role.STANDBY
    assert isinstance(election.next_step(0.1), Read)
    election.observed(held_by("other", rv="2"), 0.1)
    assert isinstance(election.next_step(0.1), Sleep)


# --- leading -------------------------------------------------------------------------------------


def test_the_leader_renews_every_retry_period_keeping_its_acquire_time() -> None:
    election, first = leader(0.0, rv="10")
    sleep = election.next_step(0.0)
    assert isinstance(sleep, Sleep) and sleep.seconds == pytest.approx(T.retry_period)
    step = election.next_step(2.0)
    assert isinstance(step, Write) and step.purpose == "renew"
    assert step.resource_version == "10" and step.holder == "me" and step.keep_acquire_time
    assert step.acquire_time == "now" and step.transitions == first.transitions
    assert election.written(step, as_written(step, "11"), 2.0) == "renewed"
    assert election.renewed_at == 2.0


def test_a_leader_that_cannot_renew_is_lost_at_its_deadline_and_is_never_fresh_past_it() -> None:
    election, _ = leader(0.0)
    now = 0.0
    steps = []
    while True:
        assert election.is_fresh(now) == (now < 10.0)
        step = election.next_step(now)
        steps.append(step)
        if isinstance(step, Lost):
            break
        if isinstance(step, Sleep):
            now += step.seconds
        else:
            timeout = election.request_timeout(now)
            assert timeout <= 10.0 - now  # a request never runs past the deadline
            now += timeout
            election.failed(step, now)  # every request times out
    assert now == pytest.approx(10.0)  # lost at the deadline, not later
    assert not election.is_fresh(now)
    assert election.role is Role.STOPPED
    assert "renew deadline" in steps[-1].reason
    assert any(isinstance(s, Write) and s.purpose == "renew" for s in steps)


def test_a_frozen_leader_resuming_after_its_deadline_is_lost_without_writing() -> None:
    election, _ = leader(0.0)
    assert election.is_fresh(9.9)
    step = election.next_step(30.0)  # SIGSTOP for half a minute, then SIGCONT
    assert isinstance(step, Lost)
    assert not election.is_fresh(30.0)


def test_a_renewal_confirmed_late_counts_from_when_it_was_sent() -> None:
    election, _ = leader(0.0, rv="10")
    step = election.next_step(2.0)
    assert isinstance(step, Write)
    election.written(step, as_written(step, "11"), sent_at=2.0)  # the answer arrives at t=13
    assert not election.is_fresh(13.0)
    assert isinstance(election.next_step(13.0), Lost)


def test_a_leader_whose_lease_was_taken_is_lost_after_the_conflict() -> None:
    election, _ = leader(0.0, rv="10")
    step = election.next_step(2.0)
    assert isinstance(step, Write)
    election.conflict(step, 2.1)
    assert isinstance(election.next_step(2.1), Read)
    election.observed(held_by("other", rv="12"), 2.2)
    lost = election.next_step(2.2)
    assert isinstance(lost, Lost) and "other" in lost.reason


def test_a_conflict_on_our_own_lease_renews_with_the_new_version() -> None:
    election, _ = leader(0.0, rv="10")
    step = election.next_step(2.0)
    assert isinstance(step, Write)
    election.conflict(step, 2.1)  # e.g. our previous renewal landed although its answer timed out
    assert isinstance(election.next_step(2.1), Read)
    election.observed(replace(held_by("me", rv="13"), transitions=step.transitions), 2.2)
    renew = election.next_step(2.2)
    assert isinstance(renew, Write) and renew.purpose == "renew" and renew.resource_version == "13"


# --- shutting down ------------------------------------------------------------------------------


def test_release_frees_the_lease_for_one_second_and_stops() -> None:
    election, _ = leader(0.0, rv="10")
    election.request_release()
    step = election.next_step(0.5)
    assert isinstance(step, Write) and step.purpose == "release"
    assert step.holder == "" and step.lease_duration_seconds == 1 and step.resource_version == "10"
    assert election.written(step, as_written(step, "11"), 0.5) == "released"
    assert election.role is Role.STOPPED and not election.is_fresh(0.5)
    assert isinstance(election.next_step(0.6), Done)


def test_a_failed_release_still_stops() -> None:
    election, _ = leader(0.0)
    election.request_release()
    step = election.next_step(0.5)
    assert isinstance(step, Write)
    election.failed(step, 0.6)
    assert isinstance(election.next_step(0.7), Done)


def test_a_standby_asked_to_stop_just_stops() -> None:
    election = LeaseElection("me", T)
    election.request_release()
    assert isinstance(election.next_step(0.0), Done)


# --- never two actors ---------------------------------------------------------------------------


@dataclass
class FakeServer:
    """One Lease with the API server's optimistic concurrency."""

    record: LeaseRecord | None = None
    version: int = 0

    def write(self, step: Write) -> LeaseRecord | None:
        current = self.record.resource_version if self.record else None
        if step.resource_version != current:
            return None  # 409
        self.version += 1
        self.record = as_written(step, str(self.version))
        return self.record


@dataclass
class Replica:
    election: LeaseElection
    busy_until: float = 0.0  # waiting for an answer, or frozen
    pending: tuple[float, object, object] | None = None  # (deliver at, step, result)
    wake_at: float = 0.0
    log: list[str] = field(default_factory=list)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1]),  # which replica the event concerns
            st.floats(min_value=0.0, max_value=3.0),  # time passing before it
            st.floats(min_value=0.0, max_value=1.5),  # request latency (sent → applied → answered)
            st.integers(min_value=0, max_value=19),  # 0: freeze (SIGSTOP) that replica instead
            st.floats(min_value=5.0, max_value=40.0),  # for this long
        ),
        min_size=20,
        max_size=300,
    )
)
def test_never_two_replicas_are_fresh_at_the_same_time(
    events: list[tuple[int, float, float, int, float]],
) -> None:
    timings = Timings(15, 10, 2)
    server = FakeServer()
    replicas = [Replica(LeaseElection("a", timings)), Replica(LeaseElection("b", timings))]
    now = 0.0
    for who, dt, latency, freeze_roll, freeze in events:
        now += dt
        fresh = [r.election.identity for r in replicas if r.election.is_fresh(now)]
        assert len(fresh) <= 1, f"two actors at t={now}: {fresh}"
        replica = replicas[who]
        if freeze_roll == 0 and replica.busy_until <= now:
            replica.busy_until = now + freeze
            continue
        if replica.busy_until > now:
            continue
        if replica.pending is not None:
            deliver_at, step, result = replica.pending
            if deliver_at > now:
                continue
            replica.pending = None
            sent_at = deliver_at - latency
            if isinstance(step, Read):
                replica.election.observed(result, now)  # type: ignore[arg-type]
            elif result is None:
                replica.election.conflict(step, now)  # type: ignore[arg-type]
            else:
                replica.election.written(step, result, min(sent_at, now))  # type: ignore[arg-type]
            continue
        if now < replica.wake_at:
            continue
        step = replica.election.next_step(now)
        if isinstance(step, Sleep):
            replica.wake_at = now + step.seconds
        elif isinstance(step, Read):
            replica.pending = (now + latency, step, server.record)  # read at send time (stale on arrival)
        elif isinstance(step, Write):
            result = server.write(step)  # applied at once, answered after the latency
            replica.pending = (now + latency, step, result)
        elif isinstance(step, Lost | Done):
            # An exited replica restarts as a new standby (a new identity, as the suffix guarantees).
            replicas[who] = Replica(LeaseElection(f"{replica.election.identity}'", timings))
