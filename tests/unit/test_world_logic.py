"""Pure parts of the simulated world: fault catalogue and healing, restart-command parsing, clock."""

from __future__ import annotations

import pytest

from judge0_operator.world.aws.ssm.scripts import compose_restart_services
from judge0_operator.world.aws.timeline import Timeline
from judge0_operator.world.faults.catalogue import FAULT_SPECS
from judge0_operator.world.faults.errors import FaultError
from judge0_operator.world.faults.registry import FaultRegistry
from judge0_operator.world.faults.targets import target_kind
from judge0_operator.world.judge0.nodes import NODE_FAULTS

ALL = frozenset({"server", "workers", "db", "redis"})


@pytest.mark.parametrize(
    ("commands", "services"),
    [
        (["cd /opt/judge0 && docker compose restart server workers"], {"server", "workers"}),
        (["docker-compose restart"], ALL),
        (["sudo docker compose -f /opt/judge0/docker-compose.yml restart -t 5 redis"], {"redis"}),
        (
            ["cd /opt/judge0", "docker compose --project-directory /opt/judge0 restart worker db"],
            {"workers", "db"},
        ),
        (["docker compose ps; docker compose restart server"], {"server"}),
        (["docker compose up -d"], None),
        (["docker compose logs restart"], None),
        (["echo docker compose restart"], None),
        (["sudo -E env COMPOSE_HTTP_TIMEOUT=200 docker compose restart workers"], {"workers"}),
        (["systemctl restart docker"], None),
        ([], None),
    ],
)
def test_restart_commands_are_recognised(commands, services):
    found = compose_restart_services(commands)
    assert found == (frozenset(services) if services is not None else None)


def test_every_node_fault_can_target_instances_and_zones():
    for name in NODE_FAULTS:
        assert {"instance", "zone"} <= FAULT_SPECS[name].targets <= {"instance", "zone", "image"}


@pytest.mark.parametrize(
    ("target", "kind"),
    [("aws", "aws"), ("zone:us-east-1a", "zone"), ("i-0abc", "instance")],
)
def test_target_kinds(target, kind):
    assert target_kind(target) == kind


@pytest.mark.parametrize("target", ["", "zone:", "i-", "AWS", "subnet-1", "us-east-1a"])
def test_malformed_targets_are_refused(target):
    with pytest.raises(FaultError):
        target_kind(target)


def test_healing_takes_the_instance_faults_an_action_fixes_and_nothing_else():
    registry = FaultRegistry()
    down = registry.add("i-1", "judge0-down", None)
    sandbox = registry.add("i-1", "sandbox-broken", None)
    redis = registry.add("i-1", "redis-down", None)
    zonal = registry.add("zone:z1", "judge0-down", None)
    other = registry.add("i-2", "judge0-down", None)

    assert registry.heal("i-1", "restart:server") == [down]
    assert down.healed_by == "restart:server"
    assert registry.heal("i-1", "reboot") == [redis]
    assert registry.heal("i-1", "stop") == []
    assert {f.id for f in registry.active()} == {sandbox.id, zonal.id, other.id}
    assert [f.id for f in registry.on_instance("i-1", "z1")] == [sandbox.id, zonal.id]
    assert registry.drop_instance("i-1") == [sandbox]
    assert [f.healed_by for f in registry.healed()] == ["restart:server", "reboot", "instance-gone"]


def test_params_get_defaults_and_bad_ones_are_explained():
    registry = FaultRegistry()
    assert registry.add("aws", "throttle", {"rate": 0.25}).params == {"rate": 0.25, "actions": None}
    with pytest.raises(FaultError, match=r"params\.rate"):
        registry.add("aws", "throttle", {"rate": -0.1})
    with pytest.raises(FaultError, match="valid targets: zone"):
        registry.add("i-1", "zone-outage", None)
    with pytest.raises(FaultError, match="unknown fault"):
        registry.add("aws", "gremlins", None)
    assert [f.name for f in registry.active()] == ["throttle"]  # only the valid one was recorded


def test_a_frozen_clock_plays_due_steps_in_order_at_their_own_instants():
    timeline = Timeline(speed=10)
    timeline.freeze()
    start = timeline.now()
    seen: list[tuple[str, float]] = []

    def boot() -> None:
        seen.append(("running", timeline.now() - start))
        timeline.after(5, lambda: seen.append(("serving", timeline.now() - start)))

    timeline.after(20, boot)
    timeline.step(19)
    assert timeline.advance() == 0
    timeline.step(100)
    assert timeline.advance() == 2
    assert seen == [("running", pytest.approx(2.0)), ("serving", pytest.approx(2.5))]
    assert timeline.now() - start == pytest.approx(11.9)
