"""A pass's draft: the working copy of the fleet that decisions change, and the log of them.

Phases read ``inputs.PassInputs`` (never changed) and decide through the ``Draft``'s verbs —
``launch``, ``replace``, ``reissue``, ``terminate``, ``act``, ``remove_slot``, ``give_up`` — each
of which changes the working memory *and* records the decision, so a later phase sees what an
earlier one did (a slot scaled in is not refilled, a slot launched into is not rolled) and
nothing else changes it. What a phase decides beyond that (a count, a rollout step) it returns.

DryRun decides the same, returns no action, records each would-be action once in
``lastActions`` (outcome ``DryRun``, Event ``DryRun<Kind>``) and keeps memory as if nothing
happened: ``reported()`` hands the report the memory as it was before deciding.

At most ``capacity.MAX_LAUNCHES_PER_PASS`` launches per pass (EC2's RunInstances bucket); a
launch intent is recorded in status before the call, so a crash re-issues the same token.

Drain before disruption (``drain.py`` the rule, ``drain_gate.py`` the pass's gate): ``terminate``
and ``act`` (RestartJudge0, RebootInstance) of a node that can still run code are held while it
drains, every pass they are decided again, until it is drained or its deadline comes; they then
return False and the node is ``draining``.

Action reasons start with a keyword naming the phase that decided (the constants below).
Events posted here: ``NoLaunchTarget`` (Warning, once a pass), ``DryRun<Kind>`` (Normal); the
drain gate's ``Draining``, ``Drained`` (Normal), ``DrainTimedOut`` (Warning).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from judge0_operator.api.diagnosis import Predecessor
from judge0_operator.api.fleet_status import ActionRecord, DrainState, InstanceStatus, LaunchIntent
from judge0_operator.decide import capacity, drain, placement
from judge0_operator.decide.drain_gate import DrainEnd, DrainGate
from judge0_operator.decide.inputs import PassInputs
from judge0_operator.decide.memory import Memory
from judge0_operator.decide.model import Action, EventNote, Launch, Reboot, RestartJudge0, Terminate
from judge0_operator.decide.slots import SlotView, client_token, group_slots
from judge0_operator.decide.timeutil import format_time

# Action reason keywords, one per deciding phase.
SCALE_UP = "ScaleUp"  # scale_up: a new slot for a higher desired count
REFILL = "Refill"  # scale_up: an empty slot filled again
SCALE_DOWN = "ScaleDown"  # scale_in
DUPLICATE = "DuplicateInstance"  # duplicates
REMEDIATION = "Remediation"  # remediation (a ladder step, or a replacement it launched)
REPLACED = "Replaced"  # replacements: the superseded instance terminated
ROLLOUT = "Rollout"  # rolling
ZONE_BALANCE = "ZoneBalance"  # rebalance

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class Decided:
    """The draft's log at the end of a pass, and the memory and slots the report shows."""

    actions: tuple[Action, ...]  # empty in DryRun
    records: tuple[ActionRecord, ...]  # new lastActions entries (Requested, or DryRun)
    decided: tuple[tuple[str, Action], ...]  # (reason keyword, action), real or would-be
    events: tuple[EventNote, ...]
    memory: Memory  # DryRun: as it was before deciding
    views: dict[str, SlotView]  # slots of the instances that stay


def launch_of(intent: LaunchIntent) -> Launch:
    """The RunInstances a recorded intent stands for: first issued or re-issued, the same call."""
    return Launch(
        slot=intent.slot,
        attempt=intent.attempt,
        client_token=intent.client_token,
        subnet_id=intent.subnet_id,
        zone=intent.zone,
        instance_type=intent.instance_type,
        market="spot" if intent.market == "spot" else "on-demand",
        reason=intent.reason,
        replaces=intent.replaces,
    )


class Draft:
    """The fleet as this pass leaves it so far; changed only through its verbs."""

    def __init__(
        self, given: PassInputs, memory: Memory, *, zones_out: Iterable[str], recently_terminated: frozenset[str]
    ) -> None:
        self.given = given
        self._memory = memory.copy()
        self._before = memory.copy()
        self._zones_out = frozenset(zones_out)
        self._recently_terminated = recently_terminated
        self._terminating: set[str] = set(recently_terminated)  # left out of every decision
        self._removed: set[str] = set()
        self._touched: set[str] = set()
        self._launches_left = capacity.MAX_LAUNCHES_PER_PASS
        self._no_target_noted = False
        previous = given.previous.last_actions
        self._dry_run_seen = {(r.action, r.instance_id, r.slot) for r in previous if r.outcome == "DryRun"}
        self._actions: list[Action] = []
        self._records: list[ActionRecord] = []
        self._decided: list[tuple[str, Action]] = []
        self._events: list[EventNote] = []
        self._handled: set[str] = set()  # judge0.dev/remediate entries acted on this pass
        self._held_back: dict[str, set[str]] = {}  # held instances a disruption spared → which
        self._launches_blocked: str | None = None  # why nothing may launch (a defective template)
        self._gate = DrainGate(given)  # nodes held this pass while they drain

    # --- reading ----------------------------------------------------------------------------
    @property
    def rows(self) -> Mapping[str, InstanceStatus]:
        return self._memory.rows

    @property
    def intents(self) -> Sequence[LaunchIntent]:
        return self._memory.intents

    @property
    def slot_attempts(self) -> Mapping[str, int]:
        return self._memory.slot_attempts

    @property
    def next_slot(self) -> int:
        return self._memory.next_slot

    @property
    def zones_out(self) -> frozenset[str]:
        return self._zones_out

    @property
    def decided(self) -> Sequence[tuple[str, Action]]:
        return self._decided

    def leaving(self, instance_id: str) -> bool:
        """A Terminate was decided (this pass or lately): the instance takes no part in decisions."""
        return instance_id in self._terminating

    def removed(self, slot: str) -> bool:
        """The slot was scaled in this pass."""
        return slot in self._removed

    def touched(self, slot: str) -> bool:
        """A launch or a remediation was decided for the slot this pass."""
        return slot in self._touched

    def can_launch_more(self) -> bool:
        return self.given.can_launch and self._launches_left > 0 and self._launches_blocked is None

    @property
    def draining(self) -> Mapping[str, DrainState]:
        """Nodes whose interruption is held this pass while they drain (out of rotation)."""
        return self._gate.draining

    @property
    def drain_ends(self) -> Sequence[DrainEnd]:
        return self._gate.ends

    @property
    def drain_checks(self) -> Sequence[datetime]:
        """When held drains need a look again (their node's /workers, their deadline)."""
        return self._gate.checks

    def work_of(self, instance_id: str) -> drain.Work | None:
        """What the node's own /workers last said (drains, and scale-in preferring idle nodes)."""
        return self._gate.works.get(instance_id)

    @property
    def launches_blocked(self) -> str | None:
        return self._launches_blocked

    @property
    def handled_requests(self) -> frozenset[str]:
        return frozenset(self._handled)

    def views(self) -> dict[str, SlotView]:
        return self.group()[0]

    def group(self) -> tuple[dict[str, SlotView], list[InstanceStatus]]:
        """Slot views of the instances that stay, and those without a slot tag."""
        return _group(self._memory, self._terminating)

    def holders(self) -> list[InstanceStatus]:
        return [v.holder for v in self.views().values() if v.holder is not None]

    def occupied(self, views: Mapping[str, SlotView]) -> list[SlotView]:
        """Slots that are filled or being filled, scaled-in ones left out."""
        return [
            v
            for v in views.values()
            if v.slot not in self._removed
            and ((v.holder is not None and v.holder.instance_id not in self._terminating) or v.intent is not None)
        ]

    def reported(self) -> Decided:
        """The log, with the memory and slots the status shows (DryRun: as before deciding)."""
        memory = self._memory if self.given.enforce else self._before
        leaving = self._terminating if self.given.enforce else set(self._recently_terminated)
        return Decided(
            actions=tuple(self._actions),
            records=tuple(self._records),
            decided=tuple(self._decided),
            events=tuple(self._events),
            memory=memory,
            views=_group(memory, leaving)[0],
        )

    # --- deciding ---------------------------------------------------------------------------
    def launch(
        self,
        slot: str,
        attempt: int,
        reason: str,
        *,
        keyword: str,
        replaces: str | None = None,
        exclude: str | None = None,
        only_zones: frozenset[str] | None = None,
        predecessor: Predecessor | None = None,
    ) -> Launch | None:
        """Record the intent (slot, attempt, token, target), return its Launch; None if it cannot go now."""
        given = self.given
        if not self.can_launch_more():
            return None
        if any(i.slot == slot for i in self._memory.intents):  # never two pending launches for one slot
            return None
        target = placement.choose_launch_target(
            given.spec.instance,
            zone_of_subnet=given.observation.zones,
            healthy_per_zone=self._zone_counts(exclude),
            zones_out=self._zones_out,
            exhausted=given.exhausted,
            now=given.now,
            only_zones=only_zones,
        )
        if target is None:
            if not self._no_target_noted:
                self._no_target_noted = True
                self.note(
                    "Warning",
                    "NoLaunchTarget",
                    "no subnet, instance type and market with capacity left: launches wait "
                    "(capacity errors are remembered a few minutes)",
                )
            return None
        intent = LaunchIntent(
            slot=slot,
            attempt=attempt,
            client_token=client_token(given.fleet_uid, slot, attempt),
            subnet_id=target.subnet_id,
            zone=target.zone,
            instance_type=target.instance_type,
            market=target.market,
            reason=reason,
            replaces=replaces,
            predecessor=predecessor,
            requested_at=format_time(given.now),
        )
        self._memory.intents.append(intent)  # recorded in status before the call: a crash re-issues it
        self._memory.slot_attempts[slot] = max(attempt, self._memory.slot_attempts.get(slot, -1))
        self._launches_left -= 1
        self._touched.add(slot)
        launch = launch_of(intent)
        self._emit(keyword, launch)
        return launch

    def replace(
        self, slot: str, old_id: str, reason: str, *, keyword: str, only_zones: frozenset[str] | None = None
    ) -> Launch | None:
        """Launch the slot's next attempt to take over from ``old_id`` (launch first)."""
        attempt = self._memory.slot_attempts.get(slot, -1) + 1
        launch = self.launch(
            slot, attempt, reason, keyword=keyword, replaces=old_id, exclude=old_id, only_zones=only_zones
        )
        if launch is not None and old_id in self._memory.rows:
            self.update_row(self._memory.rows[old_id].model_copy(update={"replaced_by": f"{slot}#{attempt}"}))
        return launch

    def reissue(self, intent: LaunchIntent) -> None:
        """A launch recorded but never confirmed goes again, same token; call when ``can_launch_more``."""
        self._launches_left -= 1
        self._touched.add(intent.slot)
        self._emit(intent.reason.split(":", 1)[0] or REFILL, launch_of(intent))

    def may_interrupt(self, row: InstanceStatus, reason: str) -> bool:
        """The drain gate (``drain_gate.DrainGate``): True if an interrupting action on ``row`` may go now."""
        return self._gate.may_interrupt(row, reason, note=self.note)

    def terminate(
        self,
        row: InstanceStatus,
        reason: str,
        *,
        event: tuple[EventType, str] | None = None,
    ) -> bool:
        """Terminate ``row``; False when it is held to drain first (``may_interrupt``) or held by a
        human (``judge0.dev/do-not-disrupt``: recorded as held back)."""
        if row.do_not_disrupt:
            self.hold_back(row.instance_id, reason.split(":", 1)[0])
            return False
        if not self.may_interrupt(row, reason):
            return False
        self._terminating.add(row.instance_id)
        note = (
            EventNote(event[0], event[1], f"terminating {row.instance_id} (slot {row.slot or 'none'}): {reason}")
            if event
            else None
        )
        self._emit(
            reason.split(":", 1)[0],
            Terminate(instance_id=row.instance_id, reason=reason, slot=row.slot or None),
            event=note,
        )
        return True

    def act(self, action: Action, *, keyword: str, row: InstanceStatus, event: EventNote) -> bool:
        """An action on an instance (restart, reboot, start), with the row that remembers it. A
        restart or reboot of a node that can still run code is held while it drains: False."""
        if isinstance(action, RestartJudge0 | Reboot) and not self.may_interrupt(row, action.reason):
            return False
        self.update_row(row)
        if action.slot:
            self._touched.add(action.slot)
        self._emit(keyword, action, event=event)
        return True

    def hold_back(self, instance_id: str, disruption: str) -> None:
        """A disruption (scale-in, rollout, remediation, …) spared a held instance: reported."""
        self._held_back.setdefault(instance_id, set()).add(disruption)

    @property
    def held_back(self) -> Mapping[str, frozenset[str]]:
        return {iid: frozenset(what) for iid, what in self._held_back.items()}

    def block_launches(self, why: str) -> None:
        """Nothing launches for the rest of the pass (the current template is defective)."""
        self._launches_blocked = why

    def request_done(self, key: str, *, refused: bool = False) -> None:
        """A human's judge0.dev/remediate entry was acted on (Enforce) or refused: not again."""
        if self.given.enforce or refused:
            self._handled.add(key)

    def update_row(self, row: InstanceStatus) -> None:
        self._memory.rows[row.instance_id] = row

    def remove_slot(self, slot: str) -> None:
        """Scale the slot in: its pending launch and its attempt count are dropped."""
        self._removed.add(slot)
        self._memory.intents = [i for i in self._memory.intents if i.slot != slot]
        self._memory.slot_attempts.pop(slot, None)

    def forget_slot(self, slot: str) -> None:
        """An empty slot no longer wanted: its attempt count is dropped."""
        self._memory.slot_attempts.pop(slot, None)

    def allocate_slots_from(self, number: int) -> None:
        self._memory.next_slot = number

    def give_up(self, instance_id: str) -> None:
        """A judgement, not an action: DryRun keeps it too."""
        for memory in (self._memory, self._before):
            if instance_id in memory.rows:
                memory.rows[instance_id] = memory.rows[instance_id].model_copy(update={"gave_up": True})

    def note(self, type_: EventType, reason: str, message: str) -> None:
        self._events.append(EventNote(type_, reason, message))

    def decision_note(self, type_: EventType, reason: str, message: str) -> None:
        """An Event about actions taken: DryRun posts ``DryRun<Kind>`` per action instead."""
        if self.given.enforce:
            self.note(type_, reason, message)

    # --- internals --------------------------------------------------------------------------
    def _zone_counts(self, exclude: str | None) -> Counter[str]:
        counts: Counter[str] = Counter()
        for view in self.views().values():
            holder = view.holder
            if (
                holder is not None
                and holder.instance_id not in self._terminating
                and holder.instance_id != exclude
                and not view.holder_leaving
                and holder.health != "Unhealthy"
                and view.slot not in self._removed
            ):
                counts[holder.zone] += 1
        counts.update(i.zone for i in self._memory.intents)
        return counts

    def _emit(self, keyword: str, action: Action, *, event: EventNote | None = None) -> None:
        """Return the action (Enforce) or record it as would-be (DryRun, once per target)."""
        self._decided.append((keyword, action))
        target = None if isinstance(action, Launch) else action.instance_id
        record = ActionRecord(
            time=format_time(self.given.now),
            instance_id=target,
            slot=action.slot,
            action=action.kind,
            reason=action.reason,
            outcome="Requested" if self.given.enforce else "DryRun",
        )
        if self.given.enforce:
            self._actions.append(action)
            self._records.append(record)
            if event is not None:
                self._events.append(event)
            return
        key = (action.kind, target, action.slot)
        if key in self._dry_run_seen:
            return
        self._dry_run_seen.add(key)
        self._records.append(record)
        what = target or f"slot {action.slot}"
        self._events.append(EventNote("Normal", f"DryRun{action.kind}", f"would {action.kind} {what}: {action.reason}"))


def _group(memory: Memory, leaving: set[str]) -> tuple[dict[str, SlotView], list[InstanceStatus]]:
    return group_slots((r for r in memory.rows.values() if r.instance_id not in leaving), memory.intents)
