"""The end-of-run report: per-fault timings, availability, cost, API calls and invariants.

Everything here is a pure function of what the runner recorded (samples every ~0.5 s, actions
from ``status.lastActions``, the injections it made), so it is tested on synthetic samples.
Timings are measured from the injection to the first *sample* that shows the effect, so they
carry up to one sampling interval of error (stated in the report).

Definitions
- detect: the first sample where an affected instance is Unhealthy (overall or on a signal), has
  left ``running`` or the status, or a fleet condition changed; or the first action on it.
- act: the first action the operator recorded on an affected instance or slot (any action for
  zone-, fleet- and API-wide faults).
- recover: the first sample where the instances the operator calls Healthy, minus those the
  step's faults still hit in the world, reach the desired count.
- availability: healthy replica-seconds ÷ desired replica-seconds, healthy capped at desired,
  both from the operator's status and from the world's truth (serving, no degrading fault).
- clients: what simulated students saw through the fleet's published front (``world/clients``):
  accepted, delivered, rejected at the front, lost (accepted, no result) with each loss's cause
  as the world saw it — the operator's own action or an injected fault. Not part of ``ok``.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from judge0_operator.decide import conditions
from judge0_operator.simulate.samples import ActionSeen, Sample

REMEDIATIONS = frozenset({"RestartJudge0", "CleanDisk", "RebootInstance", "ReplaceInstance", "Terminate", "Start"})
_DIAGNOSED = re.compile(r"^Remediation: (?:replace \S+ \()?([A-Z][A-Za-z]+): ")
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


@dataclass
class InvariantResult:
    name: str
    ok: bool
    description: str
    violations: list[str] = field(default_factory=list)


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


# --- whole-run measures ----------------------------------------------------------------------------


def availability(
    samples: Sequence[Sample], *, truth: bool = False, fleet_uid: str | None = None
) -> float | None:
    """Healthy replica-seconds ÷ desired replica-seconds (each interval weighted by its length)."""
    healthy_area = desired_area = 0.0
    for prev, cur in itertools.pairwise(samples):
        dt = cur.t - prev.t
        if dt <= 0:
            continue
        desired = prev.desired
        healthy = sum(1 for w in prev.fleet_world(fleet_uid) if w.truly_healthy) if truth else prev.healthy
        healthy_area += min(healthy, desired) * dt
        desired_area += desired * dt
    return round(healthy_area / desired_area, 4) if desired_area else None


def instance_seconds(samples: Sequence[Sample], fleet_uid: str | None, end: float) -> tuple[float, int]:
    """Instance-seconds consumed by the fleet's instances, and how many instances were seen."""
    start: dict[str, float] = {}
    stop: dict[str, float] = {}
    last_seen: dict[str, float] = {}
    for s in samples:
        for w in s.fleet_world(fleet_uid):
            start.setdefault(w.instance_id, w.launched_at if w.launched_at is not None else s.t)
            last_seen[w.instance_id] = s.t
            if not w.live and w.instance_id not in stop:
                stop[w.instance_id] = s.t
    final = samples[-1] if samples else None
    total = 0.0
    for iid, began in start.items():
        gone = final is None or final.world_row(iid) is None
        ended = stop.get(iid) or (last_seen[iid] if gone else end)
        total += max(0.0, ended - began)
    return total, len(start)


def check_duplicate_launches(
    samples: Sequence[Sample], fleet_uid: str | None, sustained: int = 2
) -> InvariantResult:
    """No two live instances for one (slot, launch attempt); never more live instances than the
    desired count + maxSurge + replacements in flight, for ``sustained`` samples in a row (status
    trails the world by up to a pass, so a single sample can show a launch before its intent)."""
    violations: list[str] = []
    seen: set[str] = set()
    streak = 0
    recent_desired: list[int] = []
    for s in samples:
        live = [w for w in s.fleet_world(fleet_uid) if w.live]
        groups: dict[tuple[str | None, str | None], list[str]] = defaultdict(list)
        for w in live:
            groups[(w.slot, w.attempt)].append(w.instance_id)
        for (slot, attempt), ids in groups.items():
            if len(ids) > 1:
                msg = f"slot {slot} attempt {attempt}: {len(ids)} live instances {sorted(ids)}"
                if msg not in seen:
                    seen.add(msg)
                    violations.append(msg)
        recent_desired = [*recent_desired[-19:], s.desired]
        replacing = sum(1 for r in s.instances if r.replaced_by or r.health != "Healthy" or not r.updated)
        bound = max(recent_desired) + s.max_surge + replacing
        streak = streak + 1 if len(live) > bound else 0
        if streak == sustained:
            violations.append(
                f"{len(live)} live instances > desired {max(recent_desired)} + maxSurge "
                f"{s.max_surge} + {replacing} in replacement"
            )
    return InvariantResult(
        "no-duplicate-launch",
        not violations,
        "one live instance per (slot, attempt); live ≤ desired + maxSurge + replacements",
        violations,
    )


def check_leaks(final: Sample | None, fleet_uid: str | None) -> InvariantResult:
    """After the settle period: every live instance in the world is in the fleet's status."""
    violations = []
    if final is not None:
        known = {r.instance_id for r in final.instances}
        for w in final.world:
            if w.live and w.instance_id not in known:
                owner = "this fleet" if w.fleet_uid == fleet_uid else f"fleet-uid {w.fleet_uid}"
                violations.append(
                    f"{w.instance_id} ({w.state}, {owner}, slot {w.slot}) is not in the fleet status"
                )
    return InvariantResult(
        "no-leaked-instance",
        not violations,
        "after settling, no live instance the fleet does not account for",
        violations,
    )


def safety_stop_intervals(samples: Sequence[Sample], end: float) -> list[tuple[float, float]]:
    """When RemediationAllowed was False, from the conditions' own transition times."""
    intervals: list[tuple[float, float]] = []
    open_at: float | None = None
    for s in samples:
        c = s.condition("RemediationAllowed")
        if c is None:
            continue
        if c.status == "False" and open_at is None:
            open_at = c.since if c.since is not None else s.t
        elif c.status != "False" and open_at is not None:
            intervals.append((open_at, c.since if c.since is not None else s.t))
            open_at = None
    if open_at is not None:
        intervals.append((open_at, end))
    return intervals


def check_safety_stop(
    samples: Sequence[Sample], actions: Sequence[ActionSeen], end: float
) -> InvariantResult:
    violations = []
    for start, stop in safety_stop_intervals(samples, end):
        for a in actions:
            if start < a.t < stop and is_remediation(a):
                violations.append(
                    f"{a.action} on {a.instance_id or a.slot} at {a.t:.1f} while "
                    f"RemediationAllowed=False ({start:.1f} to {stop:.1f})"
                )
    return InvariantResult(
        "no-remediation-during-safety-stop",
        not violations,
        "no restart, reboot, start, replace or terminate while RemediationAllowed=False",
        violations,
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


@dataclass
class ClientsSection:
    """The student load's outcome (``status``: measured, not-published or off)."""

    status: str
    note: str = ""
    target: str | None = None
    rate: float = 0.0
    submitted: int = 0
    accepted: int = 0
    delivered: int = 0
    delivered_wrong: int = 0
    rejected: Mapping[str, Any] = field(default_factory=dict)
    lost: Mapping[str, int] = field(default_factory=dict)
    pending: int = 0
    skipped: int = 0
    latency_p50_seconds: float | None = None
    latency_p99_seconds: float | None = None
    losses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def lost_to_operator(self) -> int:
        return int(self.lost.get("operator", 0))


def clients_section(
    summary: Mapping[str, Any] | None, *, target: str | None, rate: float, unpublished_reason: str = ""
) -> ClientsSection:
    """The report's clients section from the world's ``/clients`` summary (None: no load ran)."""
    if target is None:
        return ClientsSection("not-published", note=unpublished_reason or "no client load: fleet not published")
    if summary is None:
        return ClientsSection("off", note="client load switched off", target=target, rate=rate)
    latency = summary.get("latencySeconds") or {}
    note = "" if summary.get("frontHadTargets") else "the front never had a target in service"
    return ClientsSection(
        "measured",
        note=note,
        target=target,
        rate=float(summary.get("rate", rate)),
        submitted=int(summary.get("submitted", 0)),
        accepted=int(summary.get("accepted", 0)),
        delivered=int(summary.get("delivered", 0)),
        delivered_wrong=int(summary.get("deliveredWrong", 0)),
        rejected=dict(summary.get("rejected") or {}),
        lost=dict(summary.get("lost") or {}),
        pending=int(summary.get("pending", 0)),
        skipped=int(summary.get("skipped", 0)),
        latency_p50_seconds=latency.get("p50"),
        latency_p99_seconds=latency.get("p99"),
        losses=[dict(loss) for loss in summary.get("losses") or []],
    )


def render_clients(section: ClientsSection) -> list[str]:
    """The clients section as plain-text lines."""
    if section.status != "measured":
        return [f"clients: {section.note}"]
    rejected = section.rejected
    lost = section.lost
    lines = [
        f"clients ({section.target}, {section.rate:g}/s): {section.submitted} submitted, "
        f"{section.accepted} accepted, {section.delivered} delivered"
        + (f" ({section.delivered_wrong} wrong)" if section.delivered_wrong else "")
        + f", {rejected.get('total', 0)} rejected at the front ({rejected.get('5xx', 0)} 5xx, "
        f"{rejected.get('refused', 0)} refused), {lost.get('total', 0)} lost "
        f"({lost.get('operator', 0)} to the operator's actions, {lost.get('fault', 0)} to injected faults, "
        f"{lost.get('unknown', 0)} unexplained), {section.pending} pending at the end",
        f"    delivery latency p50 {_fmt(section.latency_p50_seconds)}, p99 {_fmt(section.latency_p99_seconds)}",
    ]
    if section.note:
        lines.append(f"    note: {section.note}")
    causes: dict[tuple[str, str, str], int] = defaultdict(int)
    for loss in section.losses:
        cause = loss.get("cause") or {}
        causes[(str(cause.get("by", "unknown")), str(cause.get("action", "?")), str(cause.get("event", "")))] += 1
    for (by, action, event), n in sorted(causes.items(), key=lambda kv: -kv[1]):
        lines.append(f"    lost {n}: {by}: {action} — {event}")
    return lines


@dataclass
class Report:
    scenario: str
    speed: float
    started_at: float
    duration_seconds: float
    steps: list[StepResult]
    availability: float | None
    availability_truth: float | None
    instance_hours: float
    instances_launched: int
    aws_calls: Mapping[str, int]
    aws_calls_total: int
    invariants: list[InvariantResult]
    policy: Mapping[str, Any] = field(default_factory=dict)
    fleet: Mapping[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sample_interval_seconds: float = 0.5
    clients: ClientsSection | None = None

    @property
    def ok(self) -> bool:
        return all(i.ok for i in self.invariants) and all(s.passed for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return _camel(data)


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            _to_camel(str(k)) if isinstance(k, str) and "_" in k else k: _camel(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def build_report(
    *,
    scenario: str,
    speed: float,
    origin: float,
    end: float,
    injections: Sequence[Injection],
    samples: Sequence[Sample],
    actions: Sequence[ActionSeen],
    aws_calls: Mapping[str, int],
    fleet_uid: str | None,
    final: Sample | None,
    policy: Mapping[str, Any] | None = None,
    fleet: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
    sample_interval: float = 0.5,
    clients: ClientsSection | None = None,
) -> Report:
    """Everything the run measured, judged."""
    ran = sorted((i for i in injections if not i.skipped and not i.error), key=lambda i: i.at)
    steps = []
    for injection in injections:
        later = [i.at for i in ran if i.at > injection.at and i.waited]  # overlapping steps share a window
        window_end = min(later) if later else end
        if injection.cleared_at and injection.cleared_at > window_end:
            window_end = end  # a fault still active when the next step starts owns the rest of the run
        steps.append(analyse_step(injection, samples, actions, window_end, origin))
    seconds, count = instance_seconds(samples, fleet_uid, end)
    scenario_samples = [s for s in samples if s.t >= origin]
    return Report(
        scenario=scenario,
        speed=speed,
        started_at=origin,
        duration_seconds=round(end - origin, 1),
        steps=steps,
        availability=availability(scenario_samples),
        availability_truth=availability(scenario_samples, truth=True, fleet_uid=fleet_uid),
        instance_hours=round(seconds / 3600, 4),
        instances_launched=count,
        aws_calls=dict(sorted(aws_calls.items(), key=lambda kv: -kv[1])),
        aws_calls_total=sum(aws_calls.values()),
        invariants=[
            check_duplicate_launches(samples, fleet_uid),
            check_leaks(final, fleet_uid),
            check_safety_stop(samples, actions, end),
        ],
        policy=dict(policy or {}),
        fleet=dict(fleet or {}),
        notes=list(notes),
        sample_interval_seconds=sample_interval,
        clients=clients,
    )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}s"


def _action_text(action: Mapping[str, Any]) -> str:
    diagnosis = diagnosis_of(str(action.get("reason") or ""))
    return f"{action['action']}{f'({diagnosis})' if diagnosis else ''}@{action['t']:.0f}s"


def render_text(report: Report) -> str:
    """The report as plain text (the live view prints a rich table of the same rows)."""
    lines = [
        f"Scenario {report.scenario!r}: {report.duration_seconds:.0f}s at speed {report.speed:g}; "
        f"{'PASS' if report.ok else 'FAIL'}"
    ]
    lines.append(f"{'step':28} {'detect':>7} {'act':>7} {'recover':>8}  verdict")
    for s in report.steps:
        lines.append(
            f"{s.label[:28]:28} {_fmt(s.detect_seconds):>7} {_fmt(s.act_seconds):>7} "
            f"{_fmt(s.recover_seconds):>8}  {'ok ' if s.passed else 'BAD'} {s.verdict}"
        )
        if s.actions:
            summary = ", ".join(_action_text(a) for a in s.actions[:6])
            more = f" (+{len(s.actions) - 6})" if len(s.actions) > 6 else ""
            lines.append(f"{'':28}   actions: {summary}{more}")
    lines.append(
        f"availability: {_pct(report.availability)} (operator's status), "
        f"{_pct(report.availability_truth)} (world truth)"
    )
    lines.append(
        f"instances launched: {report.instances_launched}, instance-hours: {report.instance_hours:.3f}"
    )
    calls = ", ".join(f"{k} {v}" for k, v in report.aws_calls.items())
    lines.append(f"AWS API calls: {report.aws_calls_total} ({calls})")
    for inv in report.invariants:
        lines.append(f"invariant {inv.name}: {'held' if inv.ok else 'BROKEN'}")
        lines.extend(f"    {v}" for v in inv.violations[:10])
    if report.clients is not None:
        lines.extend(render_clients(report.clients))
    lines.extend(f"note: {n}" for n in report.notes)
    return "\n".join(lines)
