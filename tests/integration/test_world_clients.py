"""The world's client side over loopback HTTP: load-balancer fronts for target groups, the Service
resolver, and a student load whose lost submissions are attributed to what caused them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from fixtures.world import ControlClient, boto_client, wait_for
from judge0_operator.world.world import World

BOOT, JUDGE0_START = 20.0, 5.0


@pytest.fixture
def elb(world: World) -> Any:
    return boto_client(world, "elbv2")


def http(method: str, url: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            raw = resp.read()
            return resp.status, dict(resp.headers), json.loads(raw) if raw.startswith(b"{") else raw
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def launch(world: World, ec2: Any, n: int) -> list[str]:
    found = ec2.run_instances(ImageId=world.info["image_id"], MinCount=n, MaxCount=n, InstanceType="t3.small")
    return [i["InstanceId"] for i in found["Instances"]]


def serving(control: ControlClient, ids: list[str]) -> bool:
    return all(control.instance(i)["serving"] for i in ids)


def published(control: ControlClient, elb: Any, ids: list[str]) -> tuple[str, str]:
    """A target group with ``ids`` registered and healthy; (arn, front URL)."""
    wait_for(lambda: serving(control, ids), what="nodes serving")
    status, group = control.post("/elbv2/target-groups", {"name": "students"})
    assert status == 201, group
    arn = group["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": i} for i in ids])

    def in_service() -> bool:
        return sorted(control.get("/elbv2/target-groups")["targetGroups"][0]["inService"]) == sorted(ids)

    wait_for(lambda: all(_state(elb, arn, i) == "healthy" for i in ids) and in_service(), what="healthy")
    front = control.get("/clients")["fronts"][f"tg:{arn}"]["url"]
    return arn, front


def _state(elb: Any, arn: str, instance_id: str) -> str:
    found = elb.describe_target_health(TargetGroupArn=arn, Targets=[{"Id": instance_id}])
    return str(found["TargetHealthDescriptions"][0]["TargetHealth"]["State"])


SUBMISSION = {"source_code": "print(7)", "language_id": 71}


def test_target_group_front_round_robins_posts_and_routes_results_home(world, world_ec2, world_control, elb):
    ids = launch(world, world_ec2, 2)
    arn, front = published(world_control, elb, ids)
    accepted = []
    for _ in range(4):
        status, headers, body = http("POST", f"{front}/submissions", SUBMISSION)
        assert status == 201, body
        accepted.append((body["token"], headers["X-World-Target"]))
    assert sorted({who for _, who in accepted}) == sorted(ids)  # both nodes took some
    assert [who for _, who in accepted][:2] != [accepted[0][1]] * 2  # alternating, not sticky

    elb.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": ids[0]}])
    for token, who in accepted:  # results still come from the node that accepted them

        def result(token: str = token) -> Any:
            status, headers, body = http("GET", f"{front}/submissions/{token}")
            return status == 200 and body["status"]["id"] == 3 and headers["X-World-Target"]

        assert wait_for(result, what="result") == who
    for _ in range(3):  # new work goes to what is still in service
        assert http("POST", f"{front}/submissions", SUBMISSION)[1]["X-World-Target"] == ids[1]


def test_a_front_with_nothing_in_service_answers_503(world, world_control):
    status, group = world_control.post("/elbv2/target-groups", {"name": "empty"})
    assert status == 201
    front = world_control.get("/clients")["fronts"][f"tg:{group['TargetGroupArn']}"]["url"]
    status, headers, _ = http("POST", f"{front}/submissions", SUBMISSION)
    assert status == 503 and headers["X-World-Front"] == "no-target"


def test_service_resolver_follows_ready_endpoints_by_private_address(world, world_thread, world_ec2, world_control):
    ids = launch(world, world_ec2, 2)
    wait_for(lambda: serving(world_control, ids), what="nodes serving")
    ips = {i: world_control.instance(i)["privateIp"] for i in ids}
    kube = world.kube
    world_thread.call(
        kube.create_object,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "judge0", "namespace": "default"},
            "spec": {"ports": [{"port": 2358}]},
        },
    )
    world_thread.call(
        kube.create_object,
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "judge0", "namespace": "default", "labels": {"kubernetes.io/service-name": "judge0"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": [ips[ids[0]]], "conditions": {"ready": True}},
                {"addresses": [ips[ids[1]]], "conditions": {"ready": False, "terminating": True}},
            ],
            "ports": [{"port": 2358, "protocol": "TCP"}],
        },
    )
    fronts = world_control.get("/clients")["fronts"]
    assert fronts["svc:default/judge0"]["inService"] == [ids[0]]
    for _ in range(3):
        status, headers, _ = http("POST", f"{fronts['svc:default/judge0']['url']}/submissions", SUBMISSION)
        assert status == 201 and headers["X-World-Target"] == ids[0]


def test_client_load_delivers_and_attributes_every_loss(world, world_ec2, world_control, elb):
    ids = launch(world, world_ec2, 3)
    arn, _ = published(world_control, elb, ids)
    status, body = world_control.post(
        "/clients/load", {"target": f"tg:{arn}", "rate": 12, "pollSeconds": 0.2, "giveUpSeconds": 30}
    )
    assert status == 201, body
    wait_for(lambda: world_control.get("/clients")["load"]["delivered"] >= 3, timeout=20, what="deliveries")

    by_operator, by_fault = ids[0], ids[1]
    for victim in (by_operator, by_fault):  # submissions pile up on these two, then the node dies
        world_control.fault(victim, "workers-dead")

    def queued(victim: str) -> bool:
        return world_control.instance(victim)["judge0"]["queue_size"] >= 2

    wait_for(lambda: queued(by_operator) and queued(by_fault), timeout=20, what="work stuck on the victims")
    world_ec2.terminate_instances(InstanceIds=[by_operator])
    world_control.fault(by_fault, "instance-terminated")
    status, summary = world_control.post("/clients/stop", {"drainSeconds": 3})
    assert status == 200, summary

    assert summary["delivered"] >= 3 and summary["accepted"] >= summary["delivered"]
    assert summary["lost"]["operator"] >= 2 and summary["lost"]["fault"] >= 2
    assert summary["lost"]["total"] == summary["lost"]["operator"] + summary["lost"]["fault"]
    for loss in summary["losses"]:
        cause = loss["cause"]
        expected = "operator" if loss["instanceId"] == by_operator else "fault"
        assert loss["instanceId"] in (by_operator, by_fault) and cause["by"] == expected, loss
        assert "workers-dead" in cause["faultsActive"]
    assert summary["latencySeconds"]["p50"] is not None
    assert summary["latencySeconds"]["p50"] <= summary["latencySeconds"]["p99"]
    records = world_control.get("/clients/records")["records"]
    assert len(records) == summary["submitted"]


def test_client_load_refuses_bad_settings(world, world_control):
    for body in ({"target": "lb:x"}, {"target": "tg:x", "rate": 0}, {"target": "svc:only-name"}, {"rate": 1}):
        status, _ = world_control.post("/clients/load", body)
        assert status == 400, body
