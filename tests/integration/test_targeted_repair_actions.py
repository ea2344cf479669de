"""Targeted repair through SSM against the simulated world: a component restart with the requeue
after it, and the disk cleanup — the policy's default commands, as the planner hands them over."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from fixtures.world import ControlClient, wait_for
from judge0_operator.act.aws import AwsActuator
from judge0_operator.api.fleet import Judge0FleetSpec
from judge0_operator.api.policy import RecoveryPolicySpec
from judge0_operator.aws.budget import ApiBudget
from judge0_operator.aws.circuit import CircuitBreakers
from judge0_operator.aws.clients import AwsClients, AwsSettings
from judge0_operator.decide.model import ActionOutcome, CleanDisk, RestartJudge0
from judge0_operator.world.world import World

pytestmark = pytest.mark.timeout(60)
SESSION = boto3.session.Session()
POLICY = RecoveryPolicySpec()


@pytest.fixture
def actuator(world: World) -> Iterator[AwsActuator]:
    settings = AwsSettings(endpoint_url=world.info["aws_endpoint"], access_key_id="t", secret_access_key="t")
    clients = AwsClients(settings, session=SESSION)
    yield AwsActuator(
        clients, world.info["region"], circuit=CircuitBreakers(), budget=ApiBudget(), ssm_poll_seconds=0.05
    )
    clients.close()


def running(world: World, ec2: Any, control: ControlClient) -> str:
    instance_id = str(
        ec2.run_instances(
            ImageId=world.info["image_id"],
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.small",
            SubnetId=world.info["subnets"]["us-east-1a"],
        )["Instances"][0]["InstanceId"]
    )
    wait_for(lambda: control.instance(instance_id)["serving"], timeout=10, what="serving")
    return instance_id


async def execute(actuator: AwsActuator, action: Any, world: World) -> ActionOutcome:
    spec = Judge0FleetSpec.model_validate(
        {
            "region": world.info["region"],
            "instance": {
                "imageId": world.info["image_id"],
                "instanceType": "t3.small",
                "subnets": list(world.info["subnets"].values()),
            },
        }
    )
    return await actuator.execute(
        action,
        spec=spec,
        fleet_uid="uid",
        fleet_ref="ns/fleet",
        template_hash="h",
        restart_command=POLICY.remediation.restart_command,
        requeue_command=POLICY.remediation.requeue_command,
        ssm_timeout_seconds=10,
        cleanup_timeout_seconds=10,
    )


async def test_a_redis_restart_heals_redis_and_re_enqueues_after_it(
    world: World, world_ec2: Any, world_control: ControlClient, actuator: AwsActuator
) -> None:
    instance_id = running(world, world_ec2, world_control)
    fault = world_control.fault(instance_id, "redis-down")
    action = RestartJudge0(
        instance_id, "RedisDown", command=POLICY.remediation.component_commands.redis, component="redis", requeue=True
    )
    outcome = await execute(actuator, action, world)
    assert outcome.ok, outcome.detail
    wait_for(lambda: any(f["id"] == fault for f in world_control.get("/faults")["healed"]), timeout=10)
    healed = {f["id"]: f["healedBy"] for f in world_control.get("/faults")["healed"]}
    assert healed[fault] == "restart:redis"
    [sent] = [c for c in world_control.instance(instance_id)["calls"] if c["action"] == "SendCommand"]
    script = sent["commands"][0]
    assert script.index("restart redis") < script.index("judge0:run_in_queue")
    history = [h["cause"] for h in world_control.instance(instance_id)["history"]]
    assert "docker compose restart redis" in history and "server" not in " ".join(
        h for h in history if h.startswith("docker compose restart")
    )


async def test_the_default_cleanup_frees_the_old_part_of_a_filling_disk(
    world: World, world_ec2: Any, world_control: ControlClient, actuator: AwsActuator
) -> None:
    instance_id = running(world, world_ec2, world_control)
    world_control.fault(instance_id, "disk-filling", usedPercent=95, oldSubmissionsPercent=25, danglingImagesPercent=10)
    action = CleanDisk(instance_id, "DiskPressure", command=POLICY.remediation.cleanup.rendered())
    outcome = await execute(actuator, action, world)
    assert outcome.ok, outcome.detail
    assert world_control.instance(instance_id)["diskUsedPercent"] == 60
    [sent] = [c for c in world_control.instance(instance_id)["calls"] if c["action"] == "SendCommand"]
    assert "interval '30 days'" in sent["commands"][0]
