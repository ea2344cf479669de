"""Execute planned actions against EC2 and SSM, idempotently and guarded.

Every call goes through the region's circuit breaker (open → no call, outcome ``circuit-open``)
and token budget, and every failure is classified (``aws/errors.py``) so the planner knows
whether to retry, fail over or wait for a spec change. ``RunInstances`` carries the planner's
deterministic ``ClientToken`` and subnet, and tags the instance and its volumes with ownership.
With leader election every mutating call first passes the lease fence (``aws/guarded.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from judge0_operator import metrics
from judge0_operator.api.fleet import Judge0FleetSpec
from judge0_operator.aws.budget import ApiBudget
from judge0_operator.aws.circuit import CircuitBreakers
from judge0_operator.aws.clients import AwsClients
from judge0_operator.aws.errors import ClassifiedError, classify
from judge0_operator.aws.guarded import AwsCallError, CircuitOpenError, Fence, FencedError, GuardedCaller
from judge0_operator.decide.model import (
    MANAGED_BY,
    TAG_ATTEMPT,
    TAG_FLEET,
    TAG_FLEET_UID,
    TAG_MANAGED,
    TAG_RETAINED,
    TAG_SLOT,
    TAG_TEMPLATE,
    Action,
    ActionOutcome,
    CleanDisk,
    Launch,
    Reboot,
    RestartJudge0,
    Start,
    Terminate,
)

log = logging.getLogger(__name__)

RESERVED_TAG_PREFIX = "judge0.dev/"
TERMINATE_BATCH = 1000  # TerminateInstances accepts up to 1000 ids per call
SSM_DOCUMENT = "AWS-RunShellScript"
SSM_TERMINAL_STATUSES = frozenset({"Success", "Failed", "TimedOut", "Cancelled"})
SSM_TERMINAL_DETAILS = frozenset(
    {
        "Undeliverable",
        "Terminated",
        "DeliveryTimedOut",
        "ExecutionTimedOut",
        "InvalidPlatform",
        "AccessDenied",
    }
)
_NOT_FOUND = "InvalidInstanceID.NotFound"


def launch_tags(
    spec: Judge0FleetSpec, action: Launch, *, fleet_uid: str, fleet_ref: str, template_hash: str
) -> dict[str, str]:
    """Tags for the instance and its volumes: the user's, then the operator's (which win)."""
    fleet_name = fleet_ref.rsplit("/", 1)[-1]
    tags = {k: v for k, v in spec.instance.tags.items() if not k.startswith(RESERVED_TAG_PREFIX)}
    tags.update(
        {
            TAG_MANAGED: MANAGED_BY,
            TAG_FLEET: fleet_ref,
            TAG_FLEET_UID: fleet_uid,
            TAG_SLOT: action.slot,
            TAG_ATTEMPT: str(action.attempt),
            TAG_TEMPLATE: template_hash,
            "Name": f"{fleet_name}-{action.slot}",
        }
    )
    return tags


def run_instances_request(
    spec: Judge0FleetSpec, action: Launch, *, fleet_uid: str, fleet_ref: str, template_hash: str
) -> dict[str, Any]:
    """The RunInstances parameters for one slot (pure: easy to inspect and test)."""
    instance = spec.instance
    tags = [
        {"Key": k, "Value": v}
        for k, v in launch_tags(
            spec, action, fleet_uid=fleet_uid, fleet_ref=fleet_ref, template_hash=template_hash
        ).items()
    ]
    request: dict[str, Any] = {
        "MinCount": 1,
        "MaxCount": 1,
        "ClientToken": action.client_token,
        "SubnetId": action.subnet_id,
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": tags},
            {"ResourceType": "volume", "Tags": tags},
        ],
    }
    if instance.launch_template is not None:
        template = instance.launch_template
        ref = {"LaunchTemplateId": template.id} if template.id else {"LaunchTemplateName": template.name}
        request["LaunchTemplate"] = {**ref, "Version": template.version}
    else:
        request["ImageId"] = instance.image_id
        # IMDSv2 only; a launch template carries its own metadata options.
        request["MetadataOptions"] = {"HttpTokens": "required", "HttpEndpoint": "enabled"}
    instance_type = action.instance_type or instance.instance_type
    if instance_type:
        request["InstanceType"] = instance_type
    if instance.security_group_ids:
        request["SecurityGroupIds"] = list(instance.security_group_ids)
    if instance.iam_instance_profile:
        profile = instance.iam_instance_profile
        request["IamInstanceProfile"] = {"Arn": profile} if profile.startswith("arn:") else {"Name": profile}
    if instance.key_name:
        request["KeyName"] = instance.key_name
    if instance.user_data:
        # Plain text: botocore base64-encodes RunInstances UserData itself (encoding here would double it).
        request["UserData"] = instance.user_data
    if action.market == "spot":
        request["InstanceMarketOptions"] = {
            "MarketType": "spot",
            "SpotOptions": {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"},
        }
    return request


def _failed(action: Action, error: ClassifiedError) -> ActionOutcome:
    return ActionOutcome(
        action=action,
        ok=False,
        instance_id=getattr(action, "instance_id", None),
        error_code=error.code,
        error_message=error.message,
        error_kind=error.kind,
        detail=str(error),
    )


def _circuit_open(action: Action, exc: CircuitOpenError) -> ActionOutcome:
    return ActionOutcome(
        action=action,
        ok=False,
        instance_id=getattr(action, "instance_id", None),
        error_code="CircuitOpen",
        error_message=str(exc),
        error_kind="circuit-open",
        detail=str(exc),
    )


class AwsActuator:
    """Runs actions for fleets of one region. Share one per region (its breakers and budget are)."""

    def __init__(
        self,
        clients: AwsClients,
        region: str,
        *,
        circuit: CircuitBreakers,
        budget: ApiBudget,
        ssm_poll_seconds: float = 1.0,
        terminate_batch: int = TERMINATE_BATCH,
        fence: Fence | None = None,
    ) -> None:
        self.region = region
        self.ssm_poll_seconds = ssm_poll_seconds
        self.terminate_batch = max(1, min(terminate_batch, TERMINATE_BATCH))
        self._clients = clients
        self._caller = GuardedCaller(region, circuit=circuit, budget=budget, fence=fence)
        self._budget = budget

    async def execute(
        self,
        action: Action,
        *,
        spec: Judge0FleetSpec,
        fleet_uid: str,
        fleet_ref: str,
        template_hash: str,
        restart_command: str,
        ssm_timeout_seconds: float,
        requeue_command: str = "",
        cleanup_timeout_seconds: float = 300.0,
    ) -> ActionOutcome:
        """Carry out one action; never raises for AWS failures (they come back classified)."""
        try:
            if isinstance(action, Launch):
                outcome = await self._launch(
                    action, spec, fleet_uid=fleet_uid, fleet_ref=fleet_ref, template_hash=template_hash
                )
            elif isinstance(action, Terminate):
                outcome = await self._terminate_one(action)
            elif isinstance(action, Reboot):
                outcome = await self._simple(
                    action, "RebootInstances", self._clients.ec2(self.region).reboot_instances
                )
            elif isinstance(action, Start):
                outcome = await self._simple(
                    action, "StartInstances", self._clients.ec2(self.region).start_instances
                )
            elif isinstance(action, RestartJudge0):
                command = action.command or restart_command
                if action.requeue and requeue_command:  # re-enqueue what the restart left In Queue
                    command = f"{command} && {requeue_command}"
                outcome = await self._restart(action, command, ssm_timeout_seconds)
            elif isinstance(action, CleanDisk):  # DiskPressure: the policy's cleanup, through SSM as well
                outcome = await self._restart(action, action.command, cleanup_timeout_seconds)
            else:  # pragma: no cover - the Action union is closed
                raise TypeError(f"unknown action {action!r}")
        except FencedError:
            raise  # no longer the leader: abort the pass, record nothing
        except CircuitOpenError as exc:
            outcome = _circuit_open(action, exc)
        except AwsCallError as exc:
            outcome = _failed(action, exc.error)
        except Exception as exc:  # an unexpected answer must not abort the controller's pass
            log.exception("%s failed unexpectedly", action.kind)
            outcome = _failed(action, classify(exc))
        label = "succeeded" if outcome.ok else (outcome.error_kind or "failed")
        metrics.REMEDIATION_ACTIONS.labels(action.kind, label).inc()
        if outcome.ok:
            log.info("%s %s: %s", action.kind, outcome.instance_id or "", outcome.detail)
        else:
            log.warning("%s %s failed: %s", action.kind, outcome.instance_id or "", outcome.detail)
        return outcome

    # --- EC2 ------------------------------------------------------------------------------------
    async def _launch(
        self, action: Launch, spec: Judge0FleetSpec, *, fleet_uid: str, fleet_ref: str, template_hash: str
    ) -> ActionOutcome:
        request = run_instances_request(
            spec, action, fleet_uid=fleet_uid, fleet_ref=fleet_ref, template_hash=template_hash
        )
        response = await self._caller.call(
            "RunInstances", self._clients.ec2(self.region).run_instances, **request
        )
        created = (response.get("Instances") or [{}])[0]
        instance_id = created.get("InstanceId")
        zone = created.get("Placement", {}).get("AvailabilityZone") or action.zone
        return ActionOutcome(
            action=action,
            ok=True,
            instance_id=instance_id,
            zone=zone,
            detail=f"launched {instance_id} in {zone}",
        )

    async def _terminate_one(self, action: Terminate) -> ActionOutcome:
        await self._budget.acquire_resources("terminate-resources", 1)
        try:
            await self._caller.call(
                "TerminateInstances",
                self._clients.ec2(self.region).terminate_instances,
                InstanceIds=[action.instance_id],
            )
        except AwsCallError as exc:
            if exc.error.code == _NOT_FOUND:
                return ActionOutcome(
                    action=action, ok=True, instance_id=action.instance_id, detail="already gone"
                )
            raise
        return ActionOutcome(action=action, ok=True, instance_id=action.instance_id, detail="terminating")

    async def _simple(self, action: Reboot | Start, operation: str, fn: Any) -> ActionOutcome:
        await self._caller.call(operation, fn, InstanceIds=[action.instance_id])
        return ActionOutcome(action=action, ok=True, instance_id=action.instance_id, detail=operation)

    async def terminate_many(
        self, instance_ids: Sequence[str], *, reason: str = "cleanup"
    ) -> list[ActionOutcome]:
        """Terminate many instances in batches of up to 1000 (fleet deletion, orphan cleanup).

        Instances that no longer exist count as terminated. One outcome per id, in order.
        """
        ids = list(dict.fromkeys(instance_ids))
        outcomes: dict[str, ActionOutcome] = {}
        for start in range(0, len(ids), self.terminate_batch):
            batch = ids[start : start + self.terminate_batch]
            outcomes.update(await self._terminate_batch(batch, reason))
        for kind_outcome in outcomes.values():
            label = "succeeded" if kind_outcome.ok else (kind_outcome.error_kind or "failed")
            metrics.REMEDIATION_ACTIONS.labels("Terminate", label).inc()
        return [outcomes[i] for i in ids]

    async def _terminate_batch(self, batch: list[str], reason: str) -> dict[str, ActionOutcome]:
        def outcome(iid: str, **kw: Any) -> ActionOutcome:
            return ActionOutcome(action=Terminate(instance_id=iid, reason=reason), instance_id=iid, **kw)

        ec2 = self._clients.ec2(self.region)
        try:
            await self._budget.acquire_resources("terminate-resources", len(batch))
            await self._caller.call("TerminateInstances", ec2.terminate_instances, InstanceIds=batch)
            return {i: outcome(i, ok=True, detail="terminating") for i in batch}
        except CircuitOpenError as exc:
            return {i: _circuit_open(Terminate(instance_id=i, reason=reason), exc) for i in batch}
        except AwsCallError as exc:
            if exc.error.code != _NOT_FOUND:
                return {i: _failed(Terminate(instance_id=i, reason=reason), exc.error) for i in batch}
        # Some ids do not exist (any more): find those that do, and terminate only them.
        try:
            existing = await self._existing(batch)
            if existing:
                await self._caller.call("TerminateInstances", ec2.terminate_instances, InstanceIds=existing)
        except CircuitOpenError as exc:
            return {i: _circuit_open(Terminate(instance_id=i, reason=reason), exc) for i in batch}
        except AwsCallError as exc:
            return {i: _failed(Terminate(instance_id=i, reason=reason), exc.error) for i in batch}
        alive = set(existing)
        return {i: outcome(i, ok=True, detail="terminating" if i in alive else "already gone") for i in batch}

    async def mark_retained(self, instance_ids: Sequence[str]) -> None:
        """Tag instances ``judge0.dev/retained`` (deletionPolicy Retain) so no sweep ever takes them."""
        if instance_ids:
            await self._caller.call(
                "CreateTags",
                self._clients.ec2(self.region).create_tags,
                Resources=list(instance_ids),
                Tags=[{"Key": TAG_RETAINED, "Value": "true"}],
            )

    async def _existing(self, ids: list[str]) -> list[str]:
        """Which of ``ids`` still exist (a filter, unlike InstanceIds, tolerates unknown ids)."""
        ec2 = self._clients.ec2(self.region)
        found: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Filters": [{"Name": "instance-id", "Values": ids}], "MaxResults": 1000}
            if token:
                kwargs["NextToken"] = token
            page = await self._caller.call("DescribeInstances", ec2.describe_instances, **kwargs)
            for reservation in page.get("Reservations", ()):
                for raw in reservation.get("Instances", ()):
                    if raw.get("State", {}).get("Name") != "terminated":
                        found.append(raw["InstanceId"])
            token = page.get("NextToken")
            if not token:
                return found

    # --- SSM ------------------------------------------------------------------------------------
    async def _restart(
        self, action: RestartJudge0 | CleanDisk, command: str, timeout_seconds: float
    ) -> ActionOutcome:
        """SendCommand AWS-RunShellScript, then poll the invocation until it ends or time runs out."""
        ssm = self._clients.ssm(self.region)
        seconds = max(1, int(timeout_seconds))
        sent = await self._caller.call(
            "SendCommand",
            ssm.send_command,
            InstanceIds=[action.instance_id],
            DocumentName=SSM_DOCUMENT,
            Comment=f"judge0-operator {action.kind}",
            Parameters={"commands": [command], "executionTimeout": [str(seconds)]},
            TimeoutSeconds=max(30, seconds),  # delivery timeout; SSM's minimum is 30
        )
        command_id = sent["Command"]["CommandId"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds
        last = "Pending"
        while True:
            await asyncio.sleep(max(0.0, min(self.ssm_poll_seconds, deadline - loop.time())))
            try:
                invocation: Mapping[str, Any] = await self._caller.call(
                    "GetCommandInvocation",
                    ssm.get_command_invocation,
                    CommandId=command_id,
                    InstanceId=action.instance_id,
                )
            except AwsCallError as exc:
                if exc.error.code != "InvocationDoesNotExist":  # that one is SSM catching up: poll again
                    raise
            else:
                status = str(invocation.get("Status", ""))
                details = str(invocation.get("StatusDetails", "") or status)
                last = details
                if status in SSM_TERMINAL_STATUSES or details in SSM_TERMINAL_DETAILS:
                    ok = status == "Success"
                    return ActionOutcome(
                        action=action,
                        ok=ok,
                        instance_id=action.instance_id,
                        error_code=None if ok else f"Command{status or details}",
                        detail=details,
                    )
            if loop.time() >= deadline:
                return ActionOutcome(
                    action=action,
                    ok=False,
                    instance_id=action.instance_id,
                    error_code="CommandTimedOut",
                    detail=f"TimedOut: still {last} after {timeout_seconds:g}s",
                )
