"""The planner drives rollout.plan_rollout and placement.zone_balance_moves: launch first, then swap."""

from __future__ import annotations

from plan_builders import (
    Driver,
    Node,
    at,
    condition,
    kinds,
    launched_nodes,
    make_spec,
    reasons,
    terminated_ids,
)

from judge0_operator.api.instance import InstanceSpec
from judge0_operator.decide.model import Launch


def new_template_spec(replicas: int):
    spec = make_spec(replicas)
    instance = InstanceSpec.model_validate({**spec.instance.to_wire(), "imageId": "ami-87654321"})
    return spec.model_copy(update={"instance": instance})


def test_template_change_rolls_one_at_a_time_launch_first():
    driver = Driver(new_template_spec(3))
    nodes = [
        Node("i-0", slot="s0", launched=at(-300)),
        Node("i-1", slot="s1", zone="b", launched=at(-200)),
        Node("i-2", slot="s2", zone="c", launched=at(-100)),
    ]
    first = driver.step(at(0), nodes)
    (launch,) = first.actions
    assert isinstance(launch, Launch)
    assert (launch.slot, launch.attempt, launch.replaces) == ("s0", 1, "i-0")  # oldest first, maxSurge 1
    assert launch.reason.startswith("Rollout")
    assert first.status.outdated_replicas == 3
    assert condition(first.status, "Progressing").reason == "RollingOut"
    assert "RollingOut" in reasons(first)

    driver.succeed(first, at(0))
    new = [n.but(template=first.status.template_hash) for n in launched_nodes(first, at(1))]
    starting = driver.step(at(5), nodes + [n.but(api=None) for n in new])
    assert kinds(starting) == []  # surge in use until the new one is healthy

    swap = driver.step(at(10), nodes + new)
    assert terminated_ids(swap) == {"i-0"}
    assert [(a.slot, a.replaces) for a in swap.actions if isinstance(a, Launch)] == [("s1", "i-1")]


def test_zone_balance_moves_capacity_back_to_an_empty_zone():
    nodes = [Node(f"i-{n}", slot=f"s{n}", zone="b" if n < 3 else "c", launched=at(-1000 + n)) for n in range(6)]
    result = Driver(make_spec(6)).step(at(0), nodes)
    (move,) = result.actions
    assert isinstance(move, Launch) and move.zone == "eu-west-1a"
    assert move.reason.startswith("ZoneBalance") and move.replaces is not None
    assert "Rebalancing" in reasons(result)
