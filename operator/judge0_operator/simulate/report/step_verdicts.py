"""Each step judged by its expectation (recover, safety-stop, survive, scale-up, rollout,
template-defective): the timings, the actions that belong to it and a pass/fail verdict.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from judge0_operator.simulate.report.step_timings import (
    SPEC_CHANGE_SLACK_SECONDS,
    Injection,
    detect_time,
    is_remediation,
    recover_time,
    step_actions,
)
from judge0_operator.simulate.samples import ActionSeen, Sample

_DIAGNOSED = re.compile(r"^Remediation: (?:replace \S+ \()?([A-Z][A-Za-z]+): ")


@dataclass
class StepResult:
    label: str
    fault: str
    target: str
    expectation: str
    injected_at: float | None  # seconds since the scenario started
    cleared_at: float | None = None
    detect_seconds: float | None = None
    act_seconds: float | None = None
    recover_seconds: float | None = None
    passed: bool = False
    verdict: str = ""
    instances: list[str] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def _rel(t: float | None, origin: float) -> float | None:
    return None if t is None else round(t - origin, 2)


def _action_dict(a: ActionSeen, origin: float) -> dict[str, Any]:
    return {
        "t": round(a.t - origin, 2),
        "action": a.action,
        "instanceId": a.instance_id,
        "slot": a.slot,
        "reason": a.reason,
        "outcome": a.outcome,
    }


def analyse_step(
    injection: Injection,
    samples: Sequence[Sample],
    actions: Sequence[ActionSeen],
    window_end: float,
    origin: float,
) -> StepResult:
    """Timings and verdict for one step, judged by its expectation."""
    result = StepResult(
        label=injection.label,
        fault=injection.fault,
        target=injection.target,
        expectation=injection.expectation,
        injected_at=_rel(injection.at, origin),
        cleared_at=_rel(injection.cleared_at, origin),
        instances=list(injection.instances),
    )
    if injection.skipped or injection.error:
        result.injected_at = None
        result.verdict = (
            f"skipped: {injection.skipped}" if injection.skipped else f"injection failed: {injection.error}"
        )
        result.passed = bool(injection.skipped)
        return result
    acted = step_actions(injection, actions, window_end)
    result.actions = [_action_dict(a, origin) for a in acted]
    detect = detect_time(injection, samples, actions, window_end)
    act = max(acted[0].t, injection.at) if acted else None
    result.detect_seconds = _rel(detect, injection.at)
    result.act_seconds = _rel(act, injection.at)
    window = [s for s in samples if injection.at <= s.t <= window_end]
    if window:
        result.details["minHealthy"] = min(s.healthy for s in window)
    kind = injection.expectation
    if kind == "recover":
        recovered = recover_time(injection, samples, window_end)
        result.recover_seconds = _rel(recovered, injection.at)
        result.passed = recovered is not None and detect is not None
        result.verdict = (
            "recovered"
            if result.passed
            else "recovered but never detected"
            if recovered is not None
            else "not recovered"
        )
    elif kind == "safety-stop":
        _judge_safety_stop(result, injection, samples, acted, window_end, origin)
    elif kind == "survive":
        start = injection.cleared_at or injection.at
        recovered = recover_time(injection, samples, window_end, start=start)
        whole_throughout = bool(window) and all(
            s.healthy >= s.desired for s in window if s.t <= (injection.cleared_at or window_end)
        )
        result.recover_seconds = _rel(recovered, injection.at)
        result.passed = recovered is not None
        result.verdict = (
            "survived, fleet whole throughout"
            if whole_throughout and recovered is not None
            else "survived"
            if recovered is not None
            else "fleet not whole after it ended"
        )
    elif kind == "scale-up":
        _judge_scale_up(result, injection, window, origin)
    elif kind == "rollout":
        _judge_rollout(result, injection, window)
    elif kind == "template-defective":
        _judge_template_defective(result, injection, window, acted)
    else:
        result.passed = True
        result.verdict = "observed"
    return result


def _judge_safety_stop(
    result: StepResult,
    injection: Injection,
    samples: Sequence[Sample],
    acted: Sequence[ActionSeen],
    window_end: float,
    origin: float,
) -> None:
    held_until = injection.cleared_at or window_end
    stopped = [
        s
        for s in samples
        if injection.at <= s.t <= held_until
        and (c := s.condition("RemediationAllowed")) is not None
        and c.status == "False"
    ]
    recovered = recover_time(injection, samples, window_end, start=injection.cleared_at)
    # The partition's own span: until the fleet is whole again (stale verdicts right after the
    # partition count), not what the operator does later for other reasons (rebalancing a zone).
    span_end = recovered if recovered is not None else window_end
    remediations = [a for a in acted if is_remediation(a) and a.t <= span_end]
    within = [a for a in acted if a.t <= span_end]
    result.actions = [_action_dict(a, origin) for a in within]
    # "act" here is the first remediation, which there should never be.
    result.act_seconds = _rel(remediations[0].t, injection.at) if remediations else None
    result.recover_seconds = _rel(recovered, injection.at)
    result.details["safetyStopSeconds"] = _rel(stopped[0].t, injection.at) if stopped else None
    result.details["remediations"] = len(remediations)
    problems = []
    if not stopped:
        problems.append("RemediationAllowed never went False")
    if remediations:
        problems.append(f"{len(remediations)} remediation(s) during the partition")
    if recovered is None:
        problems.append("fleet not whole after the partition ended")
    result.passed = not problems
    result.verdict = "safety stop held, nothing replaced" if result.passed else "; ".join(problems)


def _judge_scale_up(
    result: StepResult, injection: Injection, window: Sequence[Sample], origin: float
) -> None:
    base = injection.baseline_desired
    up = next((s for s in window if s.desired > base), None)
    if up is None:
        result.verdict = "desired replicas never rose"
        return
    peak = max(s.desired for s in window)
    capacity = next((s for s in window if s.t >= up.t and s.healthy >= peak), None)
    after = injection.cleared_at or up.t
    down = next((s for s in window if s.t > max(after, up.t) and s.desired <= base), None)
    result.details.update(
        {
            "baselineReplicas": base,
            "peakReplicas": peak,
            "scaleUpSeconds": _rel(up.t, injection.at),
            "capacitySeconds": _rel(capacity.t, injection.at) if capacity else None,
            "scaleDownSeconds": _rel(down.t, injection.at) if down else None,
            "reason": up.scaling_reason,
        }
    )
    result.recover_seconds = _rel(capacity.t, injection.at) if capacity else None
    result.passed = capacity is not None
    result.verdict = (
        f"scaled {base} → {peak}" + (", and back" if down else ", not back down by the end")
        if capacity
        else f"desired rose to {peak} but capacity never reached it"
    )


def _judge_rollout(result: StepResult, injection: Injection, window: Sequence[Sample]) -> None:
    wanted_type = injection.params.get("instanceType")

    def done(s: Sample) -> bool:
        live = [w for w in s.world if w.live and w.instance_id in {r.instance_id for r in s.instances}]
        if wanted_type and any(w.instance_type and w.instance_type != wanted_type for w in live):
            return False
        return (
            len(s.instances) > 0
            and all(r.updated for r in s.instances)
            and s.healthy >= s.desired
            and s.t > injection.at
        )

    finished = next((s for s in window if done(s)), None)
    result.recover_seconds = _rel(finished.t, injection.at) if finished else None
    result.details["minHealthyDuringRollout"] = min((s.healthy for s in window), default=None)
    result.passed = finished is not None
    result.verdict = "rolled every instance" if finished else "rollout did not finish"


def _judge_template_defective(
    result: StepResult, injection: Injection, window: Sequence[Sample], acted: Sequence[ActionSeen]
) -> None:
    """A rollout to a broken image: the operator must mark the template defective after at most
    one replacement of a new instance, and launch nothing more from it until the template changes
    (the roll-back at ``clearAt``; a pass that began just before it may stamp its launches a moment
    earlier, hence the slack)."""
    end = injection.cleared_at or (window[-1].t if window else injection.at)
    until = end - SPEC_CHANGE_SLACK_SECONDS if injection.cleared_at else end
    marked = next(
        (
            s
            for s in window
            if s.t <= until
            and (c := s.condition("Degraded")) is not None
            and c.status == "True"
            and c.reason == "TemplateDefective"
        ),
        None,
    )
    before = [a for a in acted if a.t <= until and a.action == "Launch"]
    replacements = [a for a in before if a.reason.startswith("Remediation")]
    after_mark = [a for a in before if marked is not None and a.t > marked.t]
    result.recover_seconds = _rel(marked.t, injection.at) if marked else None
    result.details.update(
        {"launches": len(before), "replacements": len(replacements), "launchesAfter": len(after_mark)}
    )
    problems = []
    if marked is None:
        problems.append("never marked TemplateDefective")
    if len(replacements) > 1:
        problems.append(f"{len(replacements)} replacements from the broken template")
    if after_mark:
        problems.append(f"{len(after_mark)} launch(es) after it was marked defective")
    result.passed = not problems
    result.verdict = (
        f"TemplateDefective after {len(replacements)} replacement, nothing launched since"
        if result.passed
        else "; ".join(problems)
    )


def diagnosis_of(reason: str) -> str | None:
    """The diagnosis a remediation's reason names (``Remediation: RedisDown: …``), if any."""
    match = _DIAGNOSED.match(reason)
    return match.group(1) if match else None
