"""AwsActuator against the simulated world's EC2 and SSM on loopback.

Faults come from the dependency, never from patching the actuator: the world's own faults
(``ssm-failed``, ``ssm-timeout``, validation of AMIs) or a botocore ``before-send`` hook on the
actuator's client that answers as AWS would (5xx, throttling, capacity) without sending.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from fixtures.world import ControlClient, wait_for
from judge0_operator import metrics
from judge0_operator.act.aws import AwsActuator, run_instances_request
from judge0_operator.api.fleet import Judge0FleetSpec
from judge0_operator.aws.budget import ApiBudget
from judge0_operator.aws.circuit import CircuitBreakers
from judge0_operator.aws.clients import AwsClients, AwsSettings
from judge0_operator.decide.model import (
    MANAGED_BY,
    TAG_ATTEMPT,
    TAG_FLEET,
    TAG_FLEET_UID,
    TAG_MANAGED,
    TAG_SLOT,
    TAG_TEMPLATE,
    ActionOutcome,
    Launch,
    Reboot,
    RestartJudge0,
    Start,
    Terminate,
)
from judge0_operator.world.world import World

FLEET_UID = "0b5d6a8e-1111-4c2e-9a55-2f6a0c1e9d01"
FLEET_REF = "judge/exam-fleet"
RESTART = "cd /opt/judge0 && docker compose restart server workers"


SESSION = boto3.session.Session()  # shared: each new session would parse the EC2 model again (~0.5 s)


def make_clients(world: World, **settings: Any) -> AwsClients:
    endpoint = world.info["aws_endpoint"]
    aws = AwsSettings(endpoint_url=endpoint, access_key_id="t", secret_access_key="t", **settings)
    return AwsClients(aws, session=SESSION)


@pytest.fixture
def clients(world: World) -> Iterator[AwsClients]:
    made = make_clients(world)
    yield made
    made.close()


@pytest.fixture
def env(world: World, world_ec2: Any) -> dict[str, Any]:
    """The world's network plus a key pair (the world validates key names and AMIs)."""
    if not world_ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["ops"]}])["KeyPairs"]:
        world_ec2.create_key_pair(KeyName="ops")  # the world's reset keeps key pairs
    return {
        "region": world.info["region"],
        "subnets": world.info["subnets"],
        "zones": world.info["zones"],
        "sg": world.info["security_group_id"],
        "ami": world.info["image_id"],
    }


def fleet_spec(env: dict[str, Any], **instance: Any) -> Judge0FleetSpec:
    base: dict[str, Any] = {
        "image_id": env["ami"],
        "instance_type": "t3.small",
        "subnets": list(env["subnets"].values()),
        "security_group_ids": [env["sg"]],
        "key_name": "ops",
        "user_data": "#!/bin/bash\necho judge0 > /tmp/hello\n",
        "tags": {"team": "judges", TAG_FLEET: "spoofed/value"},
    }
    base.update(instance)
    return Judge0FleetSpec.model_validate({"region": env["region"], "replicas": 1, "instance": base})


def launch_action(
    env: dict[str, Any], *, slot: str = "3", attempt: int = 2, zone: int = 1, **changes: Any
) -> Launch:
    fields: dict[str, Any] = {
        "slot": slot,
        "attempt": attempt,
        "client_token": f"{FLEET_UID[:8]}-{slot}-{attempt}",
        "subnet_id": env["subnets"][env["zones"][zone]],
        "zone": env["zones"][zone],
        "instance_type": "t3.small",
        "market": "on-demand",
        "reason": "ScaleUp",
    }
    fields.update(changes)
    return Launch(**fields)


def actuator(
    clients: AwsClients, env: dict[str, Any], circuit: CircuitBreakers | None = None, **kw: Any
) -> AwsActuator:
    return AwsActuator(
        clients,
        env["region"],
        circuit=circuit or CircuitBreakers(),
        budget=ApiBudget(),
        ssm_poll_seconds=0.05,
        **kw,
    )


async def execute(
    act: AwsActuator, action: Any, spec: Judge0FleetSpec, ssm_timeout: float = 10.0
) -> ActionOutcome:
    return await act.execute(
        action,
        spec=spec,
        fleet_uid=FLEET_UID,
        fleet_ref=FLEET_REF,
        template_hash="abc123",
        restart_command=RESTART,
        ssm_timeout_seconds=ssm_timeout,
    )


def describe(ec2: Any, instance_id: str) -> dict[str, Any]:
    return dict(ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0])


def state(ec2: Any, instance_id: str) -> str:
    return str(describe(ec2, instance_id)["State"]["Name"])


async def running_instance(act: AwsActuator, env: dict[str, Any], ec2: Any, slot: str = "0") -> str:
    outcome = await execute(act, launch_action(env, slot=slot), fleet_spec(env))
    instance_id = outcome.instance_id
    assert outcome.ok and instance_id, outcome.detail
    wait_for(lambda: state(ec2, instance_id) == "running", what="instance running")
    return instance_id


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def ec2_error(status: int, code: str, message: str) -> AWSResponse:
    body = (
        f"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error><Code>{code}</Code>"
        f"<Message>{message}</Message></Error></Errors><RequestID>r-1</RequestID></Response>"
    ).encode()
    headers: Any = {}
    return AWSResponse("http://127.0.0.1/", status, headers, _Raw(body))


def inject(client: Any, operation: str, answer: Callable[[], AWSResponse | None]) -> list[int]:
    """Answer ``operation`` on ``client`` with ``answer()`` instead of sending it; counts the sends."""
    sends: list[int] = []

    def hook(request: Any, **_: Any) -> AWSResponse | None:
        sends.append(1)
        return answer()

    client.meta.events.register(f"before-send.{client.meta.service_model.endpoint_prefix}.{operation}", hook)
    return sends


# --- Launch ----------------------------------------------------------------------------------------
async def test_launch_tags_client_token_subnet_and_user_data(
    clients: AwsClients, env: dict[str, Any], world_ec2: Any
) -> None:
    spec = fleet_spec(env)
    action = launch_action(env)

    outcome = await execute(actuator(clients, env), action, spec)

    assert outcome.ok, outcome.detail
    assert outcome.action is action and outcome.zone == env["zones"][1]
    raw = describe(world_ec2, outcome.instance_id or "")
    assert raw["ClientToken"] == action.client_token
    assert raw["SubnetId"] == action.subnet_id
    assert raw["Placement"]["AvailabilityZone"] == env["zones"][1]
    assert raw["ImageId"] == env["ami"] and raw["InstanceType"] == "t3.small"
    assert [g["GroupId"] for g in raw["SecurityGroups"]] == [env["sg"]]
    assert raw["KeyName"] == "ops"
    assert raw.get("InstanceLifecycle") != "spot"
    tags = {t["Key"]: t["Value"] for t in raw["Tags"]}
    assert tags == {
        "team": "judges",
        TAG_MANAGED: MANAGED_BY,
        TAG_FLEET: FLEET_REF,  # the user's reserved-prefix tag cannot spoof ownership
        TAG_FLEET_UID: FLEET_UID,
        TAG_SLOT: "3",
        TAG_ATTEMPT: "2",
        TAG_TEMPLATE: "abc123",
        "Name": "exam-fleet-3",
    }
    user_data = world_ec2.describe_instance_attribute(InstanceId=outcome.instance_id, Attribute="userData")
    assert base64.b64decode(user_data["UserData"]["Value"]).decode() == spec.instance.user_data


def test_launch_request_tags_volumes_too_and_names_the_instance_profile(env: dict[str, Any]) -> None:
    spec = fleet_spec(env, iam_instance_profile="arn:aws:iam::123456789012:instance-profile/judge0")
    request = run_instances_request(
        spec, launch_action(env), fleet_uid=FLEET_UID, fleet_ref=FLEET_REF, template_hash="h"
    )
    by_type = {t["ResourceType"]: t["Tags"] for t in request["TagSpecifications"]}
    assert set(by_type) == {"instance", "volume"}
    assert by_type["volume"] == by_type["instance"]
    assert (request["MinCount"], request["MaxCount"]) == (1, 1)
    assert request["IamInstanceProfile"] == {"Arn": "arn:aws:iam::123456789012:instance-profile/judge0"}
    assert request["MetadataOptions"]["HttpTokens"] == "required"
    by_name = run_instances_request(
        fleet_spec(env, iam_instance_profile="judge0"),
        launch_action(env),
        fleet_uid="u",
        fleet_ref="n/f",
        template_hash="",
    )
    assert by_name["IamInstanceProfile"] == {"Name": "judge0"}


async def test_launch_spot_from_a_launch_template(
    clients: AwsClients, env: dict[str, Any], world_ec2: Any
) -> None:
    template = world_ec2.create_launch_template(
        LaunchTemplateName="judge0-node",
        LaunchTemplateData={"ImageId": env["ami"], "InstanceType": "c5.large"},
    )["LaunchTemplate"]
    spec = fleet_spec(
        env,
        image_id=None,
        instance_type=None,
        launch_template={"name": "judge0-node", "version": "1"},
        key_name=None,
    )
    action = launch_action(env, instance_type="", market="spot", zone=0)

    outcome = await execute(actuator(clients, env), action, spec)

    assert outcome.ok, outcome.detail
    assert outcome.zone == env["zones"][0]
    raw = describe(world_ec2, outcome.instance_id or "")
    assert raw["InstanceLifecycle"] == "spot"
    assert raw["InstanceType"] == "c5.large" and raw["ImageId"] == env["ami"]
    tags = {t["Key"]: t["Value"] for t in raw["Tags"]}
    assert tags[TAG_FLEET_UID] == FLEET_UID
    assert template["LaunchTemplateName"] == "judge0-node"


async def test_bad_ami_is_terminal_with_the_aws_message(clients: AwsClients, env: dict[str, Any]) -> None:
    spec = fleet_spec(env, image_id="ami-0123456789abcdef0")  # the world validates AMIs

    outcome = await execute(actuator(clients, env), launch_action(env), spec)

    assert not outcome.ok
    assert outcome.error_kind == "terminal"
    assert outcome.error_code == "InvalidAMIID.NotFound"
    assert outcome.error_message and "ami-0123456789abcdef0" in outcome.error_message
    assert outcome.instance_id is None


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("InsufficientInstanceCapacity", 500, "capacity"),
        ("RequestLimitExceeded", 503, "throttled"),
        ("UnauthorizedOperation", 403, "terminal"),
    ],
)
async def test_launch_failures_are_classified(
    world: World, env: dict[str, Any], code: str, status: int, kind: str
) -> None:
    fast = make_clients(world, total_max_attempts=1)
    inject(fast.ec2(env["region"]), "RunInstances", lambda: ec2_error(status, code, f"{code} says no"))

    outcome = await execute(actuator(fast, env), launch_action(env), fleet_spec(env))

    assert (outcome.ok, outcome.error_kind, outcome.error_code) == (False, kind, code)
    assert outcome.error_message == f"{code} says no"
    fast.close()


async def test_capacity_error_from_a_zone_in_the_world(
    world: World, env: dict[str, Any], world_control: ControlClient
) -> None:
    world_control.fault(f"zone:{env['zones'][1]}", "capacity-error")
    fast = make_clients(world, total_max_attempts=1)

    outcome = await execute(actuator(fast, env), launch_action(env, zone=1), fleet_spec(env))

    assert (outcome.ok, outcome.error_kind, outcome.error_code) == (
        False,
        "capacity",
        "InsufficientInstanceCapacity",
    )
    fast.close()


# --- Terminate, reboot, start ----------------------------------------------------------------------
async def test_reboot_start_terminate(clients: AwsClients, env: dict[str, Any], world_ec2: Any) -> None:
    act = actuator(clients, env)
    spec = fleet_spec(env)
    a = await running_instance(act, env, world_ec2, slot="0")
    b = await running_instance(act, env, world_ec2, slot="1")

    reboot = await execute(act, Reboot(instance_id=a, reason="api down"), spec)
    assert reboot.ok and reboot.instance_id == a

    world_ec2.stop_instances(InstanceIds=[b])
    wait_for(lambda: state(world_ec2, b) == "stopped", what="stopped")
    start = await execute(act, Start(instance_id=b, reason="stopped"), spec)
    assert start.ok, start.detail
    wait_for(lambda: state(world_ec2, b) == "running", what="running again")

    terminate = await execute(act, Terminate(instance_id=a, reason="replaced"), spec)
    assert terminate.ok and terminate.detail == "terminating"
    assert state(world_ec2, a) in ("shutting-down", "terminated")

    unknown = await execute(act, Terminate(instance_id="i-0123456789abcdef0", reason="gone"), spec)
    assert unknown.ok and unknown.detail == "already gone"

    start_running = await execute(act, Start(instance_id=b, reason="again"), spec)
    assert start_running.ok, "starting a running instance is a no-op in EC2"
    not_there = await execute(act, Reboot(instance_id="i-0123456789abcdef0", reason="x"), spec)
    assert not not_there.ok and not_there.error_code == "InvalidInstanceID.NotFound"


async def test_terminate_many_in_batches_tolerating_unknown_ids(
    clients: AwsClients, env: dict[str, Any], world_ec2: Any
) -> None:
    reply = world_ec2.run_instances(
        ImageId=env["ami"],
        InstanceType="t3.small",
        MinCount=5,
        MaxCount=5,
        SubnetId=env["subnets"][env["zones"][0]],
    )
    alive = [i["InstanceId"] for i in reply["Instances"]]
    unknown = ["i-0123456789abcdef0", "i-0123456789abcdef1"]
    ids = [alive[0], unknown[0], *alive[1:4], unknown[1], alive[4]]
    calls: list[list[str]] = []
    clients.ec2(env["region"]).meta.events.register(
        "before-parameter-build.ec2.TerminateInstances",
        lambda params, **_: calls.append(list(params["InstanceIds"])),
    )

    outcomes = await actuator(clients, env, terminate_batch=3).terminate_many(ids, reason="FleetDeleted")

    assert [o.instance_id for o in outcomes] == ids
    assert all(o.ok for o in outcomes), [o.detail for o in outcomes]
    assert all(o.action.reason == "FleetDeleted" for o in outcomes)
    assert {o.instance_id for o in outcomes if o.detail == "already gone"} == set(unknown)
    assert calls and all(len(batch) <= 3 for batch in calls)
    assert {state(world_ec2, i) for i in alive} <= {"shutting-down", "terminated"}


# --- SSM ----------------------------------------------------------------------------------------------
async def test_restart_judge0_through_ssm(clients: AwsClients, env: dict[str, Any], world_ec2: Any) -> None:
    act = actuator(clients, env)
    iid = await running_instance(act, env, world_ec2)
    sent: list[dict[str, Any]] = []
    clients.ssm(env["region"]).meta.events.register(
        "before-parameter-build.ssm.SendCommand", lambda params, **_: sent.append(dict(params))
    )

    outcome = await execute(act, RestartJudge0(instance_id=iid, reason="api down"), fleet_spec(env))

    assert outcome.ok and outcome.detail == "Success" and outcome.instance_id == iid
    (params,) = sent
    assert params["InstanceIds"] == [iid]
    assert params["DocumentName"] == "AWS-RunShellScript"
    assert params["Parameters"]["commands"] == [RESTART]


async def test_restart_reports_a_failed_command(
    clients: AwsClients, env: dict[str, Any], world_ec2: Any, world_control: ControlClient
) -> None:
    act = actuator(clients, env)
    iid = await running_instance(act, env, world_ec2)
    world_control.fault(iid, "ssm-failed", exitCode=2)

    outcome = await execute(
        act, RestartJudge0(instance_id=iid, reason="workers", command="echo custom"), fleet_spec(env)
    )

    assert not outcome.ok
    assert outcome.detail == "Failed"
    assert outcome.error_kind is None, "the call worked; the command failed"


@pytest.mark.world_config(ssm_command_seconds=600)  # 15 s at the test speed: still running at our deadline
async def test_restart_gives_up_at_the_ssm_timeout(
    clients: AwsClients, env: dict[str, Any], world_ec2: Any
) -> None:
    act = actuator(clients, env)
    iid = await running_instance(act, env, world_ec2)

    outcome = await execute(
        act, RestartJudge0(instance_id=iid, reason="api"), fleet_spec(env), ssm_timeout=0.3
    )

    assert not outcome.ok
    assert outcome.detail.startswith("TimedOut") and "InProgress" in outcome.detail


async def test_restart_of_a_stopped_instance_is_refused_by_ssm(
    clients: AwsClients, env: dict[str, Any], world_ec2: Any
) -> None:
    act = actuator(clients, env)
    iid = await running_instance(act, env, world_ec2)
    world_ec2.stop_instances(InstanceIds=[iid])
    wait_for(lambda: state(world_ec2, iid) == "stopped", what="stopped")

    outcome = await execute(act, RestartJudge0(instance_id=iid, reason="api"), fleet_spec(env))

    assert (outcome.ok, outcome.error_code, outcome.error_kind) == (False, "InvalidInstanceId", "terminal")


# --- Circuit breaker --------------------------------------------------------------------------------
async def test_circuit_opens_after_repeated_5xx_and_stops_calling(world: World, env: dict[str, Any]) -> None:
    fast = make_clients(world, total_max_attempts=2)
    sends = inject(
        fast.ec2(env["region"]), "RunInstances", lambda: ec2_error(503, "Unavailable", "try later")
    )
    breakers = metrics.new_circuit_breakers(failure_threshold=2, cooldown_seconds=60)
    act = AwsActuator(fast, env["region"], circuit=breakers, budget=ApiBudget())
    spec = fleet_spec(env)
    sample = {"region": env["region"], "operation": "RunInstances"}
    transient = {"operation": "RunInstances", "outcome": "transient"}
    calls_before = metrics.REGISTRY.get_sample_value("judge0_operator_aws_calls_total", transient) or 0.0

    for n in range(2):
        failed = await execute(act, launch_action(env, slot=str(n)), spec)
        assert (failed.ok, failed.error_kind, failed.error_code) == (False, "transient", "Unavailable")
    assert len(sends) == 4, "botocore's standard mode retried each call once"
    assert metrics.REGISTRY.get_sample_value("judge0_operator_circuit_state", sample) == 2

    refused = await execute(act, launch_action(env, slot="9"), spec)

    assert (refused.ok, refused.error_kind, refused.error_code) == (False, "circuit-open", "CircuitOpen")
    assert "RunInstances" in (refused.error_message or "")
    assert len(sends) == 4, "no call while the circuit is open"
    assert metrics.REGISTRY.get_sample_value("judge0_operator_aws_calls_total", transient) == calls_before + 2
    other = await execute(act, Terminate(instance_id="i-0123456789abcdef0", reason="x"), spec)
    assert other.ok, "breakers are per operation: TerminateInstances still flows"
    fast.close()
