"""Phase 13, rotation: who clients reach after this pass, and what that changes in the target
groups and the EndpointSlice.

An instance is *in rotation* when it is running, Healthy on every enabled probe, not draining and
no action on it was decided this pass; an instance that turns Unhealthy leaves rotation in the
pass that judges it so, and the controller deregisters it before any remediation runs. Each row
records ``traffic`` (InRotation, Draining or Out) with ``trafficSince``; the drain state of a
node whose interruption is held (``drain.py``) is kept on its row, and a drain no phase asked for
this pass is cancelled (the node may come back).

Target groups: RegisterTargets for an instance in rotation that the group does not hold (or
holds ``draining``); DeregisterTargets for one of the fleet's instances the group holds that is
not in rotation. A group whose health could not be read this pass gets no registrations, but
every instance leaving rotation (or about to be disrupted) is deregistered all the same
(ELBv2 deregisters an absent target as a no-op). The Service's
EndpointSlice lists every instance with an address, with the conditions of its traffic state
(``controller/endpoints.py``); its port comes from the endpoint template.

Only when acting in Enforce mode: paused, DryRun or a partial EC2 view leave rotation as it was.
A fleet without ``spec.traffic`` is published nowhere: its rows still say who would be in
rotation (the "In rotation" column), and nothing else changes.

Events: ``DrainCancelled`` — Normal; ``RotationChanged`` — Normal (who entered and left).
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from judge0_operator.api.fleet_status import InstanceStatus
from judge0_operator.api.traffic import TargetGroupStatus, TrafficState, TrafficStatus
from judge0_operator.decide import drain
from judge0_operator.decide.draft import Draft
from judge0_operator.decide.health import OPTIONAL_SIGNALS
from judge0_operator.decide.inputs import PassInputs
from judge0_operator.decide.model import Ec2Instance, Launch, TargetGroupHealth
from judge0_operator.decide.timeutil import format_time

REGISTERED_STATES = frozenset({"initial", "healthy", "unhealthy", "unused", "unavailable"})  # not draining
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class ServiceEndpoint:
    """One instance as the fleet's EndpointSlice lists it."""

    instance_id: str
    address: str
    zone: str
    traffic: TrafficState


@dataclass(frozen=True)
class TargetChanges:
    """What one target group needs this pass."""

    arn: str
    register: tuple[str, ...] = ()
    deregister: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrafficPlan:
    """The rotation changes of a pass, for the controller to carry out before (deregister) and
    beside (register, publish) the actions."""

    target_groups: tuple[TargetChanges, ...] = ()
    port: int | None = None  # the Service's port; None: no Service wanted
    endpoints: tuple[ServiceEndpoint, ...] = ()
    unpublish: bool = False  # spec.traffic.service turned off: delete the fleet's Service
    acting: bool = False  # False: paused, DryRun or a partial view; nothing is changed

    @property
    def deregistering(self) -> dict[str, tuple[str, ...]]:
        return {c.arn: c.deregister for c in self.target_groups if c.deregister}

    @property
    def registering(self) -> dict[str, tuple[str, ...]]:
        return {c.arn: c.register for c in self.target_groups if c.register}


def endpoint_port(template: str) -> int:
    """The port of ``judge0.endpointTemplate`` (2358 in ``http://{private_ip}:2358``)."""
    filled = template.format(**{name: "0.0.0.0" for name in _fields(template)})
    parts = urlsplit(filled)
    try:
        port = parts.port
    except ValueError:
        port = None
    return port or DEFAULT_PORTS.get(parts.scheme, 80)


def endpoint_address(template: str, instance: Ec2Instance) -> str | None:
    """The address clients in the cluster use: the public IP when the template names it, else the
    private one (a template with a fixed host still publishes each node's private address)."""
    if "public_ip" in _fields(template):
        return instance.public_ip
    return instance.private_ip


def _fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError:
        return set()


def wanted_traffic(row: InstanceStatus, *, draining: bool, interrupted: bool) -> TrafficState:
    """The rotation rule for one instance (see the module docstring)."""
    if draining:
        return "Draining"
    healthy = row.health == "Healthy" and all(
        s.status == "Healthy"
        for name, s in row.signals.items()
        if not (name in OPTIONAL_SIGNALS and s.status == "Unknown" and not s.bad)  # not read yet: holds nothing
    )
    if interrupted or row.state != "running" or not healthy:
        return "Out"
    return "InRotation"


def target_changes(
    arn: str, group: TargetGroupHealth, traffic: Mapping[str, TrafficState], fleet_ids: set[str]
) -> TargetChanges:
    """Register what is in rotation and missing; deregister the fleet's instances that are not."""
    held = {i for i, t in group.targets.items() if t.state in REGISTERED_STATES}
    register = sorted(i for i, state in traffic.items() if state == "InRotation" and i not in held)
    deregister = sorted(i for i in held & fleet_ids if traffic.get(i) != "InRotation")
    return TargetChanges(arn, tuple(register), tuple(deregister))


def rotate(draft: Draft) -> TrafficPlan:
    """Set every row's traffic and work out the target-group and EndpointSlice changes."""
    given = draft.given
    spec, now = given.spec, given.now
    service = spec.traffic.service
    publish = service is not None and service.enabled
    if not (given.acting and given.enforce):
        return TrafficPlan()
    interrupted = {a.instance_id for _, a in draft.decided if not isinstance(a, Launch)}
    interrupted |= {instance_id for instance_id in draft.rows if draft.leaving(instance_id)}
    traffic: dict[str, TrafficState] = {}
    leaving: set[str] = set()  # out of rotation this pass (or about to be disrupted)
    entered: list[str] = []
    left: list[str] = []
    for row in list(draft.rows.values()):
        held = draft.draining.get(row.instance_id)
        state = wanted_traffic(row, draining=held is not None, interrupted=row.instance_id in interrupted)
        if row.drain is not None and held is None and row.instance_id not in interrupted:
            draft.note(
                "Normal",
                "DrainCancelled",
                f"{row.instance_id}: the {row.drain.reason.split(':', 1)[0]} it was draining for is no longer "
                "decided" + ("; back in rotation" if state == "InRotation" else ""),
            )
        if state != row.traffic:
            (entered if state == "InRotation" else left).append(f"{row.instance_id} ({state})")
        if state != "InRotation" and (row.traffic != "Out" or row.instance_id in interrupted):
            leaving.add(row.instance_id)
        since = row.traffic_since if state == row.traffic else format_time(now)
        draft.update_row(row.model_copy(update={"traffic": state, "traffic_since": since, "drain": held}))
        traffic[row.instance_id] = state
    if (entered or left) and drain.controls_traffic(spec):
        parts = ([f"in: {', '.join(entered)}"] if entered else []) + ([f"out: {', '.join(left)}"] if left else [])
        draft.note("Normal", "RotationChanged", "; ".join(parts))

    fleet_ids = {seen.instance.instance_id for seen in given.observation.instances}
    changes = []
    for arn in spec.traffic.target_group_arns:
        group = given.observation.target_groups.get(arn)
        if group is None or not group.complete:
            # Unread this pass: register nothing on guesswork, but deregister whatever leaves
            # rotation all the same (ELBv2 deregisters an absent target as a no-op).
            change = TargetChanges(arn, deregister=tuple(sorted(leaving)))
        else:
            change = target_changes(arn, group, traffic, fleet_ids)
        if change.register or change.deregister:
            changes.append(change)
    endpoints: list[ServiceEndpoint] = []
    if publish:
        instances = {seen.instance.instance_id: seen.instance for seen in given.observation.instances}
        for instance_id, state in sorted(traffic.items()):
            instance = instances.get(instance_id)
            address = endpoint_address(spec.judge0.endpoint_template, instance) if instance else None
            if address:
                endpoints.append(ServiceEndpoint(instance_id, address, draft.rows[instance_id].zone, state))
    return TrafficPlan(
        target_groups=tuple(changes),
        port=endpoint_port(spec.judge0.endpoint_template) if publish else None,
        endpoints=tuple(endpoints),
        unpublish=not publish and given.previous.traffic is not None and given.previous.traffic.service is not None,
        acting=True,
    )


def traffic_status(given: PassInputs, rows: Iterable[InstanceStatus]) -> TrafficStatus | None:
    """``status.traffic``: per target group, the fleet's registered and healthy targets as observed
    (the Service is filled in by the controller, which knows the namespace); None without spec.traffic."""
    spec = given.spec
    service = spec.traffic.service
    if not spec.traffic.target_group_arns and not (service is not None and service.enabled):
        return None
    ours = {row.instance_id for row in rows}
    groups = []
    for arn in spec.traffic.target_group_arns:
        group = given.observation.target_groups.get(arn)
        if group is None:
            groups.append(TargetGroupStatus(arn=arn, error="not read yet"))
            continue
        held = [t for i, t in group.targets.items() if i in ours and t.state in REGISTERED_STATES]
        groups.append(
            TargetGroupStatus(
                arn=arn,
                registered=len(held),
                healthy=sum(t.state == "healthy" for t in held),
                error=group.error,
            )
        )
    previous = given.previous.traffic
    kept = previous.service if previous is not None and service is not None and service.enabled else None
    return TrafficStatus(service=kept, target_groups=groups)
