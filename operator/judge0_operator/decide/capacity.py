"""Desired replica count: spec.replicas, raised by schedule windows, moved by queue backlog, clamped.

STUB (owned by the capacity work, issue 7): returns spec.replicas clamped to the scaling bounds.
"""

from __future__ import annotations

from datetime import datetime

from judge0_operator.api.fleet import Judge0FleetSpec, ScalingStatus
from judge0_operator.decide.model import FleetObservation


def desired_replicas(
    spec: Judge0FleetSpec,
    observation: FleetObservation,
    previous: ScalingStatus | None,
    *,
    healthy_instance_ids: frozenset[str],
    now: datetime,
) -> ScalingStatus:
    """The desired count and why; ``previous`` carries the stabilisation window's recommendations."""
    count, reason = spec.replicas, "Spec"
    if spec.scaling is not None:
        if count < spec.scaling.min_replicas:
            count, reason = spec.scaling.min_replicas, "Min"
        if count > spec.scaling.max_replicas:
            count, reason = spec.scaling.max_replicas, "Max"
    return ScalingStatus(desired_replicas=count, reason=reason)


def next_scaling_check(spec: Judge0FleetSpec, scaling: ScalingStatus, now: datetime) -> datetime | None:
    """The earliest moment the desired count can change on its own (window opens/closes, stabilisation ends)."""
    return None
