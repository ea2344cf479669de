"""The world's control API over HTTP: faults, instances, calls, load, clock — and every refusal."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from fixtures.world import ControlClient
from judge0_operator.world.faults.catalogue import FAULT_SPECS
from judge0_operator.world.judge0.nodes import NODE_FAULTS
from judge0_operator.world.world import World

BOOT_AND_START = 25.0


def launch(world: World, ec2: Any, zone: str = "us-east-1a", **extra: Any) -> str:
    response = ec2.run_instances(
        ImageId=world.info["image_id"],
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.small",
        SubnetId=world.info["subnets"][zone],
        **extra,
    )
    return str(response["Instances"][0]["InstanceId"])


def judge0_about(world: World, instance_id: str) -> int | str:
    """HTTP status of GET /about on the node, or the connection error's class name."""
    url = world.info["judge0_endpoint_template"].format(instance_id=instance_id) + "/about"
    headers = {"X-Auth-Token": world.info["judge0_auth_token"]} if world.info.get("judge0_auth_token") else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (urllib.error.URLError, ConnectionError) as err:
        return type(err).__name__


@pytest.fixture
def serving_instance(world: World, world_ec2: Any, world_control: ControlClient) -> str:
    world_control.freeze()
    instance_id = launch(world, world_ec2)
    world_control.advance(BOOT_AND_START)
    assert world_control.instance(instance_id)["serving"]
    return instance_id


def test_fault_lifecycle(world_control, serving_instance):
    status, created = world_control.post(
        "/faults", {"target": serving_instance, "fault": "judge0-slow", "params": {"delaySeconds": 1.5}}
    )
    assert status == 201
    assert created["target"] == serving_instance and created["fault"] == "judge0-slow"
    assert created["params"] == {"delaySeconds": 1.5}
    zone_fault = world_control.fault("zone:us-east-1b", "workers-dead")
    throttle = world_control.fault("aws", "throttle", rate=0.1)
    listed = world_control.get("/faults")["faults"]
    assert [f["id"] for f in listed] == [created["id"], zone_fault, throttle]
    assert listed[2]["params"] == {"rate": 0.1, "actions": None}  # defaults filled in

    status, deleted = world_control.delete(f"/faults/{created['id']}")
    assert status == 200 and deleted["healedBy"] == "deleted"
    assert created["id"] not in [f["id"] for f in world_control.get("/faults")["faults"]]
    status, body = world_control.delete(f"/faults/{created['id']}")
    assert status == 404 and created["id"] in body["error"]
    status, body = world_control.delete("/faults")
    assert status == 200 and body == {"deleted": 2}
    assert world_control.get("/faults")["faults"] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"target": "aws", "fault": "meteor-strike"}, "unknown fault 'meteor-strike'"),
        ({"target": "host-7", "fault": "judge0-down"}, "unknown target 'host-7'"),
        ({"target": "i-0000000000000dead", "fault": "judge0-down"}, "unknown instance 'i-0000000000000dead'"),
        ({"target": "zone:mars-1a", "fault": "zone-outage"}, "unknown zone 'mars-1a'"),
        ({"target": "zone:us-east-1a", "fault": "instance-stopped"}, "cannot target zone"),
        ({"target": "zone:us-east-1a", "fault": "throttle"}, "valid targets: aws"),
        ({"target": "aws", "fault": "judge0-down"}, "valid targets: image, instance, zone"),
        ({"target": "aws", "fault": "throttle", "params": {"rate": 2}}, "params.rate"),
        ({"target": "aws", "fault": "throttle", "params": {"rat": 0.5}}, "params.rat"),
        ({"target": "zone:us-east-1a", "fault": "load", "params": {}}, "params.jobsPerSecond"),
        (
            {"target": "zone:us-east-1a", "fault": "capacity-error", "params": {"market": "reserved"}},
            "params.market",
        ),
        ({"target": "aws", "fault": "throttle", "params": [1]}, "'params' must be an object"),
        ({"fault": "zone-outage"}, "'target' is required"),
        ({"target": "aws"}, "'fault' is required"),
        ({"target": "aws", "fault": "throttle", "extra": 1}, "unknown field(s): extra"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_refused_faults_answer_400_with_the_reason(world_control, body, message):
    status, answer = world_control.post("/faults", body)
    assert status == 400
    assert message in answer["error"]
    assert world_control.get("/faults")["faults"] == []


def test_bad_json_and_fault_aimed_at_the_wrong_market(world_control, serving_instance):
    status, answer = world_control.request("POST", "/faults", raw=b"{not json")
    assert status == 400 and "JSON object" in answer["error"]
    status, answer = world_control.post("/faults", {"target": serving_instance, "fault": "spot-interruption"})
    assert status == 400 and "needs a spot instance" in answer["error"]


def test_catalog_lists_every_fault_with_its_targets(world_control):
    catalog = {f["fault"]: f for f in world_control.get("/faults/catalog")["faults"]}
    assert set(catalog) == set(FAULT_SPECS)
    assert set(NODE_FAULTS) <= set(catalog)
    assert catalog["sandbox-broken"]["healedBy"] == []
    assert "reboot" in catalog["api-500"]["healedBy"]
    assert catalog["capacity-error"]["targets"] == ["zone"]


def test_zone_faults_apply_to_instances_launched_later(world, world_ec2, world_control):
    world_control.freeze()
    fault_id = world_control.fault("zone:us-east-1b", "api-500")
    later = launch(world, world_ec2, "us-east-1b")
    elsewhere = launch(world, world_ec2, "us-east-1c")
    world_control.advance(BOOT_AND_START)
    assert [f["id"] for f in world_control.instance(later)["faults"]] == [fault_id]
    assert world_control.instance(elsewhere)["faults"] == []
    assert judge0_about(world, later) == 500
    assert judge0_about(world, elsewhere) == 200


def test_node_faults_show_through_the_judge0_endpoint(world, world_control, serving_instance):
    assert judge0_about(world, serving_instance) == 200
    fault_id = world_control.fault(serving_instance, "api-500")
    assert judge0_about(world, serving_instance) == 500
    world_control.delete(f"/faults/{fault_id}")
    assert judge0_about(world, serving_instance) == 200
    world_control.fault(serving_instance, "instance-stopped")
    assert judge0_about(world, serving_instance) != 200
    assert world_control.instance(serving_instance)["state"] == "stopping"


def test_instances_view_shows_what_happened(world, world_ec2, world_control, serving_instance):
    world_ec2.create_tags(Resources=[serving_instance], Tags=[{"Key": "judge0.dev/fleet", "Value": "demo"}])
    world_ec2.reboot_instances(InstanceIds=[serving_instance])
    view = world_control.instance(serving_instance)
    assert view["zone"] == "us-east-1a" and view["subnet"] == world.info["subnets"]["us-east-1a"]
    assert view["instanceType"] == "t3.small" and view["market"] == "on-demand"
    assert view["tags"] == {"judge0.dev/fleet": "demo"}
    assert view["state"] == "running" and view["booted"] and not view["serving"]
    assert [c["action"] for c in view["calls"]] == ["RunInstances", "CreateTags", "RebootInstances"]
    assert [h["state"] for h in view["history"]][:2] == ["pending", "running"]


def test_calls_and_reset(world, world_ec2, world_control):
    world_ec2.describe_instances()
    world_ec2.describe_vpcs()
    calls = world_control.get("/calls")
    assert list(calls.pop("by_agent").values()) == [{"DescribeInstances": 1, "DescribeVpcs": 1}]  # one client
    assert calls == {
        "total": 2,
        "by_action": {"DescribeInstances": 1, "DescribeVpcs": 1},
        "injected_errors": {},
    }
    status, body = world_control.post("/calls/reset")
    assert status == 200 and body["total"] == 0


def judge0_queue(world: World, instance_id: str) -> int:
    """``size`` of the node's queue as Judge0's ``GET /workers`` reports it."""
    url = world.info["judge0_endpoint_template"].format(instance_id=instance_id) + "/workers"
    with urllib.request.urlopen(url, timeout=10) as resp:
        queues = json.loads(resp.read())
    return int(queues[0]["size"]) if queues else 0


def test_load_goes_to_running_nodes_of_the_target(world, world_ec2, world_control, serving_instance):
    other_zone = launch(world, world_ec2, "us-east-1b")
    world_control.advance(BOOT_AND_START)
    world_control.fault("zone:us-east-1a", "workers-dead")  # nothing drains the queue
    status, body = world_control.post("/load", {"target": "zone:us-east-1a", "jobs": 7})
    assert status == 200 and body == {"submitted": {serving_instance: 7}}
    assert judge0_queue(world, serving_instance) == 7
    assert world_control.instance(serving_instance)["judge0"]["queue_size"] == 7
    status, body = world_control.post("/load", {"target": other_zone, "jobs": 3})
    assert status == 200 and body == {"submitted": {other_zone: 3}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"target": "zone:us-east-1a", "jobs": 0}, "'jobs' must be an integer"),
        ({"target": "zone:us-east-1a", "jobs": "5"}, "'jobs' must be an integer"),
        ({"target": "aws", "jobs": 5}, "instance id or 'zone:<zone>'"),
        ({"target": "i-00000000000000bad", "jobs": 5}, "unknown instance"),
        ({"jobs": 5}, "'target' is required"),
    ],
)
def test_load_refusals(world_control, body, message):
    status, answer = world_control.post("/load", body)
    assert status == 400 and message in answer["error"]


def test_clock_and_health(world_control):
    assert world_control.get("/healthz") == {"ok": True}
    frozen = world_control.post("/clock/freeze")[1]
    assert frozen["frozen"] is True
    later = world_control.post("/clock/advance", {"seconds": 40})[1]
    assert later["now"] > frozen["now"]
    status, answer = world_control.post("/clock/advance", {"seconds": -1})
    assert status == 400 and "'seconds'" in answer["error"]
    assert world_control.post("/clock/resume")[1]["frozen"] is False
    assert world_control.request("GET", "/no-such-thing")[0] == 404
