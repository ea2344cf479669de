"""The invariants of a chaos run, judged from the world's own records (pure functions).

The world keeps every instance it ever launched — live ones in ``GET /instances``, vanished ones
in ``GET /instances/gone`` — each with its tags and a timestamped history of states; the AWS
front records when eventual consistency let each new instance (and its tags) be seen. From
those alone:

* **duplicates**: two instances of one fleet with the same (slot, launch attempt) — one launch
  made twice — that were both alive *and visible to the operator* (tags visible, the operator
  running) for longer than ``bound`` seconds. A duplicate the world creates on its own (no
  ClientToken idempotency, a lost answer retried) is only a failure if the operator does not
  terminate it within a pass of seeing it; each one is counted as an *extra launch* either way;
* **leaks**: instances tagged for the fleet, alive, not in its status (or alive after the fleet
  was deleted), older than ``bound``;
* **remediation during a safety stop**: a restart, reboot, start, replacement launch or
  termination of the fleet's instances while ``RemediationAllowed`` was ``False``
  (``TooManyUnhealthy``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

TAG_FLEET_UID = "judge0.dev/fleet-uid"
TAG_SLOT = "judge0.dev/slot"
TAG_ATTEMPT = "judge0.dev/launch-attempt"
LIVE_STATES = frozenset({"pending", "running", "stopping", "stopped"})
ENDED_STATES = frozenset({"shutting-down", "terminated"})
REMEDIATION_CALLS = frozenset(
    {"SendCommand", "RebootInstances", "StartInstances", "StopInstances", "TerminateInstances"}
)


def epoch(stamp: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 stamp (the world's ``…Z`` format)."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class Life:
    """One instance's life as the world recorded it (epoch seconds)."""

    instance_id: str
    fleet_uid: str | None
    slot: str | None
    attempt: str | None
    state: str
    launched: float
    ended: float | None  # first seen shutting down (None: still alive)
    visible: float  # when the operator could first see it with its tags

    def alive_at(self, t: float) -> bool:
        return self.launched <= t and (self.ended is None or t < self.ended)


def lives(records: Iterable[Mapping[str, object]], tags_visible: Mapping[str, float] | None = None) -> list[Life]:
    """``Life`` of every record (live or gone); ``tags_visible``: instance → epoch its tags showed."""
    out = []
    for record in records:
        history = list(record.get("history") or [])  # type: ignore[call-overload]
        tags = dict(record.get("tags") or {})  # type: ignore[call-overload]
        starts = [epoch(h.get("at")) for h in history if h.get("state") == "pending"]
        launched = next((t for t in starts if t is not None), None)
        if launched is None:
            launched = epoch(str(record.get("launchTime") or "")) or 0.0
        ended = next(
            (t for h in history if h.get("state") in ENDED_STATES and (t := epoch(h.get("at"))) is not None), None
        )
        instance_id = str(record.get("id"))
        visible = max(launched, (tags_visible or {}).get(instance_id, launched))
        out.append(
            Life(
                instance_id=instance_id,
                fleet_uid=tags.get(TAG_FLEET_UID),
                slot=tags.get(TAG_SLOT),
                attempt=tags.get(TAG_ATTEMPT),
                state=str(record.get("state")),
                launched=launched,
                ended=ended,
                visible=visible,
            )
        )
    return out


def _overlap_outside(start: float, end: float, gaps: Sequence[tuple[float, float]]) -> float:
    """Length of [start, end) not covered by ``gaps`` (the operator was down then)."""
    total = max(0.0, end - start)
    for a, b in gaps:
        lo, hi = max(start, a), min(end, b)
        if hi > lo:
            total -= hi - lo
    return max(0.0, total)


@dataclass(frozen=True)
class DuplicateVerdict:
    extra_launches: int  # launches beyond one per (slot, attempt)
    lasting: list[str]  # duplicates both visible longer than the bound while the operator ran


def duplicates(
    all_lives: Sequence[Life], fleet_uid: str, *, now: float, bound: float, downtime: Sequence[tuple[float, float]] = ()
) -> DuplicateVerdict:
    groups: dict[tuple[str | None, str | None], list[Life]] = defaultdict(list)
    for life in all_lives:
        if life.fleet_uid == fleet_uid:
            groups[(life.slot, life.attempt)].append(life)
    extra = 0
    lasting: list[str] = []
    for (slot, attempt), members in sorted(groups.items(), key=lambda kv: str(kv[0])):
        extra += len(members) - 1
        members = sorted(members, key=lambda m: m.launched)
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                start = max(a.visible, b.visible)
                end = min(a.ended if a.ended is not None else now, b.ended if b.ended is not None else now)
                seen_for = _overlap_outside(start, end, downtime)
                if seen_for > bound:
                    lasting.append(
                        f"slot {slot} attempt {attempt}: {a.instance_id} and {b.instance_id} both alive and "
                        f"visible for {seen_for:.1f}s (bound {bound:g}s)"
                    )
    return DuplicateVerdict(extra, lasting)


def leaks(all_lives: Sequence[Life], fleet_uid: str, owned: Iterable[str], *, now: float, bound: float) -> list[str]:
    """Live instances of the fleet that its status does not list, older than ``bound``."""
    known = set(owned)
    found = []
    for life in all_lives:
        if life.fleet_uid != fleet_uid or life.ended is not None or life.state not in LIVE_STATES:
            continue
        if life.instance_id not in known and now - life.visible > bound:
            found.append(
                f"{life.instance_id} ({life.state}, slot {life.slot}) alive {now - life.visible:.1f}s, not in status"
            )
    return found


def remediation_during(
    records: Iterable[Mapping[str, object]], fleet_uid: str, windows: Sequence[tuple[float, float]]
) -> list[str]:
    """Remediating calls on the fleet's instances (or its launches) inside any window."""
    found = []
    for record in records:
        tags = dict(record.get("tags") or {})  # type: ignore[call-overload]
        if tags.get(TAG_FLEET_UID) != fleet_uid:
            continue
        for call in record.get("calls") or []:  # type: ignore[attr-defined]
            action = call.get("action")
            t = epoch(call.get("at"))
            if t is None or (action not in REMEDIATION_CALLS and action != "RunInstances"):
                continue
            if action == "SendCommand" and "probe" in str(call.get("comment") or ""):
                continue  # the disk probe reads df through SSM: an observation, not a remediation
            for start, end in windows:
                if start < t < end:
                    found.append(f"{action} on {record.get('id')} at {t - start:+.1f}s into a safety stop")
    return found
