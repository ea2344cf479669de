"""What the prober remembers of each Judge0 node between passes, and how a probe's result is
recorded there (with its metrics): shared by the request probes and the canary."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from judge0_operator import metrics
from judge0_operator.decide.model import ProbeResult, Signal

log = logging.getLogger(__name__)


@dataclass
class NodeState:
    """One node's last run and latest result per signal, its canary task, and what it reported."""

    instance_id: str
    last_run: dict[Signal, datetime] = field(default_factory=dict)
    results: dict[Signal, ProbeResult] = field(default_factory=dict)
    canary: asyncio.Task[None] | None = None
    version: str | None = None
    database_bytes: int | None = None  # GET /statistics (read at the disk probe's interval)


def record(node: NodeState, result: ProbeResult) -> ProbeResult:
    """Keep ``result`` as the node's latest for its signal and count it in the metrics."""
    node.results[result.signal] = result
    outcome = "unknown" if result.ok is None else ("ok" if result.ok else "bad")
    metrics.PROBE_RESULTS.labels(result.signal, outcome).inc()
    if result.latency_seconds > 0:  # an answer came back (refused connections have no latency)
        metrics.PROBE_DURATION.labels(result.signal).observe(result.latency_seconds)
    if result.ok is not True:
        log.debug("probe %s of %s: %s: %s", result.signal, node.instance_id, outcome, result.detail)
    return result
