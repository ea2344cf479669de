"""Judge0 v1.13.1's queue semantics in the world: what restarts, reboots and terminations leave of
the submissions a node held, and ``rake judge0:run_in_queue`` through SSM.

Postgres keeps its rows; Redis (no persistence) keeps nothing; a job killed mid-run leaves its row
at status 2 for ever; ``run_in_queue`` re-enqueues status-1 rows. The world's clock is frozen and
stepped for EC2/SSM transitions; jobs themselves run in real time.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from fixtures.world import ControlClient, wait_for
from judge0_operator.world.thread import WorldThread
from judge0_operator.world.world import World

BOOT, JUDGE0_START, REBOOT, TERMINATE, RESTART, SSM_COMMAND = 20.0, 5.0, 15.0, 5.0, 3.0, 2.0
SLEEPER = "import time\ntime.sleep(2)\nprint('late')"
RUN_IN_QUEUE = "cd /opt/judge0 && docker compose exec -T server rake judge0:run_in_queue"


def node_call(world: World, instance_id: str, method: str, path: str, body: Any = None) -> tuple[int, Any] | None:
    """(status, JSON) from the instance's Judge0 node; None when it drops the connection."""
    url = world.info["judge0_endpoint_template"].format(instance_id=instance_id) + path
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError):
        return None


def submit(world: World, instance_id: str, source: str) -> str:
    answer = node_call(world, instance_id, "POST", "/submissions", {"source_code": source, "language_id": 71})
    assert answer is not None and answer[0] == 201, answer
    return str(answer[1]["token"])


def status_of(world: World, instance_id: str, token: str) -> int | None:
    answer = node_call(world, instance_id, "GET", f"/submissions/{token}?fields=status")
    if answer is None:
        return None
    assert answer[0] == 200, answer
    return int(answer[1]["status"]["id"])


def running(world: World, ec2: Any, control: ControlClient) -> str:
    instance_id = str(
        ec2.run_instances(ImageId=world.info["image_id"], MinCount=1, MaxCount=1, InstanceType="t3.small")["Instances"][
            0
        ]["InstanceId"]
    )
    control.advance(BOOT + JUDGE0_START)
    assert control.instance(instance_id)["serving"]
    return instance_id


def ssm(ssm_client: Any, instance_id: str, command: str) -> str:
    sent = ssm_client.send_command(
        InstanceIds=[instance_id], DocumentName="AWS-RunShellScript", Parameters={"commands": [command]}
    )
    return str(sent["Command"]["CommandId"])


def fate(world_thread: WorldThread, token: str, instance_id: str) -> dict[str, Any] | None:
    result: dict[str, Any] | None = world_thread.call(world_thread.world.judge0.fate_of, token, instance_id)
    return result


def queued_behind_dead_workers(world: World, control: ControlClient, instance_id: str, n: int) -> list[str]:
    control.fault(instance_id, "workers-dead")
    tokens = [submit(world, instance_id, f"print({i})") for i in range(n)]
    assert [status_of(world, instance_id, t) for t in tokens] == [1] * n
    return tokens


def test_workers_restart_kills_running_jobs_and_drops_the_queue_then_run_in_queue_recovers_it(
    world, world_thread, world_ec2, world_ssm, world_control
):
    world_control.freeze()
    instance_id = running(world, world_ec2, world_control)
    sleeper = submit(world, instance_id, SLEEPER)
    wait_for(lambda: status_of(world, instance_id, sleeper) == 2, what="the sleeper running")
    queued = queued_behind_dead_workers(world, world_control, instance_id, 2)

    ssm(world_ssm, instance_id, "cd /opt/judge0 && docker compose restart server workers")
    world_control.advance(SSM_COMMAND + RESTART)
    assert world_control.get("/faults")["faults"] == []  # the restart healed workers-dead
    time.sleep(0.5)  # the healed workers would have taken queued jobs by now: there are none
    assert [status_of(world, instance_id, t) for t in queued] == [1, 1]
    assert status_of(world, instance_id, sleeper) == 2
    killed, dropped = fate(world_thread, sleeper, instance_id), fate(world_thread, queued[0], instance_id)
    assert killed is not None and (killed["by"], killed["status"]) == ("operator", 2)
    assert dropped is not None and (dropped["by"], dropped["status"]) == ("operator", 1)
    assert "workers-dead" in dropped["faultsActive"]

    ssm(world_ssm, instance_id, RUN_IN_QUEUE)
    world_control.advance(SSM_COMMAND)
    wait_for(lambda: [status_of(world, instance_id, t) for t in queued] == [3, 3], what="requeued jobs done")
    assert fate(world_thread, queued[0], instance_id) is None
    time.sleep(2.5)  # longer than the sleeper would have run: nothing re-runs a status-2 row
    assert status_of(world, instance_id, sleeper) == 2


def test_restart_and_run_in_queue_in_one_script_requeue_after_the_restart(world, world_ec2, world_ssm, world_control):
    world_control.freeze()
    instance_id = running(world, world_ec2, world_control)
    queued = queued_behind_dead_workers(world, world_control, instance_id, 2)
    ssm(world_ssm, instance_id, f"cd /opt/judge0 && docker compose restart workers && {RUN_IN_QUEUE}")
    world_control.advance(SSM_COMMAND + RESTART)
    wait_for(lambda: [status_of(world, instance_id, t) for t in queued] == [3, 3], what="requeued jobs done")


def test_redis_restart_drops_the_queue_but_lets_running_jobs_finish(
    world, world_thread, world_ec2, world_ssm, world_control
):
    world_control.freeze()
    instance_id = running(world, world_ec2, world_control)
    quick = submit(world, instance_id, "import time\ntime.sleep(1)\nprint('ok')")
    wait_for(lambda: status_of(world, instance_id, quick) == 2, what="the job running")
    queued = queued_behind_dead_workers(world, world_control, instance_id, 1)
    ssm(world_ssm, instance_id, "cd /opt/judge0 && docker compose restart redis")
    world_control.advance(SSM_COMMAND + RESTART)
    assert node_call(world, instance_id, "GET", "/workers") == (200, [])  # Redis restarted empty
    wait_for(lambda: status_of(world, instance_id, quick) == 3, what="the running job finishing")
    assert status_of(world, instance_id, queued[0]) == 1
    dropped = fate(world_thread, queued[0], instance_id)
    assert dropped is not None and dropped["status"] == 1


def test_server_restart_keeps_the_queue(world, world_ec2, world_ssm, world_control):
    world_control.freeze()
    instance_id = running(world, world_ec2, world_control)
    queued = queued_behind_dead_workers(world, world_control, instance_id, 1)
    ssm(world_ssm, instance_id, "cd /opt/judge0 && docker compose restart server")
    world_control.advance(SSM_COMMAND + RESTART)
    status, workers = node_call(world, instance_id, "GET", "/workers") or (None, None)
    assert status == 200 and workers[0]["size"] == 1
    assert status_of(world, instance_id, queued[0]) == 1


def test_reboot_keeps_the_rows_but_not_the_queue(world, world_thread, world_ec2, world_ssm, world_control):
    world_control.freeze()
    instance_id = running(world, world_ec2, world_control)
    queued = queued_behind_dead_workers(world, world_control, instance_id, 2)
    world_ec2.reboot_instances(InstanceIds=[instance_id])
    world_control.advance(REBOOT + JUDGE0_START)
    assert [status_of(world, instance_id, t) for t in queued] == [1, 1]  # Postgres kept them
    assert node_call(world, instance_id, "GET", "/workers") == (200, [])
    lost = fate(world_thread, queued[0], instance_id)
    assert lost is not None and lost["by"] == "operator" and lost["action"] == "RebootInstances"
    ssm(world_ssm, instance_id, RUN_IN_QUEUE)
    world_control.advance(SSM_COMMAND)
    wait_for(lambda: [status_of(world, instance_id, t) for t in queued] == [3, 3], what="requeued jobs done")


@pytest.mark.parametrize("how", ["operator", "fault"])
def test_a_terminated_node_takes_its_submissions_with_it(how, world, world_thread, world_ec2, world_control):
    world_control.freeze()
    instance_id = running(world, world_ec2, world_control)
    done = submit(world, instance_id, "print(1)")
    wait_for(lambda: status_of(world, instance_id, done) == 3, what="a finished submission")
    queued = queued_behind_dead_workers(world, world_control, instance_id, 1)
    if how == "operator":
        world_ec2.terminate_instances(InstanceIds=[instance_id])
    else:
        world_control.fault(instance_id, "instance-terminated")
    world_control.advance(TERMINATE)
    assert status_of(world, instance_id, done) is None  # the node is gone: no answer at all
    for token in (done, queued[0]):
        gone = fate(world_thread, token, instance_id)
        assert gone is not None and gone["by"] == how


def test_run_in_queue_fails_while_postgres_is_down(world, world_ec2, world_ssm, world_control):
    world_control.freeze()
    instance_id = running(world, world_ec2, world_control)
    world_control.fault(instance_id, "db-down")
    command_id = ssm(world_ssm, instance_id, RUN_IN_QUEUE)
    world_control.advance(SSM_COMMAND)
    invocation = world_ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
    assert (invocation["Status"], invocation["ResponseCode"]) == ("Failed", 1)
    assert "PG::ConnectionBad" in invocation["StandardErrorContent"]
