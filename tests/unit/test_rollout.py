"""Rolling replacement: template hash, surge/unavailable limits, healthy-before-next, stall, zone spread."""

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from judge0_operator.api.common import Condition
from judge0_operator.api.fleet_status import Judge0FleetStatus
from judge0_operator.api.instance import InstanceSpec
from judge0_operator.decide.rollout import (
    IN_TEMPLATE_HASH,
    NOT_IN_TEMPLATE_HASH,
    OutdatedInstance,
    plan_rollout,
    rollout_limits,
    stalled_before,
    template_hash,
)

T0 = datetime(2024, 5, 6, 14, 0, tzinfo=UTC)
BASE: dict[str, Any] = {
    "imageId": "ami-12345678",
    "instanceType": "c6i.large",
    "subnets": ["subnet-0000000a", "subnet-0000000b"],
    "securityGroupIds": ["sg-0000000a", "sg-0000000b"],
    "tags": {"team": "exams"},
}


def spec(**changes: Any) -> InstanceSpec:
    return InstanceSpec.model_validate({**BASE, **changes})


# --- template hash -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change",
    [
        {"imageId": "ami-87654321"},
        {"instanceType": "c6i.xlarge"},
        {"userData": "#cloud-config\n"},
        {"tags": {"team": "exams", "cost": "42"}},
        {"securityGroupIds": ["sg-0000000a"]},
        {"iamInstanceProfile": "judge0"},
        {"keyName": "ops"},
    ],
)
def test_what_makes_the_machine_changes_the_hash(change):
    assert template_hash(spec(**change)) != template_hash(spec())


@pytest.mark.parametrize(
    "change",
    [
        {"subnets": ["subnet-0000000c"]},
        {"market": "Spot"},
        {"fallbackInstanceTypes": ["c5.large"]},
        {"securityGroupIds": ["sg-0000000b", "sg-0000000a"]},  # order is not meaningful to EC2
        {"userData": None},  # spelling out a default
    ],
)
def test_placement_and_defaults_do_not_change_the_hash(change):
    assert template_hash(spec(**change)) == template_hash(spec())


def test_launch_template_version_changes_the_hash():
    def lt(version: str | None) -> InstanceSpec:
        ref = {"id": "lt-0123456789abcdef0", **({"version": version} if version else {})}
        return InstanceSpec.model_validate({"launchTemplate": ref, "subnets": ["subnet-0000000a"]})

    assert template_hash(lt("3")) != template_hash(lt("4"))
    assert template_hash(lt(None)) == template_hash(lt("$Default"))


def test_every_instance_field_is_classified():
    assert set(InstanceSpec.model_fields) == IN_TEMPLATE_HASH | NOT_IN_TEMPLATE_HASH
    assert not IN_TEMPLATE_HASH & NOT_IN_TEMPLATE_HASH


def test_hash_is_short_and_stable():
    digest = template_hash(spec())
    assert len(digest) == 10 and digest == template_hash(spec())
    assert all(c in "0123456789abcdef" for c in digest)


# --- limits --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "surge,unavailable,desired,expected",
    [
        (1, 0, 10, (1, 0)),
        ("25%", 0, 10, (3, 0)),  # surge rounds up
        (0, "25%", 10, (0, 2)),  # unavailability rounds down
        (0, 0, 10, (1, 0)),  # both 0 would deadlock: surge 1
        ("10%", "10%", 5, (1, 0)),  # 0.5 → surge 1, unavailable 0
        (0, "10%", 5, (1, 0)),  # unavailable rounds to 0 → surge 1
        (3, 2, 0, (3, 2)),
    ],
)
def test_rollout_limits(surge, unavailable, desired, expected):
    assert rollout_limits(surge, unavailable, desired=desired) == expected


# --- planning ------------------------------------------------------------------------------------
def outdated(zone: str, n: int, start: int = 0) -> list[OutdatedInstance]:
    return [
        OutdatedInstance(
            f"i-{zone}{start + i}", f"{zone}{start + i}", zone, T0 + timedelta(minutes=start + i)
        )
        for i in range(n)
    ]


def test_default_limits_replace_the_oldest_one_launch_first():
    old = [*outdated("b", 2, start=5), *outdated("a", 2)]
    step = plan_rollout(old, desired=4, healthy=4, surge_in_use=0, max_surge=1, max_unavailable=0)
    assert [o.instance_id for o in step.launch_first] == ["i-a0"]
    assert step.terminate_first == ()
    assert step.progressing and not step.stalled and step.remaining == 4


def test_healthy_before_next_a_starting_replacement_holds_the_surge():
    step = plan_rollout(
        outdated("a", 3), desired=3, healthy=3, surge_in_use=1, max_surge=1, max_unavailable=0
    )
    assert step.launch_first == () and step.terminate_first == ()
    assert step.progressing  # waiting, not stalled


def test_percent_surge_replaces_several_spread_over_zones():
    old = [*outdated("a", 4), *outdated("b", 2, start=10), *outdated("c", 2, start=20)]
    step = plan_rollout(old, desired=8, healthy=8, surge_in_use=0, max_surge="25%", max_unavailable=0)
    assert [o.instance_id for o in step.launch_first] == ["i-a0", "i-b10"]
    step = plan_rollout(old, desired=8, healthy=8, surge_in_use=0, max_surge="50%", max_unavailable=0)
    assert Counter(o.zone for o in step.launch_first) == {"a": 2, "b": 1, "c": 1}


def test_max_unavailable_terminates_first_only_while_enough_are_healthy():
    old = outdated("a", 6)
    step = plan_rollout(old, desired=6, healthy=6, surge_in_use=0, max_surge=0, max_unavailable=2)
    assert [o.instance_id for o in step.terminate_first] == ["i-a0", "i-a1"] and step.launch_first == ()
    step = plan_rollout(old, desired=6, healthy=5, surge_in_use=0, max_surge=0, max_unavailable=2)
    assert len(step.terminate_first) == 1  # one already unavailable
    step = plan_rollout(old, desired=6, healthy=4, surge_in_use=0, max_surge=0, max_unavailable=2)
    assert step.terminate_first == ()


def test_surge_and_unavailable_together():
    step = plan_rollout(
        outdated("a", 6), desired=6, healthy=6, surge_in_use=0, max_surge=1, max_unavailable=1
    )
    assert len(step.launch_first) == 1 and len(step.terminate_first) == 1
    assert {o.instance_id for o in step.launch_first} | {o.instance_id for o in step.terminate_first} == {
        "i-a0",
        "i-a1",
    }


def test_unhealthy_replacement_stalls_the_rollout():
    step = plan_rollout(
        outdated("a", 3),
        desired=3,
        healthy=3,
        surge_in_use=1,
        max_surge=2,
        max_unavailable=0,
        new_unhealthy=1,
    )
    assert step.stalled and not step.progressing
    assert step.launch_first == () and step.terminate_first == ()
    assert "template" in step.message


def test_stall_persists_for_the_same_template():
    step = plan_rollout(
        outdated("a", 3),
        desired=3,
        healthy=3,
        surge_in_use=0,
        max_surge=1,
        max_unavailable=0,
        already_stalled=True,
    )
    assert step.stalled and step.launch_first == ()


def test_nothing_outdated_is_done_and_leaves_the_surge_spare():
    step = plan_rollout(
        [], desired=3, healthy=3, surge_in_use=0, max_surge=2, max_unavailable=0, new_unhealthy=1
    )
    assert not step.stalled and not step.progressing and step.spare_surge == 2


def test_spare_surge_is_what_the_step_leaves():
    step = plan_rollout(
        outdated("a", 1), desired=6, healthy=6, surge_in_use=0, max_surge=3, max_unavailable=0
    )
    assert (len(step.launch_first), step.spare_surge) == (1, 2)


def _status(hash_: str, reason: str, status: Literal["True", "False"] = "False") -> Judge0FleetStatus:
    condition = Condition(
        type="Progressing", status=status, reason=reason, last_transition_time="2024-05-06T14:00:00Z"
    )
    return Judge0FleetStatus(template_hash=hash_, conditions=[condition])


def test_stalled_before_only_for_the_same_template():
    assert stalled_before(_status("abc", "RolloutStalled"), "abc")
    assert not stalled_before(_status("abc", "RolloutStalled"), "def")  # the template changed: resume
    assert not stalled_before(_status("abc", "RollingOut", "True"), "abc")
    assert not stalled_before(None, "abc")


# --- properties ----------------------------------------------------------------------------------
int_or_percent = st.one_of(st.integers(0, 4), st.sampled_from(["0%", "10%", "25%", "50%", "100%"]))


@settings(max_examples=300, deadline=None)
@given(
    zones=st.lists(st.integers(0, 6), min_size=1, max_size=3),
    desired=st.integers(0, 20),
    healthy=st.integers(0, 20),
    surge_in_use=st.integers(0, 5),
    max_surge=int_or_percent,
    max_unavailable=int_or_percent,
)
def test_a_step_never_exceeds_its_limits(zones, desired, healthy, surge_in_use, max_surge, max_unavailable):
    old = [o for i, n in enumerate(zones) for o in outdated(f"z{i}", n, start=10 * i)]
    step = plan_rollout(
        old,
        desired=desired,
        healthy=healthy,
        surge_in_use=surge_in_use,
        max_surge=max_surge,
        max_unavailable=max_unavailable,
    )
    surge, unavailable = rollout_limits(max_surge, max_unavailable, desired=desired)
    assert surge_in_use + len(step.launch_first) <= max(surge, surge_in_use)
    assert max(0, desired - healthy) + len(step.terminate_first) <= max(unavailable, desired - healthy)
    chosen = [*step.launch_first, *step.terminate_first]
    assert len({o.instance_id for o in chosen}) == len(chosen) and set(chosen) <= set(old)
    # Oldest first within each zone, and spread: picks per zone differ by at most one while
    # the zones with fewer picks still had candidates.
    per_zone = Counter(o.zone for o in chosen)
    for zone in {o.zone for o in old}:
        in_zone = sorted((o for o in old if o.zone == zone), key=lambda o: o.launched_at)
        assert {o.instance_id for o in in_zone[: per_zone[zone]]} == {
            o.instance_id for o in chosen if o.zone == zone
        }
    open_zones = [z for z in {o.zone for o in old} if per_zone[z] < sum(o.zone == z for o in old)]
    if chosen and open_zones:
        assert max(per_zone.values()) - min(per_zone[z] for z in open_zones) <= 1


@dataclass
class Machine:
    slot: int
    updated: bool
    healthy: bool


@settings(max_examples=100, deadline=None)
@given(
    desired=st.integers(1, 12),
    max_surge=int_or_percent,
    max_unavailable=int_or_percent,
)
def test_a_whole_rollout_holds_the_limits_and_finishes(desired, max_surge, max_unavailable):
    """Simulate passes: replacements start at once and turn healthy on the next pass; the old
    instance goes as soon as its replacement is healthy. The fleet never holds more than desired +
    surge instances, never fewer than desired - unavailable healthy ones, and ends fully updated."""
    surge, unavailable = rollout_limits(max_surge, max_unavailable, desired=desired)
    fleet = {slot: [Machine(slot, updated=False, healthy=True)] for slot in range(desired)}
    for _ in range(4 * desired + 4):
        for machines in fleet.values():  # new instances turn healthy; their old twins go
            for m in machines:
                m.healthy = True
            if len(machines) == 2 and machines[1].healthy:
                machines.pop(0)
        machines_now = [m for ms in fleet.values() for m in ms]
        healthy = sum(m.healthy for m in machines_now)
        old = [
            OutdatedInstance(f"i-{slot}", str(slot), f"z{slot % 3}", T0 + timedelta(minutes=slot))
            for slot, ms in fleet.items()
            if len(ms) == 1 and not ms[0].updated
        ]
        if not [m for m in machines_now if not m.updated]:
            break
        step = plan_rollout(
            old,
            desired=desired,
            healthy=healthy,
            surge_in_use=len(machines_now) - desired,
            max_surge=max_surge,
            max_unavailable=max_unavailable,
        )
        assert not step.stalled
        for o in step.launch_first:
            fleet[int(o.slot)].append(Machine(int(o.slot), updated=True, healthy=False))
        for o in step.terminate_first:
            fleet[int(o.slot)] = [Machine(int(o.slot), updated=True, healthy=False)]
        machines_now = [m for ms in fleet.values() for m in ms]
        assert len(machines_now) <= desired + surge
        assert sum(m.healthy for m in machines_now) >= desired - unavailable
    assert all(m.updated for ms in fleet.values() for m in ms)
