"""Diagnosis and targeted repair end to end: the real operator, the simulated world, one fault each.

Redis down is healed by a Redis restart (no reboot); Postgres down by a db restart, after which
the submissions Judge0 dropped "In Queue" complete; a template whose every instance has a broken
sandbox stops after one replacement; a full disk is cleaned without a replacement; an instance a
human holds survives a rollout and a scale-in. Judged from the fleet's status and Events and the
world's own record of faults, instances and calls.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from e2e_support import E2E, GROUP, VERSION, actions, condition, row

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SLOT = "judge0.dev/slot"
QUICK_CANARY = {"intervalSeconds": 5, "timeoutSeconds": 3, "unhealthyAfterSeconds": 0}


def healed_by(e2e: E2E, fault_id: str) -> str | None:
    for fault in e2e.healed():
        if fault["id"] == fault_id:
            return str(fault.get("healedBy") or "deleted")
    return None


def steps_on(fleet: dict[str, Any], instance_id: str) -> list[str]:
    return [a["action"] for a in actions(fleet, instance=instance_id) if a["action"] != "Launch"]


def world_calls(e2e: E2E, instance_id: str) -> list[str]:
    return [c["action"] for c in e2e.control.instance(instance_id)["calls"]]


def node_request(e2e: E2E, instance_id: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """A request to one node's Judge0 API on loopback, as a client would send it."""
    url = e2e.info["judge0_endpoint_template"].format(instance_id=instance_id) + path
    headers = {"Content-Type": "application/json"}
    if e2e.info.get("judge0_auth_token"):
        headers["X-Auth-Token"] = e2e.info["judge0_auth_token"]
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return {"httpStatus": error.code}


def annotate(e2e: E2E, annotations: dict[str, str | None]) -> None:
    e2e.kube.custom.patch_namespaced_custom_object(
        GROUP, VERSION, e2e.namespace, "judge0fleets", "fleet", {"metadata": {"annotations": annotations}}
    )


def test_redis_down_is_healed_by_a_redis_restart_without_a_reboot(e2e: E2E) -> None:
    _, ids = e2e.ready_fleet(replicas=2)
    victim = ids[1]
    fault_id = e2e.fault(victim, "redis-down")

    e2e.wait(lambda: healed_by(e2e, fault_id), timeout=30, what=f"redis-down on {victim} healed")
    fleet = e2e.wait_fleet(lambda f: row(f, victim).get("health") == "Healthy", timeout=20, what="healthy again")

    assert healed_by(e2e, fault_id) == "restart:redis"
    assert steps_on(fleet, victim) == ["RestartJudge0"], actions(fleet)
    restart = actions(fleet, "RestartJudge0", victim)[0]
    assert restart["outcome"] == "Succeeded" and "RedisDown" in restart["reason"]
    assert "RebootInstances" not in world_calls(e2e, victim)
    diagnosed = [e["message"] for e in e2e.events() if e["reason"] == "Diagnosed"]
    assert any(victim in m and "RedisDown" in m for m in diagnosed), diagnosed
    assert any("RedisDown" in e["message"] for e in e2e.events() if e["reason"] == "Remediating")


def test_postgres_down_is_healed_by_a_db_restart_and_what_it_dropped_in_queue_completes(e2e: E2E) -> None:
    _, ids = e2e.ready_fleet(replicas=1, policy={"probes": {"canary": QUICK_CANARY}})
    victim = ids[0]
    status, accepted = e2e.control.post("/load", {"target": victim, "jobs": 60})  # workers busy for seconds
    assert status == 200, accepted
    tokens = [
        node_request(e2e, victim, "POST", "/submissions", {"source_code": f"print({n})", "language_id": 71})["token"]
        for n in range(3)
    ]
    fault_id = e2e.fault(victim, "db-down")  # the workers drop what waits; the rows stay In Queue

    e2e.wait(lambda: healed_by(e2e, fault_id), timeout=40, what=f"db-down on {victim} healed")

    def finished() -> list[Any]:
        found = [node_request(e2e, victim, "GET", f"/submissions/{t}") for t in tokens]
        return found if all((s.get("status") or {}).get("id") == 3 for s in found) else []

    results = e2e.wait(finished, timeout=20, what="the submissions dropped In Queue completed")
    assert [r["stdout"] for r in results] == ["0\n", "1\n", "2\n"]
    assert healed_by(e2e, fault_id) == "restart:db"
    fleet = e2e.fleet()
    restart = actions(fleet, "RestartJudge0", victim)
    assert restart and "DatabaseDown" in restart[0]["reason"], actions(fleet)
    [script] = [c["commands"][0] for c in e2e.control.instance(victim)["calls"] if c["action"] == "SendCommand"]
    assert "restart db" in script and script.index("restart db") < script.index("judge0:run_in_queue")
    assert "RebootInstances" not in world_calls(e2e, victim)


def test_a_template_whose_sandbox_is_broken_stops_after_one_replacement(e2e: E2E) -> None:
    policy = {"probes": {"canary": QUICK_CANARY}, "safety": {"maxUnhealthy": "100%"}}
    _, ids = e2e.ready_fleet(replicas=2, policy=policy)
    e2e.reset_calls()
    e2e.fault(f"image:{e2e.info['image_id']}", "sandbox-broken")  # every instance from the template

    fleet = e2e.wait_fleet(
        lambda f: condition(f, "Degraded").get("reason") == "TemplateDefective",
        timeout=60,
        what="Degraded TemplateDefective",
        sample_world=True,
    )
    degraded = condition(fleet, "Degraded")
    assert "SandboxBroken" in degraded["message"] and "rb_sysopen" in degraded["message"], degraded
    time.sleep(3)  # a pass every second: another launch would show here
    e2e.sample()
    assert e2e.calls().get("RunInstances") == 1, f"at most one replacement: {e2e.calls()}"
    assert not {"RestartJudge0", "RebootInstance"} & {a["action"] for a in actions(e2e.fleet())}
    assert len(e2e.seen) == 3 and set(ids) <= set(e2e.seen)
    assert "TemplateDefective" in e2e.event_reasons()
    [defective] = e2e.fleet()["status"]["defectiveTemplates"]
    assert defective["diagnosis"] == "SandboxBroken" and len(defective["instances"]) == 2


def test_disk_pressure_is_cleaned_up_without_a_replacement(e2e: E2E) -> None:
    policy = {
        "probes": {"disk": {"enabled": True, "intervalSeconds": 5, "thresholdPercent": 85}},
        "remediation": {"cleanup": {"timeoutSeconds": 10}},
    }
    _, ids = e2e.ready_fleet(replicas=1, policy=policy)
    victim = ids[0]
    e2e.fault(victim, "disk-filling", usedPercent=93, oldSubmissionsPercent=25, danglingImagesPercent=10)

    pressed = e2e.wait_fleet(
        lambda f: row(f, victim).get("diagnosis") == "DiskPressure", timeout=20, what="DiskPressure diagnosed"
    )
    assert "data volume" in row(pressed, victim)["signals"]["disk"]["detail"]  # the df reading, while it is bad
    fleet = e2e.wait_fleet(
        lambda f: actions(f, "CleanDisk", victim) and row(f, victim).get("health") == "Healthy",
        timeout=30,
        what="cleaned and healthy again",
    )
    assert [a["outcome"] for a in actions(fleet, "CleanDisk", victim)] == ["Succeeded"]
    assert steps_on(fleet, victim) == ["CleanDisk"], actions(fleet)
    assert e2e.control.instance(victim)["diskUsedPercent"] == 58
    assert [r["instanceId"] for r in fleet["status"]["instances"]] == [victim], "no replacement"


def test_a_held_instance_survives_a_rollout_and_a_scale_in_and_is_reported_held_back(e2e: E2E) -> None:
    _, ids = e2e.ready_fleet(replicas=3)
    held = ids[0]
    annotate(e2e, {"judge0.dev/do-not-disrupt": held})
    e2e.wait_fleet(lambda f: row(f, held).get("doNotDisrupt"), timeout=10, what="the hold seen")

    e2e.patch_fleet_spec("fleet", {"instance": {"instanceType": "t3.medium"}})
    rolled = e2e.wait_fleet(
        lambda f: (f["status"].get("updatedReplicas") == 2 and f["status"].get("replicas") == 3),
        timeout=60,
        what="every instance but the held one rolled",
    )
    assert row(rolled, held)["updated"] is False and row(rolled, held)["state"] == "running"
    assert any(entry.startswith(f"{held}: ") and "Rollout" in entry for entry in rolled["status"]["heldBack"])

    e2e.patch_fleet_spec("fleet", {"replicas": 1})
    scaled = e2e.wait_fleet(
        lambda f: f["status"].get("replicas") == 1, timeout=30, what="scaled in to one", sample_world=True
    )
    assert [r["instanceId"] for r in scaled["status"]["instances"]] == [held]
    assert "TerminateInstances" not in world_calls(e2e, held)
    assert "DisruptionBlocked" in e2e.event_reasons()
