"""When the operator noticed, acted on and recovered from one step's fault, from the samples.

The runner records an ``Injection`` per step; the verdicts and the invariants share these
definitions (detect, act, recover, what counts as a remediation) so both read them one way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from judge0_operator.decide import conditions
from judge0_operator.simulate.samples import ActionSeen, Sample

REMEDIATIONS = frozenset({"RestartJudge0", "CleanDisk", "RebootInstance", "ReplaceInstance", "Terminate", "Start"})
NON_ACTIONS = frozenset({"DryRun", "Skipped"})


@dataclass(frozen=True)
class Injection:
    """What the runner did for one step, as it happened."""

    label: str
    fault: str
    expectation: str
    target: str
    at: float  # epoch seconds of the injection
    scenario_at: float = 0.0
    cleared_at: float | None = None
    fault_ids: tuple[str, ...] = ()
    world_targets: tuple[str, ...] = ()
    instances: tuple[str, ...] = ()  # fleet instances hit, at injection time
    slots: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    baseline_desired: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)
    waited: bool = True  # injected once the fleet was whole: it closes the previous steps' windows
    error: str | None = None  # the injection itself failed
    skipped: str | None = None  # why the step did not run

    @property
    def fleet_wide(self) -> bool:
        """Zone, all-instance, API and fleet steps: any action in the window belongs to them."""
        return (
            bool(self.zones)
            or self.target in ("all", "aws", "fleet")
            or self.fault in ("rollout", "scale", "burst")
        )


def is_remediation(action: ActionSeen) -> bool:
    """Restart, reboot, start, replace or terminate (a launch that replaces counts too)."""
    if action.outcome in NON_ACTIONS or action.outcome.startswith("DryRun"):
        return False
    if action.action in REMEDIATIONS:
        return True
    return action.action == "Launch" and "replac" in action.reason.lower()


def _relevant(injection: Injection, action: ActionSeen) -> bool:
    if injection.fleet_wide:
        return True
    return (action.instance_id in injection.instances) or (
        action.slot is not None and action.slot in injection.slots
    )


SPEC_CHANGE_SLACK_SECONDS = 1.0


def step_actions(injection: Injection, actions: Sequence[ActionSeen], window_end: float) -> list[ActionSeen]:
    """The step's actions. A spec change (rollout, scale) can be acted on by a pass that started
    just before the patch landed and stamps its actions with its start: allow a second of slack."""
    start = injection.at - (SPEC_CHANGE_SLACK_SECONDS if injection.fault in ("rollout", "scale") else 0.0)
    return sorted(
        (a for a in actions if start <= a.t <= window_end and _relevant(injection, a)),
        key=lambda a: a.t,
    )


def _baseline(samples: Sequence[Sample], t: float) -> Sample | None:
    before = [s for s in samples if s.t < t]
    return before[-1] if before else None


# A condition turning this way shows the operator noticed something; turning back (Progressing
# going Stable as the previous step wraps up) does not.
_NOTICED = {**conditions.BAD_NEWS, conditions.PROGRESSING: "True"}


def detect_time(
    injection: Injection, samples: Sequence[Sample], actions: Sequence[ActionSeen], window_end: float
) -> float | None:
    """Epoch seconds at which the operator visibly noticed the fault (None: never)."""
    base = _baseline(samples, injection.at)
    base_conditions = {k: (c.status, c.reason) for k, c in (base.conditions.items() if base else ())}
    present = {i for i in injection.instances if base and base.status_row(i)}
    found: float | None = None
    for s in samples:
        if s.t < injection.at or s.t > window_end:
            continue
        if any(
            c.status == _NOTICED.get(k) and (k not in base_conditions or base_conditions[k][0] != c.status)
            for k, c in s.conditions.items()
        ):
            found = s.t
            break
        hit = False
        for iid in injection.instances:
            row = s.status_row(iid)
            if row is None:
                hit = iid in present
            else:
                hit = (
                    row.health == "Unhealthy"
                    or "Unhealthy" in row.signals.values()
                    or row.state not in ("running", "pending", "")
                )
            if hit:
                break
        if hit:
            found = s.t
            break
    acted = step_actions(injection, actions, window_end)
    if acted and (found is None or acted[0].t < found):
        found = max(acted[0].t, injection.at)
    return found


def effective_healthy(sample: Sample, fault_ids: frozenset[str]) -> int:
    """Instances the operator calls Healthy that none of ``fault_ids`` (still active) hits."""
    live_faults = fault_ids & sample.active_faults
    count = 0
    for row in sample.instances:
        if row.health != "Healthy":
            continue
        world = sample.world_row(row.instance_id)
        if world is not None and any(fid in live_faults for fid, _ in world.faults):
            continue
        count += 1
    return count


def recover_time(
    injection: Injection, samples: Sequence[Sample], window_end: float, start: float | None = None
) -> float | None:
    """The first sample (after ``start``) where the fleet is whole again despite the step's faults."""
    fault_ids = frozenset(injection.fault_ids)
    begin = injection.at if start is None else start
    for s in samples:
        if s.t <= begin or s.t > window_end:
            continue
        if effective_healthy(s, fault_ids) >= max(s.desired, 1):
            return s.t
    return None
