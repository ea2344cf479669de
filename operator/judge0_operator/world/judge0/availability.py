"""What a node's faults let each of its parts do right now: the web process answer, the workers
take jobs, the API accept a submission. Read by the request filters, the queue and the world's
ELB health checks alike, so they never disagree about a node."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from judge0_operator.world.judge0.nodes import NodeView

_REJECTING_FAULTS = ("maintenance", "queue-full", "redis-down", "db-down", "api-500", "auth-rejected")


def fault_number(params: Mapping[str, Any] | None, key: str, default: float) -> float:
    """A fault's numeric parameter, or ``default`` when it is missing or not a number."""
    try:
        return float((params or {}).get(key, default))
    except (TypeError, ValueError):
        return default


def reachable(view: NodeView | None, now: float | None = None) -> bool:
    """False when the node's web process would refuse the connection right now."""
    if view is None or not view.serving or "judge0-down" in view.faults:
        return False
    flapping = view.faults.get("flapping")
    if flapping is not None:
        period = fault_number(flapping, "periodSeconds", 10.0)
        moment = time.monotonic() if now is None else now
        if period > 0 and int(moment // period) % 2 == 1:
            return False
    return True


def workers_running(view: NodeView | None) -> bool:
    """Workers take jobs only on a running host with Redis and Postgres reachable."""
    if view is None or not view.serving:
        return False
    faults = view.faults
    return not ("workers-dead" in faults or "redis-down" in faults or "db-down" in faults)


def drops_jobs(view: NodeView | None) -> bool:
    """Workers running against Redis, but Postgres down: they take jobs and drop them."""
    if view is None or not view.serving:
        return False
    faults = view.faults
    return "db-down" in faults and not ("workers-dead" in faults or "redis-down" in faults)


def accepts_api_submissions(view: NodeView | None) -> bool:
    """``POST /submissions`` would take a job: the node answers and no fault rejects it."""
    if not reachable(view):
        return False
    assert view is not None
    return not any(fault in view.faults for fault in _REJECTING_FAULTS)
