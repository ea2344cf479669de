"""Whole-run figures: availability (the operator's status and the world's truth), the
instance-seconds the fleet consumed, and percentiles (the benchmarks use them too).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from judge0_operator.simulate.samples import Sample


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


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]
