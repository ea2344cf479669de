"""Small builders for planner tests: a fleet spec, a policy, instances as the observer would see them.

``Node`` describes one instance in plain words (zone letter, state, which probes pass); ``seen``
turns nodes into a ``FleetObservation`` at a moment; ``Driver`` runs the planner pass after pass,
carrying status and optionally applying outcomes, so a scenario reads as a timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from judge0_operator.api.fleet import Judge0FleetSpec
from judge0_operator.api.fleet_status import Judge0FleetStatus
from judge0_operator.api.instance import InstanceSpec
from judge0_operator.api.policy import RecoveryPolicySpec
from judge0_operator.decide.model import (
    TAG_ATTEMPT,
    TAG_FLEET_UID,
    TAG_SLOT,
    TAG_TEMPLATE,
    Action,
    ActionOutcome,
    Ec2Health,
    Ec2Instance,
    FleetObservation,
    InstanceObservation,
    Launch,
    ProbeResult,
    ScheduledEvent,
    TargetGroupHealth,
    Terminate,
)
from judge0_operator.decide.plan import Plan, plan
from judge0_operator.decide.rollout import template_hash

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
UID = "0d3c2b1a-fleet-uid"
SUBNETS = {"a": "subnet-0000000a", "b": "subnet-0000000b", "c": "subnet-0000000c"}
ZONE_OF_SUBNET = {subnet: f"eu-west-1{letter}" for letter, subnet in SUBNETS.items()}
MISSING = object()  # a probe with no result at all


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def zone(letter: str) -> str:
    return f"eu-west-1{letter}"


def make_spec(replicas: int = 3, **extra: Any) -> Judge0FleetSpec:
    instance = extra.pop("instance", None) or InstanceSpec(
        image_id="ami-12345678", instance_type="c6i.large", subnets=list(SUBNETS.values())
    )
    return Judge0FleetSpec(region="eu-west-1", replicas=replicas, instance=instance, **extra)


def make_policy(wire: dict[str, Any] | None = None) -> RecoveryPolicySpec:
    """A policy from its camelCase wire form, as a user writes it (defaults elsewhere)."""
    return RecoveryPolicySpec.model_validate(wire or {})


CURRENT_HASH = template_hash(make_spec().instance)


@dataclass(frozen=True)
class Node:
    """One instance as the observer reports it. Probe values: True, False, None (inconclusive) or MISSING."""

    iid: str
    slot: str | None = "s0"
    zone: str = "a"
    state: str = "running"
    attempt: int = 0
    launched: datetime = T0 - timedelta(hours=2)
    api: Any = True
    workers: Any = True
    canary: Any = True
    instance_check: str = "ok"
    system_check: str = "ok"
    ec2: bool = True  # has a DescribeInstanceStatus entry
    events: tuple[str, ...] = ()
    template: str = CURRENT_HASH
    available_workers: int | None = 2
    version: str | None = "1.13.1"
    probed_at: datetime | None = None  # defaults to the observation time
    queued: int = 0  # /workers: waiting (drains)
    running: int | None = None  # /workers: working; None: not reported
    private_ip: str = "10.0.0.1"
    not_before: datetime | None = None  # the scheduled events' NotBefore

    def but(self, **changes: Any) -> Node:
        return replace(self, **changes)


def _probe(signal: Any, value: Any, node: Node, now: datetime) -> ProbeResult | None:
    if value is MISSING:
        return None
    return ProbeResult(
        signal=signal,
        ok=value,
        observed_at=node.probed_at or now,
        detail="ok" if value else ("connection refused" if value is False else "inconclusive"),
        available_workers=node.available_workers if signal == "workers" else None,
        queue_size=node.queued if signal == "workers" else None,
        working=node.running if signal == "workers" else None,
        version=node.version if signal == "api" else None,
    )


def observe_node(node: Node, now: datetime) -> InstanceObservation:
    tags = {TAG_FLEET_UID: UID, TAG_ATTEMPT: str(node.attempt), TAG_TEMPLATE: node.template}
    if node.slot is not None:
        tags[TAG_SLOT] = node.slot
    instance = Ec2Instance(
        instance_id=node.iid,
        state=node.state,  # type: ignore[arg-type]
        zone=zone(node.zone),
        subnet_id=SUBNETS[node.zone],
        instance_type="c6i.large",
        launch_time=node.launched,
        private_ip=node.private_ip,
        tags=tags,
    )
    checks = (
        Ec2Health(
            instance_status=node.instance_check,  # type: ignore[arg-type]
            system_status=node.system_check,  # type: ignore[arg-type]
            events=tuple(ScheduledEvent(code=code, not_before=node.not_before) for code in node.events),
        )
        if node.ec2
        else None
    )
    probes = {}
    if node.state == "running":
        for signal in ("api", "workers", "canary"):
            result = _probe(signal, getattr(node, signal), node, now)
            if result is not None:
                probes[signal] = result
    return InstanceObservation(instance=instance, ec2=checks, probes=probes)  # type: ignore[arg-type]


def seen(
    now: datetime,
    nodes: Iterable[Node],
    *,
    complete: bool = True,
    error: str | None = None,
    target_groups: Mapping[str, TargetGroupHealth] | None = None,
) -> FleetObservation:
    return FleetObservation(
        observed_at=now,
        instances=tuple(observe_node(n, now) for n in nodes),
        complete=complete,
        error=error,
        zones=dict(ZONE_OF_SUBNET),
        target_groups=dict(target_groups or {}),
    )


def kinds(p: Plan) -> list[str]:
    return [a.kind for a in p.actions]


def reasons(p: Plan) -> list[str]:
    return [e.reason for e in p.events]


def condition(status: Judge0FleetStatus, type_: str) -> Any:
    return next(c for c in status.conditions if c.type == type_)


def row(status: Judge0FleetStatus, iid: str) -> Any:
    return next(r for r in status.instances if r.instance_id == iid)


def ok_outcomes(actions: Sequence[Action], new_id: Callable[[Launch], str]) -> list[ActionOutcome]:
    """Every action succeeded; launches created the instance named by ``new_id``."""
    return [
        ActionOutcome(
            action=a,
            ok=True,
            instance_id=new_id(a) if isinstance(a, Launch) else None,
            zone=a.zone if isinstance(a, Launch) else None,
        )
        for a in actions
    ]


@dataclass
class Driver:
    """Runs passes for one fleet, carrying status between them."""

    spec: Judge0FleetSpec
    policy: RecoveryPolicySpec = field(default_factory=RecoveryPolicySpec)
    status: Judge0FleetStatus = field(default_factory=Judge0FleetStatus)
    generation: int = 1
    history: list[Plan] = field(default_factory=list)

    def step(self, now: datetime, nodes: Iterable[Node], **observe: Any) -> Plan:
        result = plan(
            self.spec,
            self.policy,
            seen(now, nodes, **observe),
            self.status,
            now,
            fleet_uid=UID,
            generation=self.generation,
            fleet_name="exam",
        )
        self.status = result.status
        self.history.append(result)
        return result

    def succeed(self, result: Plan, now: datetime, new_id: Callable[[Launch], str] | None = None) -> None:
        """Record that every action of ``result`` succeeded."""
        from judge0_operator.decide.plan import record_outcomes

        namer = new_id or (lambda launch: f"i-{launch.slot}-{launch.attempt}")
        self.status, _ = record_outcomes(
            self.status, ok_outcomes(result.actions, namer), now, generation=self.generation
        )


def launched_nodes(result: Plan, now: datetime, **node_fields: Any) -> list[Node]:
    """The instances ``result``'s launches would create (named like ``Driver.succeed``), already running."""
    return [
        Node(
            f"i-{a.slot}-{a.attempt}",
            slot=a.slot,
            attempt=a.attempt,
            zone=a.zone[-1],
            launched=now,
            **node_fields,
        )
        for a in result.actions
        if isinstance(a, Launch)
    ]


def terminated_ids(result: Plan) -> set[str]:
    return {a.instance_id for a in result.actions if isinstance(a, Terminate)}
