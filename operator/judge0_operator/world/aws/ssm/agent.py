"""What the SSM agent on an instance does with an invocation: never gets it (``ssm-agent-offline``),
cannot be reached, times out or fails under a fault, or runs the script, with its effects on the
host (Judge0 restart, ``run_in_queue``, ``df``, disk cleanups) and what it prints. Called on the
EC2 model's timeline, under its lock."""

from __future__ import annotations

from judge0_operator.world.aws import disk as disk_model
from judge0_operator.world.aws.ec2.instances import Ec2Model
from judge0_operator.world.aws.ec2.record import InstanceRecord
from judge0_operator.world.aws.ssm.commands import Invocation


def agent_offline(ec2: Ec2Model, invocation: Invocation, delivery_timeout: int) -> bool:
    """Fault ``ssm-agent-offline``: the command is never delivered. It stays ``Pending`` until
    its delivery timeout (``TimeoutSeconds``) and ends ``TimedOut``/``DeliveryTimedOut``, or
    (``outcome: undeliverable``) ends ``Failed``/``Undeliverable`` — nothing runs on the host."""
    record = ec2.records.get(invocation.instance_id)
    fault = ec2.faults.find("ssm-agent-offline", invocation.instance_id, record.zone if record else None)
    if fault is None:
        return False
    invocation.status = invocation.details = "Pending"
    timeline = ec2.timeline
    if fault.params.get("outcome") == "undeliverable":
        seconds, ending = ec2.durations.ssm_command_seconds, ("Failed", "Undeliverable")
    else:
        seconds, ending = float(delivery_timeout), ("TimedOut", "DeliveryTimedOut")

    def never_delivered() -> None:
        invocation.finish(ending[0], ending[1], -1, timeline.wall(timeline.now()))

    timeline.after(seconds, never_delivered)
    return True


def complete(
    ec2: Ec2Model,
    invocation: Invocation,
    restart: frozenset[str] | None,
    requeue: bool = False,
    *,
    script: list[str] | None = None,
) -> None:
    """The invocation's time is up: finish it the way the host would (module docstring)."""
    now = ec2.timeline.now()
    record: InstanceRecord | None = ec2.records.get(invocation.instance_id)
    if record is None or not ec2.reachable(record, now):
        invocation.finish("Failed", "Undeliverable", -1, ec2.timeline.wall(now))
        return
    if ec2.faults.find("ssm-timeout", record.instance_id, record.zone) is not None:

        def timed_out() -> None:
            invocation.finish("TimedOut", "ExecutionTimedOut", -1, ec2.timeline.wall(ec2.timeline.now()))

        ec2.timeline.after(2 * ec2.durations.ssm_command_seconds, timed_out)
        return
    failed = ec2.faults.find("ssm-failed", record.instance_id, record.zone)
    if failed is not None:
        invocation.finish(
            "Failed",
            "Failed",
            int(failed.params["exitCode"]),
            ec2.timeline.wall(now),
            stderr=str(failed.params["message"]),
        )
        return
    stdout = ""
    cleaning = disk_model.cleanup_kinds(script or [])
    if "prune" in cleaning:  # Docker needs no database: pruning first can make room for Postgres
        stdout += ec2.cleanup(record.instance_id, frozenset({"prune"}))
    if "purge" in cleaning:
        if ec2.node_has(record, "db-down"):  # psql cannot reach Postgres
            stderr = 'psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed\n'
            invocation.finish("Failed", "Failed", 2, ec2.timeline.wall(now), stdout=stdout, stderr=stderr)
            return
        stdout += ec2.cleanup(record.instance_id, frozenset({"purge"}))
    paths = disk_model.df_paths(script or [])
    if paths is not None:
        stdout += disk_model.df_output(ec2.disk(record), paths)
    if requeue:  # the rake task needs Postgres and Redis (unless this script restarts them first)
        unreachable = [
            fault
            for fault, service in (("db-down", "db"), ("redis-down", "redis"))
            if ec2.faults.find(fault, record.instance_id, record.zone) and service not in (restart or ())
        ]
        if unreachable:
            reasons = {
                "db-down": "PG::ConnectionBad: could not connect to server: Connection refused\n",
                "redis-down": "Redis::CannotConnectError: Error connecting to Redis on redis:6379\n",
            }
            stderr = "rake aborted!\n" + "".join(reasons[f] for f in unreachable)
            invocation.finish("Failed", "Failed", 1, ec2.timeline.wall(now), stderr=stderr)
            return
    if restart:
        stdout += "".join(
            f" Container judge0-{s}-1  Restarting\n Container judge0-{s}-1  Started\n"
            for s in sorted(restart)
        )
        ec2.restart_judge0(record.instance_id, restart, then_run_in_queue=requeue)
    elif requeue:
        ec2.run_in_queue(record.instance_id)
    invocation.finish("Success", "Success", 0, ec2.timeline.wall(now), stdout=stdout)
