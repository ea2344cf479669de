"""The controller's side of diagnosis and a human's controls, kept out of the pass's main line.

- ``with_disk``: the batched SSM disk probe (``observe/disk.py``) and the database size from
  ``GET /statistics`` join the other probes as the ``disk`` signal.
- ``controls_of``: the fleet's annotations, read for the planner (``decide/controls.py``).
- ``reset_breakers``: a ``judge0.dev/reset-circuit`` the planner acted on also closes the region's
  AWS circuit breakers (process state the planner cannot touch).
- ``set_metrics``: ``judge0_operator_instance_diagnoses{diagnosis}`` — bounded: the names of
  ``decide.diagnosis.DIAGNOSES``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from judge0_operator import metrics
from judge0_operator.api.fleet_status import Judge0FleetStatus
from judge0_operator.api.policy import RecoveryPolicySpec
from judge0_operator.controller.runtime import Runtime
from judge0_operator.decide.controls import Controls, parse_annotations
from judge0_operator.decide.diagnosis import DIAGNOSES
from judge0_operator.decide.model import Ec2Instance, ProbeResult, Signal
from judge0_operator.observe import disk

log = logging.getLogger(__name__)


def with_disk(
    runtime: Runtime,
    region: str,
    fleet_uid: str,
    instances: Sequence[Ec2Instance],
    policy: RecoveryPolicySpec,
    probes: Mapping[str, Mapping[Signal, ProbeResult]],
    now: datetime,
) -> dict[str, dict[Signal, ProbeResult]]:
    """The probes with each instance's ``disk`` result (df through SSM, database size) added."""
    spec = policy.probes.disk
    out = {iid: dict(results) for iid, results in probes.items()}
    if not spec.enabled:
        return out
    readings = runtime.aws.disk_prober(region).probe_fleet(fleet_uid, instances, spec, now)
    for iid, results in out.items():
        merged = disk.merge(readings.get(iid), runtime.prober.database_bytes(iid), spec, now)
        if merged is not None:
            results["disk"] = merged
    return out


def controls_of(metadata: Mapping[str, Any]) -> Controls:
    return parse_annotations(dict(metadata.get("annotations") or {}))


def reset_breakers(runtime: Runtime, region: str, previous: Judge0FleetStatus, status: Judge0FleetStatus) -> None:
    if status.circuit_reset and status.circuit_reset != previous.circuit_reset:
        closed = runtime.aws.circuit.reset(region)
        log.info("judge0.dev/reset-circuit=%s: circuit breakers closed in %s: %s", status.circuit_reset, region, closed)


def set_metrics(namespace: str, name: str, status: Judge0FleetStatus) -> None:
    counts = dict.fromkeys(DIAGNOSES, 0)
    for row in status.instances:
        if row.diagnosis in counts:
            counts[row.diagnosis] += 1  # type: ignore[index]
    for diagnosis, count in counts.items():
        metrics.INSTANCE_DIAGNOSES.labels(namespace, name, diagnosis).set(count)
