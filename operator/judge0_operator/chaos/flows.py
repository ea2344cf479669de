"""The operator's flows a chaos run drives: each starts from a Ready fleet, is set going by one
change, and is done when the fleet is Ready again at its desired size (or gone, for deletion).

=============  =======================================  ====================================
flow           set going by                              done when
=============  =======================================  ====================================
scale-up       replicas 2 → 4                           4 healthy, Ready
replacement    a scheduled retirement on one instance   it is replaced: 3 healthy, Ready
rollout        instanceType t3.small → t3.medium        3 updated and healthy, none outdated
scale-in       replicas 3 → 1 (drained first)           1 healthy, Ready
zone-failover  an outage of the zone holding two of four  4 healthy outside that zone, Ready
deletion       the fleet deleted                        the fleet gone, no instance alive
safety-stop    Judge0 down on 3 of 4 (> maxUnhealthy)   the stop held without remediation;
                                                        faults cleared; 4 healthy, Ready
remediation    Judge0 down on one instance              healed by the ladder (not by deleting the
                                                        fault); 3 healthy, Ready
=============  =======================================  ====================================
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from judge0_operator.chaos.env import ChaosEnv

LIVE = frozenset({"pending", "running", "stopping", "stopped"})


def condition(fleet: Mapping[str, Any] | None, type_: str) -> dict[str, Any]:
    for item in ((fleet or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == type_:
            return dict(item)
    return {}


def ready_at(fleet: Mapping[str, Any] | None, size: int, *, updated: bool = False) -> bool:
    """``kubectl wait --for=condition=Ready`` for the current generation, and ``size`` healthy rows."""
    if fleet is None:
        return False
    status = fleet.get("status") or {}
    ready = condition(fleet, "Ready")
    rows = status.get("instances") or []
    whole = (
        ready.get("status") == "True"
        and ready.get("observedGeneration") == fleet["metadata"].get("generation")
        and status.get("desiredReplicas") == size
        and status.get("replicas") == size
        and status.get("healthyReplicas") == size
        and len(rows) == size
        and not status.get("pendingLaunches")
    )
    if whole and updated:
        return bool(status.get("updatedReplicas") == size and not status.get("outdatedReplicas"))
    return whole


@dataclass
class FlowState:
    """What a flow's trigger set up, for its ``done`` check and the safety invariant."""

    uid: str
    victims: list[str] = field(default_factory=list)
    zone: str | None = None
    fault_ids: list[str] = field(default_factory=list)
    stop_windows: list[tuple[float, float]] = field(default_factory=list)  # safety stops (epoch)
    released: bool = True  # False while a flow holds its faults (safety-stop)


Trigger = Callable[[ChaosEnv, str, dict[str, Any], FlowState], Awaitable[None]]
Done = Callable[[ChaosEnv, str, dict[str, Any] | None, FlowState], Awaitable[bool]]


@dataclass(frozen=True)
class Flow:
    name: str
    replicas: int
    trigger: Trigger
    done: Done
    spec: Mapping[str, Any] = field(default_factory=dict)
    policy: Mapping[str, Any] = field(default_factory=dict)
    hold: Callable[[ChaosEnv, str, FlowState], Awaitable[None]] | None = None  # after the trigger


def _ids(fleet: Mapping[str, Any]) -> list[str]:
    return sorted(r["instanceId"] for r in (fleet.get("status") or {}).get("instances") or [])


async def _alive(env: ChaosEnv, uid: str) -> list[dict[str, Any]]:
    return [
        r
        for r in await env.records()
        if (r.get("tags") or {}).get("judge0.dev/fleet-uid") == uid and r.get("state") in LIVE and not r.get("gone")
    ]


def _sized(size: int, *, updated: bool = False) -> Done:
    async def done(env: ChaosEnv, ns: str, fleet: dict[str, Any] | None, state: FlowState) -> bool:
        return state.released and ready_at(fleet, size, updated=updated)

    return done


# ---- triggers ------------------------------------------------------------------------------------
def scale_to(replicas: int) -> Trigger:
    async def trigger(env: ChaosEnv, ns: str, fleet: dict[str, Any], state: FlowState) -> None:
        await env.patch_spec(ns, {"replicas": replicas})

    return trigger


async def _retire_one(env: ChaosEnv, ns: str, fleet: dict[str, Any], state: FlowState) -> None:
    victim = _ids(fleet)[0]
    state.victims = [victim]
    state.fault_ids.append(await env.fault(victim, "scheduled-retirement", {"notBeforeSeconds": 86_400}))


async def _replaced(env: ChaosEnv, ns: str, fleet: dict[str, Any] | None, state: FlowState) -> bool:
    if not ready_at(fleet, 3) or fleet is None:
        return False
    alive = {r["id"] for r in await _alive(env, state.uid)}
    return not (set(state.victims) & (set(_ids(fleet)) | alive))


async def _roll(env: ChaosEnv, ns: str, fleet: dict[str, Any], state: FlowState) -> None:
    await env.patch_spec(ns, {"instance": {"instanceType": "t3.medium"}})


async def _zone_out(env: ChaosEnv, ns: str, fleet: dict[str, Any], state: FlowState) -> None:
    """The outage hits the zone holding two instances (one unhealthy instance is never an outage)."""
    zones = sorted(r["zone"] for r in (fleet.get("status") or {}).get("instances") or [])
    state.zone = max(sorted(set(zones)), key=zones.count)
    state.fault_ids.append(await env.fault(f"zone:{state.zone}", "zone-outage"))


async def _failed_over(env: ChaosEnv, ns: str, fleet: dict[str, Any] | None, state: FlowState) -> bool:
    if not ready_at(fleet, 4) or fleet is None:
        return False
    return all(r.get("zone") != state.zone for r in (fleet.get("status") or {}).get("instances") or [])


async def _delete(env: ChaosEnv, ns: str, fleet: dict[str, Any], state: FlowState) -> None:
    await env.delete_fleet(ns)


async def _deleted(env: ChaosEnv, ns: str, fleet: dict[str, Any] | None, state: FlowState) -> bool:
    return fleet is None and not await _alive(env, state.uid)


async def _down(env: ChaosEnv, ns: str, fleet: dict[str, Any], state: FlowState, count: int) -> None:
    """Judge0 down on ``count`` instances, each in a different zone (no zone outage, only nodes)."""
    by_zone: dict[str, str] = {}
    for row in sorted((fleet.get("status") or {}).get("instances") or [], key=lambda r: r["instanceId"]):
        by_zone.setdefault(row["zone"], row["instanceId"])
    state.victims = sorted(by_zone.values())[:count]
    for victim in state.victims:
        state.fault_ids.append(await env.fault(victim, "judge0-down"))


async def _down_one(env: ChaosEnv, ns: str, fleet: dict[str, Any], state: FlowState) -> None:
    await _down(env, ns, fleet, state, 1)


async def _down_three(env: ChaosEnv, ns: str, fleet: dict[str, Any], state: FlowState) -> None:
    await _down(env, ns, fleet, state, 3)
    state.released = False


NOT_HEALED_BY_THE_NODE = frozenset({"deleted", "instance-gone"})  # removed by the runner, or replaced


async def _healed(env: ChaosEnv, ns: str, fleet: dict[str, Any] | None, state: FlowState) -> bool:
    """The node faults were healed by what the operator did to the node — a restart or a reboot,
    the world says (not deleted, not replaced) — its status records that action on each victim,
    and the fleet is whole. The record is ``Succeeded``, or ``Interrupted`` when the operator was
    killed between the call and its answer (it cannot know the outcome; the world does)."""
    if fleet is None or any(env.world.faults.get(f) is not None for f in state.fault_ids):
        return False
    healed = {f.id: f for f in env.world.faults.healed()}
    if not all(f in healed and healed[f].healed_by not in NOT_HEALED_BY_THE_NODE for f in state.fault_ids):
        return False
    done = {
        a.get("instanceId")
        for a in (fleet.get("status") or {}).get("lastActions") or []
        if a.get("action") in ("RestartJudge0", "RebootInstance") and a.get("outcome") in ("Succeeded", "Interrupted")
    }
    return set(state.victims) <= done and ready_at(fleet, 3)


async def _hold_safety_stop(env: ChaosEnv, ns: str, state: FlowState, hold_seconds: float = 6.0) -> None:
    """Wait for RemediationAllowed=False (TooManyUnhealthy), keep the stop ``hold_seconds`` (crash
    points land in it), then clear the faults: the nodes recover with no remediation at all."""
    deadline = time.monotonic() + 40
    since: float | None = None
    while time.monotonic() < deadline:
        await env.revive_if_killed()
        fleet = await env.fleet(ns)
        allowed = condition(fleet, "RemediationAllowed")
        if allowed.get("status") == "False" and allowed.get("reason") == "TooManyUnhealthy":
            since = time.time()
            break
        await asyncio.sleep(0.25)
    if since is not None:
        end = time.monotonic() + hold_seconds
        while time.monotonic() < end:
            await env.revive_if_killed()
            await asyncio.sleep(0.25)
    for fault_id in state.fault_ids:
        with contextlib.suppress(KeyError):  # healed meanwhile (it must not be: a remediation)
            await env.world.remove_fault(fault_id)
    if since is not None:
        state.stop_windows.append((since, time.time()))
    state.released = True


FLOWS: dict[str, Flow] = {
    f.name: f
    for f in [
        Flow("scale-up", 2, scale_to(4), _sized(4)),
        Flow("replacement", 3, _retire_one, _replaced),
        Flow("rollout", 3, _roll, _sized(3, updated=True)),
        Flow("scale-in", 3, scale_to(1), _sized(1)),
        Flow("zone-failover", 4, _zone_out, _failed_over),
        Flow("deletion", 2, _delete, _deleted),
        Flow("safety-stop", 4, _down_three, _sized(4), hold=_hold_safety_stop),
        Flow("remediation", 3, _down_one, _healed),
    ]
}
CRASH_FLOWS = (
    "scale-up",
    "replacement",
    "rollout",
    "scale-in",
    "zone-failover",
    "deletion",
    "safety-stop",
    "remediation",
)
