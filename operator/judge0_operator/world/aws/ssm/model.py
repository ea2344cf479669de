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
  ``InstanceLifecycle.restart_judge0`` and the heal table in ``world/faults/catalogue.py``;
* a successful script that runs ``rake judge0:run_in_queue`` (e.g. ``docker compose exec -T server
  rake judge0:run_in_queue``) re-enqueues the node's status-1 submissions — after the restart when
  the same script restarts too; it fails (exit 1) while Postgres or Redis is down, as the rake
  task cannot reach them;
* a script that runs ``df`` prints the instance's data volume (``world/aws/disk.py``), and one that
  purges submissions (``DELETE FROM submissions …``, failing while Postgres is down) or runs
  ``docker image prune`` frees what the ``disk-filling`` fault says is old.

This module: targets and ``SendCommand``; the records in ``commands.py``, what a script does in
``scripts.py``, what the agent makes of it in ``agent.py``, the reads in ``reads.py``.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from judge0_operator.world.aws.ec2.instances import Ec2Model
from judge0_operator.world.aws.ssm import agent as ssm_agent
from judge0_operator.world.aws.ssm import reads as ssm_reads
from judge0_operator.world.aws.ssm.commands import Command, Invocation
from judge0_operator.world.aws.ssm.scripts import compose_restart_services, runs_in_queue
from judge0_operator.world.aws.wire import AwsError

OWN_ACTIONS = frozenset({"SendCommand", "GetCommandInvocation", "ListCommandInvocations", "ListCommands"})


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
                return ssm_reads.get_invocation(self.commands, self.ec2.timeline, payload)
            if action == "ListCommandInvocations":
                return ssm_reads.list_invocations(self.commands, self.ec2.timeline, payload)
            return ssm_reads.list_commands(self.commands, payload)

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
            if ssm_agent.agent_offline(self.ec2, invocation, command.timeout_seconds):
                continue
            self.ec2.timeline.after(
                self.ec2.durations.ssm_command_seconds,
                functools.partial(
                    ssm_agent.complete, self.ec2, invocation, restart, requeue, script=parameters.get("commands", [])
                ),
            )
        self.commands[command.command_id] = command
        return {"Command": command.to_wire()}
