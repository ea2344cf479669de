"""Semantic problems of an accepted spec become conditions that name the cause, transitioning once
(controller/spec_problems.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from judge0_operator.api.common import Condition
from judge0_operator.api.fleet_status import Judge0FleetStatus
from judge0_operator.controller.spec_problems import apply_problems
from judge0_operator.decide.model import EventNote

NOW = datetime(2025, 5, 1, 8, tzinfo=UTC)


def cond(type_: str, status: str, reason: str, at: datetime = NOW) -> Condition:
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message="",
        last_transition_time=at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        observed_generation=1,
    )


def planned() -> Judge0FleetStatus:
    """What the planner wrote this pass: the cloud reachable, remediation allowed."""
    return Judge0FleetStatus(
        conditions=[cond("CloudAPIReady", "True", "Reachable"), cond("RemediationAllowed", "True", "WithinLimits")]
    )


def by_type(status: Judge0FleetStatus) -> dict[str, Condition]:
    return {c.type: c for c in status.conditions}


def test_a_subnet_of_another_region_is_named_in_cloud_api_ready() -> None:
    status, events = apply_problems(
        planned(),
        Judge0FleetStatus(),
        [],
        region="us-east-1",
        unknown_subnets=["subnet-0fffffffffffffff9"],
        missing_secret=None,
        now=NOW,
        generation=1,
    )
    cloud = by_type(status)["CloudAPIReady"]
    assert (cloud.status, cloud.reason) == ("False", "SubnetNotFound")
    assert "subnet-0fffffffffffffff9" in cloud.message and "us-east-1" in cloud.message
    assert [e.reason for e in events] == ["CloudAPIReadyFalse"]


def test_the_condition_holds_still_on_the_next_pass_without_another_event() -> None:
    earlier = NOW - timedelta(minutes=5)
    previous = Judge0FleetStatus(conditions=[cond("CloudAPIReady", "False", "SubnetNotFound", earlier)])
    flip = [EventNote("Normal", "CloudAPIReadyTrue", "the planner's view")]
    status, events = apply_problems(
        planned(),
        previous,
        flip,
        region="us-east-1",
        unknown_subnets=["subnet-0fffffffffffffff9"],
        missing_secret=None,
        now=NOW,
        generation=1,
    )
    assert by_type(status)["CloudAPIReady"].last_transition_time == earlier.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert events == []


def test_a_terminal_aws_error_keeps_its_own_explanation() -> None:
    status = Judge0FleetStatus(
        conditions=[cond("CloudAPIReady", "False", "InvalidParameter")],
        aws_error={"code": "InvalidSubnetID.NotFound", "message": "no such subnet", "generation": 1},
    )
    out, _ = apply_problems(
        status,
        Judge0FleetStatus(),
        [],
        region="us-east-1",
        unknown_subnets=["subnet-0fffffffffffffff9"],
        missing_secret=None,
        now=NOW,
        generation=1,
    )
    assert by_type(out)["CloudAPIReady"].reason == "InvalidParameter"


def test_a_missing_secret_stops_remediation_and_names_the_secret() -> None:
    status, events = apply_problems(
        planned(),
        Judge0FleetStatus(),
        [],
        region="us-east-1",
        unknown_subnets=[],
        missing_secret=("judge0-auth", "token", "team-a"),
        now=NOW,
        generation=1,
    )
    allowed = by_type(status)["RemediationAllowed"]
    assert (allowed.status, allowed.reason) == ("False", "SecretNotFound")
    assert "judge0-auth" in allowed.message and "team-a" in allowed.message
    assert by_type(status)["CloudAPIReady"].status == "True"
    assert [e.reason for e in events] == ["RemediationAllowedFalse"]


def test_nothing_wrong_changes_nothing() -> None:
    status, events = apply_problems(
        planned(),
        Judge0FleetStatus(),
        [],
        region="us-east-1",
        unknown_subnets=[],
        missing_secret=None,
        now=NOW,
        generation=1,
    )
    assert status == planned() and events == []
