"""Drain before disruption: when an interrupting action on a node may go ahead.

Before an action that interrupts a node that can still run code — a Terminate (scale-in, a
rollout, a finished replacement or rebalancing move, a spot notice or scheduled event), or a
RestartJudge0 / RebootInstance ordered for a reason other than the node being broken — the node
leaves rotation first. Then the action waits until the node's own Judge0 has nothing queued and
nothing running (its ``/workers``, read after the drain began) and has stayed so for
``drain.graceSeconds`` (clients fetch their finished results), bounded by ``drain.timeoutSeconds``
and by any hard deadline the operator does not set (a scheduled event's NotBefore: a spot
notice's two minutes). The action is decided again on every pass and held by ``check`` until
then; a pass that no longer decides it ends the drain (the node may come back into rotation).

Not waited on:

* a node that cannot run code — not running, or Unhealthy on the API, workers, canary or EC2
  status checks: its queue will not empty, and it left rotation when it turned Unhealthy;
* a node that served no client lately: out of rotation since longer than the timeout and the
  grace (or never in it);
* every node of a fleet without ``spec.traffic``: the operator does not control what reaches
  it, so a drain could not converge (actions go ahead as before).

``judge0.topology: SharedBackend`` (one Postgres/Redis behind every node): ``/workers`` then shows
the fleet's shared queue, not the node's, and queued jobs are taken by the other nodes' workers,
so a drain waits only for the grace after leaving rotation. Results live in the shared database
and any node answers for them. A job a node's own workers are running when it is interrupted is
still lost (status 2): Judge0 v1.13.1 cannot attribute running jobs to a node over its API.
``/workers`` answering ``[]`` means no queue exists (none yet, or Redis restarted): idle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from judge0_operator.api.fleet import Judge0FleetSpec
from judge0_operator.api.fleet_status import DrainState, InstanceStatus
from judge0_operator.api.policy import RecoveryPolicySpec
from judge0_operator.api.traffic import Topology
from judge0_operator.decide.model import FleetObservation, InstanceObservation
from judge0_operator.decide.timeutil import after, format_time, parse_time

POLL_SECONDS = 1.0  # while a drain waits, /workers of that node is read about this often
JUDGE0_SIGNALS = ("api", "workers", "canary", "ec2")

Outcome = Literal["drained", "timed-out", "deadline", "broken", "not-needed"]


@dataclass(frozen=True)
class Work:
    """A node's own /workers: submissions waiting and running, as seen at ``observed_at``."""

    queued: int
    running: int
    observed_at: datetime

    @property
    def idle(self) -> bool:
        return self.queued == 0 and self.running == 0


def work_of(seen: InstanceObservation) -> Work | None:
    """The node's work from its latest /workers answer; None when unknown (no answer, an error)."""
    probe = seen.probes.get("workers")
    if probe is None or probe.queue_size is None or probe.working is None:
        return None
    return Work(probe.queue_size, probe.working, probe.observed_at)


def works(observation: FleetObservation) -> dict[str, Work]:
    found = {}
    for seen in observation.instances:
        work = work_of(seen)
        if work is not None:
            found[seen.instance.instance_id] = work
    return found


def hard_deadline(seen: InstanceObservation | None) -> datetime | None:
    """The earliest NotBefore of the instance's scheduled events: AWS acts then, drained or not."""
    if seen is None or seen.ec2 is None:
        return None
    moments = [e.not_before for e in seen.ec2.events if e.not_before is not None]
    return min(moments, default=None)


def controls_traffic(spec: Judge0FleetSpec) -> bool:
    """The fleet is published (spec.traffic): the operator decides what reaches its nodes."""
    service = spec.traffic.service
    return bool(spec.traffic.target_group_arns) or (service is not None and service.enabled)


def cannot_run_code(row: InstanceStatus) -> str | None:
    """Why the node cannot run code (it is then not waited on), or None if it can."""
    if row.state != "running":
        return f"instance {row.state}"
    for name in JUDGE0_SIGNALS:
        signal = row.signals.get(name)
        if signal is not None and signal.status == "Unhealthy":
            return f"{name} unhealthy" + (f" ({signal.detail})" if signal.detail else "")
    return None


def served_lately(row: InstanceStatus, policy: RecoveryPolicySpec, now: datetime) -> bool:
    """In rotation or draining now, or out of it for less than the drain timeout and grace."""
    if row.traffic != "Out":
        return True
    since = parse_time(row.traffic_since)  # unset: never left Out (never in rotation)
    window = policy.drain.timeout_seconds + policy.drain.grace_seconds
    return since is not None and (now - since).total_seconds() < window


@dataclass(frozen=True)
class Check:
    """May the interrupting action go now? If not, the drain state to remember and when to look."""

    ready: bool
    outcome: Outcome | None  # set when ready
    state: DrainState | None  # the drain as it stands (None when none was needed)
    why: str = ""  # for Events: what the node was (not) waiting for
    next_check: datetime | None = None


def start(reason: str, policy: RecoveryPolicySpec, now: datetime, hard: datetime | None) -> DrainState:
    deadline = after(now, policy.drain.timeout_seconds)
    if hard is not None:
        deadline = min(deadline, hard)
    return DrainState(
        reason=reason,
        started_at=format_time(now),
        deadline=format_time(deadline),
        hard_deadline=format_time(hard) if hard is not None else None,
    )


def check(
    row: InstanceStatus,
    reason: str,
    *,
    policy: RecoveryPolicySpec,
    topology: Topology,
    work: Work | None,
    hard: datetime | None,
    now: datetime,
    traffic_controlled: bool,
) -> Check:
    """The drain rule for one interrupting action on ``row`` (see the module docstring)."""
    if not traffic_controlled:
        return Check(True, "not-needed", None, "the fleet publishes no traffic (spec.traffic)")
    broken = cannot_run_code(row)
    if broken is not None:
        return Check(True, "broken", row.drain, broken)
    if row.drain is None and not served_lately(row, policy, now):
        return Check(True, "not-needed", None, "served no client lately")
    state = row.drain or start(reason, policy, now, hard)
    started = parse_time(state.started_at) or now
    deadline = parse_time(state.deadline) or now
    if hard is not None and hard < deadline:  # an event scheduled since the drain began
        deadline = hard
        state = state.model_copy(update={"deadline": format_time(hard), "hard_deadline": format_time(hard)})
    idle_since = parse_time(state.idle_since)
    if topology == "SharedBackend":
        idle_since = started  # the queue is the fleet's: nothing of the node's own to wait for
    elif row.drain is not None and work is not None and work.observed_at >= started:
        # only what was seen after leaving rotation (never the answer the pass that began it read)
        idle_since = (idle_since or work.observed_at) if work.idle else None
        state = state.model_copy(update={"queued": work.queued, "running": work.running})
    state = state.model_copy(update={"idle_since": format_time(idle_since) if idle_since else None})
    grace = policy.drain.grace_seconds
    if idle_since is not None and now >= after(idle_since, grace):
        return Check(True, "drained", state, f"nothing queued or running, {grace}s grace given")
    if now >= deadline:
        hard_first = hard is not None and deadline >= hard
        outcome: Outcome = "deadline" if hard_first else "timed-out"
        return Check(True, outcome, state, _left(state))
    moments: Iterable[datetime] = (after(now, POLL_SECONDS), deadline) + (
        (after(idle_since, grace),) if idle_since is not None else ()
    )
    return Check(False, None, state, _left(state), next_check=min(moments))


def _left(state: DrainState) -> str:
    if state.queued is None and state.running is None:
        return "its work unknown (no /workers answer since it left rotation)"
    return f"{state.queued or 0} queued and {state.running or 0} running"


def seconds(state: DrainState | None, now: datetime) -> float:
    """How long the drain has lasted (0 without one)."""
    started = parse_time(state.started_at) if state else None
    return max(0.0, (now - started).total_seconds()) if started else 0.0
