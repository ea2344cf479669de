"""The SSM reads the world answers from its own command records: GetCommandInvocation,
ListCommandInvocations and ListCommands, in SSM's wire shapes and ``NextToken`` pages."""

from __future__ import annotations

from typing import Any

from judge0_operator.world.aws.ssm.commands import Command, Invocation
from judge0_operator.world.aws.timeline import Timeline, iso
from judge0_operator.world.aws.wire import AwsError


def get_invocation(commands: dict[str, Command], timeline: Timeline, payload: dict[str, Any]) -> dict[str, Any]:
    command = commands.get(str(payload.get("CommandId")))
    invocation = command.invocations.get(str(payload.get("InstanceId"))) if command else None
    if command is None or invocation is None:
        raise AwsError(
            "InvocationDoesNotExist",
            "An error occurred (InvocationDoesNotExist) when calling the GetCommandInvocation operation",
        )
    return _invocation_wire(timeline, command, invocation)


def list_invocations(commands: dict[str, Command], timeline: Timeline, payload: dict[str, Any]) -> dict[str, Any]:
    command_id, instance_id = payload.get("CommandId"), payload.get("InstanceId")
    details = bool(payload.get("Details"))
    if command_id and command_id not in commands:
        raise AwsError("InvalidCommandId", "")
    out = []
    for command in commands.values():
        if command_id and command.command_id != command_id:
            continue
        for invocation in command.invocations.values():
            if instance_id and invocation.instance_id != instance_id:
                continue
            wire = _invocation_wire(timeline, command, invocation)
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


def list_commands(commands: dict[str, Command], payload: dict[str, Any]) -> dict[str, Any]:
    command_id, instance_id = payload.get("CommandId"), payload.get("InstanceId")
    if command_id and command_id not in commands:
        raise AwsError("InvalidCommandId", "")
    found = [
        c.to_wire()
        for c in commands.values()
        if (not command_id or c.command_id == command_id)
        and (not instance_id or instance_id in c.invocations)
    ]
    return _paged(found, payload, "Commands")


def _invocation_wire(timeline: Timeline, command: Command, invocation: Invocation) -> dict[str, Any]:
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


def _paged(items: list[dict[str, Any]], payload: dict[str, Any], key: str) -> dict[str, Any]:
    size = int(payload.get("MaxResults") or 50)
    token = str(payload.get("NextToken") or "0")
    start = int(token) if token.isdigit() else 0
    page: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        page["NextToken"] = str(start + size)
    return page
