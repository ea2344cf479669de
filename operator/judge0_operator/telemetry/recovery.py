"""Incidents from status tables: when an instance was judged Unhealthy, and how that ended.

A pure function of two successive ``status.instances`` tables (the one this process last saw,
and the one a pass just wrote) and the open incidents, so it is tested without a cluster and
the planner stays untouched.

- **Detected**: an instance turns Unhealthy. Time to detect = the pass's time minus the ``since``
  of its earliest Unhealthy signal (its first bad observation); the label is that signal. With
  no Unhealthy signal (a stopped instance, a scheduled event) nothing is timed: there is no
  first bad observation to count from.
- **Ended**: the incident's instance is Healthy again — recovered by the rung last taken on it
  during the incident (``RestartJudge0``, ``RebootInstance``, ``Start``) or ``NoAction`` — or it
  went away (terminated, or gone from the table): ``ReplaceInstance`` when a replacement was
  launched for it, ``Removed`` otherwise (scale-in, terminated by hand; not a recovery, so not
  timed). Time to recover = end minus the moment it was judged Unhealthy.
- **GaveUp**: ``gaveUp`` turns true during an incident (counted once; the incident stays open).

An instance already Unhealthy when this process first sees it (the operator restarted
mid-incident) opens an incident whose start is unknown: its end is counted, never timed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from judge0_operator.api.fleet_status import InstanceStatus
from judge0_operator.decide.timeutil import parse_time

GONE_STATES = frozenset({"shutting-down", "terminated"})
NO_ACTION = "NoAction"
REPLACED = "ReplaceInstance"
REMOVED = "Removed"
GAVE_UP = "GaveUp"
UNTIMED_SIGNAL = "other"


@dataclass(frozen=True)
class Incident:
    """An instance between being judged Unhealthy and Healthy again (or gone)."""

    unhealthy_at: datetime | None  # None: already Unhealthy when this process first saw it
    attempts_before: int | None  # remediation attempts on the row before the incident (None: unknown)
    gave_up: bool = False


@dataclass(frozen=True)
class Detection:
    signal: str
    seconds: float | None  # None: no first bad observation to count from


@dataclass(frozen=True)
class Outcome:
    outcome: str  # a rung's action, NoAction, ReplaceInstance, Removed or GaveUp
    seconds: float | None  # time to recover; None when untimed (unknown start, Removed, GaveUp)


@dataclass(frozen=True)
class Transitions:
    incidents: dict[str, Incident]
    detected: list[Detection] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)


def track_incidents(
    before: Mapping[str, InstanceStatus],
    after: Sequence[InstanceStatus],
    incidents: Mapping[str, Incident],
    now: datetime,
) -> Transitions:
    """Open, close and give up incidents between two tables (``before`` keyed by instance id)."""
    open_ = dict(incidents)
    detected: list[Detection] = []
    outcomes: list[Outcome] = []
    seen: set[str] = set()
    for row in after:
        iid = row.instance_id
        seen.add(iid)
        previous = before.get(iid)
        incident = open_.get(iid)
        if incident is None:
            if row.health != "Unhealthy":
                continue
            if previous is not None and previous.health == "Unhealthy":  # we missed its start
                incident = Incident(unhealthy_at=None, attempts_before=None)
            else:
                detected.append(_detection(row, now))
                incident = Incident(unhealthy_at=now, attempts_before=previous.attempts if previous else 0)
            open_[iid] = incident
        if row.state in GONE_STATES:
            outcomes.append(_gone(previous or row, incident, now))
            del open_[iid]
        elif row.health == "Healthy":
            outcomes.append(Outcome(_recovered_by(row, incident), _elapsed(incident, now)))
            del open_[iid]
        elif row.gave_up and not incident.gave_up:
            outcomes.append(Outcome(GAVE_UP, None))
            open_[iid] = replace(incident, gave_up=True)
    for iid in [i for i in open_ if i not in seen]:
        outcomes.append(_gone(before.get(iid), open_.pop(iid), now))
    return Transitions(open_, detected, outcomes)


def _detection(row: InstanceStatus, now: datetime) -> Detection:
    starts = [
        (since, name)
        for name, signal in row.signals.items()
        if signal.status == "Unhealthy" and (since := parse_time(signal.since)) is not None
    ]
    if not starts:
        return Detection(UNTIMED_SIGNAL, None)
    since, name = min(starts)
    return Detection(name, max(0.0, (now - since).total_seconds()))


def _recovered_by(row: InstanceStatus, incident: Incident) -> str:
    acted = row.attempts > (incident.attempts_before or 0)
    return row.last_action if acted and row.last_action else NO_ACTION


def _gone(row: InstanceStatus | None, incident: Incident, now: datetime) -> Outcome:
    replaced = row is not None and (bool(row.replaced_by) or row.last_action == REPLACED)
    return Outcome(REPLACED, _elapsed(incident, now)) if replaced else Outcome(REMOVED, None)


def _elapsed(incident: Incident, now: datetime) -> float | None:
    if incident.unhealthy_at is None:
        return None
    return max(0.0, (now - incident.unhealthy_at).total_seconds())
