"""Conditions keep lastTransitionTime while their status holds; every flip posts an Event."""

from __future__ import annotations

from plan_builders import Driver, Node, at, condition, make_spec, reasons

from judge0_operator.api.common import Condition
from judge0_operator.decide.conditions import Desired, merge, set_one
from judge0_operator.decide.timeutil import format_time


def test_last_transition_time_kept_while_status_holds_and_moved_on_flip():
    driver = Driver(make_spec(1))
    healthy = Node("i-1")
    driver.step(at(0), [healthy])
    assert condition(driver.status, "Ready").last_transition_time == format_time(at(0))
    driver.step(at(100), [healthy])
    assert condition(driver.status, "Ready").last_transition_time == format_time(at(0))

    sick = healthy.but(api=False, probed_at=at(150))
    flipped = driver.step(at(200), [sick])
    ready = condition(flipped.status, "Ready")
    assert (ready.status, ready.reason, ready.last_transition_time) == (
        "False",
        "Unhealthy",
        format_time(at(200)),
    )
    assert "ReadyFalse" in reasons(flipped) and "DegradedTrue" in reasons(flipped)
    warnings = {e.reason for e in flipped.events if e.type == "Warning"}
    assert {"ReadyFalse", "DegradedTrue"} <= warnings

    same = driver.step(at(220), [sick])  # still not ready, reason may change, time does not
    assert condition(same.status, "Ready").last_transition_time == format_time(at(200))
    assert "ReadyFalse" not in reasons(same)


def test_new_fleet_announces_only_bad_conditions():
    result = Driver(make_spec(2)).step(at(0), [])
    assert set(reasons(result)) >= {"ReadyFalse", "AvailableFalse"}
    assert "RemediationAllowedTrue" not in reasons(result) and "CloudAPIReadyTrue" not in reasons(result)
    types = [c.type for c in result.status.conditions]
    assert types == [
        "Ready", "Available", "Progressing", "Degraded", "RemediationAllowed", "CloudAPIReady", "Configured"
    ]
    progressing = condition(result.status, "Progressing")
    assert (progressing.status, progressing.reason) == ("True", "Launching")


def test_merge_keeps_foreign_conditions_and_updates_reason_without_moving_time():
    old = [
        Condition(
            type="Ready",
            status="False",
            reason="WaitingForInstances",
            last_transition_time="2026-01-01T00:00:00Z",
        ),
        Condition(type="Custom", status="True", reason="Mine", last_transition_time="2025-01-01T00:00:00Z"),
    ]
    merged, events = merge(old, [Desired("Ready", "False", "Unhealthy", "x")], now=at(0), generation=3)
    assert [(c.type, c.reason, c.last_transition_time) for c in merged] == [
        ("Ready", "Unhealthy", "2026-01-01T00:00:00Z"),
        ("Custom", "Mine", "2025-01-01T00:00:00Z"),
    ]
    assert events == [] and merged[0].observed_generation == 3


def test_set_one_changes_one_condition_and_reports_the_flip():
    old = [
        Condition(
            type="CloudAPIReady",
            status="True",
            reason="Reachable",
            last_transition_time="2026-01-01T00:00:00Z",
        ),
        Condition(type="Ready", status="True", reason="AllHealthy", last_transition_time="2026-01-01T00:00:00Z"),
    ]
    new, events = set_one(old, Desired("CloudAPIReady", "False", "AccessDenied", "no"), now=at(0), generation=1)
    assert [(c.type, c.status) for c in new] == [("CloudAPIReady", "False"), ("Ready", "True")]
    assert [(e.type, e.reason) for e in events] == [("Warning", "CloudAPIReadyFalse")]
