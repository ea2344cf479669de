"""Paused, DryRun, terminal AWS errors, and the conditions that report them."""

from __future__ import annotations

from plan_builders import Driver, Node, at, condition, kinds, make_policy, make_spec, reasons, row

from judge0_operator.api.fleet_status import Judge0FleetStatus
from judge0_operator.decide.model import MUTATING_KINDS, ActionOutcome

SICK = {"api": False, "probed_at": at(-600)}


def test_paused_observes_and_reports_only():
    driver = Driver(make_spec(3, paused=True))
    result = driver.step(at(0), [Node("i-1", **SICK)])
    assert result.actions == ()
    assert row(result.status, "i-1").health == "Unhealthy"
    assert row(result.status, "i-1").attempts == 0
    progressing = condition(result.status, "Progressing")
    assert (progressing.status, progressing.reason) == ("False", "Paused")
    assert condition(result.status, "RemediationAllowed").reason == "Paused"
    assert result.status.pending_launches == [] and result.status.next_slot == 1


def test_dry_run_decides_the_same_but_acts_on_nothing_and_remembers_nothing():
    policy = make_policy({"mode": "DryRun"})
    driver = Driver(make_spec(2), policy)
    result = driver.step(at(0), [Node("i-1", **SICK)])
    assert result.actions == ()
    records = [(r.action, r.instance_id, r.slot, r.outcome) for r in result.status.last_actions]
    assert records == [("RestartJudge0", "i-1", "s0", "DryRun"), ("Launch", None, "s1", "DryRun")]
    assert {"DryRunRestartJudge0", "DryRunLaunch"} <= set(reasons(result))
    memory = row(result.status, "i-1")
    assert (memory.attempts, memory.last_action, memory.next_action_at) == (0, None, None)
    assert result.status.pending_launches == [] and result.status.next_slot == 1
    allowed = condition(result.status, "RemediationAllowed")
    assert (allowed.status, allowed.reason) == ("True", "DryRun")

    again = driver.step(at(30), [Node("i-1", **SICK)])
    assert again.actions == ()
    assert len(again.status.last_actions) == 2  # recorded once, not every pass
    assert not [r for r in reasons(again) if r.startswith("DryRun")]


def test_dry_run_would_do_what_enforce_does():
    nodes = [Node("i-1", **SICK), Node("i-2", slot="s1", zone="b")]
    enforce = Driver(make_spec(3)).step(at(0), nodes)
    dry = Driver(make_spec(3), make_policy({"mode": "DryRun"})).step(at(0), nodes)
    would = [(r.action, r.instance_id, r.slot) for r in dry.status.last_actions]
    did = [(a.kind, getattr(a, "instance_id", None) if a.kind != "Launch" else None, a.slot) for a in enforce.actions]
    assert would == did
    assert all(a.kind in MUTATING_KINDS for a in enforce.actions)


def test_terminal_aws_error_blocks_launches_until_the_generation_changes():
    driver = Driver(make_spec(2))
    first = driver.step(at(0), [])
    failures = [
        ActionOutcome(
            action=a,
            ok=False,
            error_code="InvalidAMIID.NotFound",
            error_message="The image id '[ami-12345678]' does not exist",
            error_kind="terminal",
        )
        for a in first.actions
    ]
    from judge0_operator.decide.plan import record_outcomes

    driver.status, events = record_outcomes(driver.status, failures, at(1), generation=1)
    assert driver.status.aws_error["code"] == "InvalidAMIID.NotFound"
    assert driver.status.pending_launches == []
    assert "CloudAPIReadyFalse" in [e.reason for e in events]

    blocked = driver.step(at(10), [])
    assert blocked.actions == ()
    cloud = condition(blocked.status, "CloudAPIReady")
    assert (cloud.status, cloud.reason) == ("False", "InvalidAMI")
    assert "does not exist" in cloud.message
    assert condition(blocked.status, "Ready").reason == "LaunchBlocked"
    assert condition(blocked.status, "Progressing").reason == "LaunchBlocked"

    driver.generation = 2  # the user fixed the spec
    fixed = driver.step(at(20), [])
    assert kinds(fixed) == ["Launch", "Launch"]
    assert fixed.status.aws_error is None
    assert [a.attempt for a in fixed.actions] == [1, 1]  # never the failed tokens again
    assert condition(fixed.status, "CloudAPIReady").status == "True"


def test_observation_error_sets_cloud_api_condition_reasons():
    for error, reason in [
        ("circuit open for DescribeInstances", "CircuitOpen"),
        ("AccessDenied: not authorized", "AccessDenied"),
        ("connection reset", "Unavailable"),
    ]:
        result = Driver(make_spec(0)).step(at(0), [], complete=False, error=error)
        cloud = condition(result.status, "CloudAPIReady")
        assert (cloud.status, cloud.reason, cloud.message) == ("False", reason, error)


def test_status_counts_selector_and_generation():
    nodes = [
        Node("i-1", slot="s0"),
        Node("i-2", slot="s1", zone="b", workers=False, probed_at=at(-600)),
        Node("i-3", slot="s2", zone="c", template="oldhash"),
        Node("i-4", slot="s3", zone="a", state="pending", launched=at(-5)),
    ]
    status = Driver(make_spec(4, paused=True), generation=7).step(at(0), nodes).status
    assert status.observed_generation == 7
    assert (status.replicas, status.ready_replicas, status.healthy_replicas) == (4, 3, 2)
    assert (status.updated_replicas, status.outdated_replicas) == (3, 1)
    assert status.selector == "judge0.dev/fleet=exam"
    assert status.desired_replicas == 4 and status.scaling.reason == "Spec"
    assert status.last_pass_at == "2026-11-23T12:00:00Z"
    assert all(c.observed_generation == 7 for c in status.conditions)


def test_next_check_is_after_now_and_within_the_smallest_probe_interval():
    policy = make_policy({"probes": {"api": {"intervalSeconds": 7}}})
    result = Driver(make_spec(1), policy).step(at(0), [Node("i-1")])
    assert at(0) < result.next_check_at <= at(7)
    bad = Driver(
        make_spec(1),
        make_policy(
            {
                "probes": {
                    "api": {"intervalSeconds": 300},
                    "workers": {"enabled": False},
                    "canary": {"enabled": False},
                    "ec2StatusChecks": False,
                }
            }
        ),
    )
    bad.step(at(0), [Node("i-1")])
    result = bad.step(at(10), [Node("i-1", api=False)])
    assert result.next_check_at == at(40)  # the api signal turns unhealthy then


def test_previous_status_from_the_wire_round_trips():
    result = Driver(make_spec(2)).step(at(0), [Node("i-1", **SICK)])
    wire = result.status.to_wire()
    assert Judge0FleetStatus.model_validate(wire) == result.status
