"""Storm prevention: maxUnhealthy short-circuit, maxInFlight, zone outage fail-over, mass partition."""

from __future__ import annotations

import pytest
from plan_builders import (
    Driver,
    Node,
    at,
    condition,
    kinds,
    launched_nodes,
    make_policy,
    make_spec,
    reasons,
    row,
)

from judge0_operator.decide.model import Launch, Terminate
from judge0_operator.decide.safety import ZONE_OUT_COOLDOWN_SECONDS, judge_zones, max_in_flight, max_unhealthy

SICK = {"api": False, "probed_at": at(-600)}  # bad long before the pass: Unhealthy at once


def fleet(zones: str, sick: set[int]) -> list[Node]:
    """One node per letter of ``zones`` (slot s<i>), the ones in ``sick`` unhealthy."""
    return [Node(f"i-{i}", slot=f"s{i}", zone=z, **(SICK if i in sick else {})) for i, z in enumerate(zones)]


def test_too_many_unhealthy_stops_all_remediation_but_reports_and_still_fills_capacity():
    driver = Driver(make_spec(6))  # one slot missing; maxUnhealthy 40% of 6 = 2
    nodes = fleet("aabbc", sick={0, 2, 4})
    result = driver.step(at(0), nodes)
    assert [(a.kind, a.reason.split(":")[0]) for a in result.actions] == [("Launch", "ScaleUp")]
    allowed = condition(result.status, "RemediationAllowed")
    assert (allowed.status, allowed.reason) == ("False", "TooManyUnhealthy")
    assert allowed.message == "3 of 5 instances unhealthy (limit 2)"
    assert reasons(result).count("RemediationRestricted") == 1
    assert [r.instance_id for r in result.status.instances if r.health == "Unhealthy"] == [
        "i-0",
        "i-2",
        "i-4",
    ]
    assert condition(result.status, "Progressing").reason in ("RemediationRestricted", "Launching")

    again = driver.step(at(30), nodes)
    assert "RemediationRestricted" not in reasons(again)
    assert not [a for a in again.actions if a.kind != "Launch"]

    recovered = [n.but(api=True) if n.iid == "i-4" else n for n in nodes]
    allowed_again = driver.step(at(60), recovered)
    assert condition(allowed_again.status, "RemediationAllowed").status == "True"
    assert "RemediationAllowedTrue" in reasons(allowed_again)
    assert [a.kind for a in allowed_again.actions if a.kind != "Launch"] == ["RestartJudge0"]


@pytest.mark.parametrize(
    ("value", "desired", "expected"),
    [
        ("40%", 5, 2),
        ("40%", 1, 1),
        ("40%", 2, 1),
        ("0%", 3, 0),
        (0, 3, 0),
        (3, 10, 3),
        ("100%", 4, 4),
    ],
)
def test_max_unhealthy_rounds_down_with_a_floor_of_one_for_nonzero_percentages(value, desired, expected):
    assert max_unhealthy(make_policy({"safety": {"maxUnhealthy": value}}), desired) == expected


@pytest.mark.parametrize(("value", "desired", "expected"), [(1, 5, 1), ("50%", 5, 3), ("10%", 3, 1), (0, 3, 1)])
def test_max_in_flight_rounds_up_at_least_one(value, desired, expected):
    assert max_in_flight(make_policy({"safety": {"maxInFlight": value}}), desired) == expected


def test_max_in_flight_caps_concurrent_remediations():
    driver = Driver(make_spec(5), make_policy({"safety": {"maxInFlight": 1}}))
    nodes = fleet("abcab", sick={1, 3})
    first = driver.step(at(0), nodes)
    assert [(a.kind, a.instance_id) for a in first.actions] == [("RestartJudge0", "i-1")]
    assert "1 waiting for maxInFlight (1)" in condition(first.status, "RemediationAllowed").message
    assert kinds(driver.step(at(60), nodes)) == []  # i-1's restart still within its 120 s
    second = driver.step(at(120), nodes)  # i-1's timeout passed (it waits out its backoff)
    assert [(a.kind, a.instance_id) for a in second.actions] == [("RestartJudge0", "i-3")]


def test_max_in_flight_counts_pending_replacements():
    policy = make_policy({"safety": {"maxInFlight": 1, "maxUnhealthy": 2}, "probes": {"ec2UnhealthyAfterSeconds": 0}})
    driver = Driver(make_spec(4), policy)
    nodes = [
        Node("i-0", slot="s0", system_check="impaired"),
        Node("i-1", slot="s1", zone="b", **SICK),
        Node("i-2", slot="s2", zone="c"),
        Node("i-3", slot="s3", zone="b"),
    ]
    first = driver.step(at(0), nodes)
    assert sorted(kinds(first)) == ["Launch", "Terminate"]  # i-0 replaced; i-1 must wait
    second = driver.step(at(5), [n for n in nodes if n.iid != "i-0"])  # launch pending, not yet seen
    assert kinds(second) == ["Launch"]  # only the same intent again, same token
    assert second.actions[0].client_token == first.actions[0].client_token


def zone_fleet(**zone_a) -> list[Node]:
    nodes = fleet("aabbcc", sick=set())
    return [n.but(**zone_a) if n.zone == "a" else n for n in nodes]


def test_zone_outage_fails_over_to_other_zones_and_recovers():
    policy = make_policy({"safety": {"maxInFlight": 2}})
    driver = Driver(make_spec(6), policy)
    nodes = zone_fleet(**SICK)
    out = driver.step(at(0), nodes)
    assert out.status.zones_out == ["eu-west-1a"]
    assert "ZoneOutage" in reasons(out)
    launches = [a for a in out.actions if isinstance(a, Launch)]
    assert kinds(out) == ["Launch", "Launch"]  # launch first, no restart into a dead zone
    assert {a.replaces for a in launches} == {"i-0", "i-1"}
    assert all(a.zone != "eu-west-1a" for a in launches)
    assert condition(out.status, "RemediationAllowed").status == "True"  # the out zone is not counted
    assert condition(out.status, "Degraded").status == "True"

    driver.succeed(out, at(0))
    nodes += launched_nodes(out, at(1))
    swapped = driver.step(at(20), nodes)
    assert {a.instance_id for a in swapped.actions if isinstance(a, Terminate)} == {"i-0", "i-1"}
    nodes = [n for n in nodes if n.zone != "a"]
    empty = driver.step(at(30), nodes)
    assert empty.status.zones_out == ["eu-west-1a"]  # empty: kept out for a while
    assert empty.next_check_at <= at(ZONE_OUT_COOLDOWN_SECONDS + 20)
    back = driver.step(at(20 + ZONE_OUT_COOLDOWN_SECONDS), nodes)
    assert back.status.zones_out == []
    assert "ZoneRecovered" in reasons(back)


def test_out_zone_recovers_when_its_instances_are_healthy_again():
    driver = Driver(make_spec(6, paused=True))  # paused: judged and reported, nothing acted on
    assert driver.step(at(0), zone_fleet(**SICK)).status.zones_out == ["eu-west-1a"]
    still = driver.step(at(10), zone_fleet(**SICK))
    assert still.status.zones_out == ["eu-west-1a"] and "ZoneOutage" not in reasons(still)
    back = driver.step(at(20), zone_fleet())
    assert back.status.zones_out == [] and "ZoneRecovered" in reasons(back)


def test_mass_partition_across_every_zone_trips_max_unhealthy_and_replaces_nothing():
    driver = Driver(make_spec(6))
    nodes = fleet("aabbcc", sick=set(range(6)))
    result = driver.step(at(0), nodes)
    assert result.actions == ()
    assert result.status.zones_out == []
    assert condition(result.status, "RemediationAllowed").reason == "TooManyUnhealthy"
    assert "RemediationRestricted" in reasons(result)
    assert "ZoneOutage" not in reasons(result)
    assert all(r.health == "Unhealthy" for r in result.status.instances)


def test_one_unhealthy_instance_alone_in_its_zone_is_not_an_outage():
    result = Driver(make_spec(3)).step(at(0), fleet("abc", sick={0}))
    assert result.status.zones_out == []
    assert kinds(result) == ["RestartJudge0"]
    assert row(result.status, "i-0").attempts == 1


def test_judge_zones_threshold():
    members = [("a", "Unhealthy"), ("a", "Unhealthy"), ("a", "Healthy"), ("b", "Healthy")]
    assert judge_zones(members, previous_out=[], previous_since={}, threshold_percent=60, now=at(0)).out == ("a",)
    assert judge_zones(members, previous_out=[], previous_since={}, threshold_percent=70, now=at(0)).out == ()


def test_restriction_also_holds_back_replacements_under_way():
    """No remediation at all: a finished replacement does not swap, a pending one is not re-issued."""
    from judge0_operator.api.fleet_status import Judge0FleetStatus, LaunchIntent
    from judge0_operator.decide.plan import client_token

    intent = LaunchIntent(
        slot="s1",
        attempt=1,
        client_token=client_token("u", "s1", 1),
        subnet_id="subnet-0000000a",
        zone="eu-west-1a",
        reason="Remediation: replace i-1",
        replaces="i-1",
        requested_at="2026-11-23T11:59:00Z",
    )
    nodes = [
        Node("i-0", slot="s0", **SICK),
        Node("i-0b", slot="s0", attempt=1, zone="b"),  # s0: new one healthy
        Node("i-1", slot="s1", zone="b", **SICK),  # s1: replacement launch pending
        Node("i-2", slot="s2", zone="c", **SICK),
        Node("i-3", slot="s3", zone="b", **SICK),
    ]
    status = Judge0FleetStatus(pending_launches=[intent], next_slot=4, slot_attempts={"s1": 1})
    no_zone_outage = make_policy({"safety": {"zoneOutageThreshold": 100}})
    restricted = Driver(make_spec(4), no_zone_outage, status=status).step(at(0), nodes)
    assert condition(restricted.status, "RemediationAllowed").reason == "TooManyUnhealthy"
    assert restricted.actions == ()
    allowed = Driver(
        make_spec(4),
        make_policy({"safety": {"maxUnhealthy": 5, "maxInFlight": 5, "zoneOutageThreshold": 100}}),
        status=status,
    ).step(at(0), nodes)
    assert {("Terminate", "i-0"), ("Launch", "s1")} <= {
        (a.kind, a.instance_id if isinstance(a, Terminate) else a.slot) for a in allowed.actions
    }
