"""Rotation and drain through the planner: who is in rotation, what the target groups and the
EndpointSlice are told, and how interrupting actions wait for a node's work (tables and timelines)."""

from __future__ import annotations

from typing import Any

import pytest
from plan_builders import T0, Driver, Node, at, make_policy, make_spec, reasons, row

from judge0_operator.api.fleet_status import InstanceStatus, SignalStatus
from judge0_operator.api.traffic import TrafficSpec
from judge0_operator.decide import traffic
from judge0_operator.decide.model import Ec2Instance, TargetGroupHealth, TargetHealth, Terminate
from judge0_operator.decide.plan import Plan
from judge0_operator.decide.timeutil import format_time

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/judge0/0123456789abcdef"
POLICY = make_policy(
    {
        "drain": {"timeoutSeconds": 60, "graceSeconds": 5},
        "probes": {"api": {"unhealthyAfterSeconds": 0}, "canary": {"unhealthyAfterSeconds": 0}},
        "graceAfterActionSeconds": 0,
    }
)
PUBLISHED = TrafficSpec.model_validate({"service": {}, "targetGroupArns": [ARN]})


def fleet(replicas: int = 3, *, published: bool = True, **extra: Any) -> Driver:
    spec = make_spec(replicas, traffic=PUBLISHED if published else TrafficSpec(), **extra)
    return Driver(spec, POLICY)


def nodes(count: int = 3, **fields: Any) -> list[Node]:
    return [
        Node(f"i-{n}", slot=f"s{n}", zone="abc"[n % 3], private_ip=f"10.0.0.{n + 1}", **fields) for n in range(count)
    ]


def group(*registered: str, state: str = "healthy") -> dict[str, TargetGroupHealth]:
    targets = {i: TargetHealth(i, state) for i in registered}
    return {ARN: TargetGroupHealth(ARN, T0, targets)}


def terminated(plan: Plan) -> list[str]:
    return [a.instance_id for a in plan.actions if isinstance(a, Terminate)]


def traffic_of(plan: Plan) -> dict[str, str]:
    return {r.instance_id: r.traffic for r in plan.status.instances}


def settle(driver: Driver, world: list[Node], seconds: float = 0) -> Plan:
    """One pass with every node registered in the target group (as after earlier passes)."""
    return driver.step(at(seconds), world, target_groups=group(*(n.iid for n in world)))


# --- the rules -------------------------------------------------------------------------------------

def _row(
    health: str = "Healthy", state: str = "running", signal: str = "Healthy", disk: str | None = None
) -> InstanceStatus:
    signals = {"api": SignalStatus(status=signal, since=format_time(T0))}  # type: ignore[arg-type]
    if disk is not None:  # read seldom: Unknown until its first reading
        signals["disk"] = SignalStatus(status=disk, since=format_time(T0), bad=disk == "Unhealthy")  # type: ignore[arg-type]
    return InstanceStatus(instance_id="i-0", slot="s0", state=state, health=health, signals=signals)  # type: ignore[arg-type]


@pytest.mark.parametrize(("row_", "draining", "interrupted", "expected"), [
    (_row(), False, False, "InRotation"),
    (_row(), True, False, "Draining"),
    (_row(), False, True, "Out"),  # an action was decided on it this pass
    (_row("Unhealthy", signal="Unhealthy"), False, False, "Out"),
    (_row("Starting"), False, False, "Out"),
    (_row("Unknown", signal="Unknown"), False, False, "Out"),
    (_row(state="stopped"), False, False, "Out"),
    (_row(signal="Unknown"), False, False, "Out"),  # Healthy overall, but not on every probe
    (_row(disk="Unknown"), False, False, "InRotation"),  # the disk not read yet holds nothing back
    (_row(disk="Unhealthy"), False, False, "Out"),
])
def test_who_is_in_rotation(row_: InstanceStatus, draining: bool, interrupted: bool, expected: str) -> None:
    assert traffic.wanted_traffic(row_, draining=draining, interrupted=interrupted) == expected


@pytest.mark.parametrize(("held", "wanted", "register", "deregister"), [
    ({}, {"i-a": "InRotation"}, ("i-a",), ()),
    ({"i-a": "healthy"}, {"i-a": "InRotation"}, (), ()),
    ({"i-a": "initial"}, {"i-a": "InRotation"}, (), ()),
    ({"i-a": "draining"}, {"i-a": "InRotation"}, ("i-a",), ()),  # registering again ends the delay
    ({"i-a": "healthy"}, {"i-a": "Out"}, (), ("i-a",)),
    ({"i-a": "unhealthy"}, {"i-a": "Draining"}, (), ("i-a",)),
    ({"i-a": "draining"}, {"i-a": "Out"}, (), ()),  # already leaving
    ({"i-other": "healthy"}, {"i-a": "Out"}, (), ()),  # not the fleet's: left alone
])
def test_target_changes(held: dict[str, str], wanted: dict[str, Any], register: tuple[str, ...],
                        deregister: tuple[str, ...]) -> None:
    seen = TargetGroupHealth(ARN, T0, {i: TargetHealth(i, s) for i, s in held.items()})
    change = traffic.target_changes(ARN, seen, wanted, {"i-a"})
    assert (change.register, change.deregister) == (register, deregister)


@pytest.mark.parametrize(("template", "port", "address"), [
    ("http://{private_ip}:2358", 2358, "10.1.2.3"),
    ("http://{private_ip}", 80, "10.1.2.3"),
    ("https://{public_ip}/judge0", 443, "54.1.2.3"),
    ("http://127.0.0.1:41234/{instance_id}", 41234, "10.1.2.3"),
])
def test_the_service_port_and_address_come_from_the_endpoint_template(template: str, port: int, address: str) -> None:
    instance = Ec2Instance("i-1", "running", "eu-west-1a", "subnet-1", "c6i.large", T0, "10.1.2.3", "54.1.2.3")
    assert traffic.endpoint_port(template) == port
    assert traffic.endpoint_address(template, instance) == address


# --- rotation through the planner ---------------------------------------------------------------

def test_healthy_nodes_enter_rotation_registered_and_ready() -> None:
    driver, world = fleet(), nodes()
    plan = driver.step(T0, world, target_groups=group())
    assert traffic_of(plan) == {"i-0": "InRotation", "i-1": "InRotation", "i-2": "InRotation"}
    assert plan.traffic.registering == {ARN: ("i-0", "i-1", "i-2")} and not plan.traffic.deregistering
    assert plan.traffic.port == 2358
    assert [(e.address, e.traffic) for e in plan.traffic.endpoints] == [
        ("10.0.0.1", "InRotation"), ("10.0.0.2", "InRotation"), ("10.0.0.3", "InRotation")]
    assert plan.status.in_rotation_replicas == 3
    assert plan.status.traffic is not None and plan.status.traffic.target_groups[0].registered == 0
    assert not settle(driver, world, 1).traffic.target_groups  # registered: nothing more to do


def test_a_node_that_turns_unhealthy_leaves_rotation_in_the_pass_that_restarts_it() -> None:
    driver, world = fleet(), nodes()
    settle(driver, world)
    world[1] = world[1].but(api=False)
    plan = settle(driver, world, 10)
    assert [a.kind for a in plan.actions] == ["RestartJudge0"]
    assert traffic_of(plan)["i-1"] == "Out"
    assert plan.traffic.deregistering == {ARN: ("i-1",)}
    assert {e.address: e.traffic for e in plan.traffic.endpoints}["10.0.0.2"] == "Out"
    assert "Draining" not in reasons(plan)  # a broken node is not waited on
    assert "RotationChanged" in reasons(plan)


def test_a_pass_that_cannot_see_all_of_ec2_changes_no_rotation() -> None:
    driver, world = fleet(), nodes()
    settle(driver, world)
    world[0] = world[0].but(api=False)
    plan = driver.step(at(5), world, complete=False, target_groups=group("i-0", "i-1", "i-2"))
    assert not plan.traffic.acting and not plan.traffic.target_groups
    assert traffic_of(plan)["i-0"] == "InRotation"  # as it was: nothing was deregistered


# --- drain before disruption ----------------------------------------------------------------------

def _scaled_in(driver: Driver, replicas: int) -> None:
    driver.spec = driver.spec.model_copy(update={"replicas": replicas})


def test_scale_in_drains_a_busy_node_then_terminates_it_after_the_grace() -> None:
    driver, world = fleet(), nodes(running=1, queued=2)
    settle(driver, world)
    _scaled_in(driver, 2)
    first = settle(driver, world, 1)
    assert not terminated(first)
    [leaving] = [i for i, t in traffic_of(first).items() if t == "Draining"]
    assert first.traffic.deregistering == {ARN: (leaving,)}
    assert "Draining" in reasons(first) and first.status.draining_replicas == 1
    assert first.next_check_at <= at(2)
    assert not terminated(settle(driver, world, 10))  # still busy
    world = [n.but(queued=0, running=0) if n.iid == leaving else n for n in world]
    assert not terminated(settle(driver, world, 11))  # idle now: the grace starts
    done = settle(driver, world, 16)
    assert terminated(done) == [leaving]
    assert "Drained" in reasons(done) and [(e.instance_id, e.outcome) for e in done.drain_ends] == [
        (leaving, "drained")]


def test_a_drain_that_never_empties_times_out_and_says_what_was_left() -> None:
    driver, world = fleet(), nodes(running=2, queued=4)
    settle(driver, world)
    _scaled_in(driver, 2)
    settle(driver, world, 1)
    assert not terminated(settle(driver, world, 60))
    done = settle(driver, world, 61)
    assert len(terminated(done)) == 1
    [note] = [e for e in done.events if e.reason == "DrainTimedOut"]
    assert note.type == "Warning" and "4 queued and 2 running" in note.message
    assert [e.outcome for e in done.drain_ends] == ["timed-out"]


def test_scale_in_picks_the_idle_node_among_equals() -> None:
    driver = fleet()
    world = [n.but(running=0, queued=0) if n.iid == "i-1" else n.but(running=1, queued=1) for n in nodes()]
    settle(driver, world)
    _scaled_in(driver, 2)
    assert traffic_of(settle(driver, world, 1))["i-1"] == "Draining"


def test_a_scale_in_called_off_returns_the_node_to_rotation() -> None:
    driver, world = fleet(), nodes(running=1)
    settle(driver, world)
    _scaled_in(driver, 2)
    settle(driver, world, 1)
    _scaled_in(driver, 3)
    plan = settle(driver, world, 3)
    assert set(traffic_of(plan).values()) == {"InRotation"} and not plan.actions
    assert "DrainCancelled" in reasons(plan)


def test_a_broken_node_is_scaled_in_at_once() -> None:
    driver, world = fleet(), nodes(running=2, queued=3)
    settle(driver, world)
    world[2] = world[2].but(canary=False)
    _scaled_in(driver, 2)
    plan = settle(driver, world, 1)
    assert terminated(plan) == ["i-2"]


def test_without_spec_traffic_nothing_is_drained() -> None:
    driver, world = fleet(published=False), nodes(running=2, queued=3)
    driver.step(T0, world)
    _scaled_in(driver, 2)
    plan = driver.step(at(1), world)
    assert len(terminated(plan)) == 1 and not plan.traffic.target_groups and plan.traffic.port is None


def test_dry_run_decides_as_if_drained_and_changes_no_rotation() -> None:
    driver, world = fleet(), nodes(running=2)
    driver.policy = make_policy({"mode": "DryRun", "drain": {"timeoutSeconds": 60, "graceSeconds": 5}})
    settle(driver, world)
    _scaled_in(driver, 2)
    plan = settle(driver, world, 1)
    assert not plan.actions and "DryRunTerminate" in reasons(plan)
    assert not plan.traffic.acting


def test_a_spot_notice_takes_the_node_out_at_once_and_its_drain_ends_at_not_before() -> None:
    driver, world = fleet(), nodes(running=1, queued=1)
    settle(driver, world)
    notice = world[0].but(events=("instance-stop",), not_before=at(40))
    world[0] = notice
    first = settle(driver, world, 1)
    assert traffic_of(first)["i-0"] == "Out" and first.traffic.deregistering == {ARN: ("i-0",)}
    assert [a.kind for a in first.actions] == ["Launch"]  # the replacement, launch first
    launch = first.actions[0]
    new = Node("i-9", slot=launch.slot, attempt=launch.attempt, zone="b", launched=at(2), private_ip="10.0.0.9")
    world = [*world, new]
    held = settle(driver, world, 20)
    assert not terminated(held) and traffic_of(held)["i-0"] == "Draining"
    assert row(held.status, "i-0").drain.deadline == format_time(at(40))  # the hard deadline wins
    done = settle(driver, world, 40)
    assert terminated(done) == ["i-0"] and [e.outcome for e in done.drain_ends] == ["deadline"]


def test_a_rollout_drains_each_old_node_once_its_replacement_is_healthy() -> None:
    driver, world = fleet(1), [Node("i-old", slot="s0", private_ip="10.0.0.1", running=1)]
    settle(driver, world)
    driver.spec = driver.spec.model_copy(
        update={"instance": driver.spec.instance.model_copy(update={"instance_type": "c6i.xlarge"})}
    )
    first = settle(driver, world, 1)
    [launch] = first.actions
    new = Node("i-new", slot="s0", attempt=launch.attempt, launched=at(2), private_ip="10.0.0.2",
               template=first.status.template_hash)
    world = [*world, new]
    swap = settle(driver, world, 5)
    assert traffic_of(swap) == {"i-old": "Draining", "i-new": "InRotation"} and not terminated(swap)
    world = [world[0].but(running=0), new]
    settle(driver, world, 6)
    assert terminated(settle(driver, world, 11)) == ["i-old"]


def test_turning_the_service_off_unpublishes_it() -> None:
    driver, world = fleet(), nodes()
    settle(driver, world)
    driver.status = driver.status.model_copy(
        update={"traffic": driver.status.traffic.model_copy(update={"service": "exam.ns.svc:2358"})}
    )
    driver.spec = driver.spec.model_copy(update={"traffic": TrafficSpec(target_group_arns=[ARN])})
    plan = settle(driver, world, 1)
    assert plan.traffic.unpublish and plan.traffic.port is None
