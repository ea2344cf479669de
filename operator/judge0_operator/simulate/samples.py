"""What the simulation records every half second, parsed from the fleet's status and the world.

Two views are kept side by side on purpose: the operator's (``Judge0Fleet.status``) and the
world's ground truth (``GET /instances``, ``GET /faults``). The report judges the operator's
claims against the truth, so a status that says "healthy" while a node is broken cannot hide.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from judge0_operator.world.judge0.nodes import NODE_FAULTS

LIVE_STATES = frozenset({"pending", "running", "stopping", "stopped"})
# Faults that leave a node serving everything its users need (or act on the API, not the node).
HARMLESS_FAULTS = frozenset(
    {
        "load",
        "capacity-error",
        "throttle",
        "aws-error",
        "ssm-failed",
        "ssm-timeout",
        "scheduled-retirement",
        "system-maintenance",
        "spot-interruption",
    }
)
DEGRADING_FAULTS = (frozenset(NODE_FAULTS) | {"instance-impaired", "system-impaired", "zone-outage"}) - {
    "load"
}
TAG_FLEET_UID = "judge0.dev/fleet-uid"
TAG_SLOT = "judge0.dev/slot"
TAG_ATTEMPT = "judge0.dev/launch-attempt"


def epoch(value: str | None) -> float | None:
    """RFC 3339 (``…Z`` or with an offset) → seconds since the epoch; None stays None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class Condition:
    status: str
    reason: str
    message: str = ""
    since: float | None = None  # lastTransitionTime


@dataclass(frozen=True)
class StatusInstance:
    """A row of ``status.instances``."""

    instance_id: str
    slot: str
    zone: str = ""
    state: str = ""
    health: str = "Unknown"
    signals: Mapping[str, str] = field(default_factory=dict)  # signal → Healthy|Unhealthy|Unknown
    bad: frozenset[str] = frozenset()  # signals whose latest observation was bad
    attempts: int = 0
    last_action: str | None = None
    replaced_by: str | None = None
    updated: bool = True
    instance_type: str = ""


@dataclass(frozen=True)
class WorldInstance:
    """An instance as the world holds it (the truth)."""

    instance_id: str
    state: str
    zone: str
    fleet_uid: str | None
    slot: str | None
    attempt: str | None
    launched_at: float | None
    serving: bool
    instance_type: str = ""
    faults: tuple[tuple[str, str], ...] = ()  # (fault id, fault name), zone faults included

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def truly_healthy(self) -> bool:
        """Serving, and no fault on it that breaks what users need."""
        return (
            self.state == "running"
            and self.serving
            and not any(n in DEGRADING_FAULTS for _, n in self.faults)
        )


@dataclass(frozen=True)
class Sample:
    """One look at the fleet and the world at ``t`` (epoch seconds)."""

    t: float
    desired: int
    healthy: int  # status.healthyReplicas
    ready: int = 0
    updated: int = 0
    spec_replicas: int = 0
    max_surge: int = 1
    conditions: Mapping[str, Condition] = field(default_factory=dict)
    instances: tuple[StatusInstance, ...] = ()
    world: tuple[WorldInstance, ...] = ()
    active_faults: frozenset[str] = frozenset()  # ids of active world faults
    scaling_reason: str = ""

    def status_row(self, instance_id: str) -> StatusInstance | None:
        return next((i for i in self.instances if i.instance_id == instance_id), None)

    def world_row(self, instance_id: str) -> WorldInstance | None:
        return next((w for w in self.world if w.instance_id == instance_id), None)

    def fleet_world(self, fleet_uid: str | None) -> list[WorldInstance]:
        """The world's instances of this fleet (all of them when the uid is unknown)."""
        return [w for w in self.world if fleet_uid is None or w.fleet_uid == fleet_uid]

    def condition(self, kind: str) -> Condition | None:
        return self.conditions.get(kind)


@dataclass(frozen=True)
class ActionSeen:
    """An action the operator recorded in ``status.lastActions``."""

    t: float
    action: str
    instance_id: str | None = None
    slot: str | None = None
    reason: str = ""
    outcome: str = ""

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.t, self.action, self.instance_id, self.slot)


# --- parsing --------------------------------------------------------------------------------------


def _resolve_surge(value: Any, desired: int) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        return -(-desired * int(value[:-1]) // 100)
    return 1


def parse_conditions(raw: Iterable[Mapping[str, Any]]) -> dict[str, Condition]:
    return {
        str(c.get("type")): Condition(
            status=str(c.get("status", "Unknown")),
            reason=str(c.get("reason", "")),
            message=str(c.get("message", "")),
            since=epoch(c.get("lastTransitionTime")),
        )
        for c in raw
    }


def parse_status_instance(raw: Mapping[str, Any]) -> StatusInstance:
    signals = raw.get("signals") or {}
    return StatusInstance(
        instance_id=str(raw.get("instanceId", "")),
        slot=str(raw.get("slot", "")),
        zone=str(raw.get("zone", "")),
        state=str(raw.get("state", "")),
        health=str(raw.get("health", "Unknown")),
        signals={str(k): str((v or {}).get("status", "Unknown")) for k, v in signals.items()},
        bad=frozenset(str(k) for k, v in signals.items() if (v or {}).get("bad")),
        attempts=int(raw.get("attempts") or 0),
        last_action=raw.get("lastAction"),
        replaced_by=raw.get("replacedBy"),
        updated=bool(raw.get("updated", True)),
        instance_type=str(raw.get("instanceType", "")),
    )


def parse_world_instance(raw: Mapping[str, Any]) -> WorldInstance:
    tags = raw.get("tags") or {}
    return WorldInstance(
        instance_id=str(raw.get("id") or raw.get("instanceId") or ""),
        state=str(raw.get("state", "")),
        zone=str(raw.get("zone", "")),
        fleet_uid=tags.get(TAG_FLEET_UID),
        slot=tags.get(TAG_SLOT),
        attempt=tags.get(TAG_ATTEMPT),
        launched_at=epoch(raw.get("launchTime")),
        serving=bool(raw.get("serving")),
        instance_type=str(raw.get("instanceType", "")),
        faults=tuple((str(f.get("id")), str(f.get("fault"))) for f in raw.get("faults") or ()),
    )


def parse_sample(
    t: float,
    fleet: Mapping[str, Any],
    world_instances: Iterable[Mapping[str, Any]],
    world_faults: Iterable[Mapping[str, Any]],
) -> Sample:
    """Build a sample from the fleet object (spec + status) and the world's two lists."""
    spec = fleet.get("spec") or {}
    status = fleet.get("status") or {}
    scaling = status.get("scaling") or {}
    spec_replicas = int(spec.get("replicas", 0))
    desired = int(scaling.get("desiredReplicas") or status.get("desiredReplicas") or spec_replicas)
    return Sample(
        t=t,
        desired=desired,
        healthy=int(status.get("healthyReplicas") or 0),
        ready=int(status.get("readyReplicas") or 0),
        updated=int(status.get("updatedReplicas") or 0),
        spec_replicas=spec_replicas,
        max_surge=_resolve_surge((spec.get("rollout") or {}).get("maxSurge", 1), desired),
        conditions=parse_conditions(status.get("conditions") or ()),
        instances=tuple(parse_status_instance(i) for i in status.get("instances") or ()),
        world=tuple(parse_world_instance(w) for w in world_instances),
        active_faults=frozenset(str(f.get("id")) for f in world_faults),
        scaling_reason=str(scaling.get("reason", "")),
    )


def parse_actions(status: Mapping[str, Any]) -> list[ActionSeen]:
    out = []
    for raw in status.get("lastActions") or ():
        t = epoch(raw.get("time"))
        if t is None:
            continue
        out.append(
            ActionSeen(
                t=t,
                action=str(raw.get("action", "")),
                instance_id=raw.get("instanceId"),
                slot=raw.get("slot"),
                reason=str(raw.get("reason", "")),
                outcome=str(raw.get("outcome", "")),
            )
        )
    return out
