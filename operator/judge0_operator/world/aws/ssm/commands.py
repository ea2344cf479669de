"""The SSM Run Command records the world keeps (a command and its invocation per instance) and
the command's wire form; ``model.py`` creates them, ``agent.py`` finishes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


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
