"""The disk probe against the simulated world's SSM: one SendCommand per fleet batch, the outputs
read back in pages of ListCommandInvocations, df parsed, pressure judged against the threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from fixtures.world import ControlClient, wait_for
from judge0_operator.api.diagnosis import DiskProbe
from judge0_operator.aws.clients import AwsClients, AwsSettings
from judge0_operator.decide.model import Ec2Instance
from judge0_operator.observe.disk import DiskProber, merge, parse_df
from judge0_operator.world.world import World

pytestmark = pytest.mark.timeout(60)
SESSION = boto3.session.Session()
T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)


def launch(ec2: Any, world: World, count: int) -> list[str]:
    made = ec2.run_instances(
        ImageId=world.info["image_id"],
        MinCount=count,
        MaxCount=count,
        InstanceType="t3.small",
        SubnetId=world.info["subnets"]["us-east-1a"],
    )
    return sorted(i["InstanceId"] for i in made["Instances"])


def ec2_view(instance_id: str, state: str = "running") -> Ec2Instance:
    return Ec2Instance(
        instance_id=instance_id,
        state=state,
        zone="us-east-1a",
        subnet_id="s",  # type: ignore[arg-type]
        instance_type="t3.small",
        launch_time=T0,
    )


@pytest.fixture
def prober(world: World):
    clients = AwsClients(
        AwsSettings(endpoint_url=world.info["aws_endpoint"], access_key_id="t", secret_access_key="t"), session=SESSION
    )
    made = DiskProber(clients, world.config.region, poll_seconds=0.05)
    yield made
    clients.close()


def test_parse_df_reads_the_last_data_line() -> None:
    output = (
        "Filesystem     1024-blocks      Used Available Capacity Mounted on\n"
        "/dev/nvme1n1      33554432  30198989   3355443      90% /var/lib/docker\n"
    )
    reading = parse_df(output)
    assert reading is not None and round(reading.percent) == 90 and reading.size_bytes == 33554432 * 1024
    assert parse_df("df: /nope: No such file or directory\n") is None


def test_one_command_for_the_fleet_reads_every_disk_and_judges_the_threshold(
    world: World, world_ec2: Any, world_control: ControlClient, world_thread: Any, prober: DiskProber
) -> None:
    ids = launch(world_ec2, world, 3)
    wait_for(lambda: all(world_control.instance(i)["state"] == "running" for i in ids), timeout=10)
    world_control.fault(ids[1], "disk-filling", usedPercent=93)
    world_control.post("/calls/reset")
    spec = DiskProbe(interval_seconds=600, threshold_percent=85, timeout_seconds=10)
    instances = [ec2_view(i) for i in ids] + [ec2_view("i-0stopped0000000", "stopped")]

    async def probe(now: datetime) -> dict[str, Any]:
        found = prober.probe_fleet("fleet-uid", instances, spec, now)
        await prober.wait()
        return found

    world_thread.run(probe(T0))
    results = world_thread.run(probe(T0 + timedelta(seconds=1)))  # not due: the batch's results
    assert sorted(results) == ids
    assert [results[i].ok for i in ids] == [True, False, True]
    assert results[ids[1]].disk_used_percent == pytest.approx(93, abs=0.5)
    assert "93% used" in results[ids[1]].detail
    calls = world_control.get("/calls")["by_action"]
    assert calls.get("SendCommand") == 1, calls
    assert not calls.get("GetCommandInvocation"), "outputs are read in pages, never per instance"
    assert calls.get("ListCommandInvocations", 0) >= 1


def test_an_instance_ssm_refuses_is_dropped_from_the_batch_and_the_rest_are_read(
    world: World, world_ec2: Any, world_control: ControlClient, world_thread: Any, prober: DiskProber
) -> None:
    ids = launch(world_ec2, world, 2)
    wait_for(lambda: all(world_control.instance(i)["state"] == "running" for i in ids), timeout=10)
    world_ec2.stop_instances(InstanceIds=[ids[0]])  # the observer still thinks it runs
    spec = DiskProbe(interval_seconds=600, timeout_seconds=10)

    async def probe() -> dict[str, Any]:
        prober.probe_fleet("fleet-uid", [ec2_view(i) for i in ids], spec, T0)
        await prober.wait()
        return prober.probe_fleet("fleet-uid", [ec2_view(i) for i in ids], spec, T0)

    results = world_thread.run(probe())
    assert list(results) == [ids[1]] and results[ids[1]].ok is True


def test_the_database_size_joins_the_disk_reading() -> None:
    spec = DiskProbe(max_database_bytes=10 * 1024**3)
    assert merge(None, None, spec, T0) is None
    alone = merge(None, 12 * 1024**3, spec, T0)
    assert alone is not None and alone.ok is False and "database 12.00 GiB" in alone.detail
    unlimited = merge(None, 12 * 1024**3, DiskProbe(), T0)
    assert unlimited is not None and unlimited.ok is None, "no database limit: evidence, not a verdict"
