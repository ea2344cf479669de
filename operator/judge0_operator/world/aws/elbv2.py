"""The world's ELBv2 (target groups): moto 5.2.5 behind the AWS front, plus what moto lacks.

Everything the world adds to moto's ELBv2 is here (and in docs/simulated-world.md):

* **Target health follows the node.** moto reports a registered running instance ``healthy`` at
  once and never anything else. The world runs the target group's health check against the
  Judge0 node (``HealthCheckPath``, default ``/``; ``Matcher`` codes; ``HealthCheckTimeoutSeconds``
  against ``judge0-slow``): a new target is ``initial`` (``Elb.RegistrationInProgress``) until the
  check has passed for ``HealthyThresholdCount`` x ``HealthCheckIntervalSeconds`` → ``healthy``, or
  failed for ``UnhealthyThresholdCount`` x ``HealthCheckIntervalSeconds`` → ``unhealthy``
  (``Target.FailedHealthChecks``, ``Target.Timeout`` or ``Target.ResponseCodeMismatch``); a
  healthy target turns unhealthy (and back) by the same counts. A stopped or pending instance is
  ``unused`` (``Target.InvalidState``). Health checks disabled → ``unavailable``
  (``Target.HealthCheckDisabled``). Durations are world seconds (divided by ``speed``).
* **Deregistration delay.** moto drops a deregistered target at once. The world keeps it
  ``draining`` (``Target.DeregistrationInProgress``) for the group's
  ``deregistration_delay.timeout_seconds`` (default 300), then forgets it; registering it again
  meanwhile starts over at ``initial``.
* **Terminated instances deregister themselves**, as in EC2: once an instance is shutting down
  the world deregisters it (draining, then gone). moto keeps it registered for ever.
* ``DescribeTargetHealth`` is answered by the world (same shape as ELBv2: ``Target``,
  ``HealthCheckPort``, ``TargetHealth{State, Reason, Description}``); every other ELBv2 call
  goes to moto (``CreateTargetGroup``, ``RegisterTargets``, ``DeregisterTargets``,
  ``Modify/DescribeTargetGroupAttributes`` …) — counted and subject to ``throttle``/``aws-error``
  like EC2 (throttling answers ``Throttling``, HTTP 400, as ELB does).
* **Every target group is in use.** Real ELBv2 reports ``unused``/``Target.NotInUse`` for a group
  no load balancer forwards to; in the world each target group is served by a client *front*
  (``world/clients``) instead of a load balancer, so no ``CreateLoadBalancer`` is needed.

moto's ``RegisterTargets`` refuses an instance that is not ``running`` (``InvalidTarget``), as
ELBv2 does. Target groups are reached through ``in_service`` by the client front: the healthy
targets, or — when none is healthy — every registered one that is not draining (ALB fails open).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

from aiohttp import web

from judge0_operator.world.aws.ec2.instances import Ec2Model
from judge0_operator.world.aws.timeline import Timeline
from judge0_operator.world.aws.wire import AwsCall, AwsError, request_id
from judge0_operator.world.judge0.nodes import NodeView

SERVICE = "elasticloadbalancing"  # the credential scope botocore signs ELBv2 calls with
XMLNS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
OWN_ACTIONS = frozenset({"DescribeTargetHealth"})
JUDGE0_PORT = 2358
_API_PATHS = ("about", "version", "config_info", "system_info", "statistics", "workers", "languages")

# What each state's reason says, as ELBv2 words it.
_REASONS = {
    "Elb.RegistrationInProgress": "Target registration is in progress",
    "Target.FailedHealthChecks": "Health checks failed",
    "Target.Timeout": "Request timed out",
    "Target.InvalidState": "Target is in the stopped state",
    "Target.DeregistrationInProgress": "Target deregistration is in progress",
    "Target.NotRegistered": "Target is not registered to the target group",
    "Target.HealthCheckDisabled": "Health checks are disabled",
}


@dataclass
class TargetState:
    """The world's view of one registered (or draining) instance target."""

    instance_id: str
    port: int
    state: str = "initial"
    reason: str | None = "Elb.RegistrationInProgress"
    description: str | None = _REASONS["Elb.RegistrationInProgress"]
    since: float = 0.0
    passing: bool | None = None  # the health check's latest result
    passing_since: float = 0.0  # since when it has given that result
    draining_until: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.instance_id,
            "port": self.port,
            "state": self.state,
            "reason": self.reason,
            "description": self.description,
        }


def elbv2_error(err: AwsError) -> web.Response:
    """ELBv2's query-protocol error (``ErrorResponse``/``Error``/``Type``, ``Code``, ``Message``)."""
    root = ET.Element("ErrorResponse", xmlns=XMLNS)
    error = ET.SubElement(root, "Error")
    ET.SubElement(error, "Type").text = "Sender" if err.status < 500 else "Receiver"
    ET.SubElement(error, "Code").text = err.code
    ET.SubElement(error, "Message").text = err.message
    ET.SubElement(root, "RequestId").text = request_id()
    body = ET.tostring(root, encoding="utf-8")
    return web.Response(status=err.status, body=body, content_type="text/xml", charset="UTF-8")


def _elbv2_response(action: str, members: Mapping[str, Any]) -> web.Response:
    root = ET.Element(f"{action}Response", xmlns=XMLNS)
    result = ET.SubElement(root, f"{action}Result")
    for key, value in members.items():
        _to_xml(result, key, value)
    ET.SubElement(ET.SubElement(root, "ResponseMetadata"), "RequestId").text = request_id()
    body = ET.tostring(root, encoding="utf-8")
    return web.Response(body=body, content_type="text/xml", charset="UTF-8")


def _to_xml(parent: ET.Element, key: str, value: Any) -> None:
    if value is None:
        return
    element = ET.SubElement(parent, key)
    if isinstance(value, Mapping):
        for k, v in value.items():
            _to_xml(element, k, v)
    elif isinstance(value, list):
        for item in value:
            _to_xml(element, "member", item)
    else:
        element.text = str(value)


def _members(call: AwsCall, prefix: str) -> list[dict[str, str]]:
    """``Targets.member.N.Id`` / ``.Port`` → [{"Id": …, "Port": …}] in order."""
    found: dict[int, dict[str, str]] = {}
    pattern = re.compile(rf"^{re.escape(prefix)}\.member\.(\d+)\.(\w+)$")
    for key, values in call.query.items():
        match = pattern.match(key)
        if match and values:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = values[0]
    return [found[i] for i in sorted(found)]


@dataclass(frozen=True)
class HealthCheck:
    """A target group's health-check settings, read from moto's object."""

    enabled: bool
    path: str
    codes: str
    interval: float
    timeout: float
    healthy_count: int
    unhealthy_count: int
    port: str
    deregistration_delay: float

    @staticmethod
    def of(group: Any) -> HealthCheck:
        matcher = getattr(group, "matcher", None) or {}
        return HealthCheck(
            enabled=bool(getattr(group, "health_check_enabled", True)),
            path=str(getattr(group, "health_check_path", None) or "/"),
            codes=str(matcher.get("HttpCode") or "200"),
            interval=float(group.health_check_interval_seconds or 30),
            timeout=float(group.health_check_timeout_seconds or 5),
            healthy_count=int(group.healthy_threshold_count or 5),
            unhealthy_count=int(group.unhealthy_threshold_count or 2),
            port=str(group.health_check_port or group.port or JUDGE0_PORT),
            deregistration_delay=float(group.attributes.get("deregistration_delay.timeout_seconds", 300)),
        )

    def accepts(self, code: int) -> bool:
        for part in self.codes.split(","):
            low, _, high = part.strip().partition("-")
            if low.isdigit() and int(low) <= code <= int(high or low):
                return True
        return False


class Elbv2Model:
    """Target states for moto's ELBv2 backend of the world's account and region (see module doc).

    Runs on the world's event loop; callers hold the AWS front's ``serial`` lock (the front does
    for calls, the world's tick for ``advance``), so moto's objects are never read mid-request."""

    def __init__(
        self,
        ec2: Ec2Model,
        timeline: Timeline,
        *,
        auth_required: Callable[[], bool] = lambda: False,
        node_check: Callable[[NodeView | None], bool] | None = None,
    ) -> None:
        self.ec2 = ec2
        self.timeline = timeline
        self.auth_required = auth_required
        self.node_check = node_check or (lambda view: view is not None and view.serving)
        self.backend: Any = None
        self.targets: dict[str, dict[str, TargetState]] = {}  # target group arn → instance id → state

    def attach(self, backend: Any) -> None:
        self.backend = backend

    def reset(self) -> None:
        """Forget every target group (moto's too) and target."""
        self.targets.clear()
        if self.backend is not None:
            self.backend.target_groups.clear()
            self.backend.load_balancers.clear()

    # ---- lookups --------------------------------------------------------------------------------
    def group(self, name_or_arn: str) -> Any | None:
        """moto's target group by ARN or by name."""
        if self.backend is None:
            return None
        groups = self.backend.target_groups
        if name_or_arn in groups:
            return groups[name_or_arn]
        return next((g for g in groups.values() if g.name == name_or_arn), None)

    def in_service(self, arn: str) -> list[str]:
        """Instance ids a load balancer sends new requests to: the healthy targets, else (fail
        open) every registered target that is not draining or unused."""
        states = list(self.targets.get(arn, {}).values())
        healthy = [t.instance_id for t in states if t.state == "healthy"]
        if healthy:
            return healthy
        return [t.instance_id for t in states if t.state in ("unhealthy", "initial")]

    def view(self) -> list[dict[str, Any]]:
        """Every target group with its targets' states, for the control API."""
        out = []
        for arn, group in self.backend.target_groups.items() if self.backend is not None else ():
            check = HealthCheck.of(group)
            out.append(
                {
                    "arn": arn,
                    "name": group.name,
                    "port": group.port,
                    "vpcId": group.vpc_id,
                    "healthCheck": {
                        "path": check.path,
                        "intervalSeconds": check.interval,
                        "timeoutSeconds": check.timeout,
                        "healthyThreshold": check.healthy_count,
                        "unhealthyThreshold": check.unhealthy_count,
                    },
                    "deregistrationDelaySeconds": check.deregistration_delay,
                    "targets": [t.to_dict() for t in self.targets.get(arn, {}).values()],
                    "inService": self.in_service(arn),
                }
            )
        return out

    # ---- after moto answered ----------------------------------------------------------------------
    def after_call(self, call: AwsCall, status: int) -> None:
        """Follow a successful RegisterTargets / DeregisterTargets / DeleteTargetGroup."""
        if status >= 300:
            return
        arn = call.first("TargetGroupArn") or ""
        now = self.timeline.now()
        if call.action == "RegisterTargets":
            group = self.group(arn)
            states = self.targets.setdefault(arn, {})
            for member in _members(call, "Targets"):
                port = int(member.get("Port") or (group.port if group is not None else JUDGE0_PORT))
                states[member["Id"]] = TargetState(member["Id"], port, since=now)
                self.ec2.record_call(member["Id"], call.action, "ok", targetGroupArn=arn)  # ordered with the rest
        elif call.action == "DeregisterTargets":
            group = self.group(arn)
            delay = HealthCheck.of(group).deregistration_delay if group is not None else 0.0
            for member in _members(call, "Targets"):
                self._drain(arn, member["Id"], delay, now)
                self.ec2.record_call(member["Id"], call.action, "ok", targetGroupArn=arn)
        elif call.action == "DeleteTargetGroup":
            self.targets.pop(arn, None)

    def _drain(self, arn: str, instance_id: str, delay: float, now: float) -> None:
        target = self.targets.get(arn, {}).get(instance_id)
        if target is None:
            return
        if delay <= 0:
            del self.targets[arn][instance_id]
            return
        target.state, target.reason = "draining", "Target.DeregistrationInProgress"
        target.description = _REASONS[target.reason]
        target.since, target.draining_until = now, now + self.timeline.scaled(delay)

    # ---- health checks ----------------------------------------------------------------------------
    def advance(self) -> None:
        """Run every target's health check at the current world instant (the world's tick)."""
        if self.backend is None:
            return
        now = self.timeline.now()
        for arn in list(self.targets):
            group = self.backend.target_groups.get(arn)
            if group is None:
                del self.targets[arn]
                continue
            check = HealthCheck.of(group)
            for target in list(self.targets[arn].values()):
                self._evaluate(arn, group, check, target, now)

    def _probe(self, check: HealthCheck, view: NodeView | None) -> tuple[bool, str]:
        """(passed, reason if not): the check ``GET <path>`` against the node as it is now."""
        if not self.node_check(view):
            return False, "Target.Timeout"  # the connection is refused or dropped: no answer in time
        assert view is not None
        slow = view.faults.get("judge0-slow")
        if slow is not None and float(slow.get("delaySeconds", 2.0)) >= check.timeout:
            return False, "Target.Timeout"
        code = self._status_code(check.path, view)
        if not check.accepts(code):
            return False, f"Target.ResponseCodeMismatch:{code}"
        return True, ""

    def _status_code(self, path: str, view: NodeView) -> int:
        """What the Judge0 simulator answers a health checker (no token, no headers) on ``path``."""
        route = path.split("?", 1)[0].strip("/")
        if route == "":
            return 200  # GET / skips every filter
        if route.split("/", 1)[0] not in (*_API_PATHS, "submissions"):
            return 404
        if self.auth_required():
            return 401
        if "api-500" in view.faults or (route == "workers" and "redis-down" in view.faults):
            return 500
        if route.startswith("languages") and "db-down" in view.faults:
            return 500
        return 200

    def _evaluate(self, arn: str, group: Any, check: HealthCheck, target: TargetState, now: float) -> None:
        if target.state == "draining":
            if target.draining_until is not None and now >= target.draining_until:
                del self.targets[arn][target.instance_id]
            return
        record = self.ec2.records.get(target.instance_id)
        state = record.state if record is not None else "terminated"
        if state in ("shutting-down", "terminated"):  # EC2 deregisters a terminated instance itself
            group.targets.pop(target.instance_id, None)
            self._drain(arn, target.instance_id, check.deregistration_delay, now)
            return
        if state != "running":
            self._set(target, "unused", "Target.InvalidState", now)
            target.passing = None
            return
        if not check.enabled:
            self._set(target, "unavailable", "Target.HealthCheckDisabled", now)
            return
        if target.state in ("unused", "unavailable"):
            self._set(target, "initial", "Elb.RegistrationInProgress", now)
        passed, reason = self._probe(check, self.ec2.node(target.instance_id))
        if target.passing is None or passed != target.passing:
            target.passing, target.passing_since = passed, now
        held = now - target.passing_since
        needed = check.healthy_count if passed else check.unhealthy_count
        if held >= self.timeline.scaled(needed * check.interval):
            if passed:
                self._set(target, "healthy", None, now)
            else:
                self._set(target, "unhealthy", reason, now)

    @staticmethod
    def _set(target: TargetState, state: str, reason: str | None, now: float) -> None:
        if (target.state, target.reason) == (state, reason):
            return
        target.state, target.reason, target.since = state, reason, now
        if reason and reason.startswith("Target.ResponseCodeMismatch:"):
            code = reason.split(":", 1)[1]
            target.reason = "Target.ResponseCodeMismatch"
            target.description = f"Health checks failed with these codes: [{code}]"
        else:
            target.description = _REASONS.get(reason or "")

    # ---- DescribeTargetHealth -----------------------------------------------------------------------
    def describe_target_health(self, call: AwsCall) -> web.Response:
        arn = call.first("TargetGroupArn") or ""
        group = self.backend.target_groups.get(arn) if self.backend is not None else None
        if group is None:
            raise AwsError("TargetGroupNotFound", "One or more target groups not found")
        check = HealthCheck.of(group)
        states = self.targets.get(arn, {})
        wanted = _members(call, "Targets")
        if not wanted:
            wanted = [{"Id": t.instance_id, "Port": str(t.port)} for t in states.values()]
        descriptions = []
        for member in wanted:
            target = states.get(member["Id"])
            port = member.get("Port") or str(target.port if target else group.port)
            health: dict[str, Any]
            if target is None:
                health = {
                    "State": "unused",
                    "Reason": "Target.NotRegistered",
                    "Description": _REASONS["Target.NotRegistered"],
                }
            else:
                health = {"State": target.state, "Reason": target.reason, "Description": target.description}
            hc_port = port if check.port == "traffic-port" else check.port
            descriptions.append(
                {"Target": {"Id": member["Id"], "Port": port}, "HealthCheckPort": hc_port, "TargetHealth": health}
            )
        return _elbv2_response("DescribeTargetHealth", {"TargetHealthDescriptions": descriptions})


def create_target_group(
    client: Any,
    name: str,
    vpc_id: str,
    *,
    port: int = JUDGE0_PORT,
    health_check_path: str = "/",
    interval_seconds: int = 5,
    timeout_seconds: int = 2,
    healthy_threshold: int = 2,
    unhealthy_threshold: int = 2,
    deregistration_delay_seconds: int = 30,
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Seed helper: an HTTP instance target group for Judge0 in the world's VPC (boto3 ``client``
    for ``elbv2``). Health-check timings are ELBv2's minimums-ish so tests stay short."""
    group = client.create_target_group(
        Name=name,
        Protocol="HTTP",
        Port=port,
        VpcId=vpc_id,
        TargetType="instance",
        HealthCheckProtocol="HTTP",
        HealthCheckPath=health_check_path,
        HealthCheckIntervalSeconds=interval_seconds,
        HealthCheckTimeoutSeconds=timeout_seconds,
        HealthyThresholdCount=healthy_threshold,
        UnhealthyThresholdCount=unhealthy_threshold,
        Matcher={"HttpCode": "200"},
        **({"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}),
    )["TargetGroups"][0]
    client.modify_target_group_attributes(
        TargetGroupArn=group["TargetGroupArn"],
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(deregistration_delay_seconds)}],
    )
    return dict(group)
