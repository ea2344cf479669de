"""Slots and launches: convergence, crash adoption, pending intents, surplus order, duplicates."""

from __future__ import annotations

from datetime import timedelta

from plan_builders import (
    UID,
    Driver,
    Node,
    at,
    kinds,
    launched_nodes,
    make_spec,
    reasons,
    row,
    terminated_ids,
)

from judge0_operator.api.fleet_status import Judge0FleetStatus, LaunchIntent
from judge0_operator.decide.model import Launch, Terminate
from judge0_operator.decide.plan import client_token
from judge0_operator.decide.timeutil import format_time


def launches(result) -> list[Launch]:
    return [a for a in result.actions if isinstance(a, Launch)]


def test_client_token_is_deterministic_short_and_distinct():
    token = client_token(UID, "s3", 2)
    assert token == client_token(UID, "s3", 2)
    assert len(token) <= 64 and token.isascii()
    others = {client_token(UID, "s3", 3), client_token(UID, "s4", 2), client_token("other-uid", "s3", 2)}
    assert token not in others and len(others) == 3
    assert len(client_token("u" * 300, "s" * 300, 10**9)) <= 64


def test_scale_up_new_slots_spread_over_zones_with_intents_recorded_first():
    result = Driver(make_spec(3)).step(at(0), [])
    assert [(a.slot, a.attempt) for a in launches(result)] == [("s0", 0), ("s1", 0), ("s2", 0)]
    assert {a.zone for a in launches(result)} == {"eu-west-1a", "eu-west-1b", "eu-west-1c"}
    intents = {(i.slot, i.attempt, i.client_token) for i in result.status.pending_launches}
    assert intents == {(a.slot, a.attempt, a.client_token) for a in launches(result)}
    assert all(a.client_token == client_token(UID, a.slot, a.attempt) for a in launches(result))
    assert result.status.next_slot == 3
    assert "ScalingUp" in reasons(result)


def test_at_most_five_launches_per_pass():
    driver = Driver(make_spec(12))
    first = driver.step(at(0), [])
    assert len(launches(first)) == 5
    driver.succeed(first, at(0))
    second = driver.step(at(10), launched_nodes(first, at(5)))
    assert len(launches(second)) == 5
    assert {a.slot for a in launches(second)}.isdisjoint({a.slot for a in launches(first)})


def test_crash_adoption_instance_with_slot_tag_is_adopted_not_relaunched():
    # The operator launched s0 and crashed before writing status: status knows nothing.
    result = Driver(make_spec(1)).step(at(0), [Node("i-9", slot="s0", attempt=0)])
    assert kinds(result) == []
    assert row(result.status, "i-9").slot == "s0"
    assert "InstanceAdopted" in reasons(result)
    assert result.status.next_slot == 1
    # A later scale-up must not reuse the adopted slot name.
    bigger = Driver(make_spec(2)).step(at(0), [Node("i-9", slot="s4", attempt=2)])
    assert [a.slot for a in launches(bigger)] == ["s5"]


def pending(slot="s0", attempt=0, instance_id=None, requested=0, replaces=None) -> LaunchIntent:
    return LaunchIntent(
        slot=slot,
        attempt=attempt,
        client_token=client_token(UID, slot, attempt),
        subnet_id="subnet-0000000b",
        zone="eu-west-1b",
        instance_type="c6i.large",
        reason="ScaleUp: test",
        replaces=replaces,
        requested_at=format_time(at(requested)),
        instance_id=instance_id,
    )


def test_pending_intent_with_its_instance_seen_is_resolved():
    status = Judge0FleetStatus(pending_launches=[pending()], next_slot=1, slot_attempts={"s0": 0})
    result = Driver(make_spec(1), status=status).step(at(30), [Node("i-7", slot="s0", zone="b")])
    assert result.status.pending_launches == []
    assert kinds(result) == []
    assert "InstanceAdopted" not in reasons(result)  # it was ours, by its intent


def test_pending_intent_never_confirmed_is_reissued_with_the_same_token():
    status = Judge0FleetStatus(pending_launches=[pending()], next_slot=1, slot_attempts={"s0": 0})
    result = Driver(make_spec(1), status=status).step(at(30), [])
    (launch,) = launches(result)
    assert (launch.slot, launch.attempt, launch.client_token) == ("s0", 0, client_token(UID, "s0", 0))
    assert (launch.subnet_id, launch.zone) == ("subnet-0000000b", "eu-west-1b")  # same parameters too
    assert len(result.status.pending_launches) == 1


def test_launched_instance_not_visible_yet_is_waited_for_then_relaunched_with_the_next_attempt():
    status = Judge0FleetStatus(pending_launches=[pending(instance_id="i-new")], next_slot=1, slot_attempts={"s0": 0})
    driver = Driver(make_spec(1), status=status)
    assert kinds(driver.step(at(599), [])) == []  # eventual consistency: never a second launch
    later = driver.step(at(600), [])
    assert [(a.slot, a.attempt) for a in launches(later)] == [("s0", 1)]
    assert "LaunchNotObserved" in reasons(later)


def test_incomplete_observation_neither_drops_rows_nor_acts():
    driver = Driver(make_spec(2))
    driver.step(at(0), [Node("i-1", slot="s0"), Node("i-2", slot="s1", zone="b")])
    result = driver.step(at(10), [Node("i-1", slot="s0")], complete=False, error="DescribeInstances throttled")
    assert kinds(result) == []
    assert {r.instance_id for r in result.status.instances} == {"i-1", "i-2"}
    cloud = next(c for c in result.status.conditions if c.type == "CloudAPIReady")
    assert (cloud.status, cloud.reason) == ("False", "Throttled")


def test_vanished_instance_slot_is_refilled_with_the_next_attempt():
    driver = Driver(make_spec(2))
    driver.step(at(0), [Node("i-1", slot="s0"), Node("i-2", slot="s1", zone="b")])
    result = driver.step(at(10), [Node("i-2", slot="s1", zone="b")])
    assert [(a.slot, a.attempt) for a in launches(result)] == [("s0", 1)]
    assert "InstanceGone" in reasons(result)


def test_surplus_goes_unhealthy_first_then_newest():
    nodes = [
        Node("i-old", slot="s0", launched=at(-9000)),
        Node("i-sick", slot="s1", zone="b", launched=at(-8000), api=False, probed_at=at(-1000)),
        Node("i-mid", slot="s2", zone="c", launched=at(-7000)),
        Node("i-new", slot="s3", launched=at(-6000)),
    ]
    result = Driver(make_spec(2)).step(at(0), nodes)
    assert terminated_ids(result) == {"i-sick", "i-new"}
    assert all(a.reason.startswith("ScaleDown") for a in result.actions)
    assert set(result.status.slot_attempts) == {"s0", "s2"}
    assert "ScalingDown" in reasons(result)


def test_scale_down_drops_pending_launches_of_removed_slots():
    status = Judge0FleetStatus(
        pending_launches=[pending(slot="s1", requested=-5)], next_slot=2, slot_attempts={"s0": 0, "s1": 0}
    )
    result = Driver(make_spec(1), status=status).step(at(0), [Node("i-1", slot="s0")])
    assert kinds(result) == [] and result.status.pending_launches == []


def test_duplicates_keep_the_healthiest_then_oldest():
    nodes = [
        Node("i-a", slot="s0", launched=at(-100), api=False, probed_at=at(-90)),
        Node("i-b", slot="s0", launched=at(-50), zone="b"),
        Node("i-c", slot="s0", launched=at(-10), zone="c"),
    ]
    policy_fast = Driver(make_spec(1)).policy
    result = Driver(make_spec(1), policy_fast).step(at(0), nodes)
    assert terminated_ids(result) == {"i-a", "i-c"}
    assert reasons(result).count("DuplicateInstance") == 2
    assert kinds(result) == ["Terminate", "Terminate"]  # no launch: s0 is filled


def test_instance_without_slot_tag_is_terminated_as_duplicate():
    result = Driver(make_spec(1)).step(at(0), [Node("i-1", slot="s0"), Node("i-x", slot=None, zone="b")])
    assert [(a.kind, a.instance_id) for a in result.actions] == [("Terminate", "i-x")]
    assert "DuplicateInstance" in reasons(result)


def test_replacement_is_not_a_duplicate_and_old_goes_once_new_is_healthy():
    old = Node("i-old", slot="s0", attempt=0, api=False, probed_at=at(-500))
    new_starting = Node("i-new", slot="s0", attempt=1, zone="b", launched=at(-5), api=None)
    driver = Driver(make_spec(1))
    waiting = driver.step(at(0), [old, new_starting])
    assert kinds(waiting) == []  # new one still starting: keep the old
    assert row(waiting.status, "i-new").health == "Starting"
    conditions = {c.type: c for c in waiting.status.conditions}
    assert conditions["Ready"].message.endswith("replacing i-old → i-new")
    # The old one no longer holds the slot, so it no longer counts against maxUnhealthy: say so.
    assert "being replaced: i-old" in conditions["RemediationAllowed"].message
    done = driver.step(at(10), [old, new_starting.but(api=True)])
    assert [(a.kind, a.instance_id) for a in done.actions] == [("Terminate", "i-old")]
    assert done.actions[0].reason.startswith("Replaced")
    assert not launches(done)


def test_no_second_launch_for_a_slot_with_a_pending_launch():
    status = Judge0FleetStatus(
        pending_launches=[pending(instance_id="i-new", requested=-10)], next_slot=1, slot_attempts={"s0": 0}
    )
    driver = Driver(make_spec(1), status=status)
    for seconds in (0, 60, 300):
        assert kinds(driver.step(at(seconds), [])) == []
    assert len(driver.status.pending_launches) == 1
    assert driver.status.pending_launches[0].requested_at == format_time(at(-10))
    assert at(0) - timedelta(seconds=10) == at(-10)


def test_terminated_instances_are_not_counted_or_listed():
    nodes = [Node("i-1", slot="s0"), Node("i-2", slot="s1", state="shutting-down")]
    result = Driver(make_spec(2)).step(at(0), nodes)
    assert [r.instance_id for r in result.status.instances] == ["i-1"]
    assert result.status.replicas == 1
    assert [(a.slot, a.attempt) for a in launches(result)] == [("s1", 1)]
    assert not [a for a in result.actions if isinstance(a, Terminate)]


def test_a_stale_view_after_scale_down_does_not_terminate_another_instance():
    nodes = [
        Node("i-0", slot="s0", launched=at(-900)),
        Node("i-1", slot="s1", zone="b", launched=at(-800)),
        Node("i-2", slot="s2", zone="c", launched=at(-700)),
    ]
    driver = Driver(make_spec(2))
    first = driver.step(at(0), nodes)
    assert terminated_ids(first) == {"i-2"}
    driver.succeed(first, at(0))
    # A cached DescribeInstances still shows i-2 running, and i-1 turned unhealthy meanwhile.
    stale = [nodes[0], nodes[1].but(api=False, probed_at=at(-600)), nodes[2]]
    second = driver.step(at(10), stale)
    assert not terminated_ids(second) and not [a for a in second.actions if isinstance(a, Launch)]


def test_launched_instance_seen_terminated_is_relaunched_at_once_with_the_next_attempt():
    status = Judge0FleetStatus(pending_launches=[pending(instance_id="i-new")], next_slot=1, slot_attempts={"s0": 0})
    reclaimed = Node("i-new", slot="s0", zone="b", state="terminated", launched=at(1))
    result = Driver(make_spec(1), status=status).step(at(30), [reclaimed])
    assert [(a.slot, a.attempt) for a in launches(result)] == [("s0", 1)]
    assert "LaunchNotObserved" in reasons(result)


def test_surplus_of_healthy_instances_comes_from_the_most_crowded_zone_first():
    nodes = [
        Node("i-a-old", slot="s0", zone="a", launched=at(-9000)),
        Node("i-a-mid", slot="s1", zone="a", launched=at(-8000)),
        Node("i-b-new", slot="s2", zone="b", launched=at(-100)),  # newest, but alone in its zone
        Node("i-c-mid", slot="s3", zone="c", launched=at(-7000)),
    ]
    result = Driver(make_spec(3)).step(at(0), nodes)
    assert terminated_ids(result) == {"i-a-mid"}  # the newer of zone a's two
    two = Driver(make_spec(2)).step(at(0), nodes)
    # Then every zone holds one: the newest of those goes.
    assert terminated_ids(two) == {"i-a-mid", "i-b-new"}
