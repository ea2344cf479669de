"""The planner's entry points: one pass from (spec, policy, observation, previous status, now) to a Plan.

Order of a pass:

1. Observe → status: every observed instance becomes a row (memory carried by instance id;
   unknown ones adopted by their slot tag); health per signal and overall (``health``); the
   healthy period resets the ladder (``ladder.settle``); pending launches are matched (``slots``).
2. Judge zones (``safety.judge_zones``) and the desired count (``capacity.desired_replicas``).
3. Decide, unless paused or the observation is incomplete: terminate duplicates; scale down;
   terminate instances whose replacement is healthy (or that are beyond use); re-issue pending
   launches with their own token; remediate (``ladder``) within maxUnhealthy and maxInFlight;
   launch missing slots; roll outdated instances (``rollout.plan_rollout``); rebalance zones.
4. Report: counts, conditions (``conditions``), Events, and the earliest moment a deadline passes.

At most ``capacity.MAX_LAUNCHES_PER_PASS`` launches per pass (EC2's RunInstances bucket). DryRun
decides the same, returns no action, records each would-be action once in ``lastActions``
(outcome ``DryRun``, Event ``DryRun<Kind>``) and keeps memory as if nothing happened.

Action reasons start with a keyword: ``ScaleUp``, ``Refill``, ``ScaleDown``, ``DuplicateInstance``,
``Remediation``, ``Replaced``, ``Rollout``, ``ZoneBalance``.

Events (reason — type): ``Remediating`` — Normal (a ladder action: restart, reboot, start,
replace); ``FailingOver`` — Normal (replacement out of an out zone); ``ScalingUp``,
``ScalingDown``, ``InstanceReplaced``, ``RollingOut``, ``Rebalancing``, ``InstanceAdopted``,
``ZoneRecovered`` — Normal; ``DuplicateInstance``, ``RemediationGaveUp``, ``RemediationRestricted``,
``ZoneOutage``, ``InstanceGone``, ``LaunchNotObserved``, ``NoLaunchTarget``, ``InvalidSchedule`` —
Warning; ``DryRun<Kind>`` — Normal; plus ``<ConditionType><Status>`` (see ``conditions``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from judge0_operator.api.common import resolve_int_or_percent
from judge0_operator.api.fleet import (
    ActionRecord,
    InstanceStatus,
    Judge0FleetSpec,
    Judge0FleetStatus,
    LaunchIntent,
    ScalingStatus,
)
from judge0_operator.api.policy import RecoveryPolicySpec
from judge0_operator.decide import capacity, placement, rollout
from judge0_operator.decide.conditions import (
    AVAILABLE,
    CLOUD_API_READY,
    DEGRADED,
    PROGRESSING,
    READY,
    REMEDIATION_ALLOWED,
    Desired,
    find,
    merge,
)
from judge0_operator.decide.health import Assessment, assess, is_ready
from judge0_operator.decide.ladder import GiveUp, Step, choose_step, record_attempt, reset_deadline, settle
from judge0_operator.decide.model import (
    TAG_FLEET,
    Action,
    EventNote,
    FleetObservation,
    Launch,
    Reboot,
    RestartJudge0,
    Start,
    Terminate,
)
from judge0_operator.decide.outcomes import classify_error, cloud_reason, record_outcomes
from judge0_operator.decide.safety import judge_zones, max_in_flight, max_unhealthy
from judge0_operator.decide.schedule import ScheduleError
from judge0_operator.decide.slots import (
    SlotView,
    client_token,
    group_slots,
    review_intents,
    slot_key,
    slot_number,
)
from judge0_operator.decide.timeutil import after, earliest_after, format_time, parse_time, utc

__all__ = ["Plan", "client_token", "plan", "record_outcomes"]

MAX_LAST_ACTIONS = 20
EC2_POLL_SECONDS = 60  # DescribeInstanceStatus is polled about once a minute (as Karpenter)
GONE_STATES = frozenset({"shutting-down", "terminated"})
TERMINATE_SETTLES_SECONDS = 120  # a terminated instance leaves "running" well within this

SCALE_UP, REFILL, SCALE_DOWN, DUPLICATE = "ScaleUp", "Refill", "ScaleDown", "DuplicateInstance"
REMEDIATION, REPLACED, ROLLOUT, ZONE_BALANCE = "Remediation", "Replaced", "Rollout", "ZoneBalance"

_MEMORY_FIELDS = (
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
)
_SCALE_IN_RANK = {"Unhealthy": 0, "Unknown": 1, "Starting": 2, "Healthy": 3}


def _launch_of(intent: LaunchIntent) -> Launch:
    """The RunInstances a recorded intent stands for: first issued or re-issued, the same call."""
    return Launch(
        slot=intent.slot,
        attempt=intent.attempt,
        client_token=intent.client_token,
        subnet_id=intent.subnet_id,
        zone=intent.zone,
        instance_type=intent.instance_type,
        market=_market(intent.market),
        reason=intent.reason,
        replaces=intent.replaces,
    )


def _view_zone(view: SlotView) -> str:
    if view.holder is not None:
        return view.holder.zone
    return view.intent.zone if view.intent is not None else ""


def _scale_in_rank(view: SlotView, per_zone: Counter[str]) -> tuple[int, int, float, tuple[int, str]]:
    crowding = -per_zone[_view_zone(view)]
    if view.holder is None:  # a launch not yet seen ranks with Starting
        return (2, crowding, -_ts(view.intent.requested_at if view.intent else None), slot_key(view.slot))
    return (_SCALE_IN_RANK.get(view.holder.health, 1), crowding, -_ts(view.holder.launched_at), slot_key(view.slot))


def _scale_in_order(occupied: list[SlotView], count: int) -> list[SlotView]:
    """The slots to remove, one at a time: unhealthy first, then from the zone holding the most
    slots (so the fleet stays spread, as EC2 Auto Scaling does), then the newest."""
    left = list(occupied)
    removed: list[SlotView] = []
    for _ in range(min(count, len(left))):
        per_zone = Counter(_view_zone(v) for v in left)
        pick = min(left, key=lambda view: _scale_in_rank(view, per_zone))
        left.remove(pick)
        removed.append(pick)
    return removed


@dataclass(frozen=True)
class Plan:
    """What one pass decided: write ``status`` first, then act, then look again at ``next_check_at``."""

    actions: tuple[Action, ...]
    status: Judge0FleetStatus  # rebuilt from the observation, with memory carried from the previous one
    next_check_at: datetime  # earliest deadline, never later than the smallest probe interval from now
    events: tuple[EventNote, ...]  # Events for condition changes and decisions


def plan(
    spec: Judge0FleetSpec,
    policy: RecoveryPolicySpec,
    observation: FleetObservation,
    previous: Judge0FleetStatus,
    now: datetime,
    *,
    fleet_uid: str,
    generation: int,
    fleet_name: str = "",
) -> Plan:
    """Decide one pass. Pure: no I/O, no clock, no global randomness."""
    return _Pass(
        spec,
        policy,
        observation,
        previous,
        now,
        fleet_uid=fleet_uid,
        generation=generation,
        fleet_name=fleet_name,
    ).run()


@dataclass
class _Memory:
    """What decisions change. DryRun reports the copy taken before deciding."""

    rows: dict[str, InstanceStatus]
    intents: list[LaunchIntent]
    slot_attempts: dict[str, int]
    next_slot: int

    def copy(self) -> _Memory:
        """Containers are copied; rows and intents are never changed in place (only replaced)."""
        return _Memory(dict(self.rows), list(self.intents), dict(self.slot_attempts), self.next_slot)


def _ts(text: str | None) -> float:
    moment = parse_time(text)
    return moment.timestamp() if moment else 0.0


def _market(value: str) -> Literal["on-demand", "spot"]:
    return "spot" if value == "spot" else "on-demand"


class _Pass:
    def __init__(
        self,
        spec: Judge0FleetSpec,
        policy: RecoveryPolicySpec,
        observation: FleetObservation,
        previous: Judge0FleetStatus,
        now: datetime,
        *,
        fleet_uid: str,
        generation: int,
        fleet_name: str,
    ) -> None:
        self.spec, self.policy, self.obs, self.prev = spec, policy, observation, previous
        self.now = utc(now)
        self.uid, self.generation, self.fleet_name = fleet_uid, generation, fleet_name
        self.enforce = policy.mode == "Enforce"
        self.acting = not spec.paused and observation.complete
        error = previous.aws_error
        self.aws_error = error if error and error.get("generation") == generation else None
        self.can_launch = self.acting and self.aws_error is None
        self.template = rollout.template_hash(spec.instance)
        self.exhausted = placement.prune_exhausted(previous.exhausted_offerings, now=self.now)
        self.events: list[EventNote] = []
        self.actions: list[Action] = []
        self.records: list[ActionRecord] = []
        self.decided: list[tuple[str, Action]] = []  # (reason keyword, action), real or would-be
        self.deadlines: list[datetime | None] = []
        self.assessments: dict[str, Assessment] = {}
        self.launches_left = capacity.MAX_LAUNCHES_PER_PASS
        self.recently_terminated = self._recently_terminated()
        self.terminating: set[str] = set(self.recently_terminated)  # left out of every decision
        self.removed_slots: set[str] = set()
        self.touched_slots: set[str] = set()
        self.deferred = 0
        self.no_target_noted = False
        self.rollout_step: rollout.RolloutStep | None = None
        self.dry_run_seen = {(r.action, r.instance_id, r.slot) for r in previous.last_actions if r.outcome == "DryRun"}

    # --- the pass ---------------------------------------------------------------------------
    def run(self) -> Plan:
        self.mem = self._observe()
        self._judge_zones()
        self._scale()
        self.base = self.mem.copy()
        self._safety()
        if self.acting:
            self._terminate_duplicates()
            self._scale_down()
            self._finish_replacements()
            self._reissue_intents()
            self._remediate()
            self._scale_up()
            self._roll_out()
            self._rebalance()
        return self._report()

    # --- observe ----------------------------------------------------------------------------
    def _recently_terminated(self) -> set[str]:
        """Instances a Terminate was sent to lately: a briefly cached view may still show them running."""
        recent = set()
        for record in self.prev.last_actions:
            sent = parse_time(record.time)
            if (
                record.action == "Terminate"
                and record.instance_id
                and record.outcome in ("Requested", "Succeeded")
                and sent is not None
                and (self.now - sent).total_seconds() < TERMINATE_SETTLES_SECONDS
            ):
                recent.add(record.instance_id)
        return recent

    def _observe(self) -> _Memory:
        prev_rows = {r.instance_id: r for r in self.prev.instances}
        pending_ids = {i.instance_id for i in self.prev.pending_launches if i.instance_id}
        pending_keys = {(i.slot, i.attempt) for i in self.prev.pending_launches}
        rows: dict[str, InstanceStatus] = {}
        for seen in self.obs.instances:
            inst = seen.instance
            if inst.state in GONE_STATES:
                continue
            old = prev_rows.get(inst.instance_id)
            verdict = assess(seen, old, self.spec, self.policy, self.now)
            self.assessments[inst.instance_id] = verdict
            row = InstanceStatus(
                instance_id=inst.instance_id,
                slot=inst.slot or (old.slot if old else ""),
                zone=inst.zone or self.obs.zones.get(inst.subnet_id, ""),
                state=inst.state,
                instance_type=inst.instance_type,
                market=inst.market,
                launched_at=format_time(inst.launch_time),
                template_hash=inst.template_hash,
                launch_attempt=inst.launch_attempt,
                updated=inst.template_hash == self.template,
                health=verdict.health,
                signals=verdict.signals,
            )
            if old is not None:
                row = row.model_copy(update={name: getattr(old, name) for name in _MEMORY_FIELDS})
            row = settle(row, verdict.health, self.policy, self.now)
            self.deadlines.extend(verdict.deadlines)
            self.deadlines.append(reset_deadline(row, self.policy))
            if (
                old is None
                and inst.instance_id not in pending_ids
                and (inst.slot, inst.launch_attempt) not in pending_keys
            ):
                self._note(
                    "Normal",
                    "InstanceAdopted",
                    f"{inst.instance_id} (slot {inst.slot or 'none'}, attempt {inst.launch_attempt}) "
                    "found by its tags and adopted",
                )
            rows[inst.instance_id] = row
        if not self.obs.complete:  # a partial view proves nothing about the instances it lacks
            for instance_id, old in prev_rows.items():
                rows.setdefault(instance_id, old)
        else:
            ours = {r.instance_id for r in self.prev.last_actions if r.action == "Terminate"}
            for instance_id, old in prev_rows.items():
                if instance_id not in rows and instance_id not in ours:
                    self._note(
                        "Warning",
                        "InstanceGone",
                        f"{instance_id} (slot {old.slot or 'none'}) is gone: terminated outside the operator",
                    )

        gone: set[tuple[str, int] | str] = set()
        for item in self.obs.instances:
            if item.instance.state in GONE_STATES:
                gone.add(item.instance.instance_id)
                if item.instance.slot:
                    gone.add((item.instance.slot, item.instance.launch_attempt))
        review = review_intents(
            self.prev.pending_launches,
            list(rows.values()),
            complete=self.obs.complete,
            now=self.now,
            gone=frozenset(gone),
        )
        self.deadlines.extend(review.deadlines)
        for intent in review.lost:
            self._note(
                "Warning",
                "LaunchNotObserved",
                f"slot {intent.slot} attempt {intent.attempt}: {intent.instance_id or 'the launch'} is gone "
                "or never showed up; launching again",
            )

        # Attempts ever seen per slot, terminating instances included: a token is never reused.
        slot_attempts = dict(self.prev.slot_attempts)
        tagged = [(s.instance.slot, s.instance.launch_attempt) for s in self.obs.instances if s.instance.slot]
        for slot, attempt in [
            *tagged,
            *((r.slot, r.launch_attempt) for r in rows.values() if r.slot),
            *((i.slot, i.attempt) for i in self.prev.pending_launches),
        ]:
            slot_attempts[slot] = max(slot_attempts.get(slot, -1), attempt)
        numbers = [n for n in (slot_number(s) for s in slot_attempts) if n is not None]
        next_slot = max([self.prev.next_slot, *(n + 1 for n in numbers)])

        mem = _Memory(rows, list(review.kept), slot_attempts, next_slot)
        views, _ = group_slots(rows.values(), mem.intents)
        for view in views.values():  # a replacement that is no longer wanted is forgotten
            holder = view.holder
            if (
                holder
                and holder.replaced_by
                and not view.replacing
                and (holder.health == "Healthy" or holder.last_action != "ReplaceInstance")
            ):
                rows[holder.instance_id] = holder.model_copy(update={"replaced_by": None})
        return mem

    def _judge_zones(self) -> None:
        verdict = judge_zones(
            [(row.zone, row.health) for row in self.mem.rows.values()],
            previous_out=self.prev.zones_out,
            previous_since=self.prev.zones_out_since,
            threshold_percent=self.policy.safety.zone_outage_threshold,
            now=self.now,
        )
        self.zones_out = verdict.out
        self.zones_out_since = verdict.since
        self.deadlines.extend(verdict.deadlines)
        for zone in verdict.newly_out:
            members = [r for r in self.mem.rows.values() if r.zone == zone]
            bad = sum(r.health == "Unhealthy" for r in members)
            self._note(
                "Warning",
                "ZoneOutage",
                f"zone {zone}: {bad} of {len(members)} instances unhealthy; failing its capacity over to other zones",
            )
        for zone in verdict.recovered:
            why = (
                "every zone looks unhealthy: a fleet-wide problem, not a zone outage"
                if verdict.fleet_wide
                else "its instances are healthy again, or it stayed empty long enough"
            )
            self._note("Normal", "ZoneRecovered", f"zone {zone} is no longer out: {why}")

    def _scale(self) -> None:
        healthy = frozenset(i for i, r in self.mem.rows.items() if r.health == "Healthy")
        try:
            self.scaling = capacity.desired_replicas(
                self.spec, self.obs, self.prev.scaling, healthy_instance_ids=healthy, now=self.now
            )
            self.deadlines.append(capacity.next_scaling_check(self.spec, self.scaling, self.now))
        except ScheduleError as error:
            keep = self.prev.desired_replicas if self.prev.desired_replicas is not None else self.spec.replicas
            self.scaling = ScalingStatus(desired_replicas=keep, reason="InvalidSchedule")
            self._note("Warning", "InvalidSchedule", f"{error}; keeping {keep} replicas")
        self.desired = max(0, self.scaling.desired_replicas)

    def _safety(self) -> None:
        holders = [v.holder for v in self._views().values() if v.holder is not None]
        self.holder_count = len(holders)
        self.unhealthy = sorted(
            h.instance_id for h in holders if h.health == "Unhealthy" and h.zone not in self.zones_out
        )
        self.unhealthy_limit = max_unhealthy(self.policy, self.desired)
        self.restricted = len(self.unhealthy) > self.unhealthy_limit
        self.in_flight_cap = max_in_flight(self.policy, self.desired)

    # --- decide -----------------------------------------------------------------------------
    def _views(self) -> dict[str, SlotView]:
        return self._group(self.mem)[0]

    def _group(
        self, memory: _Memory, leaving: set[str] | None = None
    ) -> tuple[dict[str, SlotView], list[InstanceStatus]]:
        """Slot views of the instances that stay: those being terminated take no part in decisions."""
        gone = self.terminating if leaving is None else leaving
        return group_slots((r for r in memory.rows.values() if r.instance_id not in gone), memory.intents)

    def _terminate_duplicates(self) -> None:
        views, unslotted = self._group(self.mem)
        for view in views.values():
            for dup in view.duplicates:
                kept = view.holder.instance_id if view.holder else "?"
                self._terminate(
                    dup,
                    f"{DUPLICATE}: slot {view.slot} attempt {dup.launch_attempt} is already filled by {kept} (kept)",
                    event=("Warning", DUPLICATE),
                )
        for row in unslotted:
            self._terminate(row, f"{DUPLICATE}: no slot tag", event=("Warning", DUPLICATE))

    def _occupied(self, views: dict[str, SlotView]) -> list[SlotView]:
        return [
            v
            for v in views.values()
            if v.slot not in self.removed_slots
            and ((v.holder is not None and v.holder.instance_id not in self.terminating) or v.intent is not None)
        ]

    def _scale_down(self) -> None:
        views = self._views()
        occupied = self._occupied(views)
        excess = len(occupied) - self.desired
        if excess <= 0:
            return

        removed = _scale_in_order(occupied, excess)
        for view in removed:
            self.removed_slots.add(view.slot)
            for row in [*([view.holder] if view.holder else []), *view.outgoing]:
                if row.instance_id not in self.terminating:
                    self._terminate(row, f"{SCALE_DOWN}: desired {self.desired}, slot {view.slot} removed")
            self.mem.intents = [i for i in self.mem.intents if i.slot != view.slot]
            self.mem.slot_attempts.pop(view.slot, None)
        self._decision_note(
            "Normal",
            "ScalingDown",
            f"removing {len(removed)} slot(s) ({', '.join(v.slot for v in removed)}): "
            f"{len(occupied)} present, desired {self.desired} ({self.scaling.reason})",
        )

    def _finish_replacements(self) -> None:
        """Terminate what a replacement supersedes: once the new one is Healthy, or at once if beyond use."""
        if self.restricted:
            return
        for view in self._views().values():
            if view.slot in self.removed_slots:
                continue
            incoming = view.incoming()
            ready = incoming is not None and incoming.health == "Healthy"
            for row in view.stepping_down():
                if row.instance_id in self.terminating:
                    continue
                verdict = self.assessments.get(row.instance_id)
                if ready and incoming is not None:
                    why = f"replacement {incoming.instance_id} is healthy"
                elif verdict is not None and verdict.unrecoverable:
                    why = f"beyond use ({verdict.summary}); replacement under way"
                else:
                    continue
                self._terminate(row, f"{REPLACED}: {why}", event=("Normal", "InstanceReplaced"))

    def _reissue_intents(self) -> None:
        """Launches recorded but never confirmed (a crash, a throttled call): the same token again."""
        for intent in list(self.mem.intents):
            if intent.instance_id is not None or intent.slot in self.removed_slots:
                continue
            if not self.can_launch or self.launches_left <= 0:
                return
            if intent.replaces and intent.reason.startswith(REMEDIATION) and self.restricted:
                continue
            self.launches_left -= 1
            self.touched_slots.add(intent.slot)
            self._emit(
                intent.reason.split(":", 1)[0] or REFILL,
                _launch_of(intent),
            )

    def _in_flight_slots(self) -> set[str]:
        """Slots with a remediation still taking effect: before its deadline, or its replacement under way."""
        slots: set[str] = set()
        for view in self._views().values():
            members = [*([view.holder] if view.holder else []), *view.outgoing]
            for row in members:
                if row.instance_id in self.terminating:
                    continue
                deadline = parse_time(row.action_deadline)
                if not row.last_action or deadline is None or deadline <= self.now:
                    continue
                if row is view.holder and row.health == "Healthy" and not view.replacing:
                    continue
                slots.add(view.slot)
        slots.update(i.slot for i in self.mem.intents if i.replaces and i.reason.startswith(REMEDIATION))
        return slots

    def _remediate(self) -> None:
        if self.restricted:
            return
        in_flight = self._in_flight_slots()
        budget = self.in_flight_cap - len(in_flight)
        candidates: list[tuple[int, tuple[int, str], SlotView, InstanceStatus, Assessment, Step | GiveUp]] = []
        for view in self._views().values():
            holder = view.holder
            if (
                holder is None
                or view.slot in self.removed_slots
                or holder.instance_id in self.terminating
                or view.holder_leaving
                or holder.health != "Unhealthy"
            ):
                continue
            verdict = self.assessments.get(holder.instance_id)
            if verdict is None or not verdict.judged:
                continue
            zone_out = holder.zone in self.zones_out
            lost = holder.last_action == "ReplaceInstance" and bool(holder.replaced_by)
            step = choose_step(holder, verdict, self.policy, self.now, zone_out=zone_out, replacement_lost=lost)
            if step is None:
                continue
            urgent = isinstance(step, Step) and step.action == "ReplaceInstance" and step.rung is None
            priority = 0 if urgent else 1 if verdict.stopped else 2
            candidates.append((priority, slot_key(view.slot), view, holder, verdict, step))
        for _, _, view, holder, verdict, step in sorted(candidates, key=lambda c: (c[0], c[1])):
            if isinstance(step, GiveUp):
                self._give_up(view, holder, verdict, step)
                continue
            new = view.slot not in in_flight
            if new and budget <= 0:
                self.deferred += 1
                continue
            if self._take_step(view, holder, verdict, step) and new:
                budget -= 1
                in_flight.add(view.slot)

    def _take_step(self, view: SlotView, holder: InstanceStatus, verdict: Assessment, step: Step) -> bool:
        reason = f"{REMEDIATION}: {step.why}"
        iid = holder.instance_id
        if step.action == "ReplaceInstance":
            attempt = self.mem.slot_attempts.get(view.slot, holder.launch_attempt) + 1
            launch = self._launch(
                view.slot,
                attempt,
                f"{REMEDIATION}: replace {iid} ({step.why})",
                keyword=REMEDIATION,
                replaces=iid,
                exclude=iid,
            )
            if launch is None:
                return False
            row = record_attempt(holder, step, self.policy, self.now, fleet_uid=self.uid)
            self.mem.rows[iid] = row.model_copy(update={"replaced_by": f"{view.slot}#{attempt}"})
            failing_over = holder.zone in self.zones_out
            self._decision_note(
                "Normal",
                "FailingOver" if failing_over else "Remediating",
                f"ReplaceInstance {iid} (slot {view.slot}): {step.why}; launching attempt {attempt} in "
                f"{launch.zone or launch.subnet_id}{self._attempt_text(row, step)}",
            )
            if step.terminate_old_now:
                self._terminate(holder, f"{REPLACED}: beyond use ({verdict.summary}); replacement launched")
            return True
        action: Action
        if step.action == "RestartJudge0":
            action = RestartJudge0(
                instance_id=iid,
                reason=reason,
                command=self.policy.remediation.restart_command,
                slot=view.slot,
            )
        elif step.action == "RebootInstance":
            action = Reboot(instance_id=iid, reason=reason, slot=view.slot)
        else:
            action = Start(instance_id=iid, reason=reason, slot=view.slot)
        row = record_attempt(holder, step, self.policy, self.now, fleet_uid=self.uid)
        self.mem.rows[iid] = row
        self.touched_slots.add(view.slot)
        self._emit(
            REMEDIATION,
            action,
            event=EventNote(
                "Normal",
                "Remediating",
                f"{step.action} {iid} (slot {view.slot}): {step.why}{self._attempt_text(row, step)}",
            ),
        )
        return True

    def _attempt_text(self, row: InstanceStatus, step: Step) -> str:
        if not step.counts:
            return " (same attempt)"
        rung = f", rung {step.rung + 1}/{len(self.policy.remediation.ladder)}" if step.rung is not None else ""
        return f" (attempt {row.attempts}/{self.policy.remediation.max_retries}{rung})"

    def _give_up(self, view: SlotView, holder: InstanceStatus, verdict: Assessment, give_up: GiveUp) -> None:
        for memory in (self.mem, self.base):  # a judgement, not an action: DryRun keeps it too
            if holder.instance_id in memory.rows:
                memory.rows[holder.instance_id] = memory.rows[holder.instance_id].model_copy(update={"gave_up": True})
        self._note(
            "Warning",
            "RemediationGaveUp",
            f"{holder.instance_id} (slot {view.slot}) is still unhealthy ({verdict.summary}): "
            f"{give_up.why}; left for a human",
        )

    def _scale_up(self) -> None:
        views = self._views()
        occupied = {v.slot for v in self._occupied(views)}
        need = self.desired - len(occupied)
        vacant = sorted(
            (s for s in self.mem.slot_attempts if s not in occupied and s not in self.removed_slots),
            key=slot_key,
        )
        launched: list[str] = []
        while need > 0:
            if vacant:
                slot = vacant[0]
                attempt = self.mem.slot_attempts[slot] + 1
                reason = f"{REFILL}: slot {slot} is empty"
                keyword = REFILL
            else:
                number = self.mem.next_slot
                while f"s{number}" in self.mem.slot_attempts or f"s{number}" in occupied:
                    number += 1
                slot, attempt, keyword = f"s{number}", 0, SCALE_UP
                reason = f"{SCALE_UP}: desired {self.desired} ({self.scaling.reason}), {len(occupied)} present"
            if self._launch(slot, attempt, reason, keyword=keyword) is None:
                break
            if vacant and vacant[0] == slot:
                vacant.pop(0)
            else:
                self.mem.next_slot = (slot_number(slot) or 0) + 1
            launched.append(slot)
            need -= 1
        for slot in vacant[max(0, need) :]:  # empty slots beyond what is needed are forgotten
            self.mem.slot_attempts.pop(slot, None)
        if launched:
            self._decision_note(
                "Normal",
                "ScalingUp",
                f"launching {len(launched)} instance(s) for {', '.join(launched)}: desired "
                f"{self.desired} ({self.scaling.reason}), {len(occupied)} present",
            )

    def _roll_out(self) -> None:
        if self.restricted or not self.can_launch:
            return
        in_flight = self._in_flight_slots()
        outdated: list[rollout.OutdatedInstance] = []
        healthy = surge_in_use = new_unhealthy = 0
        for view in self._views().values():
            holder = view.holder
            if holder is None or view.slot in self.removed_slots or holder.instance_id in self.terminating:
                continue
            healthy += holder.health == "Healthy"
            stepping_down = [r for r in view.stepping_down() if r.instance_id not in self.terminating]
            if stepping_down:
                surge_in_use += 1
                if view.outgoing and holder.updated and holder.health == "Unhealthy":
                    new_unhealthy += 1
                continue
            if not holder.updated and view.slot not in self.touched_slots and view.slot not in in_flight:
                launched_at = parse_time(holder.launched_at) or self.now
                outdated.append(rollout.OutdatedInstance(holder.instance_id, view.slot, holder.zone, launched_at))
        step = rollout.plan_rollout(
            outdated,
            desired=self.desired,
            healthy=healthy,
            surge_in_use=surge_in_use,
            max_surge=self.spec.rollout.max_surge,
            max_unavailable=self.spec.rollout.max_unavailable,
            new_unhealthy=new_unhealthy,
            already_stalled=rollout.stalled_before(self.prev, self.template),
        )
        self.rollout_step = step
        started: list[str] = []
        for old in step.launch_first:
            if (
                self._replace_for(
                    old.slot,
                    old.instance_id,
                    f"{ROLLOUT}: replace outdated {old.instance_id}",
                    keyword=ROLLOUT,
                )
                is not None
            ):
                started.append(old.instance_id)
        for old in step.terminate_first:
            row = self.mem.rows.get(old.instance_id)
            if row is None:
                continue
            self._terminate(row, f"{ROLLOUT}: outdated, terminated first (within maxUnavailable)")
            self._replace_for(
                old.slot, old.instance_id, f"{ROLLOUT}: replace outdated {old.instance_id}", keyword=ROLLOUT
            )
            started.append(old.instance_id)
        if started:
            self._decision_note("Normal", "RollingOut", f"{step.message}: {', '.join(started)}")

    def _rebalance(self) -> None:
        """After a zone comes back, move capacity to it gradually (launch first, within the spare surge)."""
        if self.restricted or not self.can_launch or self.zones_out or self.decided or self.mem.intents:
            return
        views = self._views()
        holders = [v.holder for v in views.values() if v.holder is not None]
        if (
            len(holders) != self.desired
            or any(v.replacing for v in views.values())
            or any(h.health != "Healthy" or not h.updated for h in holders)
        ):
            return
        spare = self.rollout_step.spare_surge if self.rollout_step is not None else 0
        if spare <= 0:
            return
        zones = placement.zones_with_capacity(
            self.spec.instance,
            zone_of_subnet=self.obs.zones,
            zones_out=frozenset(self.zones_out),
            exhausted=self.exhausted,
            now=self.now,
        )
        placed = [
            placement.PlacedInstance(h.instance_id, h.slot, h.zone, parse_time(h.launched_at) or self.now)
            for h in holders
        ]
        moved = []
        for move in placement.zone_balance_moves(placed, zones=zones, max_moves=spare):
            if (
                self._replace_for(
                    move.slot,
                    move.instance_id,
                    f"{ZONE_BALANCE}: move {move.instance_id} from {move.from_zone} to {move.to_zone}",
                    keyword=ZONE_BALANCE,
                    only_zones=frozenset({move.to_zone}),
                )
                is not None
            ):
                moved.append(f"{move.instance_id} {move.from_zone}→{move.to_zone}")
        if moved:
            self._decision_note("Normal", "Rebalancing", f"moving capacity between zones: {', '.join(moved)}")

    # --- action helpers ---------------------------------------------------------------------
    def _replace_for(
        self, slot: str, old_id: str, reason: str, *, keyword: str, only_zones: frozenset[str] | None = None
    ) -> Launch | None:
        attempt = self.mem.slot_attempts.get(slot, -1) + 1
        launch = self._launch(
            slot, attempt, reason, keyword=keyword, replaces=old_id, exclude=old_id, only_zones=only_zones
        )
        if launch is not None and old_id in self.mem.rows:
            self.mem.rows[old_id] = self.mem.rows[old_id].model_copy(update={"replaced_by": f"{slot}#{attempt}"})
        return launch

    def _zone_counts(self, exclude: str | None) -> Counter[str]:
        counts: Counter[str] = Counter()
        for view in self._views().values():
            holder = view.holder
            if (
                holder is not None
                and holder.instance_id not in self.terminating
                and holder.instance_id != exclude
                and not view.holder_leaving
                and holder.health != "Unhealthy"
                and view.slot not in self.removed_slots
            ):
                counts[holder.zone] += 1
        counts.update(i.zone for i in self.mem.intents)
        return counts

    def _launch(
        self,
        slot: str,
        attempt: int,
        reason: str,
        *,
        keyword: str,
        replaces: str | None = None,
        exclude: str | None = None,
        only_zones: frozenset[str] | None = None,
    ) -> Launch | None:
        """Record the intent (slot, attempt, token, target), return its Launch; None if it cannot go now."""
        if not self.can_launch or self.launches_left <= 0:
            return None
        if any(i.slot == slot for i in self.mem.intents):  # never two pending launches for one slot
            return None
        target = placement.choose_launch_target(
            self.spec.instance,
            zone_of_subnet=self.obs.zones,
            healthy_per_zone=self._zone_counts(exclude),
            zones_out=frozenset(self.zones_out),
            exhausted=self.exhausted,
            now=self.now,
            only_zones=only_zones,
        )
        if target is None:
            if not self.no_target_noted:
                self.no_target_noted = True
                self._note(
                    "Warning",
                    "NoLaunchTarget",
                    "no subnet, instance type and market with capacity left: launches wait "
                    "(capacity errors are remembered a few minutes)",
                )
            return None
        intent = LaunchIntent(
            slot=slot,
            attempt=attempt,
            client_token=client_token(self.uid, slot, attempt),
            subnet_id=target.subnet_id,
            zone=target.zone,
            instance_type=target.instance_type,
            market=target.market,
            reason=reason,
            replaces=replaces,
            requested_at=format_time(self.now),
        )
        self.mem.intents.append(intent)  # recorded in status before the call: a crash re-issues it
        self.mem.slot_attempts[slot] = max(attempt, self.mem.slot_attempts.get(slot, -1))
        self.launches_left -= 1
        self.touched_slots.add(slot)
        launch = _launch_of(intent)
        self._emit(keyword, launch)
        return launch

    def _terminate(
        self,
        row: InstanceStatus,
        reason: str,
        *,
        event: tuple[Literal["Normal", "Warning"], str] | None = None,
    ) -> None:
        self.terminating.add(row.instance_id)
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

    def _emit(self, keyword: str, action: Action, *, event: EventNote | None = None) -> None:
        """Return the action (Enforce) or record it as would-be (DryRun, once per target)."""
        self.decided.append((keyword, action))
        target = None if isinstance(action, Launch) else action.instance_id
        if self.enforce:
            self.actions.append(action)
            self.records.append(
                ActionRecord(
                    time=format_time(self.now),
                    instance_id=target,
                    slot=action.slot,
                    action=action.kind,
                    reason=action.reason,
                    outcome="Requested",
                )
            )
            if event is not None:
                self.events.append(event)
            return
        key = (action.kind, target, action.slot)
        if key in self.dry_run_seen:
            return
        self.dry_run_seen.add(key)
        self.records.append(
            ActionRecord(
                time=format_time(self.now),
                instance_id=target,
                slot=action.slot,
                action=action.kind,
                reason=action.reason,
                outcome="DryRun",
            )
        )
        what = target or f"slot {action.slot}"
        self.events.append(EventNote("Normal", f"DryRun{action.kind}", f"would {action.kind} {what}: {action.reason}"))

    def _note(self, type_: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        self.events.append(EventNote(type_, reason, message))

    def _decision_note(self, type_: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        """An Event about actions taken: DryRun posts ``DryRun<Kind>`` per action instead."""
        if self.enforce:
            self._note(type_, reason, message)

    # --- report -----------------------------------------------------------------------------
    def _report(self) -> Plan:
        memory = self.mem if self.enforce else self.base
        rows = sorted(memory.rows.values(), key=lambda r: (slot_key(r.slot), r.launch_attempt, r.instance_id))
        views = self._group(memory, self.terminating if self.enforce else self.recently_terminated)[0]
        holders = [v.holder for v in views.values() if v.holder is not None]
        healthy_holders = sum(h.health == "Healthy" for h in holders)
        conditions, condition_events = merge(
            self.prev.conditions,
            self._conditions(views, holders, healthy_holders, memory),
            now=self.now,
            generation=self.generation,
        )
        next_check = self._next_check(rows)
        status = Judge0FleetStatus(
            observed_generation=self.generation,
            replicas=len(rows),
            desired_replicas=self.desired,
            ready_replicas=sum(is_ready(r.state, r.signals, self.policy) for r in rows),
            healthy_replicas=sum(r.health == "Healthy" for r in rows),
            updated_replicas=sum(r.updated for r in rows),
            outdated_replicas=sum(not r.updated for r in rows),
            template_hash=self.template,
            selector=f"{TAG_FLEET}={self.fleet_name}" if self.fleet_name else "",
            conditions=conditions,
            instances=rows,
            last_actions=[*self.prev.last_actions, *self.records][-MAX_LAST_ACTIONS:],
            pending_launches=sorted(memory.intents, key=lambda i: slot_key(i.slot)),
            exhausted_offerings=self.exhausted,
            zones_out=list(self.zones_out),
            zones_out_since=self.zones_out_since,
            scaling=self.scaling,
            next_slot=memory.next_slot,
            slot_attempts=dict(sorted(memory.slot_attempts.items(), key=lambda kv: slot_key(kv[0]))),
            aws_error=self.aws_error,
            last_pass_at=format_time(self.now),
            next_check_at=format_time(next_check),
        )
        restricted_now = self.restricted and not self.spec.paused
        old = find(self.prev.conditions, REMEDIATION_ALLOWED)
        events = list(self.events)
        if restricted_now and not (old and old.status == "False" and old.reason == "TooManyUnhealthy"):
            events.append(
                EventNote(
                    "Warning",
                    "RemediationRestricted",
                    f"{self._unhealthy_text(views)}: all remediation stops; unhealthy: {', '.join(self.unhealthy)}",
                )
            )
        return Plan(tuple(self.actions), status, next_check, tuple(events + condition_events))

    def _unhealthy_text(self, views: dict[str, SlotView]) -> str:
        text = f"{len(self.unhealthy)} of {self.holder_count} instances unhealthy (limit {self.unhealthy_limit})"
        stepping_down = [r.instance_id for v in views.values() for r in v.outgoing]
        if stepping_down:  # superseded: their slot is held by the replacement now
            text += f"; being replaced: {', '.join(sorted(stepping_down))}"
        return text

    def _replacements(self, views: dict[str, SlotView]) -> list[str]:
        """``old → new`` for every replacement under way, for condition messages."""
        notes: list[str] = []
        for view in sorted(views.values(), key=lambda v: slot_key(v.slot)):
            incoming = view.incoming()
            new = incoming.instance_id if incoming is not None else "launch pending"
            notes.extend(f"{row.instance_id} → {new}" for row in view.stepping_down())
        return notes

    def _conditions(
        self, views: dict[str, SlotView], holders: Sequence[InstanceStatus], healthy: int, memory: _Memory
    ) -> list[Desired]:
        desired = self.desired
        replacing_now = self._replacements(views)
        unhealthy = [h.instance_id for h in holders if h.health == "Unhealthy"]
        counts = f"{healthy} of {desired} desired instances healthy"
        if self.aws_error and healthy < desired:
            ready = Desired(
                READY, "False", "LaunchBlocked", f"{counts}; launches stopped: {self.aws_error.get('code')}"
            )
        elif healthy >= desired and not self.aws_error:
            ready = Desired(READY, "True", "AllHealthy", counts)
        elif self.aws_error:
            ready = Desired(
                READY, "False", "LaunchBlocked", f"{counts}; launches stopped: {self.aws_error.get('code')}"
            )
        elif unhealthy:
            ready = Desired(READY, "False", "Unhealthy", f"{counts}; unhealthy: {', '.join(unhealthy)}")
        else:
            waiting = f"; replacing {', '.join(replacing_now)}" if replacing_now else ""
            ready = Desired(READY, "False", "WaitingForInstances", counts + waiting)

        unavailable = max(0, resolve_int_or_percent(self.spec.rollout.max_unavailable, desired, round_up=False))
        minimum = max(0, desired - unavailable)
        available = Desired(
            AVAILABLE,
            "True" if healthy >= minimum else "False",
            "MinimumHealthy" if healthy >= minimum else "BelowMinimumHealthy",
            f"{healthy} healthy, at least {minimum} needed",
        )

        kinds = {action.kind for _, action in self.decided}
        keywords = {keyword for keyword, _ in self.decided}
        replacing = any(v.replacing for v in views.values())
        starting = any(h.health == "Starting" for h in holders)
        working_on = [h.instance_id for h in holders if h.health == "Unhealthy" and not h.gave_up]
        step = self.rollout_step
        if self.spec.paused:
            progressing = Desired(PROGRESSING, "False", "Paused", "spec.paused: observing and reporting only")
        elif self.aws_error:
            progressing = Desired(
                PROGRESSING,
                "False",
                "LaunchBlocked",
                f"{self.aws_error.get('code')}: {self.aws_error.get('message')}",
            )
        elif step is not None and step.stalled:
            progressing = Desired(PROGRESSING, "False", rollout.REASON_ROLLOUT_STALLED, step.message)
        elif self.restricted and unhealthy:
            progressing = Desired(PROGRESSING, "False", "RemediationRestricted", self._unhealthy_text(views))
        elif REMEDIATION in keywords or self._in_flight_slots() or working_on:
            progressing = Desired(
                PROGRESSING,
                "True",
                "Remediating",
                f"remediating: {', '.join(working_on + replacing_now) or 'replacement under way'}",
            )
        elif ROLLOUT in keywords or (step is not None and step.progressing):
            progressing = Desired(PROGRESSING, "True", "RollingOut", step.message if step else "")
        elif ZONE_BALANCE in keywords:
            progressing = Desired(PROGRESSING, "True", "Rebalancing", "moving capacity between zones")
        elif replacing or REPLACED in keywords:
            progressing = Desired(PROGRESSING, "True", "Replacing", "replacements under way")
        elif "Launch" in kinds or memory.intents or starting or len(holders) < desired:
            progressing = Desired(
                PROGRESSING,
                "True",
                "Launching",
                f"{len(holders)} of {desired} instances, {len(memory.intents)} launch(es) pending",
            )
        elif "Terminate" in kinds:
            progressing = Desired(PROGRESSING, "True", "ScalingDown", f"desired {desired}")
        else:
            progressing = Desired(PROGRESSING, "False", "Stable", f"{len(holders)} instances, desired {desired}")

        gave_up = [h.instance_id for h in holders if h.gave_up]
        if gave_up:
            degraded = Desired(DEGRADED, "True", "GaveUp", f"left for a human: {', '.join(gave_up)}")
        elif unhealthy:
            degraded = Desired(DEGRADED, "True", "InstancesUnhealthy", f"unhealthy: {', '.join(unhealthy)}")
        elif self.zones_out:
            degraded = Desired(DEGRADED, "True", "ZoneOutage", f"zones out: {', '.join(self.zones_out)}")
        else:
            degraded = Desired(DEGRADED, "False", "AsExpected", "")

        limits = self._unhealthy_text(views)
        if self.spec.paused:
            allowed = Desired(REMEDIATION_ALLOWED, "False", "Paused", "spec.paused: observing and reporting only")
        elif self.restricted:
            allowed = Desired(REMEDIATION_ALLOWED, "False", "TooManyUnhealthy", limits)
        else:
            waiting = f"; {self.deferred} waiting for maxInFlight ({self.in_flight_cap})" if self.deferred else ""
            if self.enforce:
                allowed = Desired(REMEDIATION_ALLOWED, "True", "WithinLimits", limits + waiting)
            else:
                allowed = Desired(
                    REMEDIATION_ALLOWED,
                    "True",
                    "DryRun",
                    f"DryRun: actions are recorded, not taken; {limits}{waiting}",
                )

        if self.aws_error:
            code = str(self.aws_error.get("code") or "")
            cloud = Desired(
                CLOUD_API_READY,
                "False",
                cloud_reason(code),
                f"{code}: {self.aws_error.get('message')} (launches stopped until the spec changes)",
            )
        elif self.obs.error or not self.obs.complete:
            cloud = Desired(
                CLOUD_API_READY,
                "False",
                classify_error(self.obs.error),
                self.obs.error or "EC2 could not be described: reporting only",
            )
        else:
            cloud = Desired(CLOUD_API_READY, "True", "Reachable", "")
        return [ready, available, progressing, degraded, allowed, cloud]

    def _next_check(self, rows: Sequence[InstanceStatus]) -> datetime:
        probes = self.policy.probes
        intervals = [p.interval_seconds for p in (probes.api, probes.workers, probes.canary) if p.enabled]
        if probes.ec2_status_checks:
            intervals.append(EC2_POLL_SECONDS)
        cap = after(self.now, min(intervals, default=EC2_POLL_SECONDS))
        moments = list(self.deadlines)
        for row in rows:
            moments.extend((parse_time(row.next_action_at), parse_time(row.action_deadline)))
        moments.extend(parse_time(o.until) for o in self.exhausted)
        soonest = earliest_after(self.now, moments)
        return min(soonest, cap) if soonest is not None else cap
