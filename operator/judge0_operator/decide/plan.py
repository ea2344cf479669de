"""The planner's entry point: one pass from (spec, policy, observation, previous status, now) to a Plan.

``plan`` is the pass's table of contents: one line per phase, in order, each a function in the
module of its concern that takes what it reads and returns (or records in the draft) what it
decides. Phases 1 to 4 only judge; 5 to 12 decide, unless the fleet is paused or EC2 could not be
fully described; 13 sets the rotation; 14 reports. ``docs/architecture.md`` shows where a new phase goes.
"""

from __future__ import annotations

from datetime import datetime

from judge0_operator.api.fleet import Judge0FleetSpec
from judge0_operator.api.fleet_status import Judge0FleetStatus
from judge0_operator.api.policy import RecoveryPolicySpec
from judge0_operator.decide import (
    capacity,
    duplicates,
    memory,
    rebalance,
    reissue,
    remediation,
    replacements,
    report,
    rolling,
    safety,
    scale_in,
    scale_up,
    templates,
    traffic,
)
from judge0_operator.decide.controls import Controls
from judge0_operator.decide.draft import Draft
from judge0_operator.decide.inputs import PassInputs
from judge0_operator.decide.model import FleetObservation
from judge0_operator.decide.outcomes import record_outcomes
from judge0_operator.decide.report import Plan
from judge0_operator.decide.slots import client_token

__all__ = ["Plan", "client_token", "plan", "record_outcomes"]


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
    controls: Controls | None = None,
) -> Plan:
    """Decide one pass. Pure: no I/O, no clock, no global randomness. ``controls``: the fleet's
    annotations, read by ``controls.parse_annotations`` (do-not-disrupt, remediate, reset-circuit)."""
    given = PassInputs(
        spec, policy, observation, previous, now, fleet_uid, generation, fleet_name, controls or Controls()
    )
    # 1. Memory: observed instances become rows, memory carried by instance id; intents matched.
    seen = memory.carry_over(given)
    rows = seen.memory.rows.values()
    # 2. Zones: which are out (their capacity fails over to the others).
    zones, zone_events = safety.judge_fleet_zones(rows, given.previous, given.policy, given.now)
    # 3. Desired size: spec.replicas, schedules, queue backlog, clamped.
    size = capacity.desired_size(given.spec, given.observation, given.previous, rows, given.now)
    draft = Draft(given, seen.memory, zones_out=zones.out, recently_terminated=seen.recently_terminated)
    # 4. Safety: maxUnhealthy and maxInFlight over the slot holders.
    limits = safety.fleet_limits(given.policy, draft.holders(), desired=size.desired, zones_out=zones.out)
    # 4b. Templates: one whose replacement failed like the instance it replaced launches nothing more.
    defective = templates.judge_templates(draft)

    remediated, rollout_step = remediation.Remediated(), None
    if given.acting:  # not paused, and EC2 fully seen: acting on a partial view makes duplicates
        # 5. Duplicates: a second instance for one (slot, attempt), or one without a slot tag.
        duplicates.terminate_duplicates(draft)
        # 6. Scale-in: slots beyond the desired count go, unhealthy and crowded zones first.
        scale_in.remove_excess(draft, size)
        # 7. Finishing replacements: what a Healthy replacement supersedes is terminated.
        replacements.finish_replacements(draft, seen.assessments, limits)
        # 8. Re-issuing intents: launches never confirmed go again with the same token.
        reissue.reissue_intents(draft, limits)
        # 9. Remediation: the ladder's next step per unhealthy instance, within maxInFlight.
        remediated = remediation.remediate(draft, seen.assessments, limits)
        # 10. Scale-up: launch for the slots missing below the desired count.
        scale_up.fill_slots(draft, size)
        # 11. Rollout: replace outdated instances within maxSurge and maxUnavailable.
        rollout_step = rolling.roll_out(draft, desired=size.desired, limits=limits)
        # 12. Rebalancing: in a quiet pass, move capacity back to a recovered zone.
        rebalance.rebalance(draft, desired=size.desired, limits=limits, rollout_step=rollout_step)
    # 13. Rotation: who clients reach now; what leaves the target groups before the actions run.
    rotation = traffic.rotate(draft)

    # 14. Report: status, conditions, Events, and the next check.
    return report.report(
        given,
        draft,
        zones=zones,
        size=size,
        limits=limits,
        remediated=remediated,
        rollout_step=rollout_step,
        events=(*seen.events, *zone_events, *size.events),
        deadlines=(*seen.deadlines, *zones.deadlines, size.next_check, *draft.drain_checks),
        traffic=rotation,
        templates=defective,
    )
