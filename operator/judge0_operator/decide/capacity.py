"""Desired replica count: spec.replicas, raised by schedule windows, moved by queue backlog, clamped.

Rules, in order (``reason`` in status names the one that won):

1. ``spec.replicas`` is the base ("Spec"); the scale subresource writes it, so ``kubectl scale``
   works. With queue autoscaling on it is only the starting point, as with an HPA.
2. Queue autoscaling (``scaling.queue``), HPA-style, from ``/workers`` on healthy instances:
   backlog per worker = Σ queued ÷ max(Σ available workers, 1); recommendation =
   ceil(measured * backlog ÷ target) with a 10 % tolerance band. Instances whose ``/workers``
   is inconclusive (``[]``) count as idle when scaling up and as on target when scaling down,
   so missing data never drives a change. With no data at all the previous count is kept. It
   never recommends 0: a fleet at 0 has no queue left to read.
   A queue-full 503 ("QueueSaturated") asks for one full step more than the healthy count.
   Scale-up happens at once but at most max(1, live) and at most 5 new instances per pass (EC2's
   RunInstances bucket); scale-down only to the highest recommendation of the last
   ``scaleDownStabilizationSeconds`` ("Stabilizing" while that holds the count up).
3. Active schedule windows raise the floor ("Schedule <name>").
4. Clamp to [minReplicas, maxReplicas] ("Min", "Max").
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from judge0_operator.api.fleet import Judge0FleetSpec
from judge0_operator.api.fleet_status import InstanceStatus, Judge0FleetStatus, ScalingStatus
from judge0_operator.decide.model import EventNote, FleetObservation
from judge0_operator.decide.schedule import ScheduleError, evaluate_schedules
from judge0_operator.decide.timeutil import format_time, parse_time

MAX_LAUNCHES_PER_PASS = 5  # EC2 RunInstances request bucket: 5, refilling 2/s
QUEUE_TOLERANCE = 0.1  # as the HPA: within ±10 % of target, no change
_LIVE_STATES = frozenset({"pending", "running"})
_EPSILON = 1e-9  # keep float noise (3.0000000000000004) from adding an instance

REASON_SPEC = "Spec"
REASON_BACKLOG = "QueueBacklog"
REASON_SATURATED = "QueueSaturated"
REASON_NO_DATA = "QueueNoData"
REASON_STABILIZING = "Stabilizing"
REASON_MIN = "Min"
REASON_MAX = "Max"


def scale_up_step(current: int, *, max_step: int = MAX_LAUNCHES_PER_PASS) -> int:
    """How many instances one pass may add to ``current``: doubling, at most ``max_step``."""
    return min(max(1, current), max_step)


@dataclass(frozen=True)
class QueueReading:
    """The fleet's queue as the healthy instances report it this pass."""

    queued: int = 0
    workers: int = 0
    reporting: int = 0  # healthy instances with /workers numbers
    unknown: int = 0  # healthy instances whose /workers is inconclusive ([] or not probed yet)
    saturated: bool = False  # a healthy instance saw its queue full (503)

    @property
    def healthy(self) -> int:
        return self.reporting + self.unknown

    @property
    def backlog_per_worker(self) -> float | None:
        """Σ queued ÷ max(Σ available, 1); None when nobody reported (unknown is not zero)."""
        return self.queued / max(self.workers, 1) if self.reporting else None


def read_queue(observation: FleetObservation, healthy_instance_ids: frozenset[str]) -> QueueReading:
    """Sum ``/workers`` over healthy instances; an inconclusive probe counts as unknown."""
    queued = workers = reporting = unknown = 0
    saturated = False
    for seen in observation.instances:
        if seen.instance.instance_id not in healthy_instance_ids:
            continue
        saturated = saturated or any(p.saturated for p in seen.probes.values())
        probe = seen.probes.get("workers")
        if probe is None or probe.ok is None or probe.queue_size is None or probe.available_workers is None:
            unknown += 1
            continue
        reporting += 1
        queued += max(probe.queue_size, 0)
        workers += max(probe.available_workers, 0)
    return QueueReading(queued, workers, reporting, unknown, saturated)


def queue_recommendation(
    reading: QueueReading, *, target: float, max_step: int = MAX_LAUNCHES_PER_PASS
) -> tuple[int, str] | None:
    """The count the queue asks for and why, before step limits and stabilisation; None: no data."""
    recommendation: int | None = None
    if reading.backlog_per_worker is not None:
        ratio = reading.backlog_per_worker / target
        if ratio > 1 + QUEUE_TOLERANCE:  # unknown instances assumed idle: never shrink on a scale-up
            recommendation = max(math.ceil(reading.reporting * ratio - _EPSILON), reading.healthy)
        elif ratio < 1 - QUEUE_TOLERANCE:  # unknown instances assumed on target: shrink only what we saw
            recommendation = math.ceil(reading.reporting * ratio + reading.unknown - _EPSILON)
        else:
            recommendation = reading.healthy
        recommendation = max(recommendation, 1)  # a fleet at 0 has no queue left to read
    if reading.saturated:
        wanted = reading.healthy + scale_up_step(reading.healthy, max_step=max_step)
        if recommendation is None or wanted > recommendation:
            return wanted, REASON_SATURATED
    return (recommendation, REASON_BACKLOG) if recommendation is not None else None


def _window_recommendations(
    previous: ScalingStatus | None, *, now: datetime, window_seconds: int
) -> list[tuple[datetime, int]]:
    """Previous recommendations still inside the stabilisation window (malformed entries dropped)."""
    cutoff = now - timedelta(seconds=window_seconds)
    kept = []
    for entry in previous.recommendations if previous else []:
        moment = parse_time(str(entry.get("time", "")))
        replicas = entry.get("replicas")
        if moment is not None and isinstance(replicas, int) and moment > cutoff:
            kept.append((moment, replicas))
    return kept


@dataclass(frozen=True)
class _QueueDecision:
    count: int
    reason: str
    recommendations: list[dict[str, Any]]


def _queue_decision(
    reading: QueueReading,
    *,
    target: float,
    keep: int,
    live: int,
    previous: ScalingStatus | None,
    window_seconds: int,
    now: datetime,
    max_step: int,
) -> _QueueDecision:
    history = _window_recommendations(previous, now=now, window_seconds=window_seconds)
    recommended = queue_recommendation(reading, target=target, max_step=max_step)
    if recommended is None:  # unknown is not zero: hold, and let the hold count in the window
        count, reason, raw = keep, REASON_NO_DATA, keep
    else:
        raw, reason = recommended
        if not history and window_seconds > 0:
            # Nothing recorded for the window (first pass, queue just enabled, a long gap): count
            # the current size as recommended now, so a scale-down waits out a full window.
            history.append((now, keep))
        if raw > keep:  # up at once, bounded per pass
            count = min(raw, max(keep, live + scale_up_step(live, max_step=max_step)))
        elif raw == keep:
            count = keep
        else:  # down only to the highest recommendation still in the window
            count = min(keep, max([raw, *(replicas for _, replicas in history)]))
            if count > raw:
                reason = REASON_STABILIZING
    history.append((now, raw))
    kept = [{"time": format_time(_ceil_second(m)), "replicas": r} for m, r in _dominant(history)]
    return _QueueDecision(count, reason, kept)


def _ceil_second(moment: datetime) -> datetime:
    """Status keeps whole seconds: rounding up keeps a recommendation in the window longer, never shorter."""
    return moment if moment.microsecond == 0 else moment.replace(microsecond=0) + timedelta(seconds=1)


def _dominant(history: list[tuple[datetime, int]]) -> list[tuple[datetime, int]]:
    """Only entries higher than every later one: the window's maximum is the same, status stays small."""
    kept: list[tuple[datetime, int]] = []
    for moment, replicas in sorted(history, reverse=True):
        if not kept or replicas > kept[-1][1]:
            kept.append((moment, replicas))
    return kept[::-1]


def desired_replicas(
    spec: Judge0FleetSpec,
    observation: FleetObservation,
    previous: ScalingStatus | None,
    *,
    healthy_instance_ids: frozenset[str],
    now: datetime,
    max_launches_per_pass: int = MAX_LAUNCHES_PER_PASS,
) -> ScalingStatus:
    """The desired count and why; ``previous`` carries the stabilisation window's recommendations.

    Raises ``schedule.ScheduleError`` (naming ``spec.scaling.schedules[i].cron``) on an invalid
    window; the controller can check first with ``schedule.validate_schedules``.
    """
    count, reason = spec.replicas, REASON_SPEC
    scaling = spec.scaling
    if scaling is None:
        return ScalingStatus(desired_replicas=count, reason=reason)

    backlog: float | None = None
    recommendations: list[dict[str, Any]] = []
    if scaling.queue is not None:
        reading = read_queue(observation, healthy_instance_ids)
        backlog = reading.backlog_per_worker
        decision = _queue_decision(
            reading,
            target=scaling.queue.target_backlog_per_worker,
            keep=previous.desired_replicas if previous is not None else spec.replicas,
            live=sum(1 for seen in observation.instances if seen.instance.state in _LIVE_STATES),
            previous=previous,
            window_seconds=scaling.scale_down_stabilization_seconds,
            now=now,
            max_step=max_launches_per_pass,
        )
        count, reason, recommendations = decision.count, decision.reason, decision.recommendations

    schedules = evaluate_schedules(scaling.schedules, now)
    winner = schedules.winner
    if winner is not None and winner.min_replicas > count:
        count, reason = winner.min_replicas, f"Schedule {winner.label}"
    if count < scaling.min_replicas:
        count, reason = scaling.min_replicas, REASON_MIN
    if count > scaling.max_replicas:
        count, reason = scaling.max_replicas, REASON_MAX

    next_opening = schedules.next_opening
    return ScalingStatus(
        desired_replicas=count,
        reason=reason,
        backlog_per_worker=round(backlog, 3) if backlog is not None else None,
        recommendations=recommendations,
        active_window=winner.label if winner else None,
        next_window_at=format_time(next_opening) if next_opening else None,
    )


def next_scaling_check(spec: Judge0FleetSpec, scaling: ScalingStatus, now: datetime) -> datetime | None:
    """The earliest moment the desired count can change on its own (window opens/closes, stabilisation ends).

    Queue load changes any time; the planner's regular pass covers that.
    """
    if spec.scaling is None:
        return None
    moments = []
    if (change := evaluate_schedules(spec.scaling.schedules, now).next_change) is not None:
        moments.append(change)
    seconds = spec.scaling.scale_down_stabilization_seconds
    window = timedelta(seconds=seconds)
    recommendations = _window_recommendations(scaling, now=now, window_seconds=seconds)
    if recommendations:
        _, latest = max(recommendations)
        # The count held up by an older, higher recommendation can drop when that one leaves the window.
        moments.extend(moment + window for moment, replicas in recommendations if replicas > latest)
    return min((m for m in moments if m > now), default=None)


# --- Phase 3 of a pass: the desired size -----------------------------------------------------
@dataclass(frozen=True)
class Size:
    """The desired count this pass, why, and when it may change on its own."""

    desired: int
    scaling: ScalingStatus
    next_check: datetime | None
    events: tuple[EventNote, ...] = ()


def desired_size(
    spec: Judge0FleetSpec,
    observation: FleetObservation,
    previous: Judge0FleetStatus,
    rows: Collection[InstanceStatus],
    now: datetime,
) -> Size:
    """``desired_replicas`` over the healthy rows; an invalid schedule keeps the previous count.

    Events: ``InvalidSchedule`` — Warning.
    """
    healthy = frozenset(r.instance_id for r in rows if r.health == "Healthy")
    try:
        scaling = desired_replicas(spec, observation, previous.scaling, healthy_instance_ids=healthy, now=now)
        next_check = next_scaling_check(spec, scaling, now)
        events: tuple[EventNote, ...] = ()
    except ScheduleError as error:
        keep = previous.desired_replicas if previous.desired_replicas is not None else spec.replicas
        scaling = ScalingStatus(desired_replicas=keep, reason="InvalidSchedule")
        next_check = None
        events = (EventNote("Warning", "InvalidSchedule", f"{error}; keeping {keep} replicas"),)
    return Size(max(0, scaling.desired_replicas), scaling, next_check, events)
