"""Traffic end to end: the real operator keeps the service students use, not only the instances.

Students (the world's client load) submit through a load balancer front on an ELBv2 target
group, or through the fleet's Service, and follow every submission to its result; the world
attributes each one that never gets a result to the operator's actions or to an injected fault.
Scale-in and a rollout under load, and a spot notice under load, must lose nothing; a broken node
must leave the target group before its restart; deleting the fleet deregisters its instances and
deletes its Service.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_support import E2E, INSTANCE_TYPE, row

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

DRAIN = {"drain": {"timeoutSeconds": 15, "graceSeconds": 1}}


@pytest.fixture
def target_group(e2e: E2E) -> dict[str, Any]:
    """A Judge0 target group in the world (health checks and deregistration delay in world seconds)."""
    world = e2e.world.world
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    return dict(e2e.world.run(world.create_target_group(name, deregistration_delay_seconds=20)))


@pytest.fixture
def students(e2e: E2E) -> Iterator[Any]:
    """Start a client load on a target; the fixture stops it (without judging) if a test fails."""
    started: list[str] = []

    def start(target: str, rate: float = 4.0) -> None:
        status, body = e2e.control.post(
            "/clients/load", {"target": target, "rate": rate, "pollSeconds": 0.2, "giveUpSeconds": 20}
        )
        assert status == 201, body
        started.append(target)

    yield start
    if started:
        e2e.control.post("/clients/stop", {"drainSeconds": 0})


def stop_students(e2e: E2E) -> dict[str, Any]:
    status, summary = e2e.control.post("/clients/stop", {"drainSeconds": 12})
    assert status == 200 and summary, summary
    return dict(summary)


def published(name: str = "fleet", arn: str | None = None) -> dict[str, Any]:
    traffic: dict[str, Any] = {"service": {}}
    if arn:
        traffic["targetGroupArns"] = [arn]
    return {"traffic": traffic}


def in_rotation(count: int) -> Any:
    def check(fleet: dict[str, Any]) -> bool:
        status = fleet.get("status") or {}
        return status.get("inRotationReplicas") == count and not status.get("drainingReplicas")

    return check


def targets(e2e: E2E, arn: str) -> dict[str, str]:
    for group in e2e.control.get("/elbv2/target-groups")["targetGroups"]:
        if group["arn"] == arn:
            return {t["id"]: t["state"] for t in group["targets"]}
    return {}


def assert_nothing_lost(summary: dict[str, Any]) -> None:
    lost = summary["lost"]
    assert summary["accepted"] > 0 and summary["delivered"] > 0, summary
    assert lost["operator"] == 0, summary["losses"]
    assert lost["total"] == 0, summary["losses"]


def test_scale_in_and_a_rollout_under_client_load_lose_nothing(
    e2e: E2E, target_group: dict[str, Any], students: Any
) -> None:
    arn = target_group["TargetGroupArn"]
    _, ids = e2e.ready_fleet(replicas=3, policy=DRAIN, **published(arn=arn))
    e2e.wait_fleet(in_rotation(3), timeout=20, what="3 in rotation")
    e2e.wait(lambda: sorted(t for t, s in targets(e2e, arn).items() if s == "healthy") == ids, what="3 healthy targets")
    students(f"tg:{target_group['TargetGroupName']}")

    e2e.patch_fleet_spec("fleet", {"replicas": 2})
    e2e.wait_fleet(
        lambda f: f["status"].get("observedGeneration") == f["metadata"]["generation"]
        and len(f["status"]["instances"]) == 2
        and in_rotation(2)(f),
        timeout=30,
        what="scaled in",
    )
    e2e.patch_fleet_spec("fleet", {"instance": {"instanceType": "t3.medium"}})

    def rolled(fleet: dict[str, Any]) -> bool:
        status, rows = fleet["status"], fleet["status"]["instances"]
        current = status.get("observedGeneration") == fleet["metadata"]["generation"]
        return current and len(rows) == 2 and all(r.get("updated", True) and r["traffic"] == "InRotation" for r in rows)

    fleet = e2e.wait_fleet(rolled, timeout=45, what="rolled out")
    summary = stop_students(e2e)
    assert_nothing_lost(summary)
    reasons = e2e.event_reasons()
    assert reasons.count("Drained") + reasons.count("DrainTimedOut") >= 3, reasons  # 1 scale-in, 2 rolled
    registered = {t for t, s in targets(e2e, arn).items() if s != "draining"}
    assert registered == {r["instanceId"] for r in fleet["status"]["instances"]}
    assert INSTANCE_TYPE not in {r["instanceType"] for r in fleet["status"]["instances"]}


def test_a_spot_notice_under_client_load_loses_nothing(e2e: E2E, students: Any) -> None:
    _, ids = e2e.ready_fleet(replicas=2, policy=DRAIN, instance={"market": "Spot"}, **published())
    e2e.wait_fleet(in_rotation(2), timeout=20, what="2 in rotation")
    students(f"svc:{e2e.namespace}/fleet")
    e2e.wait(lambda: (e2e.control.get("/clients")["load"] or {}).get("delivered", 0) >= 4, what="load flowing")
    noticed = ids[0]
    e2e.fault(noticed, "spot-interruption", noticeSeconds=200)  # 10 s at the e2e world speed

    def replaced(fleet: dict[str, Any]) -> bool:
        rows = fleet["status"]["instances"]
        return noticed not in {r["instanceId"] for r in rows} and in_rotation(2)(fleet)

    e2e.wait_fleet(replaced, timeout=40, what="the noticed node replaced")
    assert_nothing_lost(stop_students(e2e))


def test_a_broken_node_leaves_the_target_group_before_its_restart(e2e: E2E, target_group: dict[str, Any]) -> None:
    arn = target_group["TargetGroupArn"]
    _, ids = e2e.ready_fleet(replicas=2, policy=DRAIN, **published(arn=arn))
    e2e.wait(lambda: sorted(t for t, s in targets(e2e, arn).items() if s == "healthy") == ids, what="healthy targets")
    broken = ids[1]
    e2e.fault(broken, "workers-dead")  # the API answers, so the load balancer's own check still passes

    def restarted() -> list[str]:
        calls = [c["action"] for c in e2e.control.instance(broken)["calls"]]
        return calls if "SendCommand" in calls else []

    calls = e2e.wait(restarted, timeout=30, what="a RestartJudge0 of the broken node")
    assert "DeregisterTargets" in calls and calls.index("DeregisterTargets") < calls.index("SendCommand"), calls
    assert row(e2e.fleet(), broken).get("traffic") != "InRotation"
    e2e.wait(lambda: "SubmissionsRequeued" in e2e.event_reasons(), timeout=20, what="the requeue reported")


def test_deleting_a_fleet_deregisters_it_and_deletes_its_service(e2e: E2E, target_group: dict[str, Any]) -> None:
    arn = target_group["TargetGroupArn"]
    _, ids = e2e.ready_fleet(replicas=2, policy=DRAIN, **published(arn=arn))
    e2e.wait(lambda: set(ids) <= set(targets(e2e, arn)), what="registered")
    core = e2e.kube.core
    assert core.read_namespaced_service("fleet", e2e.namespace).spec.selector is None
    e2e.delete_fleet()
    e2e.wait(lambda: e2e.fleet_or_none() is None, timeout=30, what="the fleet gone")
    e2e.wait(lambda: not ({t for t, s in targets(e2e, arn).items() if s != "draining"} & set(ids)), what="deregistered")
    names = {s.metadata.name for s in core.list_namespaced_service(e2e.namespace).items}
    assert "fleet" not in names
