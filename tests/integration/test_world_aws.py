"""The world's EC2 and SSM, driven with plain boto3 over loopback HTTP.

Most tests freeze the world's clock and step it (``POST /clock/advance``), so every transition is
checked exactly, without racing real time. Durations below are world seconds (WorldConfig).
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from fixtures.world import ControlClient, boto_client, wait_for
from judge0_operator.world.world import World

BOOT, JUDGE0_START, REBOOT, STOP, TERMINATE = 20.0, 5.0, 15.0, 5.0, 5.0
RESTART, SSM_COMMAND, VISIBLE = 3.0, 2.0, 60.0
RESTART_COMMAND = "cd /opt/judge0 && docker compose restart server workers"


def launch(
    ec2: Any,
    world: World,
    zone: str = "us-east-1a",
    instance_type: str = "t3.small",
    tags: dict[str, str] | None = None,
    **extra: Any,
) -> str:
    kwargs: dict[str, Any] = {
        "ImageId": world.info["image_id"],
        "MinCount": 1,
        "MaxCount": 1,
        "InstanceType": instance_type,
        "SubnetId": world.info["subnets"][zone],
        "SecurityGroupIds": [world.info["security_group_id"]],
        **extra,
    }
    if tags:
        kwargs["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    return str(ec2.run_instances(**kwargs)["Instances"][0]["InstanceId"])


def state(ec2: Any, instance_id: str) -> str:
    return str(
        ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]
    )


def status(ec2: Any, instance_id: str) -> dict[str, Any]:
    found = ec2.describe_instance_status(InstanceIds=[instance_id], IncludeAllInstances=True)[
        "InstanceStatuses"
    ]
    assert len(found) == 1
    return dict(found[0])


def running(ec2: Any, control: ControlClient, world: World, zone: str = "us-east-1a", **kwargs: Any) -> str:
    """Launch on a frozen clock and step it until the node serves."""
    instance_id = launch(ec2, world, zone, **kwargs)
    control.advance(BOOT + JUDGE0_START)
    assert control.instance(instance_id)["serving"]
    return instance_id


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def test_launch_is_pending_for_boot_seconds_then_running_then_serving(world, world_ec2, world_control):
    world_control.freeze()
    response = world_ec2.run_instances(
        ImageId=world.info["image_id"],
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.small",
        SubnetId=world.info["subnets"]["us-east-1b"],
    )
    instance = response["Instances"][0]
    assert instance["State"] == {"Code": 0, "Name": "pending"}
    instance_id = instance["InstanceId"]
    assert instance["Placement"]["AvailabilityZone"] == "us-east-1b"
    assert state(world_ec2, instance_id) == "pending"
    assert world_ec2.describe_instance_status(InstanceIds=[instance_id])["InstanceStatuses"] == []
    assert status(world_ec2, instance_id)["InstanceStatus"] == {"Status": "not-applicable"}

    world_control.advance(BOOT - 1)
    assert state(world_ec2, instance_id) == "pending"
    world_control.advance(1)
    assert state(world_ec2, instance_id) == "running"
    checks = status(world_ec2, instance_id)
    assert checks["InstanceStatus"]["Status"] == checks["SystemStatus"]["Status"] == "initializing"
    assert not world_control.instance(instance_id)["serving"]

    world_control.advance(JUDGE0_START)
    checks = status(world_ec2, instance_id)
    assert checks["InstanceStatus"] == {
        "Status": "ok",
        "Details": [{"Name": "reachability", "Status": "passed"}],
    }
    assert checks["SystemStatus"]["Status"] == "ok"
    assert world_control.instance(instance_id)["serving"]


def test_invalid_transitions_fail_like_ec2(world, world_ec2, world_control):
    world_control.freeze()
    instance_id = launch(world_ec2, world)
    with pytest.raises(ClientError) as excinfo:
        world_ec2.stop_instances(InstanceIds=[instance_id])  # still pending
    assert error_code(excinfo) == "IncorrectInstanceState"
    world_control.advance(BOOT)
    world_ec2.stop_instances(InstanceIds=[instance_id])
    world_control.advance(STOP)
    with pytest.raises(ClientError) as excinfo:
        world_ec2.reboot_instances(InstanceIds=[instance_id])
    assert error_code(excinfo) == "IncorrectInstanceState"
    world_ec2.terminate_instances(InstanceIds=[instance_id])
    with pytest.raises(ClientError) as excinfo:
        world_ec2.start_instances(InstanceIds=[instance_id])
    assert error_code(excinfo) == "IncorrectInstanceState"
    assert "not in a state from which it can be started" in str(excinfo.value)
    world_control.advance(TERMINATE)
    with pytest.raises(ClientError) as excinfo:
        world_ec2.start_instances(InstanceIds=[instance_id])
    assert error_code(excinfo) == "IncorrectInstanceState"
    assert state(world_ec2, instance_id) == "terminated"
    outcomes = [(c["action"], c["outcome"]) for c in world_control.instance(instance_id)["calls"]]
    assert ("StopInstances", "IncorrectInstanceState") in outcomes
    assert ("StartInstances", "IncorrectInstanceState") in outcomes


def test_stop_start_and_reboot_take_time(world, world_ec2, world_control):
    world_control.freeze()
    instance_id = running(world_ec2, world_control, world)

    stopping = world_ec2.stop_instances(InstanceIds=[instance_id])["StoppingInstances"][0]
    assert stopping["CurrentState"]["Name"] == "stopping"
    assert stopping["PreviousState"]["Name"] == "running"
    assert state(world_ec2, instance_id) == "stopping"
    world_control.advance(STOP)
    assert state(world_ec2, instance_id) == "stopped"

    world_ec2.start_instances(InstanceIds=[instance_id])
    assert state(world_ec2, instance_id) == "pending"
    world_control.advance(BOOT)
    assert state(world_ec2, instance_id) == "running"
    world_control.advance(JUDGE0_START)
    assert world_control.instance(instance_id)["serving"]

    world_ec2.reboot_instances(InstanceIds=[instance_id])
    view = world_control.instance(instance_id)
    assert view["state"] == "running" and not view["reachable"] and not view["serving"]
    world_control.advance(REBOOT)
    view = world_control.instance(instance_id)
    assert view["reachable"] and not view["serving"]  # host back, Judge0 still starting
    world_control.advance(JUDGE0_START)
    assert world_control.instance(instance_id)["serving"]
    actions = [c["action"] for c in world_control.instance(instance_id)["calls"]]
    assert actions == ["RunInstances", "StopInstances", "StartInstances", "RebootInstances"]


def test_terminated_instances_vanish_after_a_while(world, world_ec2, world_control):
    world_control.freeze()
    instance_id = running(world_ec2, world_control, world, tags={"suite": "vanish"})
    result = world_ec2.terminate_instances(InstanceIds=[instance_id])["TerminatingInstances"][0]
    assert result["CurrentState"]["Name"] == "shutting-down"
    assert state(world_ec2, instance_id) == "shutting-down"
    world_control.advance(TERMINATE)
    assert state(world_ec2, instance_id) == "terminated"
    world_control.advance(VISIBLE - 1)
    assert state(world_ec2, instance_id) == "terminated"
    world_control.advance(1)
    with pytest.raises(ClientError) as excinfo:
        world_ec2.describe_instances(InstanceIds=[instance_id])
    assert error_code(excinfo) == "InvalidInstanceID.NotFound"
    listed = world_ec2.describe_instances(Filters=[{"Name": "tag:suite", "Values": ["vanish"]}])[
        "Reservations"
    ]
    assert listed == []
    assert all(i["id"] != instance_id for i in world_control.get("/instances")["instances"])


def test_impaired_status_checks_and_filters(world, world_ec2, world_control):
    world_control.freeze()
    sick = running(world_ec2, world_control, world)
    healthy = running(world_ec2, world_control, world)
    world_control.fault(sick, "instance-impaired")
    checks = status(world_ec2, sick)
    assert checks["InstanceStatus"]["Status"] == "impaired"
    detail = checks["InstanceStatus"]["Details"][0]
    assert detail["Name"] == "reachability" and detail["Status"] == "failed" and "ImpairedSince" in detail
    assert checks["SystemStatus"]["Status"] == "ok"
    assert not world_control.instance(sick)["serving"]
    assert status(world_ec2, healthy)["InstanceStatus"]["Status"] == "ok"

    impaired = world_ec2.describe_instance_status(
        Filters=[{"Name": "instance-status.status", "Values": ["impaired"]}]
    )["InstanceStatuses"]
    assert [s["InstanceId"] for s in impaired] == [sick]

    world_control.fault(healthy, "system-impaired", nodeReachable=True)
    checks = status(world_ec2, healthy)
    assert checks["SystemStatus"]["Status"] == "impaired"
    assert checks["InstanceStatus"]["Status"] == "ok"
    assert world_control.instance(healthy)["serving"]  # the check fails, Judge0 still answers


def test_scheduled_events_appear_and_happen(world, world_ec2, world_control):
    world_control.freeze()
    retiring = running(world_ec2, world_control, world)
    maintained = running(world_ec2, world_control, world)
    before = world_control.get("/clock")["now"]
    world_control.fault(retiring, "scheduled-retirement", notBeforeSeconds=100)
    world_control.fault(maintained, "system-maintenance", notBeforeSeconds=50)

    events = status(world_ec2, retiring)["Events"]
    assert [e["Code"] for e in events] == ["instance-retirement"]
    assert events[0]["InstanceEventId"].startswith("instance-event-")
    assert events[0]["NotBefore"].isoformat() > before.replace("Z", "")
    coded = world_ec2.describe_instance_status(
        Filters=[{"Name": "event.code", "Values": ["system-maintenance"]}]
    )["InstanceStatuses"]
    assert [s["InstanceId"] for s in coded] == [maintained]

    world_control.advance(50)  # maintenance: the host goes away for a reboot, then the event is completed
    assert not world_control.instance(maintained)["reachable"]
    assert status(world_ec2, maintained)["Events"][0]["Description"].startswith("[Completed]")
    world_control.advance(50)  # retirement: AWS stops the instance; stopping clears the event
    assert state(world_ec2, retiring) == "stopping"
    world_control.advance(STOP)
    assert state(world_ec2, retiring) == "stopped"
    assert "Events" not in status(world_ec2, retiring)


def test_spot_interruption_notice_then_termination(world, world_ec2, world_control):
    world_control.freeze()
    spot = running(
        world_ec2,
        world_control,
        world,
        InstanceMarketOptions={"MarketType": "spot", "SpotOptions": {"SpotInstanceType": "one-time"}},
    )
    assert world_control.instance(spot)["market"] == "spot"
    world_control.fault(spot, "spot-interruption", noticeSeconds=120)
    event = status(world_ec2, spot)["Events"][0]
    assert event["Code"] == "instance-stop" and "Spot Instance interruption" in event["Description"]
    assert world_control.instance(spot)["events"][0]["code"] == "instance-stop"
    world_control.advance(120)
    assert state(world_ec2, spot) == "shutting-down"
    reason = world_ec2.describe_instances(InstanceIds=[spot])["Reservations"][0]["Instances"][0][
        "StateReason"
    ]
    assert reason["Code"] == "Server.SpotInstanceTermination"


def test_capacity_error_per_zone_type_and_market(world, world_ec2, world_control):
    world_control.fault("zone:us-east-1a", "capacity-error", instanceTypes=["t3.small"])
    with pytest.raises(ClientError) as excinfo:
        launch(world_ec2, world, "us-east-1a", "t3.small")
    assert error_code(excinfo) == "InsufficientInstanceCapacity"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert excinfo.value.response["ResponseMetadata"]["RetryAttempts"] == 1  # botocore retried, then gave up
    launch(world_ec2, world, "us-east-1a", "t3.medium")
    launch(world_ec2, world, "us-east-1b", "t3.small")

    world_control.fault("zone:us-east-1c", "capacity-error", market="spot")
    launch(world_ec2, world, "us-east-1c")
    with pytest.raises(ClientError) as excinfo:
        launch(world_ec2, world, "us-east-1c", InstanceMarketOptions={"MarketType": "spot"})
    assert error_code(excinfo) == "InsufficientInstanceCapacity"
    assert world_control.get("/calls")["injected_errors"]["InsufficientInstanceCapacity"] == 4


def test_zone_outage_blocks_launches_and_cuts_off_instances_until_cleared(world, world_ec2, world_control):
    world_control.freeze()
    inside = running(world_ec2, world_control, world, "us-east-1a")
    outside = running(world_ec2, world_control, world, "us-east-1b")
    outage = world_control.fault("zone:us-east-1a", "zone-outage")
    checks = status(world_ec2, inside)
    assert checks["InstanceStatus"]["Status"] == checks["SystemStatus"]["Status"] == "impaired"
    assert not world_control.instance(inside)["serving"]
    assert world_control.instance(outside)["serving"]
    with pytest.raises(ClientError) as excinfo:
        launch(world_ec2, world, "us-east-1a")
    assert error_code(excinfo) == "InsufficientInstanceCapacity"

    assert world_control.delete(f"/faults/{outage}")[0] == 200
    assert status(world_ec2, inside)["InstanceStatus"]["Status"] == "ok"
    assert world_control.instance(inside)["serving"]
    launch(world_ec2, world, "us-east-1a")


def _throttle_pattern(world: World, control: ControlClient, calls: int) -> list[bool]:
    ec2 = boto_client(world, "ec2", attempts=1)
    control.fault("aws", "throttle", rate=0.5, actions=["DescribeInstances"])
    pattern = []
    for _ in range(calls):
        try:
            ec2.describe_instances()
            pattern.append(False)
        except ClientError as err:
            assert err.response["Error"]["Code"] == "RequestLimitExceeded"
            assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            pattern.append(True)
    ec2.describe_vpcs()  # another action is never throttled by this fault
    return pattern


def test_throttling_rate_is_seeded_and_per_action(world, world_thread, world_control, world_ssm):
    first = _throttle_pattern(world, world_control, 60)
    assert 15 <= sum(first) <= 45
    assert world_control.get("/calls")["injected_errors"]["RequestLimitExceeded"] == sum(first)
    world_thread.run(world.reset())
    assert _throttle_pattern(world, world_control, 60) == first  # same seed, same calls, same answers

    world_control.fault("aws", "throttle", rate=1.0, actions=["ListCommands"])
    with pytest.raises(ClientError) as excinfo:
        world_ssm.list_commands()
    assert error_code(excinfo) == "ThrottlingException"


def test_ssm_reaches_only_named_instances_with_per_instance_outcomes(
    world, world_ec2, world_ssm, world_control
):
    world_control.freeze()
    ok, failing, slow, unreachable, bystander = (running(world_ec2, world_control, world) for _ in range(5))
    world_control.fault(failing, "ssm-failed", exitCode=3)
    world_control.fault(slow, "ssm-timeout")
    world_control.fault(unreachable, "instance-impaired")
    targets = [ok, failing, slow, unreachable]
    command = world_ssm.send_command(
        InstanceIds=targets, DocumentName="AWS-RunShellScript", Parameters={"commands": ["uptime"]}
    )["Command"]
    assert command["TargetCount"] == 4 and command["Status"] == "InProgress"
    command_id = command["CommandId"]
    invocations = world_ssm.list_command_invocations(CommandId=command_id)["CommandInvocations"]
    assert sorted(i["InstanceId"] for i in invocations) == sorted(targets)
    assert all(i["Status"] == "InProgress" for i in invocations)
    with pytest.raises(ClientError) as excinfo:
        world_ssm.get_command_invocation(CommandId=command_id, InstanceId=bystander)
    assert error_code(excinfo) == "InvocationDoesNotExist"

    world_control.advance(SSM_COMMAND)

    def outcome(instance_id: str) -> tuple[str, str, int]:
        got = world_ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        return got["Status"], got["StatusDetails"], got["ResponseCode"]

    assert outcome(ok) == ("Success", "Success", 0)
    assert outcome(failing) == ("Failed", "Failed", 3)
    assert outcome(unreachable) == ("Failed", "Undeliverable", -1)
    assert outcome(slow)[0] == "InProgress"
    world_control.advance(2 * SSM_COMMAND)
    assert outcome(slow) == ("TimedOut", "ExecutionTimedOut", -1)
    listed = world_ssm.list_commands(CommandId=command_id)["Commands"][0]
    assert listed["Status"] == "TimedOut" and listed["CompletedCount"] == 4 and listed["ErrorCount"] == 3
    assert world_control.instance(failing)["calls"][-1]["outcome"] == "Failed"
    assert [c["action"] for c in world_control.instance(bystander)["calls"]] == ["RunInstances"]


def test_ssm_refuses_instances_that_are_not_running(world, world_ec2, world_ssm, world_control):
    world_control.freeze()
    pending = launch(world_ec2, world)
    with pytest.raises(ClientError) as excinfo:
        world_ssm.send_command(
            InstanceIds=[pending], DocumentName="AWS-RunShellScript", Parameters={"commands": ["true"]}
        )
    assert error_code(excinfo) == "InvalidInstanceId"
    assert pending in str(excinfo.value)
    with pytest.raises(ClientError) as excinfo:
        world_ssm.send_command(
            InstanceIds=["i-0123456789abcdef0"],
            DocumentName="AWS-RunShellScript",
            Parameters={"commands": ["true"]},
        )
    assert error_code(excinfo) == "InvalidInstanceId"


def test_restart_command_heals_process_faults_but_not_the_sandbox(world, world_ec2, world_ssm, world_control):
    world_control.freeze()
    instance_id = running(world_ec2, world_control, world)
    for fault in ("judge0-down", "workers-dead", "queue-full", "redis-down", "sandbox-broken"):
        world_control.fault(instance_id, fault)
    world_control.post("/load", {"target": instance_id, "jobs": 2})  # the node now has a queue
    assert world_control.instance(instance_id)["judge0"]["restarts"] == 0
    command_id = world_ssm.send_command(
        InstanceIds=[instance_id],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": [RESTART_COMMAND]},
    )["Command"]["CommandId"]
    world_control.advance(SSM_COMMAND)
    result = world_ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
    assert result["Status"] == "Success"
    assert "judge0-server-1" in result["StandardOutputContent"]
    assert not world_control.instance(instance_id)["serving"]  # restarting
    world_control.advance(RESTART)
    faults = world_control.get("/faults")
    assert sorted(f["fault"] for f in faults["faults"]) == ["redis-down", "sandbox-broken"]
    healed = {f["fault"]: f["healedBy"] for f in faults["healed"]}
    assert healed == {
        "judge0-down": "restart:server",
        "workers-dead": "restart:workers",
        "queue-full": "restart:workers",
    }
    view = world_control.instance(instance_id)
    assert view["serving"]
    assert view["judge0"]["restarts"] == 1  # the Judge0 simulator saw the restart

    world_ssm.send_command(
        InstanceIds=[instance_id],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["sudo docker-compose -f /opt/judge0/docker-compose.yml restart"]},
    )
    world_control.advance(SSM_COMMAND + RESTART)
    assert [f["fault"] for f in world_control.get("/faults")["faults"]] == ["sandbox-broken"]


def test_reboot_heals_host_faults_but_not_sandbox_or_hardware(world, world_ec2, world_control):
    world_control.freeze()
    instance_id = running(world_ec2, world_control, world)
    world_control.fault(instance_id, "workers-dead")
    assert world_control.post("/load", {"target": instance_id, "jobs": 5})[1]["submitted"] == {instance_id: 5}
    assert world_control.instance(instance_id)["judge0"]["queue_size"] == 5
    for fault in ("api-500", "db-down", "instance-impaired", "sandbox-broken"):
        world_control.fault(instance_id, fault)
    world_control.fault(instance_id, "system-impaired", nodeReachable=True)
    world_ec2.reboot_instances(InstanceIds=[instance_id])
    assert len(world_control.get("/faults")["faults"]) == 6
    world_control.advance(REBOOT)
    faults = world_control.get("/faults")
    assert sorted(f["fault"] for f in faults["faults"]) == ["sandbox-broken", "system-impaired"]
    assert {f["healedBy"] for f in faults["healed"]} == {"reboot"}
    assert world_control.instance(instance_id)["judge0"]["queue_size"] == 0  # Redis kept nothing
    assert status(world_ec2, instance_id)["InstanceStatus"]["Status"] == "ok"
    world_control.advance(JUDGE0_START)
    assert world_control.instance(instance_id)["serving"]


@pytest.mark.world_config(client_tokens=False)  # moto's behaviour; the world's default is on, as EC2
def test_client_token_is_ignored_when_switched_off(world, world_ec2):
    first = launch(world_ec2, world, ClientToken="slot-1-attempt-1")
    second = launch(world_ec2, world, ClientToken="slot-1-attempt-1")
    assert first != second
    assert len(world_ec2.describe_instances()["Reservations"]) == 2


@pytest.mark.world_config(client_tokens=True)
def test_client_token_idempotency_when_switched_on(world, world_ec2, world_control):
    first = launch(world_ec2, world, ClientToken="slot-1-attempt-1")
    again = launch(world_ec2, world, ClientToken="slot-1-attempt-1")
    assert again == first
    assert len(world_ec2.describe_instances()["Reservations"]) == 1
    with pytest.raises(ClientError) as excinfo:
        launch(world_ec2, world, instance_type="t3.medium", ClientToken="slot-1-attempt-1")
    assert error_code(excinfo) == "IdempotentParameterMismatch"
    other = launch(world_ec2, world, ClientToken="slot-2-attempt-1")
    assert other != first
    outcomes = [c["outcome"] for c in world_control.instance(first)["calls"]]
    assert outcomes == ["ok", "replayed"]


def test_pagination_over_100_reservations_with_tag_filters(world, world_ec2):
    fleet = {
        launch(world_ec2, world, zone, tags={"judge0.dev/fleet": "big"})
        for zone in ("us-east-1a", "us-east-1b", "us-east-1c")
        for _ in range(34)
    }
    strangers = {launch(world_ec2, world, tags={"judge0.dev/fleet": "other"}) for _ in range(2)}
    paginator = world_ec2.get_paginator("describe_instances")
    pages = list(paginator.paginate(Filters=[{"Name": "tag:judge0.dev/fleet", "Values": ["big"]}]))
    assert len(pages) >= 2
    found = {i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]}
    assert found == fleet

    statuses = world_ec2.get_paginator("describe_instance_status").paginate(
        IncludeAllInstances=True, PaginationConfig={"PageSize": 50}
    )
    status_pages = list(statuses)
    assert len(status_pages) == 3
    assert {s["InstanceId"] for p in status_pages for s in p["InstanceStatuses"]} == fleet | strangers


def test_calls_are_counted_by_action(world, world_ec2, world_control):
    launch(world_ec2, world)
    for _ in range(3):
        world_ec2.describe_instances()
    world_ec2.describe_instance_status()
    calls = world_control.get("/calls")
    assert calls["by_action"] == {"RunInstances": 1, "DescribeInstances": 3, "DescribeInstanceStatus": 1}
    assert calls["total"] == 5
    assert world_control.post("/calls/reset")[1]["total"] == 0
    world_ec2.describe_instances()
    assert world_control.get("/calls")["by_action"] == {"DescribeInstances": 1}


def test_real_time_boot_without_a_frozen_clock(world, world_ec2):
    instance_id = launch(world_ec2, world)
    wait_for(lambda: state(world_ec2, instance_id) == "running", timeout=10, what="instance running")
    wait_for(
        lambda: status(world_ec2, instance_id)["InstanceStatus"]["Status"] == "ok",
        timeout=10,
        what="status checks ok",
    )
