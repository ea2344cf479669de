"""record_outcomes: what each kind of result does to status."""

from __future__ import annotations

from plan_builders import UID, Driver, Node, at, make_spec, row

from judge0_operator.api.fleet_status import ActionRecord, InstanceStatus, Judge0FleetStatus
from judge0_operator.decide.model import ActionOutcome, Launch, Reboot, Terminate
from judge0_operator.decide.outcomes import classify_error, cloud_reason
from judge0_operator.decide.plan import client_token, record_outcomes
from judge0_operator.decide.timeutil import format_time


def one_launch() -> tuple[Driver, Launch]:
    driver = Driver(make_spec(1))
    (launch,) = driver.step(at(0), []).actions
    assert isinstance(launch, Launch)
    return driver, launch


def test_launch_ok_sets_the_intent_instance_and_the_record():
    driver, launch = one_launch()
    status, events = record_outcomes(
        driver.status,
        [ActionOutcome(launch, ok=True, instance_id="i-new", zone="eu-west-1a")],
        at(1),
        generation=1,
    )
    assert status.pending_launches[0].instance_id == "i-new"
    assert (status.last_actions[-1].outcome, status.last_actions[-1].instance_id) == ("Succeeded", "i-new")
    assert events == ()
    # The next pass sees it and resolves the intent.
    driver.status = status
    seen = driver.step(at(10), [Node("i-new", slot=launch.slot, attempt=launch.attempt, launched=at(2))])
    assert seen.status.pending_launches == [] and seen.actions == ()


def test_capacity_error_marks_the_offering_and_the_next_pass_tries_elsewhere_with_a_new_attempt():
    driver, launch = one_launch()
    failed = ActionOutcome(
        launch,
        ok=False,
        error_code="InsufficientInstanceCapacity",
        error_message="no capacity",
        error_kind="capacity",
    )
    driver.status, events = record_outcomes(driver.status, [failed], at(1), generation=1)
    assert driver.status.pending_launches == []
    assert [(o.instance_type, o.zone) for o in driver.status.exhausted_offerings] == [("c6i.large", launch.zone)]
    assert [e.reason for e in events] == ["CapacityExhausted"]
    assert driver.status.last_actions[-1].outcome == "Failed: InsufficientInstanceCapacity: no capacity"
    retry = driver.step(at(5), [])
    (again,) = retry.actions
    assert isinstance(again, Launch)
    assert (again.slot, again.attempt) == (launch.slot, launch.attempt + 1)
    assert again.zone != launch.zone
    assert again.client_token == client_token(UID, again.slot, again.attempt)


def test_transient_error_keeps_the_intent_and_the_token():
    driver, launch = one_launch()
    for kind in ("transient", "throttled", "circuit-open"):
        status, _ = record_outcomes(
            driver.status,
            [ActionOutcome(launch, ok=False, error_code="RequestLimitExceeded", error_kind=kind)],
            at(1),
            generation=1,
        )
        assert [(i.slot, i.attempt, i.instance_id) for i in status.pending_launches] == [(launch.slot, 0, None)]
    driver.status = status
    (again,) = driver.step(at(5), []).actions
    assert again == launch


def test_terminate_of_an_instance_already_gone_is_success():
    driver = Driver(make_spec(0))
    result = driver.step(at(0), [Node("i-1")])
    (terminate,) = result.actions
    assert isinstance(terminate, Terminate)
    gone = ActionOutcome(terminate, ok=False, error_code="InvalidInstanceID.NotFound", error_kind="terminal")
    status, _ = record_outcomes(driver.status, [gone], at(1), generation=1)
    assert status.last_actions[-1].outcome == "Succeeded"
    assert status.aws_error is None


def test_failed_reboot_counts_as_a_failed_attempt_next_one_after_its_backoff():
    memory = InstanceStatus(
        instance_id="i-1",
        slot="s0",
        attempts=3,
        last_action="RebootInstance",
        last_action_at=format_time(at(0)),
        action_deadline=format_time(at(300)),
        next_action_at=format_time(at(360)),
    )
    action = Reboot(instance_id="i-1", reason="Remediation: test", slot="s0")
    new, _ = record_outcomes(
        Judge0FleetStatus(instances=[memory]),
        [ActionOutcome(action, ok=False, error_code="IncorrectState")],
        at(50),
        generation=1,
    )
    after = row(new, "i-1")
    assert after.attempts == 3
    assert (after.action_deadline, after.next_action_at) == (format_time(at(50)), format_time(at(110)))


def test_outcome_updates_only_the_matching_record():
    records = [
        ActionRecord(
            time="2026-11-23T11:00:00Z",
            instance_id="i-1",
            slot="s0",
            action="Terminate",
            reason="old",
            outcome="Requested",
        ),
        ActionRecord(
            time="2026-11-23T12:00:00Z",
            instance_id="i-2",
            slot="s1",
            action="Terminate",
            reason="new",
            outcome="Requested",
        ),
    ]
    status = Judge0FleetStatus(last_actions=records)
    done, _ = record_outcomes(status, [ActionOutcome(Terminate("i-2", "new", slot="s1"), ok=True)], at(0), generation=1)
    assert [r.outcome for r in done.last_actions] == ["Requested", "Succeeded"]
    assert status.last_actions[1].outcome == "Requested"  # input untouched


def test_last_actions_are_bounded_to_twenty():
    driver = Driver(make_spec(0))
    for n in range(30):
        driver.step(at(n), [Node(f"i-{n}", slot=f"s{n}")])
    assert len(driver.status.last_actions) == 20
    assert driver.status.last_actions[-1].instance_id == "i-29"


def test_reason_mapping():
    assert cloud_reason("InvalidAMIID.Malformed") == "InvalidAMI"
    assert cloud_reason("UnauthorizedOperation") == "AccessDenied"
    assert cloud_reason("InvalidSubnetID.NotFound") == "InvalidParameter"
    assert cloud_reason("VcpuLimitExceeded") == "VcpuLimitExceeded"
    assert cloud_reason("") == "CloudAPIError"
    assert classify_error("Throttling: Rate exceeded") == "Throttled"
