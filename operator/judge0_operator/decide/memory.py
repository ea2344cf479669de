"""Phase 1, memory: the observation becomes status rows, with what the previous status remembered.

Every observed instance (shutting-down and terminated ones left out) becomes a row; its memory
(ladder attempts, deadlines, replacement, healthy-since) is carried by instance id, and an
instance the previous status did not know is adopted by its slot tag. Health per signal and
overall comes from ``health``; a healthy period resets the ladder (``ladder.settle``); pending
launches are matched against what is seen (``slots.review_intents``). A partial observation
proves nothing about the instances it lacks: their rows are kept as they were.

Events: ``InstanceAdopted`` — Normal; ``InstanceGone``, ``LaunchNotObserved`` — Warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from judge0_operator.api.fleet_status import InstanceStatus, LaunchIntent
from judge0_operator.decide import findings
from judge0_operator.decide.health import Assessment, assess
from judge0_operator.decide.inputs import PassInputs
from judge0_operator.decide.ladder import reset_deadline, settle
from judge0_operator.decide.model import EventNote
from judge0_operator.decide.slots import group_slots, review_intents, slot_number
from judge0_operator.decide.timeutil import format_time, parse_time

GONE_STATES = frozenset({"shutting-down", "terminated"})
TERMINATE_SETTLES_SECONDS = 120  # a terminated instance leaves "running" well within this

# InstanceStatus fields that are memory (the rest is rebuilt from the observation).
MEMORY_FIELDS = (
    "healthy_since",
    "attempts",
    "rung",
    "rung_attempts",
    "last_action",
    "last_action_at",
    "next_action_at",
    "action_deadline",
    "replaced_by",
    "gave_up",
    "cleanups",
    "handled_request",
    "predecessor",
    "traffic",  # rotation (traffic.py): InRotation, Draining or Out, and since when
    "traffic_since",
    "drain",  # the drain under way (drain.py)
)


@dataclass
class Memory:
    """What decisions change: rows by instance id, pending launches, attempts per slot, next slot."""

    rows: dict[str, InstanceStatus]
    intents: list[LaunchIntent]
    slot_attempts: dict[str, int]
    next_slot: int

    def copy(self) -> Memory:
        """Containers are copied; rows and intents are never changed in place (only replaced)."""
        return Memory(dict(self.rows), list(self.intents), dict(self.slot_attempts), self.next_slot)


@dataclass(frozen=True)
class Observed:
    """What the observation and the previous status say, before anything is decided."""

    memory: Memory
    assessments: Mapping[str, Assessment]  # instance id → health verdict of this pass
    recently_terminated: frozenset[str]  # a Terminate was sent lately: a cached view may still show them
    deadlines: tuple[datetime | None, ...]  # when a verdict or a launch intent changes on its own
    events: tuple[EventNote, ...]


def recently_terminated(given: PassInputs) -> frozenset[str]:
    """Instances a Terminate was sent to lately: a briefly cached view may still show them running."""
    recent = set()
    for record in given.previous.last_actions:
        sent = parse_time(record.time)
        if (
            record.action == "Terminate"
            and record.instance_id
            and record.outcome in ("Requested", "Succeeded")
            and sent is not None
            and (given.now - sent).total_seconds() < TERMINATE_SETTLES_SECONDS
        ):
            recent.add(record.instance_id)
    return frozenset(recent)


def carry_over(given: PassInputs) -> Observed:
    """Rows, pending launches and slot numbers for this pass, from the observation and ``previous``."""
    spec, policy, obs, prev, now = given.spec, given.policy, given.observation, given.previous, given.now
    events: list[EventNote] = []
    deadlines: list[datetime | None] = []
    assessments: dict[str, Assessment] = {}
    prev_rows = {r.instance_id: r for r in prev.instances}
    pending_ids = {i.instance_id for i in prev.pending_launches if i.instance_id}
    pending_keys = {(i.slot, i.attempt) for i in prev.pending_launches}
    rows: dict[str, InstanceStatus] = {}
    for seen in obs.instances:
        inst = seen.instance
        if inst.state in GONE_STATES:
            continue
        old = prev_rows.get(inst.instance_id)
        verdict = assess(seen, old, spec, policy, now)
        assessments[inst.instance_id] = verdict
        row = InstanceStatus(
            instance_id=inst.instance_id,
            slot=inst.slot or (old.slot if old else ""),
            zone=inst.zone or obs.zones.get(inst.subnet_id, ""),
            state=inst.state,
            instance_type=inst.instance_type,
            market=inst.market,
            launched_at=format_time(inst.launch_time),
            template_hash=inst.template_hash,
            launch_attempt=inst.launch_attempt,
            updated=inst.template_hash == given.template,
            health=verdict.health,
            signals=verdict.signals,
        )
        if old is not None:
            row = row.model_copy(update={name: getattr(old, name) for name in MEMORY_FIELDS})
        row = settle(row, verdict.health, policy, now)
        row, notes = findings.annotate(row, seen, old, verdict, given, prev.pending_launches)
        events.extend(notes)
        deadlines.extend(verdict.deadlines)
        deadlines.append(reset_deadline(row, policy))
        if old is None and inst.instance_id not in pending_ids and (inst.slot, inst.launch_attempt) not in pending_keys:
            events.append(
                EventNote(
                    "Normal",
                    "InstanceAdopted",
                    f"{inst.instance_id} (slot {inst.slot or 'none'}, attempt {inst.launch_attempt}) "
                    "found by its tags and adopted",
                )
            )
        rows[inst.instance_id] = row
    if not obs.complete:  # a partial view proves nothing about the instances it lacks
        for instance_id, old in prev_rows.items():
            rows.setdefault(instance_id, old)
    else:
        ours = {r.instance_id for r in prev.last_actions if r.action == "Terminate"}
        for instance_id, old in prev_rows.items():
            if instance_id not in rows and instance_id not in ours:
                events.append(
                    EventNote(
                        "Warning",
                        "InstanceGone",
                        f"{instance_id} (slot {old.slot or 'none'}) is gone: terminated outside the operator",
                    )
                )

    gone: set[tuple[str, int] | str] = set()
    for item in obs.instances:
        if item.instance.state in GONE_STATES:
            gone.add(item.instance.instance_id)
            if item.instance.slot:
                gone.add((item.instance.slot, item.instance.launch_attempt))
    review = review_intents(
        prev.pending_launches, list(rows.values()), complete=obs.complete, now=now, gone=frozenset(gone)
    )
    deadlines.extend(review.deadlines)
    for intent in review.lost:
        events.append(
            EventNote(
                "Warning",
                "LaunchNotObserved",
                f"slot {intent.slot} attempt {intent.attempt}: {intent.instance_id or 'the launch'} is gone "
                "or never showed up; launching again",
            )
        )

    # Attempts ever seen per slot, terminating instances included: a token is never reused.
    slot_attempts = dict(prev.slot_attempts)
    tagged = [(s.instance.slot, s.instance.launch_attempt) for s in obs.instances if s.instance.slot]
    for slot, attempt in [
        *tagged,
        *((r.slot, r.launch_attempt) for r in rows.values() if r.slot),
        *((i.slot, i.attempt) for i in prev.pending_launches),
    ]:
        slot_attempts[slot] = max(slot_attempts.get(slot, -1), attempt)
    numbers = [n for n in (slot_number(s) for s in slot_attempts) if n is not None]
    next_slot = max([prev.next_slot, *(n + 1 for n in numbers)])

    memory = Memory(rows, list(review.kept), slot_attempts, next_slot)
    _forget_unwanted_replacements(memory)
    return Observed(memory, assessments, recently_terminated(given), tuple(deadlines), tuple(events))


def _forget_unwanted_replacements(memory: Memory) -> None:
    """A holder marked replaced with no replacement under way forgets it, unless it is still not
    Healthy after a ReplaceInstance: then the replacement was lost, and remediation launches again."""
    views, _ = group_slots(memory.rows.values(), memory.intents)
    for view in views.values():
        holder = view.holder
        if (
            holder
            and holder.replaced_by
            and not view.replacing
            and (holder.health == "Healthy" or holder.last_action != "ReplaceInstance")
        ):
            memory.rows[holder.instance_id] = holder.model_copy(update={"replaced_by": None})
