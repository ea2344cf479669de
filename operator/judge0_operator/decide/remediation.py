"""Phase 9, remediation: the next ladder step for each unhealthy instance, within maxInFlight.

Two steps, as Cluster API's MachineHealthCheck: first each unhealthy slot holder gets its own
verdict (``ladder.choose_step``: a step, a decision to give up, or wait), then the fleet-level
rule is applied over the list — nothing above maxUnhealthy (``safety.Limits.restricted``), and
at most maxInFlight slots with a remediation still taking effect. Urgent replacements (a
retirement, an impaired system check, a zone outage) go first, then stopped instances, then by
slot. A slot already in flight takes its next step without a new budget slot.

ReplaceInstance launches the slot's next attempt (launch first, in the healthiest zone); the old
instance is terminated when the new one is Healthy (``replacements``), or at once if beyond use.

The diagnosis targets the step (``ladder.choose_step``): the restart rung restarts the component
it names (``remediation.componentCommands``; after workers, Redis or db the requeue command
follows), DiskPressure is cleaned first (``CleanDisk``), causes never acted on get no step, and
a held instance (``judge0.dev/do-not-disrupt``) is left alone. A human's ``judge0.dev/remediate``
request goes first (``requests``). A replacement's launch intent remembers the replaced
instance's diagnosis and template (``predecessor``), the test of a broken template.

Events: ``Remediating`` — Normal (restart, reboot, start, replace, clean); ``FailingOver`` — Normal
(a replacement out of an out zone); ``RemediationRequested`` — Normal; ``RemediationGaveUp`` — Warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from judge0_operator.api.diagnosis import Predecessor
from judge0_operator.api.fleet_status import InstanceStatus
from judge0_operator.api.policy import RecoveryPolicySpec
from judge0_operator.decide import requests
from judge0_operator.decide.controls import Request
from judge0_operator.decide.diagnosis import TRAITS, Diagnosis
from judge0_operator.decide.draft import REMEDIATION, REPLACED, Draft
from judge0_operator.decide.health import Assessment
from judge0_operator.decide.ladder import GiveUp, Step, choose_step, record_attempt
from judge0_operator.decide.model import Action, CleanDisk, EventNote, Reboot, RestartJudge0, Start
from judge0_operator.decide.safety import Limits
from judge0_operator.decide.slots import SlotView, slot_key
from judge0_operator.decide.timeutil import parse_time


@dataclass(frozen=True)
class Candidate:
    """One unhealthy holder and what the ladder says for it."""

    priority: int  # -1 a human's request, 0 urgent replacement, 1 stopped, 2 the rest
    view: SlotView
    holder: InstanceStatus
    verdict: Assessment | None  # None: a request for an instance not judged this pass
    step: Step | GiveUp
    request: Request | None = None


def diagnosis_of(row: InstanceStatus) -> Diagnosis | None:
    """The row's diagnosis as the ladder reads it (None when it has none)."""
    return Diagnosis(row.diagnosis, row.diagnosis_detail) if row.diagnosis in TRAITS else None  # type: ignore[arg-type]


@dataclass(frozen=True)
class Remediated:
    deferred: int = 0  # candidates left waiting for maxInFlight


def in_flight_slots(draft: Draft) -> set[str]:
    """Slots with a remediation still taking effect: before its deadline, or its replacement under way."""
    now = draft.given.now
    slots: set[str] = set()
    for view in draft.views().values():
        members = [*([view.holder] if view.holder else []), *view.outgoing]
        for row in members:
            if draft.leaving(row.instance_id):
                continue
            deadline = parse_time(row.action_deadline)
            if not row.last_action or deadline is None or deadline <= now:
                continue
            if row is view.holder and row.health == "Healthy" and not view.replacing:
                continue
            slots.add(view.slot)
    slots.update(i.slot for i in draft.intents if i.replaces and i.reason.startswith(REMEDIATION))
    return slots


def candidates(draft: Draft, assessments: Mapping[str, Assessment]) -> list[Candidate]:
    """Every unhealthy holder the ladder has a step (or a give-up) for now, in the order they go."""
    policy, now = draft.given.policy, draft.given.now
    found: list[tuple[tuple[int, str], Candidate]] = []
    asked = requests.pending(draft)
    for item in asked:
        holder = item.view.holder
        assert holder is not None
        verdict = assessments.get(holder.instance_id)
        found.append((slot_key(item.view.slot), Candidate(-1, item.view, holder, verdict, item.step, item.request)))
    requested = {item.view.slot for item in asked}
    for view in draft.views().values():
        holder = view.holder
        if (
            holder is None
            or view.slot in requested
            or draft.removed(view.slot)
            or draft.leaving(holder.instance_id)
            or view.holder_leaving
            or holder.health != "Unhealthy"
        ):
            continue
        if holder.do_not_disrupt:  # a human holds it: no remediation
            draft.hold_back(holder.instance_id, REMEDIATION)
            continue
        verdict = assessments.get(holder.instance_id)
        if verdict is None or not verdict.judged:
            continue
        zone_out = holder.zone in draft.zones_out
        lost = holder.last_action == "ReplaceInstance" and bool(holder.replaced_by)
        step = choose_step(
            holder, verdict, policy, now, zone_out=zone_out, replacement_lost=lost, diagnosis=diagnosis_of(holder)
        )
        if step is None:
            continue
        urgent = isinstance(step, Step) and step.action == "ReplaceInstance" and step.rung is None
        priority = 0 if urgent else 1 if verdict.stopped else 2
        found.append((slot_key(view.slot), Candidate(priority, view, holder, verdict, step)))
    return [c for _, c in sorted(found, key=lambda item: (item[1].priority, item[0]))]


def remediate(draft: Draft, assessments: Mapping[str, Assessment], limits: Limits) -> Remediated:
    if limits.restricted:
        return Remediated()
    in_flight = in_flight_slots(draft)
    budget = limits.max_in_flight - len(in_flight)
    deferred = 0
    for candidate in candidates(draft, assessments):
        view, step = candidate.view, candidate.step
        if isinstance(step, GiveUp):
            _give_up(draft, candidate, step)
            continue
        new = view.slot not in in_flight
        if new and budget <= 0:
            deferred += 1
            continue
        taken = _take_step(draft, candidate, step)
        if taken and candidate.request is not None:
            requests.done(draft, candidate.request)
            draft.decision_note(
                "Normal", "RemediationRequested", f"{step.action} {candidate.holder.instance_id}: {step.why}"
            )
        if taken and new:
            budget -= 1
            in_flight.add(view.slot)
    return Remediated(deferred)


def _take_step(draft: Draft, candidate: Candidate, step: Step) -> bool:
    """Decide the step; False if it cannot go now (a replacement with no launch left this pass)."""
    policy, now, uid = draft.given.policy, draft.given.now, draft.given.fleet_uid
    view, holder = candidate.view, candidate.holder
    iid = holder.instance_id
    if step.action == "ReplaceInstance":
        attempt = draft.slot_attempts.get(view.slot, holder.launch_attempt) + 1
        predecessor = Predecessor(
            instance_id=iid,
            diagnosis=holder.diagnosis,
            template_hash=holder.template_hash,
            evidence=holder.diagnosis_detail,
        )
        launch = draft.launch(
            view.slot,
            attempt,
            f"{REMEDIATION}: replace {iid} ({step.why})",
            keyword=REMEDIATION,
            replaces=iid,
            exclude=iid,
            predecessor=None if step.requested else predecessor,
        )
        if launch is None:
            return False
        row = record_attempt(holder, step, policy, now, fleet_uid=uid)
        draft.update_row(row.model_copy(update={"replaced_by": f"{view.slot}#{attempt}"}))
        draft.decision_note(
            "Normal",
            "FailingOver" if holder.zone in draft.zones_out else "Remediating",
            f"ReplaceInstance {iid} (slot {view.slot}): {step.why}; launching attempt {attempt} in "
            f"{launch.zone or launch.subnet_id}{_attempt_text(row, step, policy)}",
        )
        if step.terminate_old_now and candidate.verdict is not None:
            draft.terminate(holder, f"{REPLACED}: beyond use ({candidate.verdict.summary}); replacement launched")
        return True
    reason = f"{REMEDIATION}: {step.why}"
    action: Action
    if step.action == "RestartJudge0":
        action = _restart(iid, reason, view.slot, None if step.requested else diagnosis_of(holder), policy)
    elif step.action == "CleanDisk":
        command = policy.remediation.cleanup.rendered()
        action = CleanDisk(instance_id=iid, reason=reason, command=command, slot=view.slot)
    elif step.action == "RebootInstance":
        action = Reboot(instance_id=iid, reason=reason, slot=view.slot)
    else:
        action = Start(instance_id=iid, reason=reason, slot=view.slot)
    row = record_attempt(holder, step, policy, now, fleet_uid=uid)
    message = f"{step.action} {iid} (slot {view.slot}): {step.why}{_attempt_text(row, step, policy)}"
    draft.act(action, keyword=REMEDIATION, row=row, event=EventNote("Normal", "Remediating", message))
    return True


def _restart(
    iid: str, reason: str, slot: str, diagnosis: Diagnosis | None, policy: RecoveryPolicySpec
) -> RestartJudge0:
    """The restart rung for the diagnosed component (or restartCommand when none is named)."""
    remediation = policy.remediation
    traits = diagnosis.traits if diagnosis is not None else None
    component = traits.component if traits is not None else None
    command = remediation.component_commands.for_component(component) if component else None
    requeue = traits.requeue if traits is not None and component else True
    return RestartJudge0(
        instance_id=iid,
        reason=reason,
        command=command or remediation.restart_command,
        slot=slot,
        component=component,
        requeue=requeue,
    )


def _attempt_text(row: InstanceStatus, step: Step, policy: RecoveryPolicySpec) -> str:
    if step.requested:
        return " (requested: not an attempt)"
    if not step.counts:
        return " (same attempt)"
    rung = f", rung {step.rung + 1}/{len(policy.remediation.ladder)}" if step.rung is not None else ""
    return f" (attempt {row.attempts}/{policy.remediation.max_retries}{rung})"


def _give_up(draft: Draft, candidate: Candidate, give_up: GiveUp) -> None:
    draft.give_up(candidate.holder.instance_id)
    draft.note(
        "Warning",
        "RemediationGaveUp",
        f"{candidate.holder.instance_id} (slot {candidate.view.slot}) is still unhealthy "
        f"({candidate.verdict.summary if candidate.verdict else candidate.holder.diagnosis}): {give_up.why}; "
        "left for a human",
    )
