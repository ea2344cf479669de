"""Health rules: thresholds from the last transition, inconclusive readings, startup and action grace."""

from __future__ import annotations

import pytest
from plan_builders import MISSING, Driver, Node, at, kinds, make_policy, make_spec, row

from judge0_operator.api.fleet_status import SignalStatus
from judge0_operator.decide.health import Reading, track_signal
from judge0_operator.decide.timeutil import format_time

FAST = make_policy(
    {
        "probes": {"api": {"unhealthyAfterSeconds": 30}},
        "startupGraceSeconds": 300,
        "graceAfterActionSeconds": 60,
    }
)


def single(policy=FAST, **node):  # one healthy instance, old enough to be judged
    driver = Driver(make_spec(1), policy)
    base = Node("i-1", **node)
    driver.step(at(0), [base])
    return driver, base


def test_unhealthy_only_after_threshold_counted_from_the_transition():
    driver, base = single()
    bad = base.but(api=False)
    first = driver.step(at(10), [bad])
    assert row(first.status, "i-1").signals["api"].bad is True
    assert row(first.status, "i-1").signals["api"].since == format_time(at(10))
    assert row(first.status, "i-1").health == "Healthy"  # bad, but not for 30 s yet
    assert kinds(first) == []
    assert first.next_check_at <= at(40)

    before = driver.step(at(39), [bad])
    assert row(before.status, "i-1").health == "Healthy"
    assert kinds(before) == []
    after = driver.step(at(40), [bad])
    assert row(after.status, "i-1").health == "Unhealthy"
    assert row(after.status, "i-1").signals["api"].status == "Unhealthy"
    assert kinds(after) == ["RestartJudge0"]


def test_since_is_when_the_bad_result_was_observed_not_when_the_pass_ran():
    driver, base = single()
    result = driver.step(at(100), [base.but(api=False, probed_at=at(60))])
    assert row(result.status, "i-1").signals["api"].since == format_time(at(60))
    assert row(result.status, "i-1").health == "Unhealthy"  # bad since 60, threshold 30


def test_recovery_resets_the_transition_so_a_new_failure_counts_afresh():
    driver, base = single()
    driver.step(at(10), [base.but(api=False)])
    driver.step(at(25), [base])  # good again before the threshold
    driver.step(at(30), [base.but(api=False)])
    result = driver.step(at(55), [base.but(api=False)])
    assert row(result.status, "i-1").health == "Healthy"  # bad for 25 s only, counted from 30
    assert row(result.status, "i-1").signals["api"].since == format_time(at(30))


@pytest.mark.parametrize("previously_bad", [False, True])
def test_inconclusive_reading_keeps_the_previous_state(previously_bad):
    driver, base = single()
    if previously_bad:
        driver.step(at(10), [base.but(workers=False)])
        driver.step(at(200), [base.but(workers=False)])  # past the workers threshold (60 s)
    before = row(driver.status, "i-1").signals["workers"]
    result = driver.step(at(400), [base.but(workers=None)])  # /workers answered [] now
    after = row(result.status, "i-1").signals["workers"]
    assert (after.status, after.bad, after.since) == (before.status, before.bad, before.since)
    assert row(result.status, "i-1").health == ("Unhealthy" if previously_bad else "Healthy")


def test_no_result_ever_is_unknown_not_unhealthy():
    driver = Driver(make_spec(1), FAST)
    result = driver.step(at(0), [Node("i-1", api=MISSING, workers=None)])
    assert row(result.status, "i-1").signals["api"].status == "Unknown"
    assert row(result.status, "i-1").signals["workers"].status == "Unknown"
    assert row(result.status, "i-1").health == "Unknown"
    assert kinds(result) == []


def test_disabled_probes_and_ec2_checks_are_not_tracked():
    policy = make_policy({"probes": {"ec2StatusChecks": False, "canary": {"enabled": False}}})
    driver = Driver(make_spec(1), policy)
    result = driver.step(at(0), [Node("i-1", canary=False, instance_check="impaired")])
    assert set(row(result.status, "i-1").signals) == {"api", "workers"}
    assert row(result.status, "i-1").health == "Healthy"


def test_workers_below_min_available_is_bad():
    policy = make_policy({"probes": {"workers": {"minAvailable": 2, "unhealthyAfterSeconds": 0}}})
    driver = Driver(make_spec(1), policy)
    result = driver.step(at(0), [Node("i-1", available_workers=1)])
    assert row(result.status, "i-1").signals["workers"].status == "Unhealthy"
    assert "1 available workers" in row(result.status, "i-1").signals["workers"].detail


def test_unexpected_version_is_bad_when_a_version_is_expected():
    spec = make_spec(1, judge0={"expectedVersion": "1.13.1"})
    policy = make_policy({"probes": {"api": {"unhealthyAfterSeconds": 0}}})
    result = Driver(spec, policy).step(at(0), [Node("i-1", version="1.12.0")])
    assert row(result.status, "i-1").signals["api"].status == "Unhealthy"
    assert "expected 1.13.1" in row(result.status, "i-1").signals["api"].detail
    unexpected = Driver(make_spec(1), policy).step(at(0), [Node("i-1", version="1.12.0")])
    assert row(unexpected.status, "i-1").signals["api"].status == "Healthy"


def test_ec2_check_uses_its_own_threshold():
    driver, base = single()
    impaired = base.but(instance_check="impaired")
    assert row(driver.step(at(10), [impaired]).status, "i-1").health == "Healthy"
    assert row(driver.step(at(129), [impaired]).status, "i-1").health == "Healthy"
    assert row(driver.step(at(130), [impaired]).status, "i-1").health == "Unhealthy"  # 120 s default


def test_startup_grace_reports_starting_and_takes_no_action():
    driver = Driver(make_spec(1), FAST)
    new = Node("i-1", launched=at(0), api=False)
    result = driver.step(at(200), [new])
    assert row(result.status, "i-1").health == "Starting"
    assert kinds(result) == []
    assert result.next_check_at <= at(300)
    judged = driver.step(at(300), [new])  # grace over: bad since 200, longer than 30 s
    assert row(judged.status, "i-1").health == "Unhealthy"
    assert kinds(judged) == ["RestartJudge0"]


def test_healthy_within_startup_grace_once_every_signal_is():
    result = Driver(make_spec(1), FAST).step(at(10), [Node("i-1", launched=at(0))])
    assert row(result.status, "i-1").health == "Healthy"
    pending = Driver(make_spec(1), FAST).step(at(10), [Node("i-1", state="pending", launched=at(0))])
    assert row(pending.status, "i-1").health == "Starting"


def test_grace_after_action_keeps_health_and_takes_no_action():
    driver, base = single()
    bad = base.but(api=False)
    driver.step(at(10), [bad])
    acted = driver.step(at(40), [bad])
    assert kinds(acted) == ["RestartJudge0"]
    during = driver.step(at(60), [base])  # API answers again, 20 s after the restart
    assert row(during.status, "i-1").health == "Unhealthy"  # not judged for 60 s
    assert row(during.status, "i-1").signals["api"].status == "Healthy"  # but the signal is tracked
    assert kinds(during) == []
    assert during.next_check_at <= at(100)
    later = driver.step(at(100), [base])
    assert row(later.status, "i-1").health == "Healthy"


def test_track_signal_unit_cases():
    now = at(100)
    healthy = SignalStatus(status="Healthy", since=format_time(at(0)), bad=False)
    assert track_signal(healthy, Reading(True, "", now), 30, now) == healthy.model_copy(update={"detail": ""})
    went_bad = track_signal(healthy, Reading(False, "x", at(90)), 30, now)
    assert (went_bad.status, went_bad.bad, went_bad.since) == ("Healthy", True, format_time(at(90)))
    long_bad = track_signal(went_bad, Reading(False, "x", at(130)), 30, at(130))
    assert long_bad.status == "Unhealthy"
    assert long_bad.since == went_bad.since
    first_bad = track_signal(None, Reading(False, "x", now), 30, now)
    assert (first_bad.status, first_bad.bad) == ("Unknown", True)
    zero = track_signal(None, Reading(False, "x", now), 0, now)
    assert zero.status == "Unhealthy"
