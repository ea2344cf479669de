"""The world's nastier AWS behaviours over real boto3 on loopback: eventual consistency, lost
answers, ClientToken idempotency by default, an SSM agent offline, and crash points.

Clocks are frozen and stepped where a behaviour is timed, so every check is exact.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fixtures.world import ControlClient, boto_client, wait_for
from judge0_operator.world.world import World

FLEET_TAG = "judge0.dev/fleet"


def launch(ec2: Any, world: World, token: str | None = None) -> str:
    kwargs: dict[str, Any] = {
        "ImageId": world.info["image_id"],
        "MinCount": 1,
        "MaxCount": 1,
        "InstanceType": "t3.small",
        "SubnetId": world.info["subnets"]["us-east-1a"],
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": FLEET_TAG, "Value": "ns/f"}]}],
    }
    if token:
        kwargs["ClientToken"] = token
    return str(ec2.run_instances(**kwargs)["Instances"][0]["InstanceId"])


def listed(ec2: Any, **kwargs: Any) -> dict[str, dict[str, Any]]:
    found = {}
    for reservation in ec2.describe_instances(**kwargs)["Reservations"]:
        for item in reservation["Instances"]:
            found[item["InstanceId"]] = item
    return found


def tagged(ec2: Any) -> dict[str, dict[str, Any]]:
    return listed(ec2, Filters=[{"Name": "tag-key", "Values": [FLEET_TAG]}])


def statuses(ec2: Any) -> set[str]:
    found = ec2.describe_instance_status(IncludeAllInstances=True)["InstanceStatuses"]
    return {item["InstanceId"] for item in found}


def test_client_tokens_are_honoured_by_default(world: World) -> None:
    assert world.info["client_tokens"] is True


def test_eventual_consistency_hides_new_instances_then_their_tags(world, world_ec2, world_control):
    world_control.freeze()
    world_control.fault("aws", "ec2-eventual-consistency", newHiddenSeconds=10, tagsLateSeconds=10)
    instance_id = launch(world_ec2, world)

    assert instance_id not in listed(world_ec2)
    assert instance_id not in tagged(world_ec2)
    assert instance_id not in statuses(world_ec2)
    with pytest.raises(ClientError) as raised:
        world_ec2.describe_instances(InstanceIds=[instance_id])
    assert raised.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
    assert instance_id in {i["id"] for i in world_control.get("/instances")["instances"]}, "it exists"

    world_control.advance(10)  # now visible, tags perhaps not yet
    seen = listed(world_ec2)[instance_id]
    if instance_id not in tagged(world_ec2):
        assert not seen.get("Tags"), "an unfiltered answer shows it without its tags"
    world_control.advance(10)
    assert tagged(world_ec2)[instance_id]["Tags"] == [{"Key": FLEET_TAG, "Value": "ns/f"}]
    assert instance_id in world_control.get("/chaos")["visibility"]


def test_eventual_consistency_shows_a_terminated_instance_running(world, world_ec2, world_control):
    world_control.freeze()
    instance_id = launch(world_ec2, world)  # before the fault: visible at once
    world_control.advance(25)
    world_control.fault("aws", "ec2-eventual-consistency", terminatedRunningSeconds=4)
    world_ec2.terminate_instances(InstanceIds=[instance_id])
    assert world_control.instance(instance_id)["state"] == "shutting-down"
    assert listed(world_ec2)[instance_id]["State"]["Name"] == "running"
    world_control.advance(4)
    assert listed(world_ec2)[instance_id]["State"]["Name"] != "running"


@pytest.mark.parametrize("tokens", [True, False], ids=["tokens-on", "tokens-off"])
def test_a_lost_run_instances_answer_is_retried_and_only_the_token_says_what_happened(world, world_control, tokens):
    world.configure(client_tokens=tokens)
    ec2 = boto_client(world, "ec2", attempts=3)
    world_control.fault("aws", "lost-response", actions=["RunInstances"], count=1)

    reply = ec2.run_instances(
        ImageId=world.info["image_id"], MinCount=1, MaxCount=1, InstanceType="t3.small", ClientToken="slot-0-1"
    )

    assert reply["ResponseMetadata"]["RetryAttempts"] == 1, "botocore retried the lost answer"
    launched = [i for i in world_control.get("/instances")["instances"] if i["state"] != "terminated"]
    assert len(launched) == (1 if tokens else 2), launched
    assert reply["Instances"][0]["InstanceId"] in {i["id"] for i in launched}
    assert world_control.get("/chaos")["lostResponses"] == {"RunInstances": 1}
    assert world_control.get("/calls")["by_action"]["RunInstances"] == 2
    assert world_control.get("/faults")["faults"] == [], "count=1: the fault retired itself"


def test_a_lost_answer_to_a_read_is_not_lost(world, world_ec2, world_control):
    world_control.fault("aws", "lost-response")  # mutating calls only, unless told otherwise
    world_ec2.describe_instances()
    assert world_control.get("/chaos")["lostResponses"] == {}


def test_held_answer_then_reset_is_a_timeout(world, world_control):
    ec2 = boto_client(world, "ec2", attempts=1)
    world_control.fault("aws", "lost-response", actions=["TerminateInstances"], mode="timeout", holdSeconds=4)
    instance_id = launch(ec2, world)
    with pytest.raises(Exception) as raised:
        ec2.terminate_instances(InstanceIds=[instance_id])
    assert "closed" in str(raised.value).lower() or "connection" in str(raised.value).lower()
    assert world_control.instance(instance_id)["state"] in ("shutting-down", "terminated"), "it was processed"


@pytest.mark.parametrize(
    ("outcome", "status", "details"),
    [("pending", "TimedOut", "DeliveryTimedOut"), ("undeliverable", "Failed", "Undeliverable")],
)
def test_ssm_agent_offline(world, world_ec2, world_ssm, world_control, outcome, status, details):
    world_control.freeze()
    instance_id = launch(world_ec2, world)
    world_control.advance(30)
    world_control.fault(instance_id, "ssm-agent-offline", outcome=outcome)
    command = world_ssm.send_command(
        InstanceIds=[instance_id],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["cd /opt/judge0 && docker compose restart server workers"]},
        TimeoutSeconds=30,
    )["Command"]["CommandId"]

    def invocation() -> dict[str, Any]:
        return dict(world_ssm.get_command_invocation(CommandId=command, InstanceId=instance_id))

    assert invocation()["Status"] == "Pending"
    world_control.advance(5)
    if outcome == "pending":
        assert invocation()["Status"] == "Pending", "still waiting for the agent"
        world_control.advance(30)
    found = invocation()
    assert (found["Status"], found["StatusDetails"]) == (status, details)
    history = [h["cause"] for h in world_control.instance(instance_id)["history"]]
    assert not any("docker compose restart" in cause for cause in history), "nothing ran on the host"


def test_crash_point_kills_the_child_after_the_nth_successful_call(world, world_ec2, world_control):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        status, trigger = world_control.post("/crash", {"point": "RunInstances", "nth": 2, "pid": child.pid})
        assert status == 201, trigger
        launch(world_ec2, world)
        assert child.poll() is None, "one call is not two"
        launch(world_ec2, world)
        assert wait_for(lambda: child.poll() is not None, timeout=5, what="the child killed")
        assert child.returncode == -9
        state = world_control.get("/crash")
        assert [t["point"] for t in state["fired"]] == ["RunInstances"]
        assert state["armed"] == []
        assert state["counts"]["RunInstances"] == 2
    finally:
        child.kill()
        child.wait()


def test_crash_points_refuse_a_process_that_is_not_the_worlds_child(world_control: ControlClient) -> None:
    import os

    status, body = world_control.post("/crash", {"point": "RunInstances", "nth": 1, "pid": os.getppid()})
    assert status == 400 and "not a child" in body["error"], body


def test_vanished_instances_are_kept_for_ledgers(world, world_ec2, world_control):
    world_control.freeze()
    instance_id = launch(world_ec2, world)
    world_control.advance(25)
    world_ec2.terminate_instances(InstanceIds=[instance_id])
    world_control.advance(5 + 60 + 1)
    assert instance_id not in {i["id"] for i in world_control.get("/instances")["instances"]}
    gone = {i["id"]: i for i in world_control.get("/instances/gone")["instances"]}
    assert gone[instance_id]["tags"] == {FLEET_TAG: "ns/f"}
    assert [h["state"] for h in gone[instance_id]["history"]][-2:] == ["shutting-down", "terminated"]


def test_api_faults_expire_after_their_duration(world, world_control):
    world_control.freeze()
    world_control.fault("kube", "kube-down", durationSeconds=10)
    world_control.advance(9)
    assert [f["fault"] for f in world_control.get("/faults")["faults"]] == ["kube-down"]
    world_control.advance(2)
    assert world_control.get("/faults")["faults"] == []
    assert world_control.get("/faults")["healed"][-1]["healedBy"] == "expired"
