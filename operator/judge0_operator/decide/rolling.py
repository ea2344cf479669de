"""Phase 11, rollout: replace outdated instances, as many as ``rollout.plan_rollout`` allows now.

The rules (maxSurge, maxUnavailable, oldest first across zones, stall on an unhealthy new
instance) are in ``rollout``; this phase gathers its inputs from the draft and carries out the
step. Slots scaled in, already being replaced, touched this pass or with a remediation in flight
are left alone, and so are instances a human holds (``judge0.dev/do-not-disrupt``: held back).
Nothing rolls above maxUnhealthy, while launches are stopped or from a defective template.

Events: ``RollingOut`` — Normal.
"""

from __future__ import annotations

from judge0_operator.decide import rollout
from judge0_operator.decide.draft import ROLLOUT, Draft
from judge0_operator.decide.remediation import in_flight_slots
from judge0_operator.decide.safety import Limits
from judge0_operator.decide.timeutil import parse_time


def roll_out(draft: Draft, *, desired: int, limits: Limits) -> rollout.RolloutStep | None:
    """The rollout step taken (its spare surge is what rebalancing may use); None when none may be."""
    given = draft.given
    if limits.restricted or not given.can_launch or draft.launches_blocked:
        return None
    in_flight = in_flight_slots(draft)
    outdated: list[rollout.OutdatedInstance] = []
    healthy = surge_in_use = new_unhealthy = 0
    for view in draft.views().values():
        holder = view.holder
        if holder is None or draft.removed(view.slot) or draft.leaving(holder.instance_id):
            continue
        healthy += holder.health == "Healthy"
        stepping_down = [r for r in view.stepping_down() if not draft.leaving(r.instance_id)]
        if stepping_down:
            surge_in_use += 1
            if view.outgoing and holder.updated and holder.health == "Unhealthy":
                new_unhealthy += 1
            continue
        if not holder.updated and holder.do_not_disrupt:
            draft.hold_back(holder.instance_id, ROLLOUT)  # a human holds it: it stays outdated
            continue
        if not holder.updated and not draft.touched(view.slot) and view.slot not in in_flight:
            launched_at = parse_time(holder.launched_at) or given.now
            outdated.append(rollout.OutdatedInstance(holder.instance_id, view.slot, holder.zone, launched_at))
    step = rollout.plan_rollout(
        outdated,
        desired=desired,
        healthy=healthy,
        surge_in_use=surge_in_use,
        max_surge=given.spec.rollout.max_surge,
        max_unavailable=given.spec.rollout.max_unavailable,
        new_unhealthy=new_unhealthy,
        already_stalled=rollout.stalled_before(given.previous, given.template),
    )
    started: list[str] = []
    for old in step.launch_first:
        reason = f"{ROLLOUT}: replace outdated {old.instance_id}"
        if draft.replace(old.slot, old.instance_id, reason, keyword=ROLLOUT) is not None:
            started.append(old.instance_id)
    for old in step.terminate_first:
        row = draft.rows.get(old.instance_id)
        if row is None:
            continue
        if not draft.terminate(row, f"{ROLLOUT}: outdated, terminated first (within maxUnavailable)"):
            continue  # draining first: replaced once it is gone, within maxUnavailable still
        draft.replace(old.slot, old.instance_id, f"{ROLLOUT}: replace outdated {old.instance_id}", keyword=ROLLOUT)
        started.append(old.instance_id)
    if started:
        draft.decision_note("Normal", "RollingOut", f"{step.message}: {', '.join(started)}")
    return step
