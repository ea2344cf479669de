"""Recovery figures from status tables: incidents (pure), then the per-fleet metrics they feed.

``track_incidents`` is checked on hand-made tables, transition by transition; ``FleetTelemetry``
on a pass sequence, read back from the operator's registry (each test uses its own namespace,
so the process-wide registry is shared safely). One detection is taken from a status captured
from the world (tests/fixtures/statuses/remediating.json).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest

from judge0_operator.api.common import Condition
from judge0_operator.api.fleet_status import InstanceStatus, Judge0FleetStatus, SignalStatus
from judge0_operator.decide.timeutil import format_time, parse_time
from judge0_operator.metrics import REGISTRY
from judge0_operator.telemetry.fleet import FleetTelemetry
from judge0_operator.telemetry.recovery import Incident, Outcome, track_incidents

T0 = datetime(2026, 11, 28, 6, 0, 0, tzinfo=UTC)
CAPTURED = Path(__file__).resolve().parents[1] / "fixtures" / "statuses"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def sig(status: str, since: float, bad: bool | None = None) -> SignalStatus:
    return SignalStatus(status=status, since=format_time(at(since)), bad=status == "Unhealthy" if bad is None else bad)


def row(iid: str = "i-1", health: str = "Healthy", **fields: Any) -> InstanceStatus:
    fields.setdefault("signals", {"api": sig("Healthy", 0), "workers": sig("Healthy", 0)})
    return InstanceStatus(instance_id=iid, slot="s0", state=fields.pop("state", "running"), health=health, **fields)


def table(*rows: InstanceStatus) -> dict[str, InstanceStatus]:
    return {r.instance_id: r for r in rows}


# --- track_incidents ------------------------------------------------------------------------------


def test_turning_unhealthy_is_detected_from_the_earliest_unhealthy_signal() -> None:
    before = table(row())
    sick = row(
        health="Unhealthy",
        signals={"api": sig("Unhealthy", 12), "workers": sig("Unhealthy", 9), "canary": sig("Healthy", 0, bad=True)},
    )
    result = track_incidents(before, [sick], {}, at(15))
    assert [(d.signal, d.seconds) for d in result.detected] == [("workers", 6.0)]
    assert result.incidents == {"i-1": Incident(unhealthy_at=at(15), attempts_before=0)}
    assert result.outcomes == []


def test_staying_unhealthy_is_not_detected_again() -> None:
    sick = row(health="Unhealthy", signals={"api": sig("Unhealthy", 10)})
    open_ = {"i-1": Incident(at(12), 0)}
    result = track_incidents(table(sick), [sick], open_, at(20))
    assert result.detected == [] and result.outcomes == [] and result.incidents == open_


def test_recovered_after_a_restart_is_credited_to_that_rung_and_timed() -> None:
    open_ = {"i-1": Incident(at(12), attempts_before=0)}
    before = table(row(health="Unhealthy", attempts=1, last_action="RestartJudge0"))
    healed = row(attempts=1, last_action="RestartJudge0")
    result = track_incidents(before, [healed], open_, at(40))
    assert result.outcomes == [Outcome("RestartJudge0", 28.0)]
    assert result.incidents == {}


def test_recovered_without_an_action_in_this_incident_is_no_action() -> None:
    """The row still names the action of an earlier incident (attempts reset only later)."""
    open_ = {"i-1": Incident(at(12), attempts_before=2)}
    healed = row(attempts=2, last_action="RebootInstance")
    result = track_incidents(table(row(health="Unhealthy", attempts=2)), [healed], open_, at(20))
    assert result.outcomes == [Outcome("NoAction", 8.0)]


def test_a_reboot_through_starting_is_one_incident() -> None:
    before = table(row())
    steps = [
        (row(health="Unhealthy", signals={"api": sig("Unhealthy", 2)}), 5),
        (row(health="Unhealthy", attempts=1, last_action="RebootInstance"), 6),
        (row(health="Starting", attempts=1, last_action="RebootInstance", state="pending"), 10),
        (row(health="Healthy", attempts=1, last_action="RebootInstance"), 30),
    ]
    incidents: dict[str, Incident] = {}
    detected, outcomes = [], []
    for new, t in steps:
        result = track_incidents(before, [new], incidents, at(t))
        incidents, before = result.incidents, table(new)
        detected += result.detected
        outcomes += result.outcomes
    assert len(detected) == 1 and outcomes == [Outcome("RebootInstance", 25.0)]


def test_gone_after_a_replacement_is_replaced_and_timed() -> None:
    open_ = {"i-1": Incident(at(10), 0)}
    before = table(row(health="Unhealthy", attempts=4, last_action="ReplaceInstance", replaced_by="s0#1"))
    result = track_incidents(before, [row("i-2")], open_, at(70))
    assert result.outcomes == [Outcome("ReplaceInstance", 60.0)]
    assert result.incidents == {}


def test_shutting_down_after_a_replacement_ends_the_incident_at_once() -> None:
    open_ = {"i-1": Incident(at(10), 0)}
    old = row(health="Unknown", state="shutting-down", last_action="ReplaceInstance", attempts=4)
    result = track_incidents(table(old.model_copy(update={"state": "running"})), [old], open_, at(50))
    assert result.outcomes == [Outcome("ReplaceInstance", 40.0)]


def test_gone_without_a_replacement_is_removed_and_not_timed() -> None:
    open_ = {"i-1": Incident(at(10), 0)}
    result = track_incidents(table(row(health="Unhealthy")), [], open_, at(30))
    assert result.outcomes == [Outcome("Removed", None)]


def test_giving_up_is_counted_once_and_the_incident_stays_open() -> None:
    open_ = {"i-1": Incident(at(10), 0)}
    left = row(health="Unhealthy", gave_up=True, attempts=6, last_action="ReplaceInstance")
    first = track_incidents(table(row(health="Unhealthy")), [left], open_, at(100))
    again = track_incidents(table(left), [left], first.incidents, at(110))
    assert first.outcomes == [Outcome("GaveUp", None)] and again.outcomes == []
    assert first.incidents["i-1"].gave_up


def test_an_incident_begun_before_this_process_is_counted_but_not_timed() -> None:
    sick = row(health="Unhealthy", signals={"api": sig("Unhealthy", 1)})
    first = track_incidents(table(sick), [sick], {}, at(20))
    assert first.detected == [] and first.incidents == {"i-1": Incident(None, None)}
    healed = row(attempts=1, last_action="RestartJudge0")
    result = track_incidents(table(sick), [healed], first.incidents, at(30))
    assert result.outcomes == [Outcome("RestartJudge0", None)]


def test_unhealthy_without_an_unhealthy_signal_is_detected_untimed() -> None:
    stopped = row(health="Unhealthy", state="stopped")
    result = track_incidents(table(row()), [stopped], {}, at(5))
    assert [(d.signal, d.seconds) for d in result.detected] == [("other", None)]


def test_detection_on_a_status_captured_from_the_world() -> None:
    fleet = json.loads((CAPTURED / "remediating.json").read_text())
    status = Judge0FleetStatus.model_validate(fleet["status"])
    victim = next(r for r in status.instances if r.health == "Unhealthy")
    earlier = victim.model_copy(update={"health": "Healthy", "attempts": 0})
    now = parse_time(status.last_pass_at)
    assert now is not None
    result = track_incidents(table(earlier), [victim], {}, now)
    unhealthy = {n: parse_time(s.since) for n, s in victim.signals.items() if s.status == "Unhealthy"}
    first = min(unhealthy, key=lambda n: unhealthy[n] or now)
    (detection,) = result.detected
    assert detection.signal == first
    assert detection.seconds == (now - unhealthy[first]).total_seconds() >= 0  # type: ignore[operator]


# --- FleetTelemetry → metrics ---------------------------------------------------------------------


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def status(
    *rows: InstanceStatus, healthy: int, desired: int = 3, conditions: tuple[Condition, ...] = ()
) -> Judge0FleetStatus:
    return Judge0FleetStatus(
        instances=list(rows), healthy_replicas=healthy, desired_replicas=desired, conditions=list(conditions)
    )


def cond(type_: str, state: str, reason: str) -> Condition:
    return Condition(type=type_, status=state, reason=reason, last_transition_time=format_time(T0))  # type: ignore[arg-type]


def test_a_pass_sequence_feeds_histograms_outcomes_signals_and_availability() -> None:
    ns, fleet = "t-sequence", "judge0"
    telemetry = FleetTelemetry()
    others = (row("i-2"), row("i-3"))
    sick = row(health="Unhealthy", signals={"api": sig("Unhealthy", 2), "workers": sig("Healthy", 0)})
    acted = sick.model_copy(update={"attempts": 1, "last_action": "RestartJudge0"})
    healed = row(attempts=1, last_action="RestartJudge0")
    passes = [
        (0, status(row(), *others, healthy=3)),
        (10, status(sick, *others, healthy=2)),
        (20, status(acted, *others, healthy=2)),
        (30, status(healed, *others, healthy=3)),
    ]
    previous = Judge0FleetStatus()
    for t, current in passes:
        telemetry.observe_pass(ns, fleet, previous, current, at(t))
        previous = current
        if t == 20:
            assert value("judge0_operator_unhealthy_signals", namespace=ns, fleet=fleet, signal="api") == 1
            assert value("judge0_operator_unhealthy_signals", namespace=ns, fleet=fleet, signal="workers") == 0

    labels = {"namespace": ns, "fleet": fleet}
    assert value("judge0_operator_time_to_detect_seconds_count", **labels, signal="api") == 1
    assert value("judge0_operator_time_to_detect_seconds_sum", **labels, signal="api") == 8.0
    assert value("judge0_operator_time_to_recover_seconds_sum", **labels, outcome="RestartJudge0") == 20.0
    assert value("judge0_operator_remediation_outcomes_total", **labels, outcome="RestartJudge0") == 1
    assert value("judge0_operator_unhealthy_signals", **labels, signal="api") == 0
    # healthy capped at desired, each interval weighted by its start: 3·10 + 2·10 + 2·10 over 3·30
    assert value("judge0_operator_fleet_healthy_replica_seconds_total", **labels) == 70.0
    assert value("judge0_operator_fleet_desired_replica_seconds_total", **labels) == 90.0
    assert value("judge0_operator_fleet_availability", **labels) == 70.0 / 90.0


def test_availability_caps_healthy_at_desired() -> None:
    ns, fleet = "t-cap", "judge0"
    telemetry = FleetTelemetry()
    telemetry.observe_pass(ns, fleet, Judge0FleetStatus(), status(healthy=5, desired=3), at(0))
    telemetry.observe_pass(ns, fleet, Judge0FleetStatus(), status(healthy=5, desired=3), at(10))
    assert value("judge0_operator_fleet_availability", namespace=ns, fleet=fleet) == 1.0


def test_conditions_are_exported_with_status_and_reason_and_old_series_go() -> None:
    ns, fleet = "t-conditions", "judge0"
    telemetry = FleetTelemetry()
    stopped = status(
        healthy=0,
        conditions=(cond("RemediationAllowed", "False", "TooManyUnhealthy"), cond("Ready", "False", "Unhealthy")),
    )
    telemetry.observe_pass(ns, fleet, Judge0FleetStatus(), stopped, at(0))
    base = {"namespace": ns, "fleet": fleet}
    assert (
        value(
            "judge0_operator_fleet_condition",
            **base,
            condition="RemediationAllowed",
            status="False",
            reason="TooManyUnhealthy",
        )
        == 1
    )
    fine = status(
        healthy=3, conditions=(cond("RemediationAllowed", "True", "WithinLimits"), cond("Ready", "True", "AllHealthy"))
    )
    telemetry.observe_pass(ns, fleet, stopped, fine, at(10))
    assert (
        value(
            "judge0_operator_fleet_condition",
            **base,
            condition="RemediationAllowed",
            status="False",
            reason="TooManyUnhealthy",
        )
        is None
    )
    assert value("judge0_operator_fleet_condition", **base, condition="Ready", status="True", reason="AllHealthy") == 1


def test_gave_up_instances_are_counted() -> None:
    ns, fleet = "t-gave-up", "judge0"
    telemetry = FleetTelemetry()
    left = row(health="Unhealthy", gave_up=True, signals={"api": sig("Unhealthy", 1)})
    telemetry.observe_pass(ns, fleet, Judge0FleetStatus(), status(left, row("i-2"), healthy=1), at(5))
    assert value("judge0_operator_gave_up_instances", namespace=ns, fleet=fleet) == 1


def test_the_first_pass_compares_with_the_status_it_read() -> None:
    """After a restart the previous table comes from the fleet's status, so nothing is counted twice."""
    ns, fleet = "t-restart", "judge0"
    sick = row(health="Unhealthy", signals={"api": sig("Unhealthy", 1)})
    FleetTelemetry().observe_pass(ns, fleet, status(sick, healthy=0), status(sick, healthy=0), at(5))
    assert value("judge0_operator_time_to_detect_seconds_count", namespace=ns, fleet=fleet, signal="api") is None


def test_forgetting_a_fleet_drops_every_series_it_had() -> None:
    ns, fleet = "t-forget", "judge0"
    telemetry = FleetTelemetry()
    sick = row(health="Unhealthy", signals={"api": sig("Unhealthy", 1)})
    telemetry.observe_pass(
        ns,
        fleet,
        status(row(), healthy=1),
        status(sick, healthy=0, conditions=(cond("Ready", "False", "Unhealthy"),)),
        at(5),
    )
    telemetry.observe_pass(
        ns, fleet, Judge0FleetStatus(), status(row(attempts=1, last_action="RestartJudge0"), healthy=1), at(9)
    )
    assert f'namespace="{ns}"' in generate_latest(REGISTRY).decode()
    telemetry.forget(ns, fleet)
    assert f'namespace="{ns}"' not in generate_latest(REGISTRY).decode()


def test_no_histogram_or_counter_carries_an_instance_id() -> None:
    ns, fleet = "t-bounded", "judge0"
    telemetry = FleetTelemetry()
    sick = row("i-0123456789abcdef0", health="Unhealthy", signals={"api": sig("Unhealthy", 1)})
    telemetry.observe_pass(ns, fleet, status(row("i-0123456789abcdef0"), healthy=1), status(sick, healthy=0), at(5))
    assert "i-0123456789abcdef0" not in generate_latest(REGISTRY).decode()
