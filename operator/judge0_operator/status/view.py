"""What ``judge0-operator status`` shows of a fleet, as plain data (no terminal, no cluster).

Per fleet: its counts and the conditions that are not as expected (a healthy, settled fleet
shows none); per instance: zone, state, overall health, each signal with how long it has been
so, traffic and the last action with how long ago. Every cell carries a *tone* (good, warn,
bad, dim) that the renderer turns into colour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from judge0_operator.api.compact import stored_signal, stored_traffic_since
from judge0_operator.decide.model import SIGNALS
from judge0_operator.decide.timeutil import parse_time

Tone = Literal["good", "warn", "bad", "dim", ""]

# The status each condition has when all is well; Progressing is expected False (reason Stable).
EXPECTED: dict[str, str] = {
    "Ready": "True",
    "Available": "True",
    "Progressing": "False",
    "Degraded": "False",
    "RemediationAllowed": "True",
    "CloudAPIReady": "True",
}
# A condition off its expected status is bad news, except these, which are work in progress.
IN_PROGRESS = frozenset({("Progressing", "True")})
HEALTH_TONE: dict[str, Tone] = {"Healthy": "good", "Unhealthy": "bad", "Starting": "warn", "Unknown": "dim"}


@dataclass(frozen=True)
class Cell:
    text: str
    tone: Tone = ""


@dataclass(frozen=True)
class ConditionLine:
    type: str
    status: str
    reason: str
    message: str
    age: str
    tone: Tone


@dataclass(frozen=True)
class InstanceLine:
    instance_id: str
    slot: str
    zone: str
    state: Cell
    health: Cell
    signals: dict[str, Cell]
    traffic: Cell
    last_action: Cell


@dataclass(frozen=True)
class FleetView:
    namespace: str
    name: str
    counts: str
    tone: Tone
    conditions: list[ConditionLine]
    instances: list[InstanceLine]
    signals: tuple[str, ...]  # the signal columns, in SIGNALS order, those any instance reports


def humanize(seconds: float | None) -> str:
    """``42s``, ``5m``, ``3h12m``, ``2d4h``: how long, at a glance."""
    if seconds is None:
        return "?"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s < 600 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600}h"


def _ago(text: str | None, now: datetime) -> str:
    moment = parse_time(text)
    return humanize((now - moment).total_seconds()) if moment else "?"


def unexpected_conditions(status: Mapping[str, Any], now: datetime) -> list[ConditionLine]:
    """Conditions whose status is not the expected one (and unknown types that are not True)."""
    lines = []
    for item in status.get("conditions") or []:
        type_, state = str(item.get("type", "")), str(item.get("status", ""))
        expected = EXPECTED.get(type_, "True")
        if state == expected:
            continue
        reason = str(item.get("reason", ""))
        deliberate = reason == "Paused"  # spec.paused: what the user asked for
        tone: Tone = "warn" if (type_, state) in IN_PROGRESS or state == "Unknown" or deliberate else "bad"
        lines.append(
            ConditionLine(
                type_,
                state,
                reason,
                str(item.get("message", "")),
                _ago(item.get("lastTransitionTime"), now),
                tone,
            )
        )
    return lines


def _signal_cell(signal: Mapping[str, Any] | None, now: datetime) -> Cell:
    if not signal:
        return Cell("—", "dim")
    state, age = str(signal.get("status", "Unknown")), _ago(signal.get("since"), now)
    if state == "Healthy" and signal.get("bad"):
        return Cell(f"bad {age}", "warn")  # failing, not for long enough to count
    word = {"Healthy": "ok", "Unhealthy": "bad", "Unknown": "?"}.get(state, state)
    return Cell(f"{word} {age}", HEALTH_TONE.get(state, ""))


TRAFFIC_TONE: dict[str, Tone] = {"InRotation": "good", "Draining": "warn", "Out": "dim"}


def _traffic_cell(row: Mapping[str, Any], now: datetime, published: bool) -> Cell:
    """In rotation (clients reach it), draining (finishing its work before an action) or out;
    — for a fleet published nowhere (no Service, no target group: there is no rotation)."""
    traffic = row.get("traffic")
    if not traffic or not published:
        return Cell("—", "dim")
    state = str(traffic)
    since = stored_traffic_since(row)
    text = f"{state} {_ago(since, now)}" if since else state
    return Cell(text, TRAFFIC_TONE.get(state, ""))


def _last_action_cell(row: Mapping[str, Any], now: datetime) -> Cell:
    action = row.get("lastAction")
    if not action:
        return Cell("—", "dim")
    text = f"{action} {_ago(row.get('lastActionAt'), now)} ago"
    if row.get("gaveUp"):
        return Cell(text + ", gave up", "bad")
    if row.get("attempts"):
        text += f" (attempt {row['attempts']})"
    return Cell(text, "")


def instance_line(row: Mapping[str, Any], now: datetime, *, published: bool = True) -> InstanceLine:
    state = str(row.get("state", ""))
    health = str(row.get("health", "Unknown"))
    return InstanceLine(
        instance_id=str(row.get("instanceId", "")),
        slot=str(row.get("slot", "")),
        zone=str(row.get("zone", "")),
        state=Cell(state, "good" if state == "running" else ("warn" if state == "pending" else "bad")),
        health=Cell(f"{health} {row['diagnosis']}" if row.get("diagnosis") else health, HEALTH_TONE.get(health, "")),
        signals={name: _signal_cell(stored_signal(row, name), now) for name in SIGNALS},
        traffic=_traffic_cell(row, now, published),
        last_action=_last_action_cell(row, now),
    )


def fleet_view(fleet: Mapping[str, Any], now: datetime) -> FleetView:
    meta = fleet.get("metadata") or {}
    spec = fleet.get("spec") or {}
    status = fleet.get("status") or {}
    desired = status.get("desiredReplicas", spec.get("replicas"))
    counts = (
        f"desired {desired if desired is not None else '?'} · ready {status.get('readyReplicas', 0)} · "
        f"healthy {status.get('healthyReplicas', 0)} · instances {status.get('replicas', 0)}"
    )
    published = bool(status.get("traffic"))  # status.traffic: where the fleet is published
    if published:
        counts += f" · in rotation {status.get('inRotationReplicas', 0)}"
    if status.get("outdatedReplicas"):
        counts += f" · outdated {status['outdatedReplicas']}"
    if spec.get("paused"):
        counts += " · paused"
    conditions = unexpected_conditions(status, now)
    if not status:
        tone: Tone = "dim"
    elif any(c.tone == "bad" for c in conditions):
        tone = "bad"
    else:
        tone = "warn" if conditions else "good"
    rows = sorted(status.get("instances") or [], key=lambda r: (str(r.get("slot", "")), str(r.get("instanceId", ""))))
    reported = {name for r in rows for name in (r.get("signals") or {})}
    return FleetView(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        counts=counts,
        tone=tone,
        conditions=conditions,
        instances=[instance_line(r, now, published=published) for r in rows],
        signals=tuple(name for name in SIGNALS if name in reported),
    )


def fleet_views(fleets: Sequence[Mapping[str, Any]], now: datetime) -> list[FleetView]:
    def key(fleet: Mapping[str, Any]) -> tuple[str, str]:
        meta = fleet.get("metadata") or {}
        return str(meta.get("namespace", "")), str(meta.get("name", ""))

    return [fleet_view(f, now) for f in sorted(fleets, key=key)]
