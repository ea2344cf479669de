"""Issue 4 end to end: the real operator process keeps a fleet in the simulated world healthy.

Each test starts its own fleet (namespace per test) against the module's world and operator,
breaks something through the world's control API, and judges the outcome from the fleet's
status, its Events and the world's own record of instances and AWS calls.
"""

from __future__ import annotations

import time
from typing import Any

import kubernetes
import pytest
from e2e_support import E2E, actions, condition, is_ready, row

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

MUTATING = ("RunInstances", "TerminateInstances", "RebootInstances", "StartInstances", "StopInstances", "SendCommand")
SLOT = "judge0.dev/slot"


def mutating_calls(calls: dict[str, int]) -> dict[str, int]:
    return {action: count for action, count in calls.items() if action in MUTATING and count}


def healed_by(e2e: E2E, fault_id: str) -> str | None:
    """How the world says a fault went away (``restart:server``, ``reboot``, …), None while active."""
    for fault in e2e.healed():
        if fault["id"] == fault_id:
            return str(fault.get("healedBy") or "deleted")
    return None


def steps_on(fleet: dict[str, Any], instance_id: str) -> list[str]:
    """The actions taken on an instance after its own launch (the remediation it got)."""
    return [a["action"] for a in actions(fleet, instance=instance_id) if a["action"] != "Launch"]


def world_calls(e2e: E2E, instance_id: str) -> list[str]:
    return [c["action"] for c in e2e.control.instance(instance_id)["calls"]]


def test_fleet_becomes_ready(e2e: E2E) -> None:
    e2e.apply_policy()
    created = e2e.apply_fleet(replicas=3)
    fleet = e2e.wait_ready()

    assert is_ready(fleet)  # what `kubectl wait --for=condition=Ready j0f/fleet` waits for
    ready = condition(fleet, "Ready")
    assert set(ready) >= {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"}
    status = fleet["status"]
    assert status["replicas"] == status["readyReplicas"] == status["healthyReplicas"] == 3
    assert status["selector"] == "judge0.dev/fleet=fleet"
    assert "judge0.dev/finalizer" in fleet["metadata"].get("finalizers", [])
    world = e2e.instances()
    assert len(world) == 3 and all(i["state"] == "running" and i["serving"] for i in world)
    assert {i["zone"] for i in world} == set(e2e.zones), "three instances should spread over the three zones"
    for item in world:
        tags = item["tags"]
        assert tags["judge0.dev/fleet"] == f"{e2e.namespace}/fleet"
        assert tags["judge0.dev/fleet-uid"] == created["metadata"]["uid"]
    assert sorted(i["tags"][SLOT] for i in world) == ["s0", "s1", "s2"]
    assert sorted(i["id"] for i in world) == sorted(r["instanceId"] for r in status["instances"])


@pytest.mark.parametrize("fault", ["judge0-down", "workers-dead"])
def test_node_fault_is_healed_by_a_judge0_restart(e2e: E2E, fault: str) -> None:
    _, ids = e2e.ready_fleet(replicas=3)
    victim = ids[0]
    fault_id = e2e.fault(victim, fault)

    e2e.wait(lambda: healed_by(e2e, fault_id), timeout=40, what=f"{fault} on {victim} healed")
    fleet = e2e.wait_fleet(
        lambda f: is_ready(f) and row(f, victim).get("health") == "Healthy",
        timeout=30,
        what=f"{victim} healthy again and the fleet Ready",
    )

    assert str(healed_by(e2e, fault_id)).startswith("restart"), "the fault should be healed by a Judge0 restart"
    restarts = actions(fleet, "RestartJudge0", victim)
    assert [r["outcome"] for r in restarts] == ["Succeeded"], restarts
    kinds = {a["action"] for a in actions(fleet)} - {"Launch"}
    assert kinds == {"RestartJudge0"}, f"nothing but one restart was needed: {actions(fleet)}"
    assert sorted(r["instanceId"] for r in fleet["status"]["instances"]) == ids, "no instance was replaced"
    assert "SendCommand" in world_calls(e2e, victim)
    assert not {"RebootInstances", "TerminateInstances"} & set(world_calls(e2e, victim))
    remediating = [e for e in e2e.events() if e["reason"] == "Remediating"]
    assert any(victim in e["message"] and "RestartJudge0" in e["message"] for e in remediating), remediating


def test_stopped_instance_is_started_not_restarted(e2e: E2E) -> None:
    _, ids = e2e.ready_fleet(replicas=3)
    victim = ids[2]
    e2e.fault(victim, "instance-stopped")

    e2e.wait(
        lambda: any(h["state"] == "stopped" for h in e2e.control.instance(victim)["history"]),
        timeout=10,
        what=f"{victim} stopped by the world",
    )
    e2e.wait_fleet(lambda f: actions(f, "Start", victim), timeout=20, what=f"a Start for {victim}")
    fleet = e2e.wait_fleet(
        lambda f: is_ready(f) and row(f, victim).get("health") == "Healthy",
        timeout=30,
        what=f"{victim} started and healthy again",
    )

    assert steps_on(fleet, victim) == ["Start"], actions(fleet)
    assert actions(fleet, "Start", victim)[0]["outcome"] == "Succeeded"
    calls = world_calls(e2e, victim)
    assert "StartInstances" in calls and "SendCommand" not in calls, calls
    assert e2e.control.instance(victim)["state"] == "running"
    assert sorted(r["instanceId"] for r in fleet["status"]["instances"]) == ids


def test_broken_sandbox_escalates_to_a_launch_first_replacement(e2e: E2E) -> None:
    """Every run ends in status 13 (diagnosis SandboxBroken): no restart can fix the host, so the
    restart rung is skipped and the instance replaced — the new one is launched first, the old one
    terminated only once the new one is healthy."""
    ladder = [
        {"action": "RestartJudge0", "attempts": 1, "timeoutSeconds": 10},
        {"action": "ReplaceInstance", "attempts": 1, "timeoutSeconds": 30},
    ]
    canary = {"intervalSeconds": 5, "timeoutSeconds": 5, "unhealthyAfterSeconds": 0}
    _, ids = e2e.ready_fleet(replicas=3, policy={"remediation": {"ladder": ladder}, "probes": {"canary": canary}})
    victim = ids[0]
    slot = e2e.control.instance(victim)["tags"][SLOT]
    e2e.fault(victim, "sandbox-broken")

    def replaced(fleet: dict[str, Any]) -> bool:
        rows = fleet["status"]["instances"]
        gone = victim not in {r["instanceId"] for r in rows}
        return gone and is_ready(fleet) and len(rows) == 3

    fleet = e2e.wait_fleet(replaced, timeout=75, what=f"{victim} replaced and the fleet Ready", sample_world=True)

    history = actions(fleet)
    restart = [i for i, a in enumerate(history) if a["action"] == "RestartJudge0" and a["instanceId"] == victim]
    launch = [
        i
        for i, a in enumerate(history)
        if a["action"] == "Launch" and a["slot"] == slot and "Remediation" in a["reason"]
    ]
    terminate = [i for i, a in enumerate(history) if a["action"] == "Terminate" and a["instanceId"] == victim]
    assert not restart and len(launch) == 1 and len(terminate) == 1, history
    assert launch[0] < terminate[0], "launch first, then terminate"
    new_id = history[launch[0]]["instanceId"]
    assert history[terminate[0]]["reason"].startswith(f"Replaced: replacement {new_id} is healthy"), history
    new_row = row(fleet, new_id)
    assert new_row["slot"] == slot and new_row["launchAttempt"] == 1 and new_row["health"] == "Healthy"
    # The world's own record: the replacement was running before the old instance was told to terminate.
    old_calls = {c["action"]: c["at"] for c in e2e.seen[victim]["calls"]}
    new_running = [h["at"] for h in e2e.seen[new_id]["history"] if h["state"] == "running"]
    assert new_running and new_running[0] < old_calls["TerminateInstances"], (e2e.seen[victim], e2e.seen[new_id])
    assert len(e2e.instances()) == 3


@pytest.mark.parametrize(
    ("fault", "params", "why"),
    [
        ("system-impaired", {"nodeReachable": True}, "system status check impaired"),
        ("scheduled-retirement", {"notBeforeSeconds": 1200}, "scheduled instance-retirement"),
    ],
)
def test_hardware_trouble_goes_straight_to_replacement(e2e: E2E, fault: str, params: dict[str, Any], why: str) -> None:
    """No restart or reboot can fix a failing host: the ladder is skipped."""
    _, ids = e2e.ready_fleet(replicas=3)
    victim = ids[1]
    slot = e2e.control.instance(victim)["tags"][SLOT]
    e2e.fault(victim, fault, **params)

    fleet = e2e.wait_fleet(
        lambda f: victim not in {r["instanceId"] for r in f["status"]["instances"]} and is_ready(f),
        timeout=40,
        what=f"{victim} replaced",
    )

    assert steps_on(fleet, victim) == ["Terminate"], f"no ladder rung before the replacement: {actions(fleet)}"
    launches = [a for a in actions(fleet, "Launch") if a["slot"] == slot and "Remediation" in a["reason"]]
    assert len(launches) == 1 and why in launches[0]["reason"], actions(fleet)
    assert row(fleet, launches[0]["instanceId"])["slot"] == slot
    assert fleet["status"]["replicas"] == 3 and len(e2e.instances()) == 3
    assert not {"RestartJudge0", "RebootInstance"} & {a["action"] for a in actions(fleet)}


def test_zone_outage_moves_capacity_to_other_zones(e2e: E2E) -> None:
    e2e.ready_fleet(replicas=6, policy={"safety": {"maxInFlight": 2}})
    dead = e2e.zones[0]
    in_dead = {i["id"] for i in e2e.instances() if i["zone"] == dead}
    assert len(in_dead) == 2
    e2e.reset_calls()
    e2e.fault(f"zone:{dead}", "zone-outage")

    outage = e2e.wait_fleet(
        lambda f: dead in (f["status"].get("zonesOut") or []), timeout=20, what="zone out", sample_world=True
    )
    assert condition(outage, "Degraded")["status"] == "True"

    def moved(fleet: dict[str, Any]) -> bool:
        rows = fleet["status"]["instances"]
        return len(rows) == 6 and all(r["zone"] != dead and r["health"] == "Healthy" for r in rows)

    fleet = e2e.wait_fleet(moved, timeout=60, what=f"six healthy instances outside {dead}", sample_world=True)

    launched_into_dead = [i for iid, i in e2e.seen.items() if i["zone"] == dead and iid not in in_dead]
    assert not launched_into_dead, "no launch may go into a zone that is out"
    assert "InsufficientInstanceCapacity" not in e2e.control.get("/calls")["injected_errors"]
    assert {r["zone"] for r in fleet["status"]["instances"]} == set(e2e.zones[1:])
    assert "ZoneOutage" in e2e.event_reasons()
    assert not {i["id"] for i in e2e.instances()} & in_dead, "the dead zone's instances were terminated"


def test_api_partition_trips_max_unhealthy_and_nothing_is_remediated(e2e: E2E) -> None:
    fleet, ids = e2e.ready_fleet(replicas=3)
    before = actions(fleet)
    e2e.reset_calls()
    e2e.operator.pause()  # every node goes down between two looks: one pass sees them all
    try:
        faults = [e2e.fault(iid, "judge0-down") for iid in ids]
    finally:
        e2e.operator.resume()

    restricted = e2e.wait_fleet(
        lambda f: condition(f, "RemediationAllowed").get("reason") == "TooManyUnhealthy",
        timeout=20,
        what="RemediationAllowed=False TooManyUnhealthy",
    )
    allowed = condition(restricted, "RemediationAllowed")
    assert allowed["status"] == "False" and "3 of 3 instances unhealthy (limit 1)" in allowed["message"], allowed
    e2e.wait(lambda: "RemediationRestricted" in e2e.event_reasons(), timeout=10, what="RemediationRestricted Event")

    time.sleep(4)  # several passes under partition (probes every 1 s; a restart would come within 1 s)
    during = e2e.fleet()
    assert actions(during) == before, "no action may be taken while remediation is restricted"
    assert not mutating_calls(e2e.calls()), e2e.calls()
    assert all(r["health"] == "Unhealthy" for r in during["status"]["instances"]), "still reported unhealthy"
    assert condition(during, "RemediationAllowed")["reason"] == "TooManyUnhealthy"
    assert all(healed_by(e2e, f) is None for f in faults)

    for fault_id in faults:
        e2e.remove_fault(fault_id)
    fleet = e2e.wait_ready(timeout=30)
    assert condition(fleet, "RemediationAllowed")["status"] == "True"
    assert sorted(r["instanceId"] for r in fleet["status"]["instances"]) == ids
    assert actions(fleet) == before
    assert not mutating_calls(e2e.calls()), e2e.calls()


def test_throttled_aws_is_survived(e2e: E2E) -> None:
    """Half of all AWS calls answer RequestLimitExceeded/ThrottlingException: the fleet still
    converges (one launch per slot) and a node fault is still healed."""
    e2e.fault("aws", "throttle", rate=0.5)
    e2e.apply_policy()
    e2e.apply_fleet(replicas=3)
    fleet = e2e.wait_fleet(is_ready, timeout=60, what="Ready", sample_world=True)
    victim = fleet["status"]["instances"][0]["instanceId"]
    fault_id = e2e.fault(victim, "judge0-down")
    e2e.wait(lambda: healed_by(e2e, fault_id), timeout=40, what=f"judge0-down on {victim} healed under throttling")
    fleet = e2e.wait_fleet(is_ready, timeout=30, what="Ready", sample_world=True)

    injected = e2e.control.get("/calls")["injected_errors"]
    assert injected.get("RequestLimitExceeded", 0) > 0, f"the world should have throttled some calls: {injected}"
    live = e2e.instances()
    assert len(live) == 3 and len({i["tags"][SLOT] for i in live}) == 3
    assert len(e2e.seen) == 3, f"one launch per slot, never a second: {sorted(e2e.seen)}"
    assert [a["outcome"] for a in actions(fleet, "RestartJudge0", victim)][-1:] == ["Succeeded"], actions(fleet)


@pytest.mark.world_config(client_tokens=False)
def test_sigkill_mid_launch_never_duplicates_a_slot(e2e: E2E) -> None:
    """Client tokens are off in the world (as in moto): correctness must come from the operator."""
    assert e2e.info["client_tokens"] is False
    e2e.apply_policy()
    e2e.reset_calls()
    e2e.apply_fleet(replicas=5)
    deadline = time.monotonic() + 20
    while not e2e.calls().get("RunInstances") and time.monotonic() < deadline:
        time.sleep(0.005)
    e2e.kill_operator()
    at_kill = e2e.calls().get("RunInstances", 0)
    assert at_kill, "the operator never launched"
    unconfirmed = [
        i["slot"] for i in (e2e.fleet().get("status") or {}).get("pendingLaunches", []) if not i.get("instanceId")
    ]
    e2e.restart_operator()

    fleet = e2e.wait_fleet(is_ready, timeout=40, what="Ready after the restart", sample_world=True)
    time.sleep(2)  # a duplicate launched by the last pass would show within a pass
    e2e.sample()

    live = e2e.instances()
    slots = sorted(i["tags"][SLOT] for i in live)
    assert slots == ["s0", "s1", "s2", "s3", "s4"], f"one instance per slot: {slots}"
    ever = sorted(i["tags"][SLOT] for i in e2e.seen.values())
    at = f"RunInstances seen at the kill: {at_kill}, launches unconfirmed in status: {unconfirmed}"
    assert ever == slots, f"no slot was ever launched twice ({at}): {ever}"
    assert e2e.calls()["RunInstances"] == 5, at
    assert fleet["status"]["replicas"] == 5


@pytest.mark.parametrize("policy", ["Delete", "Retain"])
def test_deleting_a_fleet_honours_its_deletion_policy(e2e: E2E, policy: str) -> None:
    _, ids = e2e.ready_fleet(replicas=2, deletionPolicy=policy)
    e2e.delete_fleet()
    e2e.wait(lambda: e2e.fleet_or_none() is None, timeout=30, what="the fleet object gone (finalizer removed)")

    if policy == "Delete":
        e2e.wait(lambda: not e2e.instances(), timeout=15, what="every instance of the fleet terminated or terminating")
        assert "InstancesTerminated" in e2e.event_reasons()
    else:
        live = {i["id"]: i for i in e2e.instances()}
        assert sorted(live) == ids
        assert all(i["state"] == "running" and "judge0.dev/retained" in i["tags"] for i in live.values())
        assert all("TerminateInstances" not in world_calls(e2e, iid) for iid in ids)
        assert "InstancesRetained" in e2e.event_reasons()


def test_missing_policy_stops_remediation_until_it_exists(e2e: E2E) -> None:
    _, ids = e2e.ready_fleet(replicas=3)
    victim = ids[0]
    e2e.delete_policy()
    e2e.wait_fleet(
        lambda f: condition(f, "RemediationAllowed").get("reason") == "PolicyNotFound",
        timeout=15,
        what="RemediationAllowed=False PolicyNotFound",
    )
    e2e.reset_calls()
    fault_id = e2e.fault(victim, "judge0-down")
    e2e.wait_fleet(lambda f: row(f, victim)["signals"]["api"]["bad"], timeout=15, what="the fault observed")
    time.sleep(4)  # the fast policy would have restarted it by now (2 s threshold, 1 s probes)

    fleet = e2e.fleet()
    assert condition(fleet, "RemediationAllowed")["status"] == "False"
    assert not actions(fleet, "RestartJudge0"), actions(fleet)
    assert not mutating_calls(e2e.calls()), e2e.calls()
    assert healed_by(e2e, fault_id) is None

    e2e.apply_policy()
    e2e.wait(lambda: healed_by(e2e, fault_id), timeout=30, what="healing resumed once the policy exists")
    fleet = e2e.wait_ready()
    assert condition(fleet, "RemediationAllowed")["status"] == "True"
    assert actions(fleet, "RestartJudge0", victim)


def test_dry_run_records_and_a_policy_change_takes_effect_without_touching_the_fleet(e2e: E2E) -> None:
    fleet, ids = e2e.ready_fleet(replicas=3)
    generation = fleet["metadata"]["generation"]
    victim = ids[2]
    e2e.patch_policy_spec("policy", {"mode": "DryRun"})
    e2e.wait_fleet(
        lambda f: condition(f, "RemediationAllowed").get("reason") == "DryRun", timeout=15, what="DryRun in effect"
    )
    e2e.reset_calls()
    fault_id = e2e.fault(victim, "judge0-down")

    fleet = e2e.wait_fleet(
        lambda f: [a for a in actions(f, "RestartJudge0", victim) if a["outcome"] == "DryRun"],
        timeout=20,
        what="a DryRun RestartJudge0 recorded",
    )
    e2e.wait(lambda: "DryRunRestartJudge0" in e2e.event_reasons(), timeout=10, what="DryRunRestartJudge0 Event")
    time.sleep(2)  # a real action would follow the would-be one within a pass
    assert not mutating_calls(e2e.calls()), f"DryRun must not change anything in AWS: {e2e.calls()}"
    assert healed_by(e2e, fault_id) is None
    assert all(a["outcome"] in ("DryRun", "Succeeded") for a in actions(e2e.fleet()))

    e2e.patch_policy_spec("policy", {"mode": "Enforce"})
    e2e.wait(lambda: healed_by(e2e, fault_id), timeout=30, what="healed once the policy enforces")
    fleet = e2e.wait_ready()
    assert [a["outcome"] for a in actions(fleet, "RestartJudge0", victim)] == ["DryRun", "Succeeded"]
    assert fleet["metadata"]["generation"] == generation, "the fleet itself was never edited"


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda spec: spec.update(replicas=-1), "spec.replicas"),
        (lambda spec: spec["instance"].update(imageId="not-an-ami"), "spec.instance.imageId"),
        (lambda spec: spec["judge0"].update(endpointTemplate="ftp://x"), "spec.judge0.endpointTemplate"),
    ],
    ids=["replicas", "imageId", "endpointTemplate"],
)
def test_invalid_fleet_is_rejected_with_422_naming_the_field(e2e: E2E, edit: Any, field: str) -> None:
    manifest = e2e.fleet_manifest()
    edit(manifest["spec"])
    with pytest.raises(kubernetes.client.ApiException) as raised:
        e2e.create_raw(manifest)
    assert raised.value.status == 422
    assert field in str(raised.value.body), raised.value.body
    assert e2e.fleet_or_none() is None


def test_terminal_aws_error_blocks_launches_until_the_spec_changes(e2e: E2E) -> None:
    e2e.apply_policy()
    e2e.reset_calls()
    e2e.apply_fleet(replicas=2, instance={"imageId": "ami-00000000000000000"})

    fleet = e2e.wait_fleet(
        lambda f: (
            condition(f, "CloudAPIReady").get("status") == "False"
            and condition(f, "Ready").get("reason") == "LaunchBlocked"
        ),
        timeout=20,
        what="CloudAPIReady=False and Ready=False LaunchBlocked",
    )
    cloud = condition(fleet, "CloudAPIReady")
    assert cloud["reason"] == "InvalidAMI" and "InvalidAMIID" in cloud["message"], cloud
    assert "ami-00000000000000000" in cloud["message"], "the AWS error text is shown"
    ready = condition(fleet, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "LaunchBlocked", ready
    first = e2e.calls().get("RunInstances", 0)
    time.sleep(6)  # a pass every second: a retry storm would show here
    assert e2e.calls().get("RunInstances", 0) <= 2, f"no retry storm: {e2e.calls()} (first: {first})"
    assert not e2e.instances()

    e2e.patch_fleet_spec("fleet", {"instance": {"imageId": e2e.info["image_id"]}})
    fleet = e2e.wait_ready(timeout=30)
    assert condition(fleet, "CloudAPIReady")["status"] == "True"
    assert len(e2e.instances()) == 2
