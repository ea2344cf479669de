"""The drain rule for one interrupting action (``decide/drain.check``): tables and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from judge0_operator.api.fleet_status import DrainState, InstanceStatus, SignalStatus
from judge0_operator.api.policy import RecoveryPolicySpec
from judge0_operator.decide import drain
from judge0_operator.decide.drain import Work, check
from judge0_operator.decide.timeutil import format_time, parse_time

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
POLICY = RecoveryPolicySpec.model_validate({"drain": {"timeoutSeconds": 60, "graceSeconds": 5}})


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def node(traffic: str = "InRotation", *, since: float | None = -600, unhealthy: str | None = None,
         state: str = "running", drain_state: DrainState | None = None) -> InstanceStatus:
    signals = {
        name: SignalStatus(status="Unhealthy" if name == unhealthy else "Healthy", since=format_time(at(-900)))
        for name in ("ec2", "api", "workers", "canary")
    }
    return InstanceStatus(
        instance_id="i-0a", slot="s0", state=state, health="Unhealthy" if unhealthy else "Healthy",
        signals=signals, traffic=traffic,  # type: ignore[arg-type]
        traffic_since=format_time(at(since)) if since is not None else None, drain=drain_state,
    )


def draining(started: float = 0, **fields: Any) -> DrainState:
    return drain.start("ScaleDown: desired 2", POLICY, at(started), fields.pop("hard", None)).model_copy(update=fields)


def run(row: InstanceStatus, now: float, *, work: Work | None = None, hard: datetime | None = None,
        topology: str = "SelfContained", controlled: bool = True) -> drain.Check:
    return check(row, "ScaleDown: desired 2", policy=POLICY, topology=topology,  # type: ignore[arg-type]
                 work=work, hard=hard, now=at(now), traffic_controlled=controlled)


def busy(seen_at: float, queued: int = 3, running: int = 2) -> Work:
    return Work(queued, running, at(seen_at))


def idle(seen_at: float) -> Work:
    return Work(0, 0, at(seen_at))


# --- tables ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "row", "now", "kw", "ready", "outcome"), [
    ("no spec.traffic: nothing controls the traffic, no drain", node(), 0, {"controlled": False}, True, "not-needed"),
    ("a broken node is not waited on", node(unhealthy="canary"), 0, {"work": busy(0)}, True, "broken"),
    ("workers dead: not waited on", node(unhealthy="workers"), 0, {}, True, "broken"),
    ("impaired: not waited on", node(unhealthy="ec2"), 0, {}, True, "broken"),
    ("not running: nothing to drain", node(state="stopped"), 0, {}, True, "broken"),
    ("never in rotation (starting): nothing to drain", node("Out", since=None), 0, {}, True, "not-needed"),
    ("out of rotation for longer than timeout+grace", node("Out", since=-66), 0, {}, True, "not-needed"),
    ("out of rotation lately: drains", node("Out", since=-30), 0, {}, False, None),
    ("in rotation, first request: leaves rotation and waits", node(), 0, {"work": idle(-1)}, False, None),
    ("busy since the drain began", node("Draining", drain_state=draining()), 10, {"work": busy(9)}, False, None),
    ("idle, but not for the grace yet", node("Draining", drain_state=draining(idle_since=format_time(at(8)))), 12,
     {"work": idle(11)}, False, None),
    ("idle for the grace: drained", node("Draining", drain_state=draining(idle_since=format_time(at(8)))), 13,
     {"work": idle(12)}, True, "drained"),
    ("an answer from before the drain proves nothing", node("Draining", drain_state=draining(10)), 20,
     {"work": idle(9)}, False, None),
    ("still busy at the timeout: goes ahead", node("Draining", drain_state=draining()), 60, {"work": busy(59)},
     True, "timed-out"),
    ("the hard deadline comes first", node("Draining", drain_state=draining(hard=at(30))), 30, {"work": busy(29),
     "hard": at(30)}, True, "deadline"),
    ("a hard deadline already past", node(), 0, {"work": busy(0), "hard": at(-1)}, True, "deadline"),
    ("shared backend: only the grace", node("Draining", drain_state=draining()), 5,
     {"work": busy(4), "topology": "SharedBackend"}, True, "drained"),
    ("shared backend: within the grace", node("Draining", drain_state=draining()), 4,
     {"work": busy(3), "topology": "SharedBackend"}, False, None),
])
def test_drain_table(name: str, row: InstanceStatus, now: float, kw: dict[str, Any], ready: bool,
                     outcome: str | None) -> None:
    result = run(row, now, **kw)
    assert (result.ready, result.outcome) == (ready, outcome), name


def test_a_drain_starts_with_the_timeout_as_deadline_and_looks_again_within_a_second() -> None:
    result = run(node(), 0, work=busy(0))
    assert result.state is not None
    assert (parse_time(result.state.started_at), parse_time(result.state.deadline)) == (at(0), at(60))
    assert result.next_check is not None and at(0) < result.next_check <= at(drain.POLL_SECONDS)


def test_a_hard_deadline_scheduled_during_the_drain_shortens_it() -> None:
    result = run(node("Draining", drain_state=draining()), 10, work=busy(9), hard=at(20))
    assert result.state is not None and parse_time(result.state.deadline) == at(20)
    assert result.state.hard_deadline == format_time(at(20))


def test_busy_again_restarts_the_grace() -> None:
    held = node("Draining", drain_state=draining(idle_since=format_time(at(3))))
    result = run(held, 7, work=busy(6, queued=1, running=0))
    assert not result.ready and result.state is not None and result.state.idle_since is None
    assert (result.state.queued, result.state.running) == (1, 0)


def test_timed_out_names_what_was_left() -> None:
    result = run(node("Draining", drain_state=draining()), 61, work=busy(60, queued=4, running=2))
    assert result.outcome == "timed-out" and "4 queued and 2 running" in result.why


# --- properties ------------------------------------------------------------------------------------

works = st.one_of(st.none(), st.builds(Work, st.integers(0, 5), st.integers(0, 3),
                                       st.integers(-20, 120).map(at)))
drains = st.one_of(st.none(), st.builds(
    lambda started, idle_at, hard: draining(started, hard=hard,
                                            idle_since=format_time(at(idle_at)) if idle_at is not None else None),
    st.integers(-100, 100), st.one_of(st.none(), st.integers(-100, 100)),
    st.one_of(st.none(), st.integers(-50, 150).map(at))))
rows = st.builds(
    lambda traffic, since, unhealthy, state, held: node(traffic if held is None else "Draining", since=since,
                                                        unhealthy=unhealthy, state=state, drain_state=held),
    st.sampled_from(["InRotation", "Out", "Draining"]), st.one_of(st.none(), st.integers(-200, 0)),
    st.sampled_from([None, None, None, "api", "canary", "ec2"]), st.sampled_from(["running"] * 4 + ["stopped"]),
    drains)


@settings(max_examples=300, deadline=None)
@given(rows, st.integers(-10, 200), works, st.one_of(st.none(), st.integers(-50, 150).map(at)),
       st.sampled_from(["SelfContained", "SharedBackend"]))
def test_drain_properties(row: InstanceStatus, now: int, work: Work | None, hard: datetime | None,
                          topology: str) -> None:
    result = run(row, now, work=work, hard=hard, topology=topology)
    if drain.cannot_run_code(row) is not None:  # broken nodes are not waited on
        assert result.ready and result.outcome == "broken"
    if result.state is not None and result.outcome != "broken":  # broken: not waited on at all
        deadline = parse_time(result.state.deadline)
        assert deadline is not None
        if hard is not None:  # hard deadlines win
            assert deadline <= hard
        if at(now) >= deadline:  # never past the deadline
            assert result.ready
    if not result.ready:
        assert result.state is not None and result.next_check is not None
        assert at(now) < result.next_check <= parse_time(result.state.deadline)  # type: ignore[operator]
        assert result.next_check <= at(now + drain.POLL_SECONDS)
    if result.outcome == "drained" and topology == "SelfContained":
        assert result.state is not None and result.state.idle_since is not None
        assert at(now) - parse_time(result.state.idle_since) >= timedelta(seconds=POLICY.drain.grace_seconds)
