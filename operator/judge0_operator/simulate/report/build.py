"""The ``Report`` of one run: every step judged, the whole-run measures and invariants, in one
value that renders as text (``text``) or camelCase JSON (``to_dict``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from judge0_operator.simulate.report.client_load import ClientsSection
from judge0_operator.simulate.report.invariants import (
    InvariantResult,
    check_duplicate_launches,
    check_leaks,
    check_safety_stop,
)
from judge0_operator.simulate.report.measures import availability, instance_seconds
from judge0_operator.simulate.report.step_timings import Injection
from judge0_operator.simulate.report.step_verdicts import StepResult, analyse_step
from judge0_operator.simulate.samples import ActionSeen, Sample


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
