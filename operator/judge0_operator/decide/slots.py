"""Slots: the stable places of a fleet ("s0", "s1", …) that instances fill, one at a time.

An instance carries its slot and launch attempt as tags, so everything here can be rebuilt from
EC2 after a crash. In a slot, the instance with the highest attempt is the *holder*; lower
attempts are *outgoing* (being replaced: terminated once the holder is Healthy). Two instances
with the same slot and attempt are duplicates (a launch retried without EC2 idempotency): the
healthiest, then oldest, is kept. A launch intent (``status.pendingLaunches``) is written before
RunInstances is called; it is resolved when its instance is seen, and only dropped unseen when
its launch is known to have failed (or its instance has not shown up long after success).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from judge0_operator.api.fleet_status import InstanceStatus, LaunchIntent
from judge0_operator.decide.timeutil import after, parse_time

LAUNCH_VISIBLE_WITHIN_SECONDS = 600  # a launched instance not seen after this is taken as lost
CLIENT_TOKEN_MAX = 64
_SLOT_NUMBER = re.compile(r"^s(\d{1,9})$")
_HEALTH_RANK = {"Healthy": 0, "Starting": 1, "Unknown": 2, "Unhealthy": 3}


def client_token(fleet_uid: str, slot: str, attempt: int) -> str:
    """RunInstances ClientToken for (fleet, slot, attempt): deterministic, ASCII, at most 64 characters."""
    digest = hashlib.sha256(f"{fleet_uid}/{slot}/{attempt}".encode()).hexdigest()
    return f"j0-{digest[:48]}"


def slot_number(slot: str) -> int | None:
    match = _SLOT_NUMBER.match(slot)
    return int(match.group(1)) if match else None


def slot_key(slot: str) -> tuple[int, str]:
    """Sort "s2" before "s10"; foreign names last."""
    number = slot_number(slot)
    return (number if number is not None else 10**10, slot)


def keeper_key(row: InstanceStatus) -> tuple[int, str, str]:
    """Which of two duplicates to keep: healthiest first, then oldest, then by id."""
    return (_HEALTH_RANK.get(row.health, 3), row.launched_at or "9999", row.instance_id)


@dataclass
class SlotView:
    """One slot's instances and pending launch."""

    slot: str
    holder: InstanceStatus | None = None
    outgoing: list[InstanceStatus] = field(default_factory=list)  # lower attempts, being replaced
    duplicates: list[InstanceStatus] = field(default_factory=list)  # same attempt as the holder
    intent: LaunchIntent | None = None

    @property
    def holder_leaving(self) -> bool:
        """A launch for a newer attempt is pending: the holder steps down once it is in."""
        return self.intent is not None and self.holder is not None and self.intent.attempt > self.holder.launch_attempt

    @property
    def replacing(self) -> bool:
        """A replacement is under way: launch pending over the holder, or older instances still here."""
        return self.holder_leaving or bool(self.outgoing)

    def stepping_down(self) -> list[InstanceStatus]:
        """Instances to terminate once the replacement is healthy."""
        return [*self.outgoing, *([self.holder] if self.holder_leaving and self.holder else [])]

    def incoming(self) -> InstanceStatus | None:
        """The replacement instance, once it is seen (None while its launch is pending)."""
        if self.holder_leaving:
            return None
        return self.holder if self.outgoing else None


def group_slots(
    rows: Iterable[InstanceStatus], intents: Iterable[LaunchIntent]
) -> tuple[dict[str, SlotView], list[InstanceStatus]]:
    """Slot views, and the instances without a slot tag."""
    views: dict[str, SlotView] = {}
    unslotted: list[InstanceStatus] = []
    by_slot: dict[str, list[InstanceStatus]] = {}
    for row in rows:
        if row.slot:
            by_slot.setdefault(row.slot, []).append(row)
        else:
            unslotted.append(row)
    for slot, members in by_slot.items():
        top = max(r.launch_attempt for r in members)
        at_top = sorted((r for r in members if r.launch_attempt == top), key=keeper_key)
        views[slot] = SlotView(
            slot=slot,
            holder=at_top[0],
            outgoing=sorted((r for r in members if r.launch_attempt < top), key=lambda r: r.launch_attempt),
            duplicates=at_top[1:],
        )
    for intent in intents:
        views.setdefault(intent.slot, SlotView(slot=intent.slot)).intent = intent
    return dict(sorted(views.items(), key=lambda kv: slot_key(kv[0]))), sorted(unslotted, key=lambda r: r.instance_id)


@dataclass(frozen=True)
class IntentReview:
    kept: list[LaunchIntent]
    resolved: list[LaunchIntent]  # its instance is seen (or a newer one is)
    lost: list[LaunchIntent]  # launched, yet not seen long after: taken as failed
    deadlines: list[datetime]


def review_intents(
    intents: Sequence[LaunchIntent],
    rows: Sequence[InstanceStatus],
    *,
    complete: bool,
    now: datetime,
    gone: frozenset[tuple[str, int] | str] = frozenset(),
) -> IntentReview:
    """Match pending launches against the instances seen; at most one intent per slot survives.

    ``gone``: ids and (slot, attempt) of instances seen shutting down or terminated; an intent
    whose instance is among them is known to have failed (e.g. a spot launch reclaimed at once).
    """
    kept: list[LaunchIntent] = []
    resolved: list[LaunchIntent] = []
    lost: list[LaunchIntent] = []
    deadlines: list[datetime] = []
    seen_slots: set[str] = set()
    by_id = {r.instance_id: r for r in rows}
    for intent in sorted(intents, key=lambda i: (slot_key(i.slot), -i.attempt)):
        if intent.slot in seen_slots:  # an older intent for a slot with a newer one: superseded
            resolved.append(intent)
            continue
        seen_slots.add(intent.slot)
        in_slot = [r for r in rows if r.slot == intent.slot]
        matched = (intent.instance_id is not None and intent.instance_id in by_id) or any(
            r.launch_attempt >= intent.attempt for r in in_slot
        )
        if matched:
            resolved.append(intent)
            continue
        if (intent.instance_id is not None and intent.instance_id in gone) or (
            intent.slot,
            intent.attempt,
        ) in gone:
            lost.append(intent)
            continue
        requested = parse_time(intent.requested_at)
        if intent.instance_id is not None and requested is not None:
            visible_by = after(requested, LAUNCH_VISIBLE_WITHIN_SECONDS)
            if complete and now >= visible_by:
                lost.append(intent)
                continue
            deadlines.append(visible_by)
        kept.append(intent)
    return IntentReview(kept, resolved, lost, deadlines)
