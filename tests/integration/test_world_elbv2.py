"""The world's ELBv2 target groups, driven with plain boto3 over loopback HTTP.

The clock is frozen and stepped, so every health transition is checked exactly. Target groups come
from the world's seed helper with a 5 s health-check interval and thresholds of 2 (world seconds),
so a target needs 10 s of passing checks to turn healthy and 10 s of failing ones to turn unhealthy.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from fixtures.world import ControlClient, boto_client
from judge0_operator.world.world import World

BOOT, JUDGE0_START, STOP, TERMINATE, RESTART, SSM_COMMAND = 20.0, 5.0, 5.0, 5.0, 3.0, 2.0
THRESHOLD = 10.0  # 2 checks x 5 s
DELAY = 30.0  # the seed helper's deregistration delay


@pytest.fixture
def elb(world: World) -> Any:
    return boto_client(world, "elbv2")


def target_group(control: ControlClient, name: str = "judge0", **options: Any) -> str:
    status, body = control.post("/elbv2/target-groups", {"name": name, **options})
    assert status == 201, body
    return str(body["TargetGroupArn"])


def running(ec2: Any, control: ControlClient, world: World) -> str:
    instance_id = str(
        ec2.run_instances(
            ImageId=world.info["image_id"],
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.small",
            SubnetId=world.info["subnets"]["us-east-1a"],
        )["Instances"][0]["InstanceId"]
    )
    control.advance(BOOT + JUDGE0_START)
    assert control.instance(instance_id)["serving"]
    return instance_id


def health(elb: Any, arn: str, *ids: str) -> dict[str, dict[str, Any]]:
    kwargs: dict[str, Any] = {"TargetGroupArn": arn}
    if ids:
        kwargs["Targets"] = [{"Id": i} for i in ids]
    found = elb.describe_target_health(**kwargs)["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: d["TargetHealth"] for d in found}


def test_target_health_follows_the_node(world, world_ec2, world_ssm, world_control, elb):
    world_control.freeze()
    arn = target_group(world_control)
    instance_id = running(world_ec2, world_control, world)
    elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id}])
    assert health(elb, arn)[instance_id]["State"] == "initial"
    assert health(elb, arn)[instance_id]["Reason"] == "Elb.RegistrationInProgress"
    world_control.advance(1)  # first check passes
    world_control.advance(THRESHOLD)
    assert health(elb, arn)[instance_id] == {"State": "healthy"}

    world_control.fault(instance_id, "judge0-down")
    world_control.advance(1)
    assert health(elb, arn)[instance_id]["State"] == "healthy"  # one failed check is not enough
    world_control.advance(THRESHOLD)
    assert health(elb, arn)[instance_id]["State"] == "unhealthy"
    assert health(elb, arn)[instance_id]["Reason"] == "Target.Timeout"

    world_ssm.send_command(
        InstanceIds=[instance_id],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["cd /opt/judge0 && docker compose restart server workers"]},
    )
    world_control.advance(SSM_COMMAND + RESTART + 1)
    world_control.advance(THRESHOLD)
    assert health(elb, arn)[instance_id] == {"State": "healthy"}


def test_health_check_path_and_codes(world, world_ec2, world_control, elb):
    world_control.freeze()
    arn = target_group(world_control, healthCheckPath="/about")
    instance_id = running(world_ec2, world_control, world)
    elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id}])
    world_control.advance(1)
    world_control.advance(THRESHOLD)
    assert health(elb, arn)[instance_id]["State"] == "healthy"
    world_control.fault(instance_id, "api-500")
    world_control.advance(1)
    world_control.advance(THRESHOLD)
    found = health(elb, arn)[instance_id]
    assert (found["State"], found["Reason"]) == ("unhealthy", "Target.ResponseCodeMismatch")
    assert "[500]" in found["Description"]


def test_slow_node_beyond_the_timeout_is_unhealthy(world, world_ec2, world_control, elb):
    world_control.freeze()
    arn = target_group(world_control, timeoutSeconds=2)
    instance_id = running(world_ec2, world_control, world)
    elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id}])
    world_control.fault(instance_id, "judge0-slow", delaySeconds=3)
    world_control.advance(1)
    world_control.advance(THRESHOLD)
    assert health(elb, arn)[instance_id]["State"] == "unhealthy"


def test_deregistration_drains_for_the_delay_then_the_target_is_gone(world, world_ec2, world_control, elb):
    world_control.freeze()
    arn = target_group(world_control)
    first, second = running(world_ec2, world_control, world), running(world_ec2, world_control, world)
    elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": first}, {"Id": second}])
    world_control.advance(1)
    world_control.advance(THRESHOLD)
    elb.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": first}])
    found = health(elb, arn)
    assert found[first]["State"] == "draining" and found[first]["Reason"] == "Target.DeregistrationInProgress"
    assert found[second]["State"] == "healthy"
    groups = world_control.get("/elbv2/target-groups")["targetGroups"]
    assert groups[0]["inService"] == [second]
    world_control.advance(DELAY - 1)
    assert health(elb, arn)[first]["State"] == "draining"
    world_control.advance(2)
    assert set(health(elb, arn)) == {second}
    assert health(elb, arn, first)[first]["Reason"] == "Target.NotRegistered"


def test_registering_again_while_draining_starts_over(world, world_ec2, world_control, elb):
    world_control.freeze()
    arn = target_group(world_control)
    instance_id = running(world_ec2, world_control, world)
    elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id}])
    world_control.advance(1)
    world_control.advance(THRESHOLD)
    elb.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id}])
    elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id}])
    assert health(elb, arn)[instance_id]["State"] == "initial"


def test_stopped_is_unused_and_terminated_deregisters_itself(world, world_ec2, world_control, elb):
    world_control.freeze()
    arn = target_group(world_control)
    stopped, terminated = running(world_ec2, world_control, world), running(world_ec2, world_control, world)
    elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": stopped}, {"Id": terminated}])
    world_control.advance(1)
    world_control.advance(THRESHOLD)
    world_ec2.stop_instances(InstanceIds=[stopped])
    world_ec2.terminate_instances(InstanceIds=[terminated])
    world_control.advance(STOP)
    found = health(elb, arn)
    assert (found[stopped]["State"], found[stopped]["Reason"]) == ("unused", "Target.InvalidState")
    assert found[terminated]["State"] == "draining"
    world_control.advance(DELAY + 1)
    assert set(health(elb, arn)) == {stopped}

    world_ec2.start_instances(InstanceIds=[stopped])
    world_control.advance(BOOT + JUDGE0_START)
    assert health(elb, arn)[stopped]["State"] == "initial"
    world_control.advance(THRESHOLD)
    assert health(elb, arn)[stopped]["State"] == "healthy"


def test_errors_are_elbv2_errors(world, world_ec2, world_control, elb):
    world_control.freeze()
    arn = target_group(world_control)
    with pytest.raises(ClientError) as missing:
        elb.describe_target_health(TargetGroupArn=arn.replace(arn.rsplit("/", 1)[1], "0" * 16))
    assert missing.value.response["Error"]["Code"] == "TargetGroupNotFound"
    pending = str(
        world_ec2.run_instances(ImageId=world.info["image_id"], MinCount=1, MaxCount=1, InstanceType="t3.small")[
            "Instances"
        ][0]["InstanceId"]
    )
    with pytest.raises(ClientError) as not_running:
        elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": pending}])
    assert not_running.value.response["Error"]["Code"] == "InvalidTarget"
    status, _ = world_control.post("/elbv2/target-groups", {"name": "judge0", "colour": "blue"})
    assert status == 400


def test_seeded_target_groups_carry_their_tags(world, world_control, elb):
    status, group = world_control.post(
        "/elbv2/target-groups", {"name": "tagged", "tags": {"judge0.dev/managed-by": "judge0-operator"}}
    )
    assert status == 201
    tags = elb.describe_tags(ResourceArns=[group["TargetGroupArn"]])["TagDescriptions"][0]["Tags"]
    assert {"Key": "judge0.dev/managed-by", "Value": "judge0-operator"} in tags
    assert group["VpcId"] == world.info["vpc_id"] and group["Port"] == 2358


def test_elbv2_calls_are_counted_and_throttled(world, world_control, elb):
    arn = target_group(world_control)
    world_control.post("/calls/reset")
    elb.describe_target_health(TargetGroupArn=arn)
    assert world_control.get("/calls")["by_action"].get("DescribeTargetHealth") == 1
    world_control.fault("aws", "throttle", actions=["DescribeTargetHealth"])
    with pytest.raises(ClientError) as throttled:
        elb.describe_target_health(TargetGroupArn=arn)
    assert throttled.value.response["Error"]["Code"] == "Throttling"
    assert world_control.get("/calls")["injected_errors"].get("Throttling", 0) >= 1
    elb.describe_target_groups(TargetGroupArns=[arn])  # other actions pass
