"""Per-fleet metrics worked out from each pass's status: recovery figures, conditions, availability.

The controller calls ``observe_pass`` once per pass, after the status is written. The memory kept
here is small and per fleet: the last table seen (so a transition is counted once even if the
next pass reads a stale body), the open incidents, the condition series exported (to remove
them when a reason changes) and the previous pass's counts (availability is the area under
them, as the simulation report measures it: healthy capped at desired, each interval weighted
by its length, the values of its start).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime

from judge0_operator import metrics
from judge0_operator.api.fleet_status import InstanceStatus, Judge0FleetStatus
from judge0_operator.decide.model import SIGNALS
from judge0_operator.telemetry.recovery import Incident, Transitions, track_incidents

ConditionLabels = tuple[str, str, str]  # condition, status, reason


@dataclass
class _FleetMemory:
    rows: dict[str, InstanceStatus]
    incidents: dict[str, Incident] = field(default_factory=dict)
    conditions: set[ConditionLabels] = field(default_factory=set)
    last_pass: tuple[datetime, int, int] | None = None  # time, healthy, desired
    healthy_area: float = 0.0
    desired_area: float = 0.0


class FleetTelemetry:
    """The memory behind the per-fleet metrics; the process uses the one in ``TELEMETRY``."""

    def __init__(self) -> None:
        self._fleets: dict[tuple[str, str], _FleetMemory] = {}

    def observe_pass(
        self,
        namespace: str,
        name: str,
        previous: Judge0FleetStatus,
        status: Judge0FleetStatus,
        now: datetime,
    ) -> Transitions:
        """Export what this pass changed; ``previous`` is used only for a fleet not seen before."""
        key = (namespace, name)
        memory = self._fleets.get(key)
        if memory is None:
            memory = self._fleets[key] = _FleetMemory(rows={r.instance_id: r for r in previous.instances})
        transitions = track_incidents(memory.rows, status.instances, memory.incidents, now)
        memory.incidents = transitions.incidents
        memory.rows = {r.instance_id: r for r in status.instances}
        for detection in transitions.detected:
            if detection.seconds is not None:
                metrics.TIME_TO_DETECT.labels(namespace, name, detection.signal).observe(detection.seconds)
        for outcome in transitions.outcomes:
            metrics.REMEDIATION_OUTCOMES.labels(namespace, name, outcome.outcome).inc()
            if outcome.seconds is not None:
                metrics.TIME_TO_RECOVER.labels(namespace, name, outcome.outcome).observe(outcome.seconds)
        self._export_state(namespace, name, memory, status)
        self._add_availability(namespace, name, memory, status, now)
        return transitions

    def forget(self, namespace: str, name: str) -> None:
        """A deleted fleet: drop its memory and every series it had."""
        self._fleets.pop((namespace, name), None)
        metrics.forget_fleet(namespace, name)

    @staticmethod
    def _export_state(namespace: str, name: str, memory: _FleetMemory, status: Judge0FleetStatus) -> None:
        for signal in SIGNALS:
            count = sum(1 for r in status.instances if (s := r.signals.get(signal)) and s.status == "Unhealthy")
            metrics.UNHEALTHY_SIGNALS.labels(namespace, name, signal).set(count)
        metrics.GAVE_UP_INSTANCES.labels(namespace, name).set(sum(1 for r in status.instances if r.gave_up))
        current: set[ConditionLabels] = {(c.type, str(c.status), c.reason) for c in status.conditions}
        for stale in memory.conditions - current:
            with contextlib.suppress(KeyError):
                metrics.FLEET_CONDITION.remove(namespace, name, *stale)
        for labels in current:
            metrics.FLEET_CONDITION.labels(namespace, name, *labels).set(1)
        memory.conditions = current

    @staticmethod
    def _add_availability(
        namespace: str, name: str, memory: _FleetMemory, status: Judge0FleetStatus, now: datetime
    ) -> None:
        if memory.last_pass is not None:
            then, healthy, desired = memory.last_pass
            seconds = (now - then).total_seconds()
            if seconds > 0:
                healthy_area, desired_area = min(healthy, desired) * seconds, desired * seconds
                metrics.HEALTHY_REPLICA_SECONDS.labels(namespace, name).inc(healthy_area)
                metrics.DESIRED_REPLICA_SECONDS.labels(namespace, name).inc(desired_area)
                memory.healthy_area += healthy_area
                memory.desired_area += desired_area
                if memory.desired_area:
                    metrics.FLEET_AVAILABILITY.labels(namespace, name).set(memory.healthy_area / memory.desired_area)
        memory.last_pass = (now, status.healthy_replicas, status.desired_replicas or 0)


TELEMETRY = FleetTelemetry()
