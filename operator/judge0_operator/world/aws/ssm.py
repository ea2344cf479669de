"""SSM Run Command as the world answers it (instead of moto, which runs every command everywhere).

moto 5.2.5 sends a command to every instance in the region and reports ``Success`` at once. The
world implements ``SendCommand``, ``GetCommandInvocation``, ``ListCommandInvocations`` and
``ListCommands`` itself:

* only the ``InstanceIds`` (or ``Targets``) named get an invocation;
* an unknown instance, or one that is not ``running``, fails the whole call with
  ``InvalidInstanceId`` ("Instances [[i-…]] not in a valid state for account …"), as SSM does;
* each invocation is ``InProgress`` for ``ssm_command_seconds``, then ``Success`` — or ``Failed``
  (fault ``ssm-failed``), ``TimedOut`` after three times as long (fault ``ssm-timeout``), or
  ``Failed`` with StatusDetails ``Undeliverable`` when the host cannot be reached (rebooting,
  impaired, zone outage, stopped meanwhile);
* a successful script that runs ``docker compose restart [services]`` (or ``docker-compose``,
  with or without ``sudo``/``cd … &&``/options) restarts Judge0 on that instance: see
  ``Ec2Model.restart_judge0`` and the heal table in ``world/faults.py``;
* a successful script that runs ``rake judge0:run_in_queue`` (e.g. ``docker compose exec -T server
  rake judge0:run_in_queue``) re-enqueues the node's status-1 submissions — after the restart when
  the same script restarts too; it fails (exit 1) while Postgres or Redis is down, as the rake
  task cannot reach them;
* a script that runs ``df`` prints the instance's data volume (``world/aws/disk.py``), and one that
  purges submissions (``DELETE FROM submissions …``, failing while Postgres is down) or runs
  ``docker image prune`` frees what the ``disk-filling`` fault says is old.
"""

from __future__ import annotations

import functools
import re
import shlex
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from judge0_operator.world.aws import disk as disk_model
from judge0_operator.world.aws.instances import Ec2Model, InstanceRecord
from judge0_operator.world.aws.timeline import iso
from judge0_operator.world.aws.wire import AwsError
from judge0_operator.world.faults import COMPOSE_SERVICES

OWN_ACTIONS = frozenset({"SendCommand", "GetCommandInvocation", "ListCommandInvocations", "ListCommands"})
_SERVICE_ALIASES = {
    "server": "server",
    "web": "server",
    "workers": "workers",
    "worker": "workers",
    "db": "db",
    "postgres": "db",
    "redis": "redis",
}
_PREFIX_COMMANDS = {"sudo", "env", "exec", "nohup", "time", "command"}
_SEGMENT_SPLIT = re.compile(r"&&|\|\||[;\n|]")
_RUN_IN_QUEUE = re.compile(r"\brake\b[^;&|\n]*\bjudge0:run_in_queue\b")
_OPTIONS_WITH_VALUE = {
    "-t",
    "--timeout",
    "-f",
    "--file",
    "-p",
    "--project-name",
    "--project-directory",
    "--env-file",
    "--profile",
    "--ansi",
    "--progress",
    "--parallel",
}


def compose_restart_services(commands: list[str]) -> frozenset[str] | None:
    """Services a script restarts with ``docker compose restart``; None when it restarts nothing.

    ``docker compose restart`` without service names restarts all four services.
    """
    found: set[str] = set()
    matched = False
    for segment in _SEGMENT_SPLIT.split("\n".join(commands)):
        try:
            words = shlex.split(segment)
        except ValueError:
            words = segment.split()
        words = [w.strip("(){}") for w in words if w.strip("(){}")]  # subshells: (docker compose … )
        while words and (words[0] in _PREFIX_COMMANDS or "=" in words[0] or words[0].startswith("-")):
            words = words[1:]  # sudo, env, VAR=value, options of those
        if words[:1] == ["docker-compose"]:
            rest = words[1:]
        elif words[:2] == ["docker", "compose"]:
            rest = words[2:]
        else:
            continue
        services = _after_restart(rest)
        if services is not None:
            matched = True
            found |= services or set(COMPOSE_SERVICES)
    return frozenset(found) if matched else None


def runs_in_queue(commands: list[str]) -> bool:
    """True when a script runs Judge0's ``rake judge0:run_in_queue`` (however it reaches the server
    container: ``docker compose exec -T server …``, ``docker exec …``, directly)."""
    return any(_RUN_IN_QUEUE.search(line) for line in commands)


def _after_restart(words: list[str]) -> set[str] | None:
    skip = False
    for index, word in enumerate(words):
        if skip:
            skip = False
            continue
        if word.startswith("-"):
            skip = word in _OPTIONS_WITH_VALUE
            continue
        if word != "restart":
            return None  # another compose subcommand
        services: set[str] = set()
        skip = False
        for arg in words[index + 1 :]:
            if skip:
                skip = False
            elif arg.startswith("-"):
                skip = arg in _OPTIONS_WITH_VALUE
            elif arg in _SERVICE_ALIASES:
                services.add(_SERVICE_ALIASES[arg])
        return services
    return None


@dataclass
class Invocation:
    command_id: str
    instance_id: str
    status: str = "InProgress"
    details: str = "InProgress"
    response_code: int = -1
    started: datetime | None = None
    ended: datetime | None = None
    stdout: str = ""
    stderr: str = ""
    call: dict[str, Any] | None = None  # the entry in the instance's call list, updated on completion

    def finish(
        self, status: str, details: str, code: int, ended: datetime, stdout: str = "", stderr: str = ""
    ) -> None:
        self.status, self.details, self.response_code, self.ended = status, details, code, ended
        self.stdout, self.stderr = stdout, stderr
        if self.call is not None:
            self.call["outcome"] = details


@dataclass
class Command:
    command_id: str
    document_name: str
    parameters: dict[str, list[str]]
    comment: str
    requested: datetime
    timeout_seconds: int
    targets: list[dict[str, Any]]
    instance_ids: list[str]
    invocations: dict[str, Invocation] = field(default_factory=dict)

    def status(self) -> tuple[str, str]:
        states = [i.status for i in self.invocations.values()]
        if any(s in ("Pending", "InProgress") for s in states):
            return "InProgress", "InProgress"
        for status in ("TimedOut", "Failed", "Cancelled"):
            if status in states:
                return status, status
        return "Success", "Success"

    def to_wire(self) -> dict[str, Any]:
        status, details = self.status()
        invocations = list(self.invocations.values())
        return {
            "CommandId": self.command_id,
            "DocumentName": self.document_name,
            "DocumentVersion": "$DEFAULT",
            "Comment": self.comment,
            "ExpiresAfter": self.requested + timedelta(seconds=self.timeout_seconds),
            "Parameters": self.parameters,
            "InstanceIds": self.instance_ids,
            "Targets": self.targets,
            "RequestedDateTime": self.requested,
            "Status": status,
            "StatusDetails": details,
            "OutputS3Region": "",
            "OutputS3BucketName": "",
            "OutputS3KeyPrefix": "",
            "MaxConcurrency": "50",
            "MaxErrors": "0",
            "TargetCount": len(invocations),
            "CompletedCount": sum(i.status not in ("Pending", "InProgress") for i in invocations),
            "ErrorCount": sum(i.status in ("Failed", "TimedOut") for i in invocations),
            "DeliveryTimedOutCount": sum(i.details == "DeliveryTimedOut" for i in invocations),
            "ServiceRole": "",
            "NotificationConfig": {"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""},
            "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
            "TimeoutSeconds": self.timeout_seconds,
        }


class SsmModel:
    """Commands and invocations; timing on the EC2 model's timeline, under its lock."""

    def __init__(self, ec2: Ec2Model, account_id: str) -> None:
        self.ec2 = ec2
        self.account_id = account_id
        self.commands: dict[str, Command] = {}

    def reset(self) -> None:
        with self.ec2.lock:
            self.commands.clear()

    def handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        with self.ec2.lock:
            if action == "SendCommand":
                return self._send_command(payload)
            if action == "GetCommandInvocation":
                return self._get_invocation(payload)
            if action == "ListCommandInvocations":
                return self._list_invocations(payload)
            return self._list_commands(payload)

    # ---- SendCommand ----------------------------------------------------------------------------
    def _resolve_targets(self, payload: dict[str, Any]) -> list[str]:
        ids = list(payload.get("InstanceIds") or [])
        for target in payload.get("Targets") or []:
            key, values = str(target.get("Key", "")), [str(v) for v in target.get("Values") or []]
            if key == "InstanceIds":
                ids.extend(values)
            elif key.startswith("tag:") or key == "tag-key":
                for record in self.ec2.records.values():
                    tags = self.ec2.tags_of(record)
                    hit = (
                        (key[4:] in tags and tags[key[4:]] in values)
                        if key.startswith("tag:")
                        else any(v in tags for v in values)
                    )
                    if hit and record.state == "running":
                        ids.append(record.instance_id)
            else:
                raise AwsError("InvalidTarget", f"Target key {key!r} is not supported by the simulated world")
        if not ids and not payload.get("Targets"):
            raise AwsError("ValidationException", "Either InstanceIds or Targets must be specified")
        if len(payload.get("InstanceIds") or []) > 50:
            raise AwsError(
                "ValidationException",
                "1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: "
                "Member must have length less than or equal to 50",
            )
        return list(dict.fromkeys(ids))

    def _send_command(self, payload: dict[str, Any]) -> dict[str, Any]:
        document = str(payload.get("DocumentName") or "")
        if not document:
            raise AwsError(
                "ValidationException",
                "1 validation error detected: Value null at 'documentName' "
                "failed to satisfy constraint: Member must not be null",
            )
        if not document.startswith("AWS-"):
            raise AwsError("InvalidDocument", f"Document {document} does not exist in your account")
        ids = self._resolve_targets(payload)
        bad = [i for i in ids if i not in self.ec2.records or self.ec2.records[i].state != "running"]
        if bad:
            raise AwsError(
                "InvalidInstanceId",
                f"Instances [[{', '.join(bad)}]] not in a valid state for account {self.account_id}",
            )
        parameters = {
            str(k): [str(x) for x in v] if isinstance(v, list) else [str(v)]
            for k, v in (payload.get("Parameters") or {}).items()
        }
        now = self.ec2.timeline.now()
        command = Command(
            command_id=str(uuid.uuid4()),
            document_name=document,
            parameters=parameters,
            comment=str(payload.get("Comment") or ""),
            requested=self.ec2.timeline.wall(now),
            timeout_seconds=int(payload.get("TimeoutSeconds") or 3600),
            targets=list(payload.get("Targets") or []),
            instance_ids=list(payload.get("InstanceIds") or []),
        )
        restart = compose_restart_services(parameters.get("commands", []))
        requeue = runs_in_queue(parameters.get("commands", []))
        for instance_id in ids:
            invocation = Invocation(command.command_id, instance_id, started=self.ec2.timeline.wall(now))
            invocation.call = self.ec2.record_call(
                instance_id,
                "SendCommand",
                "InProgress",
                commandId=command.command_id,
                document=document,
                commands=parameters.get("commands", []),
                comment=command.comment,
            )
            command.invocations[instance_id] = invocation
            if self._agent_offline(invocation, command.timeout_seconds):
                continue
            self.ec2.timeline.after(
                self.ec2.durations.ssm_command_seconds,
                functools.partial(
                    self._complete, invocation, restart, requeue, script=parameters.get("commands", [])
                ),
            )
        self.commands[command.command_id] = command
        return {"Command": command.to_wire()}

    def _agent_offline(self, invocation: Invocation, delivery_timeout: int) -> bool:
        """Fault ``ssm-agent-offline``: the command is never delivered. It stays ``Pending`` until
        its delivery timeout (``TimeoutSeconds``) and ends ``TimedOut``/``DeliveryTimedOut``, or
        (``outcome: undeliverable``) ends ``Failed``/``Undeliverable`` — nothing runs on the host."""
        record = self.ec2.records.get(invocation.instance_id)
        fault = self.ec2.faults.find("ssm-agent-offline", invocation.instance_id, record.zone if record else None)
        if fault is None:
            return False
        invocation.status = invocation.details = "Pending"
        timeline = self.ec2.timeline
        if fault.params.get("outcome") == "undeliverable":
            seconds, ending = self.ec2.durations.ssm_command_seconds, ("Failed", "Undeliverable")
        else:
            seconds, ending = float(delivery_timeout), ("TimedOut", "DeliveryTimedOut")

        def never_delivered() -> None:
            invocation.finish(ending[0], ending[1], -1, timeline.wall(timeline.now()))

        timeline.after(seconds, never_delivered)
        return True

    def _complete(
        self,
        invocation: Invocation,
        restart: frozenset[str] | None,
        requeue: bool = False,
        *,
        script: list[str] | None = None,
    ) -> None:
        ec2 = self.ec2
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

    # ---- reads ----------------------------------------------------------------------------------
    def _invocation_wire(self, command: Command, invocation: Invocation) -> dict[str, Any]:
        timeline = self.ec2.timeline
        elapsed = (invocation.ended or timeline.wall(timeline.now())) - (
            invocation.started or command.requested
        )
        return {
            "CommandId": command.command_id,
            "InstanceId": invocation.instance_id,
            "Comment": command.comment,
            "DocumentName": command.document_name,
            "DocumentVersion": "$DEFAULT",
            "PluginName": "aws:runShellScript",
            "ResponseCode": invocation.response_code,
            "ExecutionStartDateTime": iso(invocation.started) if invocation.started else "",
            "ExecutionElapsedTime": f"PT{elapsed.total_seconds():.3f}S",
            "ExecutionEndDateTime": iso(invocation.ended) if invocation.ended else "",
            "Status": invocation.status,
            "StatusDetails": invocation.details,
            "StandardOutputContent": invocation.stdout,
            "StandardOutputUrl": "",
            "StandardErrorContent": invocation.stderr,
            "StandardErrorUrl": "",
            "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
        }

    def _get_invocation(self, payload: dict[str, Any]) -> dict[str, Any]:
        command = self.commands.get(str(payload.get("CommandId")))
        invocation = command.invocations.get(str(payload.get("InstanceId"))) if command else None
        if command is None or invocation is None:
            raise AwsError(
                "InvocationDoesNotExist",
                "An error occurred (InvocationDoesNotExist) when calling the GetCommandInvocation operation",
            )
        return self._invocation_wire(command, invocation)

    def _list_invocations(self, payload: dict[str, Any]) -> dict[str, Any]:
        command_id, instance_id = payload.get("CommandId"), payload.get("InstanceId")
        details = bool(payload.get("Details"))
        if command_id and command_id not in self.commands:
            raise AwsError("InvalidCommandId", "")
        out = []
        for command in self.commands.values():
            if command_id and command.command_id != command_id:
                continue
            for invocation in command.invocations.values():
                if instance_id and invocation.instance_id != instance_id:
                    continue
                wire = self._invocation_wire(command, invocation)
                item = {
                    k: wire[k]
                    for k in (
                        "CommandId",
                        "InstanceId",
                        "Comment",
                        "DocumentName",
                        "DocumentVersion",
                        "Status",
                        "StatusDetails",
                        "StandardOutputUrl",
                        "StandardErrorUrl",
                        "CloudWatchOutputConfig",
                    )
                }
                item.update(
                    InstanceName="", RequestedDateTime=command.requested, TraceOutput="", ServiceRole=""
                )
                if details:
                    item["CommandPlugins"] = [
                        {
                            "Name": "aws:runShellScript",
                            "Status": invocation.status,
                            "StatusDetails": invocation.details,
                            "ResponseCode": invocation.response_code,
                            "ResponseStartDateTime": invocation.started,
                            "ResponseFinishDateTime": invocation.ended,
                            "Output": invocation.stdout + invocation.stderr,
                            "StandardOutputUrl": "",
                            "StandardErrorUrl": "",
                        }
                    ]
                out.append(item)
        return _paged(out, payload, "CommandInvocations")

    def _list_commands(self, payload: dict[str, Any]) -> dict[str, Any]:
        command_id, instance_id = payload.get("CommandId"), payload.get("InstanceId")
        if command_id and command_id not in self.commands:
            raise AwsError("InvalidCommandId", "")
        commands = [
            c.to_wire()
            for c in self.commands.values()
            if (not command_id or c.command_id == command_id)
            and (not instance_id or instance_id in c.invocations)
        ]
        return _paged(commands, payload, "Commands")


def _paged(items: list[dict[str, Any]], payload: dict[str, Any], key: str) -> dict[str, Any]:
    size = int(payload.get("MaxResults") or 50)
    token = str(payload.get("NextToken") or "0")
    start = int(token) if token.isdigit() else 0
    page: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        page["NextToken"] = str(start + size)
    return page
