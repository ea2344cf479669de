"""Semantic problems of a spec the API server accepted, shown as conditions that name the cause.

The schema cannot know that a subnet belongs to another region, that a Secret is missing, or
that an AMI does not exist; a pass finds out. An unknown AMI is the cloud's terminal error
(``CloudAPIReady=False``, ``InvalidAMI``, launches stopped until the spec changes: ``decide``).
This module covers the other two, overriding the planner's condition for this pass against the
*previous* pass's conditions (so ``lastTransitionTime`` holds still and no Event repeats):

* subnets DescribeSubnets does not find in the fleet's region → ``CloudAPIReady=False``,
  reason ``SubnetNotFound``, message naming them (unless a terminal AWS error already explains);
  placement leaves them out (``decide.placement.allowed_subnets``);
* the auth Secret (or its key) missing → the fleet is observed and reported only, like a missing
  RecoveryPolicy: probes without Judge0's token would fail on every node, and healing by that
  guess would restart a healthy fleet. ``RemediationAllowed=False``, reason ``SecretNotFound``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from judge0_operator.api.fleet_status import Judge0FleetStatus
from judge0_operator.decide.conditions import CLOUD_API_READY, REMEDIATION_ALLOWED, Desired, find, set_one
from judge0_operator.decide.model import EventNote

SUBNET_NOT_FOUND = "SubnetNotFound"
SECRET_NOT_FOUND = "SecretNotFound"


def override(
    status: Judge0FleetStatus,
    previous: Judge0FleetStatus,
    desired: Desired,
    *,
    now: datetime,
    generation: int,
    events: Sequence[EventNote],
) -> tuple[Judge0FleetStatus, list[EventNote]]:
    """``status`` with ``desired`` in place of the planner's condition of that type, merged against
    the previous pass's (so it only transitions, and says so, when it really changes)."""
    merged, notes = set_one(list(previous.conditions), desired, now=now, generation=generation)
    chosen = find(merged, desired.type)
    assert chosen is not None
    conditions = [chosen if c.type == desired.type else c for c in status.conditions]
    if find(status.conditions, desired.type) is None:
        conditions.append(chosen)
    kept = [e for e in events if not e.reason.startswith(desired.type)]  # the planner's flip-flop
    return status.model_copy(update={"conditions": conditions}), [*kept, *notes]


def subnets_not_found(status: Judge0FleetStatus, unknown: Iterable[str], region: str) -> Desired | None:
    """The condition for subnets the region does not have, unless a terminal AWS error explains more."""
    missing = sorted(set(unknown))
    if not missing:
        return None
    cloud = find(status.conditions, CLOUD_API_READY)
    if cloud is not None and cloud.status == "False" and status.aws_error:
        return None
    return Desired(
        CLOUD_API_READY,
        "False",
        SUBNET_NOT_FOUND,
        f"subnet(s) {', '.join(missing)} not found in {region} (another region, or deleted): not launched into",
    )


def secret_not_found(name: str, key: str, namespace: str) -> Desired:
    return Desired(
        REMEDIATION_ALLOWED,
        "False",
        SECRET_NOT_FOUND,
        f"Secret {name!r} (key {key!r}) not found in {namespace}: Judge0 cannot be probed with its token; "
        "observing and reporting only",
    )


def apply_problems(
    status: Judge0FleetStatus,
    previous: Judge0FleetStatus,
    events: Sequence[EventNote],
    *,
    region: str,
    unknown_subnets: Iterable[str],
    missing_secret: tuple[str, str, str] | None,  # (name, key, namespace)
    now: datetime,
    generation: int,
) -> tuple[Judge0FleetStatus, list[EventNote]]:
    """The pass's status and Events with every semantic problem found shown as its condition."""
    out = list(events)
    if missing_secret is not None:
        status, out = override(
            status, previous, secret_not_found(*missing_secret), now=now, generation=generation, events=out
        )
    subnets = subnets_not_found(status, unknown_subnets, region)
    if subnets is not None:
        status, out = override(status, previous, subnets, now=now, generation=generation, events=out)
    return status, out
