"""The world's data volume (df through SSM, a cleanup that frees the old part, a full disk that stops
Postgres) and faults aimed at an AMI (every instance launched from it, replacements included)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from fixtures.world import ControlClient
from judge0_operator.world.aws.disk import BASE_PERCENT
from judge0_operator.world.world import World

pytestmark = pytest.mark.timeout(60)

BOOT, JUDGE0_START, SSM_COMMAND = 20.0, 5.0, 2.0
DF = "df -Pk /var/lib/docker"
PURGE = (
    "cd /opt/judge0 && docker compose exec -T db psql -U judge0 -d judge0 "
    "-c \"DELETE FROM submissions WHERE created_at < now() - interval '30 days'\""
)
CLEANUP = f"docker image prune -af; {PURGE}"


def running(ec2: Any, control: ControlClient, world: World, image_id: str | None = None) -> str:
    instance_id = str(
        ec2.run_instances(
            ImageId=image_id or world.info["image_id"],
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.small",
            SubnetId=world.info["subnets"]["us-east-1a"],
        )["Instances"][0]["InstanceId"]
    )
    control.advance(BOOT + JUDGE0_START)
    return instance_id


def run(ssm: Any, control: ControlClient, instance_id: str, command: str) -> dict[str, Any]:
    command_id = ssm.send_command(
        InstanceIds=[instance_id], DocumentName="AWS-RunShellScript", Parameters={"commands": [command]}
    )["Command"]["CommandId"]
    control.advance(SSM_COMMAND)
    return dict(ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id))


def df_percent(output: str) -> int:
    last = output.strip().splitlines()[-1].split()
    assert last[-1] == "/var/lib/docker", output
    size, used = int(last[1]), int(last[2])
    assert last[4] == f"{round(used * 100 / size)}%"
    return round(used * 100 / size)


def test_df_shows_a_normal_disk_then_the_filling_one_and_a_cleanup_frees_the_old_part(
    world, world_ec2, world_ssm, world_control
):
    world_control.freeze()
    instance_id = running(world_ec2, world_control, world)
    assert df_percent(run(world_ssm, world_control, instance_id, DF)["StandardOutputContent"]) == BASE_PERCENT

    fault_id = world_control.fault(
        instance_id, "disk-filling", usedPercent=90, oldSubmissionsPercent=20, danglingImagesPercent=10
    )
    assert df_percent(run(world_ssm, world_control, instance_id, DF)["StandardOutputContent"]) == 90

    cleaned = run(world_ssm, world_control, instance_id, f"{CLEANUP} && {DF}")
    assert cleaned["Status"] == "Success", cleaned
    assert df_percent(cleaned["StandardOutputContent"]) == 60  # 30 points were old; 15 above normal stay
    assert [f["id"] for f in world_control.get("/faults")["faults"]] == [fault_id]  # still above normal

    again = run(world_ssm, world_control, instance_id, CLEANUP)
    assert again["Status"] == "Success"
    assert df_percent(run(world_ssm, world_control, instance_id, DF)["StandardOutputContent"]) == 60


def test_a_disk_of_old_data_only_is_healed_by_the_cleanup(world, world_ec2, world_ssm, world_control):
    world_control.freeze()
    instance_id = running(world_ec2, world_control, world)
    fault_id = world_control.fault(
        instance_id, "disk-filling", usedPercent=85, oldSubmissionsPercent=30, danglingImagesPercent=10
    )
    assert run(world_ssm, world_control, instance_id, CLEANUP)["Status"] == "Success"
    healed = {f["id"]: f["healedBy"] for f in world_control.get("/faults")["healed"]}
    assert healed == {fault_id: "cleanup"}
    assert world_control.instance(instance_id)["diskUsedPercent"] == BASE_PERCENT


def test_a_growing_disk_grows_in_world_minutes(world, world_ec2, world_ssm, world_control):
    world_control.freeze()
    instance_id = running(world_ec2, world_control, world)
    world_control.fault(instance_id, "disk-filling", usedPercent=80, growthPercentPerMinute=2)
    first = world_control.instance(instance_id)["diskUsedPercent"]
    world_control.advance(120)
    assert world_control.instance(instance_id)["diskUsedPercent"] == pytest.approx(first + 4, abs=0.2)


async def _get(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status


def test_a_full_disk_stops_postgres_and_only_a_prune_first_lets_the_purge_run(
    world, world_ec2, world_ssm, world_control, world_thread
):
    world_control.freeze()
    instance_id = running(world_ec2, world_control, world)
    base = world.info["judge0_endpoint_template"].format(instance_id=instance_id)
    token = world.info.get("judge0_auth_token")
    suffix = f"?X-Auth-Token={token}" if token else ""
    assert world_thread.run(_get(f"{base}/languages{suffix}")) == 200
    world_control.fault(
        instance_id, "disk-filling", usedPercent=100, oldSubmissionsPercent=30, danglingImagesPercent=10
    )

    assert world_thread.run(_get(f"{base}/languages{suffix}")) == 500  # Postgres cannot write
    assert world_thread.run(_get(f"{base}/about{suffix}")) == 200  # the API shows no warning
    purge = run(world_ssm, world_control, instance_id, PURGE)
    assert purge["Status"] == "Failed" and "psql" in purge["StandardErrorContent"]
    assert world_control.instance(instance_id)["diskUsedPercent"] == 100

    assert run(world_ssm, world_control, instance_id, "docker image prune -af")["Status"] == "Success"
    assert world_control.instance(instance_id)["diskUsedPercent"] == 90
    assert world_thread.run(_get(f"{base}/languages{suffix}")) == 200  # room again: Postgres is back
    assert run(world_ssm, world_control, instance_id, PURGE)["Status"] == "Success"
    assert world_control.instance(instance_id)["diskUsedPercent"] == 60


def test_one_cleanup_script_prunes_first_so_its_purge_runs_on_a_full_disk(world, world_ec2, world_ssm, world_control):
    world_control.freeze()
    instance_id = running(world_ec2, world_control, world)
    world_control.fault(
        instance_id, "disk-filling", usedPercent=100, oldSubmissionsPercent=30, danglingImagesPercent=10
    )
    cleaned = run(world_ssm, world_control, instance_id, CLEANUP)
    assert cleaned["Status"] == "Success", cleaned
    assert world_control.instance(instance_id)["diskUsedPercent"] == 60


def test_a_fault_aimed_at_an_image_hits_every_instance_launched_from_it(world, world_ec2, world_control):
    world_control.freeze()
    image = world.info["image_id"]
    first = running(world_ec2, world_control, world)
    fault_id = world_control.fault(f"image:{image}", "sandbox-broken")
    second = running(world_ec2, world_control, world)
    for instance_id in (first, second):
        assert [f["id"] for f in world_control.instance(instance_id)["faults"]] == [fault_id]
        assert world_control.instance(instance_id)["imageId"] == image
    assert world_control.post("/faults", {"target": "image:nope", "fault": "sandbox-broken"})[0] == 400
    assert world_control.post("/faults", {"target": f"image:{image}", "fault": "instance-stopped"})[0] == 400
