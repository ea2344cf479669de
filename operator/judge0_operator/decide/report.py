"""Phase 14, report: the new status, its conditions, the pass's Events and when to look again.

Counts come from the rows the status keeps (DryRun: memory as before deciding); each condition
is worked out from what this pass saw and decided (the reasons are listed in ``conditions``,
which also keeps lastTransitionTime and posts ``<ConditionType><Status>`` Events); the next
check is the earliest deadline ahead, never later than the smallest probe interval.

Events, in the order a pass posts them: those of memory, zones and desired size, then the
decision phases' (see each phase's module), then ``RemediationRestricted`` — Warning (once,
when maxUnhealthy starts holding remediation back), then the condition changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from judge0_operator.api.common import resolve_int_or_percent
from judge0_operator.api.fleet_status import InstanceStatus, Judge0FleetStatus
from judge0_operator.decide import findings_report, rollout
from judge0_operator.decide.capacity import Size
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
from judge0_operator.decide.diagnosis import acts
from judge0_operator.decide.draft import REMEDIATION, REPLACED, ROLLOUT, ZONE_BALANCE, Decided, Draft
from judge0_operator.decide.drain_gate import DrainEnd
from judge0_operator.decide.health import is_ready
from judge0_operator.decide.inputs import PassInputs
from judge0_operator.decide.model import TAG_FLEET, Action, EventNote
from judge0_operator.decide.outcomes import classify_error, cloud_reason
from judge0_operator.decide.remediation import Remediated, in_flight_slots
from judge0_operator.decide.safety import Limits, ZoneVerdict
from judge0_operator.decide.slots import SlotView, slot_key
from judge0_operator.decide.templates import TemplateVerdict
from judge0_operator.decide.timeutil import after, earliest_after, format_time, parse_time
from judge0_operator.decide.traffic import TrafficPlan, traffic_status

MAX_LAST_ACTIONS = 20
EC2_POLL_SECONDS = 60  # DescribeInstanceStatus is polled about once a minute (as Karpenter)


@dataclass(frozen=True)
class Plan:
    """What one pass decided: write ``status`` first, then act, then look again at ``next_check_at``."""

    actions: tuple[Action, ...]
    status: Judge0FleetStatus  # rebuilt from the observation, with memory carried from the previous one
    next_check_at: datetime  # earliest deadline, never later than the smallest probe interval from now
    events: tuple[EventNote, ...]  # Events for condition changes and decisions
    traffic: TrafficPlan = field(default_factory=TrafficPlan)  # rotation: deregister before acting
    drain_ends: tuple[DrainEnd, ...] = ()  # drains that ended this pass (for the metrics)


def report(
    given: PassInputs,
    draft: Draft,
    *,
    zones: ZoneVerdict,
    size: Size,
    limits: Limits,
    remediated: Remediated,
    rollout_step: rollout.RolloutStep | None,
    events: Sequence[EventNote],
    deadlines: Iterable[datetime | None],
    traffic: TrafficPlan | None = None,
    templates: TemplateVerdict | None = None,
) -> Plan:
    """The actions, the status to write, the next check, and every Event (``events`` come first)."""
    prev, now = given.previous, given.now
    done = draft.reported()
    memory = done.memory
    rows = sorted(memory.rows.values(), key=lambda r: (slot_key(r.slot), r.launch_attempt, r.instance_id))
    held = findings_report.held_back(draft)
    desired = [
        *_ready_and_available(given, done, size.desired),
        _progressing(given, draft, done, size.desired, limits, rollout_step),
        findings_report.template_defective(templates) or _degraded(done, zones),
        _remediation_allowed(given, done, limits, remediated),
        _cloud_api(given),
        findings_report.configured(rows, given.controls.problems),
    ]
    conditions, condition_events = merge(prev.conditions, desired, now=now, generation=given.generation)
    next_check = next_check_at(given, rows, deadlines)
    status = Judge0FleetStatus(
        observed_generation=given.generation,
        replicas=len(rows),
        desired_replicas=size.desired,
        ready_replicas=sum(is_ready(r.state, r.signals, given.policy) for r in rows),
        healthy_replicas=sum(r.health == "Healthy" for r in rows),
        in_rotation_replicas=sum(r.traffic == "InRotation" for r in rows),
        draining_replicas=sum(r.traffic == "Draining" for r in rows),
        traffic=traffic_status(given, rows),
        updated_replicas=sum(r.updated for r in rows),
        outdated_replicas=sum(not r.updated for r in rows),
        template_hash=given.template,
        selector=f"{TAG_FLEET}={given.fleet_name}" if given.fleet_name else "",
        conditions=conditions,
        instances=rows,
        last_actions=[*prev.last_actions, *done.records][-MAX_LAST_ACTIONS:],
        pending_launches=sorted(memory.intents, key=lambda i: slot_key(i.slot)),
        exhausted_offerings=given.exhausted,
        zones_out=list(zones.out),
        zones_out_since=zones.since,
        scaling=size.scaling,
        next_slot=memory.next_slot,
        slot_attempts=dict(sorted(memory.slot_attempts.items(), key=lambda kv: slot_key(kv[0]))),
        aws_error=given.aws_error,
        defective_templates=list(templates.defective) if templates is not None else [],
        handled_requests=findings_report.handled_requests(given, draft),
        circuit_reset=given.controls.reset_circuit if given.reset else prev.circuit_reset,
        held_back=held,
        last_pass_at=format_time(now),
        next_check_at=format_time(next_check),
    )
    notes = [*events, *done.events, *findings_report.notes(given, prev, held)]
    old = find(prev.conditions, REMEDIATION_ALLOWED)
    restricted_now = limits.restricted and not given.spec.paused
    if restricted_now and not (old and old.status == "False" and old.reason == "TooManyUnhealthy"):
        notes.append(
            EventNote(
                "Warning",
                "RemediationRestricted",
                f"{_unhealthy_text(limits, done.views)}: all remediation stops; "
                f"unhealthy: {', '.join(limits.unhealthy)}",
            )
        )
    return Plan(
        done.actions,
        status,
        next_check,
        (*notes, *condition_events),
        traffic=traffic or TrafficPlan(),
        drain_ends=tuple(draft.drain_ends),
    )


def next_check_at(given: PassInputs, rows: Sequence[InstanceStatus], deadlines: Iterable[datetime | None]) -> datetime:
    """The earliest deadline ahead, capped at the smallest probe interval from now."""
    probes, now = given.policy.probes, given.now
    intervals = [p.interval_seconds for p in (probes.api, probes.workers, probes.canary) if p.enabled]
    if probes.ec2_status_checks:
        intervals.append(EC2_POLL_SECONDS)
    cap = after(now, min(intervals, default=EC2_POLL_SECONDS))
    moments = list(deadlines)
    for row in rows:
        moments.extend((parse_time(row.next_action_at), parse_time(row.action_deadline)))
    moments.extend(parse_time(o.until) for o in given.exhausted)
    soonest = earliest_after(now, moments)
    return min(soonest, cap) if soonest is not None else cap


# --- conditions ----------------------------------------------------------------------------
def _holders(done: Decided) -> list[InstanceStatus]:
    return [v.holder for v in done.views.values() if v.holder is not None]


def _unhealthy_text(limits: Limits, views: dict[str, SlotView]) -> str:
    text = f"{len(limits.unhealthy)} of {limits.holders} instances unhealthy (limit {limits.max_unhealthy})"
    stepping_down = [r.instance_id for v in views.values() for r in v.outgoing]
    if stepping_down:  # superseded: their slot is held by the replacement now
        text += f"; being replaced: {', '.join(sorted(stepping_down))}"
    return text


def _replacements(views: dict[str, SlotView]) -> list[str]:
    """``old → new`` for every replacement under way, for condition messages."""
    notes: list[str] = []
    for view in sorted(views.values(), key=lambda v: slot_key(v.slot)):
        incoming = view.incoming()
        new = incoming.instance_id if incoming is not None else "launch pending"
        notes.extend(f"{row.instance_id} → {new}" for row in view.stepping_down())
    return notes


def _ready_and_available(given: PassInputs, done: Decided, desired: int) -> tuple[Desired, Desired]:
    holders = _holders(done)
    healthy = sum(h.health == "Healthy" for h in holders)
    unhealthy = [h.instance_id for h in holders if h.health == "Unhealthy"]
    counts = f"{healthy} of {desired} desired instances healthy"
    error = given.aws_error
    if error and healthy < desired:
        ready = Desired(READY, "False", "LaunchBlocked", f"{counts}; launches stopped: {error.get('code')}")
    elif healthy >= desired and not error:
        ready = Desired(READY, "True", "AllHealthy", counts)
    elif error:
        ready = Desired(READY, "False", "LaunchBlocked", f"{counts}; launches stopped: {error.get('code')}")
    elif unhealthy:
        ready = Desired(READY, "False", "Unhealthy", f"{counts}; unhealthy: {', '.join(unhealthy)}")
    else:
        replacing_now = _replacements(done.views)
        waiting = f"; replacing {', '.join(replacing_now)}" if replacing_now else ""
        ready = Desired(READY, "False", "WaitingForInstances", counts + waiting)

    unavailable = max(0, resolve_int_or_percent(given.spec.rollout.max_unavailable, desired, round_up=False))
    minimum = max(0, desired - unavailable)
    available = Desired(
        AVAILABLE,
        "True" if healthy >= minimum else "False",
        "MinimumHealthy" if healthy >= minimum else "BelowMinimumHealthy",
        f"{healthy} healthy, at least {minimum} needed",
    )
    return ready, available


def _progressing(
    given: PassInputs,
    draft: Draft,
    done: Decided,
    desired: int,
    limits: Limits,
    step: rollout.RolloutStep | None,
) -> Desired:
    """What the fleet is working on, the most pressing first."""
    holders = _holders(done)
    decided: Sequence[tuple[str, Action]] = done.decided
    kinds = {action.kind for _, action in decided}
    keywords = {keyword for keyword, _ in decided}
    unhealthy = [h.instance_id for h in holders if h.health == "Unhealthy"]
    working_on = [
        h.instance_id
        for h in holders
        if h.health == "Unhealthy" and not h.gave_up and not h.do_not_disrupt and acts(h.diagnosis)
    ]
    error = given.aws_error
    if given.spec.paused:
        return Desired(PROGRESSING, "False", "Paused", "spec.paused: observing and reporting only")
    if error:
        return Desired(PROGRESSING, "False", "LaunchBlocked", f"{error.get('code')}: {error.get('message')}")
    if draft.launches_blocked:
        return Desired(PROGRESSING, "False", "TemplateDefective", draft.launches_blocked)
    if step is not None and step.stalled:
        return Desired(PROGRESSING, "False", rollout.REASON_ROLLOUT_STALLED, step.message)
    if limits.restricted and unhealthy:
        return Desired(PROGRESSING, "False", "RemediationRestricted", _unhealthy_text(limits, done.views))
    if REMEDIATION in keywords or in_flight_slots(draft) or working_on:
        replacing_now = _replacements(done.views)
        doing = ", ".join(working_on + replacing_now) or "replacement under way"
        return Desired(PROGRESSING, "True", "Remediating", f"remediating: {doing}")
    if ROLLOUT in keywords or (step is not None and step.progressing):
        return Desired(PROGRESSING, "True", "RollingOut", step.message if step else "")
    if ZONE_BALANCE in keywords:
        return Desired(PROGRESSING, "True", "Rebalancing", "moving capacity between zones")
    if any(v.replacing for v in done.views.values()) or REPLACED in keywords:
        return Desired(PROGRESSING, "True", "Replacing", "replacements under way")
    intents = done.memory.intents
    starting = any(h.health == "Starting" for h in holders)
    if "Launch" in kinds or intents or starting or len(holders) < desired:
        message = f"{len(holders)} of {desired} instances, {len(intents)} launch(es) pending"
        return Desired(PROGRESSING, "True", "Launching", message)
    if "Terminate" in kinds:
        return Desired(PROGRESSING, "True", "ScalingDown", f"desired {desired}")
    if draft.held_back:
        held = "; ".join(findings_report.held_back(draft))
        return Desired(PROGRESSING, "False", "HeldBack", f"held by judge0.dev/do-not-disrupt: {held}")
    return Desired(PROGRESSING, "False", "Stable", f"{len(holders)} instances, desired {desired}")


def _degraded(done: Decided, zones: ZoneVerdict) -> Desired:
    holders = _holders(done)
    gave_up = [h.instance_id for h in holders if h.gave_up]
    unhealthy = [h.instance_id for h in holders if h.health == "Unhealthy"]
    if gave_up:
        return Desired(DEGRADED, "True", "GaveUp", f"left for a human: {', '.join(gave_up)}")
    if unhealthy:
        return Desired(DEGRADED, "True", "InstancesUnhealthy", f"unhealthy: {', '.join(unhealthy)}")
    if zones.out:
        return Desired(DEGRADED, "True", "ZoneOutage", f"zones out: {', '.join(zones.out)}")
    return Desired(DEGRADED, "False", "AsExpected", "")


def _remediation_allowed(given: PassInputs, done: Decided, limits: Limits, remediated: Remediated) -> Desired:
    text = _unhealthy_text(limits, done.views)
    if given.spec.paused:
        return Desired(REMEDIATION_ALLOWED, "False", "Paused", "spec.paused: observing and reporting only")
    if limits.restricted:
        return Desired(REMEDIATION_ALLOWED, "False", "TooManyUnhealthy", text)
    deferred = remediated.deferred
    waiting = f"; {deferred} waiting for maxInFlight ({limits.max_in_flight})" if deferred else ""
    if given.enforce:
        return Desired(REMEDIATION_ALLOWED, "True", "WithinLimits", text + waiting)
    return Desired(REMEDIATION_ALLOWED, "True", "DryRun", f"DryRun: actions are recorded, not taken; {text}{waiting}")


def _cloud_api(given: PassInputs) -> Desired:
    obs, error = given.observation, given.aws_error
    if error:
        code = str(error.get("code") or "")
        return Desired(
            CLOUD_API_READY,
            "False",
            cloud_reason(code),
            f"{code}: {error.get('message')} (launches stopped until the spec changes)",
        )
    if obs.error or not obs.complete:
        return Desired(
            CLOUD_API_READY,
            "False",
            classify_error(obs.error),
            obs.error or "EC2 could not be described: reporting only",
        )
    return Desired(CLOUD_API_READY, "True", "Reachable", "")
