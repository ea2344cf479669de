"""The escalation ladder: order, backoff with jitter, giving up, resets, and the shortcuts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from plan_builders import T0, UID, Driver, Node, at, condition, kinds, make_policy, make_spec, reasons, row

from judge0_operator.api.policy import Backoff
from judge0_operator.decide.ladder import START_TIMEOUT_SECONDS, backoff_seconds, jitter_fraction
from judge0_operator.decide.model import ActionOutcome, Launch, RestartJudge0, Terminate
from judge0_operator.decide.plan import record_outcomes
from judge0_operator.decide.timeutil import parse_time

DEFAULT = make_policy()  # Restart x2 (120 s) -> Reboot x1 (300 s) -> Replace (900 s); grace 120 s


def unhealthy_single(policy=DEFAULT, **node):
    driver = Driver(make_spec(1), policy)
    bad = Node("i-1", api=False, **node)
    return driver, bad


def test_default_ladder_restart_twice_then_reboot_then_replace_with_backoff():
    driver, bad = unhealthy_single()
    first = driver.step(at(30), [bad])  # api bad since 30: unhealthy at 60
    assert kinds(first) == []
    now = at(60)
    expected = [("RestartJudge0", 120, 30), ("RestartJudge0", 120, 60), ("RebootInstance", 300, 120)]
    for attempt, (action, timeout, backoff) in enumerate(expected, start=1):
        result = driver.step(now, [bad])
        assert kinds(result) == [action], f"attempt {attempt}"
        memory = row(result.status, "i-1")
        assert memory.attempts == attempt
        assert parse_time(memory.last_action_at) == now
        assert parse_time(memory.action_deadline) == now + timedelta(seconds=timeout)
        wait = (parse_time(memory.next_action_at) - parse_time(memory.action_deadline)).total_seconds()
        assert backoff * 0.8 - 1 <= wait <= backoff * 1.2, f"backoff of attempt {attempt}"
        next_at = parse_time(memory.next_action_at)
        assert kinds(driver.step(next_at - timedelta(seconds=1), [bad])) == []
        now = next_at
    replaced = driver.step(now, [bad])
    launches = [a for a in replaced.actions if isinstance(a, Launch)]
    assert kinds(replaced) == ["Launch"]
    assert launches[0].replaces == "i-1" and launches[0].slot == "s0" and launches[0].attempt == 1
    assert row(replaced.status, "i-1").attempts == 4
    assert row(replaced.status, "i-1").replaced_by == "s0#1"
    assert "Remediating" in reasons(replaced)
    # The launch went through; while its instance is not visible yet, nothing more happens.
    driver.succeed(replaced, now)
    assert kinds(driver.step(now + timedelta(seconds=100), [bad])) == []
    assert driver.status.pending_launches[0].instance_id == "i-s0-1"


def test_instance_impaired_skips_the_ssm_rungs():
    policy = make_policy({"probes": {"ec2UnhealthyAfterSeconds": 0}})
    driver = Driver(make_spec(1), policy)
    result = driver.step(at(0), [Node("i-1", instance_check="impaired")])
    assert kinds(result) == ["RebootInstance"]
    assert row(result.status, "i-1").rung == 2  # past both restart rungs and the reboot


@pytest.mark.parametrize("event", ["instance-retirement", "instance-stop", "system-reboot"])
def test_scheduled_event_replaces_at_once_even_during_startup(event):
    driver = Driver(make_spec(1))
    node = Node("i-1", launched=at(-30), events=(event,))
    result = driver.step(at(0), [node])
    assert row(result.status, "i-1").health == "Unhealthy"
    assert kinds(result) == ["Launch"]  # launch first: the old one still works until the date
    replacement = Node("i-s0-1", slot="s0", attempt=1, zone=result.actions[0].zone[-1], launched=at(5))
    done = driver.step(at(10), [node, replacement])
    assert [(a.kind, a.instance_id) for a in done.actions if isinstance(a, Terminate)] == [("Terminate", "i-1")]


def test_system_impaired_replaces_and_terminates_the_old_at_once():
    driver = Driver(make_spec(1))
    node = Node("i-1", system_check="impaired")
    driver.step(at(0), [node])
    assert kinds(driver.step(at(119), [node])) == []
    result = driver.step(at(120), [node])  # ec2UnhealthyAfterSeconds 120
    assert sorted(kinds(result)) == ["Launch", "Terminate"]
    assert all(a.kind != "RestartJudge0" for a in result.actions)


def test_stopped_instance_gets_start_never_a_restart_then_replace_if_it_stays_stopped():
    driver = Driver(make_spec(1))
    stopped = Node("i-1", state="stopped", ec2=False)
    first = driver.step(at(0), [stopped])
    assert kinds(first) == ["Start"]
    assert kinds(driver.step(at(START_TIMEOUT_SECONDS - 1), [stopped])) == []
    later = row(driver.status, "i-1").next_action_at
    result = driver.step(parse_time(later), [stopped])
    assert sorted(kinds(result)) == ["Launch", "Terminate"]  # stays stopped: replace, no waiting


def test_stopped_again_after_a_successful_start_is_started_again():
    driver = Driver(make_spec(1))
    driver.step(at(0), [Node("i-1", state="stopped", ec2=False)])
    # It started (EC2's launch time moved) and ran healthy, then stopped again much later.
    driver.step(at(400), [Node("i-1", launched=at(30))])
    result = driver.step(at(2000), [Node("i-1", state="stopped", ec2=False, launched=at(30))])
    assert kinds(result) == ["Start"]


def test_stopping_instance_is_left_alone_and_never_restarted():
    result = Driver(make_spec(1)).step(at(0), [Node("i-1", state="stopping", api=False, ec2=False)])
    assert kinds(result) == []
    assert row(result.status, "i-1").health == "Unhealthy"


def test_gives_up_after_max_retries_and_reports_it_once():
    policy = make_policy({"remediation": {"maxRetries": 2, "backoff": {"initialSeconds": 0, "jitter": 0}}})
    driver, bad = unhealthy_single(policy)
    driver.step(at(0), [bad])
    times = [at(30), at(30 + 120), at(30 + 240)]
    assert [kinds(driver.step(t, [bad])) for t in times] == [["RestartJudge0"], ["RestartJudge0"], []]
    gave_up = driver.history[-1]
    assert "RemediationGaveUp" in reasons(gave_up)
    assert row(gave_up.status, "i-1").gave_up is True
    assert condition(gave_up.status, "Degraded").reason == "GaveUp"
    again = driver.step(at(2000), [bad])
    assert kinds(again) == [] and "RemediationGaveUp" not in reasons(again)
    assert row(again.status, "i-1").health == "Unhealthy"  # still reported


def test_healthy_period_resets_attempts_and_gave_up():
    policy = make_policy({"remediation": {"maxRetries": 1, "healthyPeriodSeconds": 600}})
    driver, bad = unhealthy_single(policy)
    driver.step(at(0), [bad])
    assert kinds(driver.step(at(30), [bad])) == ["RestartJudge0"]
    good = bad.but(api=True)
    driver.step(at(200), [good])  # grace over, healthy again
    assert row(driver.status, "i-1").attempts == 1
    assert parse_time(row(driver.status, "i-1").healthy_since) == at(200)
    assert kinds(driver.step(at(799), [good])) == [] and row(driver.status, "i-1").attempts == 1
    reset = driver.step(at(800), [good])
    assert (row(reset.status, "i-1").attempts, row(reset.status, "i-1").rung) == (0, 0)
    driver.step(at(900), [bad])
    assert kinds(driver.step(at(930), [bad])) == ["RestartJudge0"]  # from the bottom rung again


def test_backoff_is_capped_and_jitter_is_bounded_and_deterministic():
    backoff = Backoff(initial_seconds=30, multiplier=2.0, max_seconds=200, jitter=0.2)
    for attempts, base in [(1, 30), (2, 60), (3, 120), (4, 200), (10, 200)]:
        waits = [backoff_seconds(backoff, attempts, fleet_uid=UID, instance_id=f"i-{n}") for n in range(50)]
        assert all(base * 0.8 <= w <= base * 1.2 for w in waits)
        assert len(set(waits)) > 1  # spread, not lockstep
        assert waits == [backoff_seconds(backoff, attempts, fleet_uid=UID, instance_id=f"i-{n}") for n in range(50)]
    assert backoff_seconds(backoff, 0, fleet_uid=UID, instance_id="i-1") == 0
    assert -1.0 <= jitter_fraction("u", "i", 3) <= 1.0


def test_failed_restart_lets_the_next_attempt_come_after_the_backoff():
    driver, bad = unhealthy_single()
    driver.step(at(0), [bad])
    acted = driver.step(at(30), [bad])
    before = row(acted.status, "i-1")
    pause = parse_time(before.next_action_at) - parse_time(before.action_deadline)
    failed = [ActionOutcome(action=acted.actions[0], ok=False, detail="TimedOut", error_kind="transient")]
    status, _ = record_outcomes(acted.status, failed, at(40), generation=1)
    after = row(status, "i-1")
    assert parse_time(after.next_action_at) == at(40) + pause
    assert after.attempts == before.attempts  # it was an attempt: counted once, not undone
    assert status.last_actions[-1].outcome == "Failed: TimedOut"
    assert isinstance(acted.actions[0], RestartJudge0)


def test_restart_command_comes_from_the_policy():
    policy = make_policy({"remediation": {"restartCommand": "systemctl restart judge0"}})
    driver, bad = unhealthy_single(policy)
    driver.step(at(0), [bad])
    (action,) = driver.step(at(30), [bad]).actions
    assert isinstance(action, RestartJudge0) and action.command == "systemctl restart judge0"
    assert action.slot == "s0" and action.reason.startswith("Remediation:")
    assert at(1) > T0
