"""Scenarios (parsing, validation errors, target selection) and the report's computations, on
synthetic samples. Pure: no world, no operator."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from judge0_operator.simulate import manifests
from judge0_operator.simulate.report.build import build_report
from judge0_operator.simulate.report.invariants import (
    check_duplicate_launches,
    check_leaks,
    check_safety_stop,
    safety_stop_intervals,
)
from judge0_operator.simulate.report.measures import availability, instance_seconds, percentile
from judge0_operator.simulate.report.step_timings import Injection, detect_time, is_remediation
from judge0_operator.simulate.report.step_verdicts import analyse_step
from judge0_operator.simulate.samples import (
    ActionSeen,
    Condition,
    Sample,
    StatusInstance,
    WorldInstance,
    parse_sample,
)
from judge0_operator.simulate.scenario import (
    LiveInstance,
    ScenarioError,
    Target,
    builtin_scenario,
    load_scenario,
    parse_scenario,
    parse_target,
    select_targets,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"
ZONES = ["z-a", "z-b", "z-c"]
UID = "uid-1"


# --- parsing and validation ------------------------------------------------------------------------


def test_builtin_and_example_scenarios_parse() -> None:
    for scenario in (builtin_scenario(), builtin_scenario(short=True)):
        assert scenario.steps
    examples = sorted(EXAMPLES.glob("*.yaml"))
    assert {p.stem for p in examples} >= {"zone-outage", "sandbox-escalation", "exam-burst", "mass-partition"}
    for path in examples:
        assert load_scenario(path).steps


def test_default_scenario_covers_every_rung_and_the_safety_stop() -> None:
    scenario = builtin_scenario()
    faults = {s.fault for s in scenario.steps}
    assert {
        "judge0-down",
        "workers-dead",
        "sandbox-broken",
        "instance-impaired",
        "zone-outage",
        "throttle",
    } <= faults
    assert any(s.expectation == "safety-stop" for s in scenario.steps)
    assert {s.requires for s in scenario.steps if s.requires} == {"scaling", "rollout"}
    short = builtin_scenario(short=True)
    assert any(s.expectation == "safety-stop" for s in short.steps)
    assert short.duration < scenario.duration


def _error(doc: dict) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc, source="test.yaml")
    return str(info.value)


def test_unknown_fault_names_the_step_and_field() -> None:
    message = _error(
        {"steps": [{"at": 1, "fault": "judge0-down"}, {"name": "oops", "at": 2, "fault": "meteor"}]}
    )
    assert "step 2 (oops): fault:" in message
    assert "meteor" in message


def test_clear_before_inject_is_refused() -> None:
    message = _error({"steps": [{"at": 10, "fault": "zone-outage", "target": "zone:0", "clearAt": 5}]})
    assert "step 1 (zone-outage)" in message and "clearAt" in message


def test_bad_params_name_the_parameter() -> None:
    message = _error({"steps": [{"at": 1, "fault": "throttle", "params": {"rate": 3}}]})
    assert "params.rate" in message


def test_target_kind_must_fit_the_fault() -> None:
    assert "cannot target" in _error({"steps": [{"at": 1, "fault": "zone-outage", "target": "slot:s1"}]})
    assert "cannot target" in _error({"steps": [{"at": 1, "fault": "throttle", "target": "random"}]})
    assert "unknown target" in _error({"steps": [{"at": 1, "fault": "judge0-down", "target": "rack:4"}]})


def test_safety_stop_needs_a_clear_time_and_rollout_a_change() -> None:
    assert "clearAt" in _error(
        {"steps": [{"at": 1, "fault": "judge0-down", "target": "all", "expect": "safety-stop"}]}
    )
    assert "instanceType or imageId" in _error({"steps": [{"at": 1, "fault": "rollout"}]})


def test_unknown_fields_and_empty_steps_are_errors() -> None:
    assert "step 1" in _error({"steps": [{"at": 1, "fault": "judge0-down", "clearat": 3}]})
    assert "steps" in _error({"steps": []})
    assert "expected a mapping" in _error(["not", "a", "mapping"])  # type: ignore[arg-type]


def test_load_scenario_reports_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="No such file"):
        load_scenario(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(bad)


def test_default_targets_and_expectations_follow_the_fault() -> None:
    scenario = parse_scenario(
        {
            "steps": [
                {"at": 1, "fault": "throttle"},
                {"at": 2, "fault": "capacity-error"},
                {"at": 3, "fault": "workers-dead"},
                {"at": 4, "fault": "burst", "params": {"jobs": 10}},
            ]
        }
    )
    throttle, capacity, workers, burst = scenario.ordered_steps
    assert (str(throttle.selector), throttle.expectation) == ("aws", "survive")
    assert capacity.selector.kind == "zone" and capacity.expectation == "survive"
    assert (workers.selector.kind, workers.expectation) == ("random", "recover")
    assert (burst.selector.kind, burst.expectation) == ("fleet", "scale-up")


def test_without_drops_feature_steps() -> None:
    scenario = builtin_scenario()
    trimmed = scenario.without(("scaling", "rollout"))
    assert all(s.requires is None for s in trimmed.steps)
    assert len(trimmed.steps) < len(scenario.steps)


# --- target selection ------------------------------------------------------------------------------

LIVE = [
    LiveInstance("i-0", "s0", "z-a"),
    LiveInstance("i-1", "s1", "z-b"),
    LiveInstance("i-2", "s2", "z-c"),
    LiveInstance("i-3", "s3", "z-a", healthy=False),
    LiveInstance("i-4", "s4", "z-b"),
]


def test_slot_zone_all_and_aws_targets() -> None:
    rng = random.Random(1)
    assert select_targets(parse_target("slot:s1"), LIVE, ZONES, rng) == ["i-1"]
    assert select_targets(parse_target("slot:4"), LIVE, ZONES, rng) == ["i-4"]
    assert select_targets(parse_target("zone:1"), LIVE, ZONES, rng) == ["zone:z-b"]
    assert select_targets(parse_target("zone:z-c"), LIVE, ZONES, rng) == ["zone:z-c"]
    assert select_targets(parse_target("zone:*"), LIVE, ZONES, rng) == [f"zone:{z}" for z in ZONES]
    assert sorted(select_targets(Target("all"), LIVE, ZONES, rng)) == sorted(i.instance_id for i in LIVE)
    assert select_targets(Target("aws"), LIVE, ZONES, rng) == ["aws"]
    assert select_targets(parse_target("instance:i-9"), LIVE, ZONES, rng) == ["i-9"]


def test_bad_selections_raise() -> None:
    rng = random.Random(1)
    with pytest.raises(ScenarioError, match="out of range"):
        select_targets(parse_target("zone:7"), LIVE, ZONES, rng)
    with pytest.raises(ScenarioError, match="not one of"):
        select_targets(parse_target("zone:mars-1a"), LIVE, ZONES, rng)
    with pytest.raises(ScenarioError, match="no live instance fills"):
        select_targets(parse_target("slot:s9"), LIVE, ZONES, rng)
    with pytest.raises(ScenarioError, match="no live instance"):
        select_targets(Target("random"), [], ZONES, rng)


def test_random_picks_only_healthy_instances_and_follows_the_seed() -> None:
    healthy = {i.instance_id for i in LIVE if i.healthy}
    picks = [select_targets(Target("random"), LIVE, ZONES, random.Random(seed))[0] for seed in range(40)]
    assert set(picks) <= healthy
    assert len(set(picks)) > 1
    again = [select_targets(Target("random"), LIVE, ZONES, random.Random(seed))[0] for seed in range(40)]
    assert again == picks


# --- report computations on synthetic samples --------------------------------------------------------


def _row(iid: str, slot: str, health: str = "Healthy", zone: str = "z-a", **kw: Any) -> StatusInstance:
    signals = {"api": "Unhealthy" if health == "Unhealthy" else "Healthy"}
    return StatusInstance(
        instance_id=iid, slot=slot, zone=zone, state="running", health=health, signals=signals, **kw
    )


def _world(
    iid: str,
    slot: str,
    *,
    state: str = "running",
    faults: tuple = (),
    attempt: str = "0",
    zone: str = "z-a",
    serving: bool = True,
    uid: str = UID,
) -> WorldInstance:
    return WorldInstance(
        instance_id=iid,
        state=state,
        zone=zone,
        fleet_uid=uid,
        slot=slot,
        attempt=attempt,
        launched_at=0.0,
        serving=serving,
        faults=faults,
    )


def _sample(
    t: float,
    rows: list[StatusInstance],
    world: list[WorldInstance],
    *,
    desired: int = 3,
    faults: frozenset[str] = frozenset(),
    conditions: dict | None = None,
) -> Sample:
    return Sample(
        t=t,
        desired=desired,
        healthy=sum(r.health == "Healthy" for r in rows),
        instances=tuple(rows),
        world=tuple(world),
        active_faults=faults,
        conditions=conditions or {},
    )


def _three(
    t: float,
    health1: str = "Healthy",
    fault1: tuple = (),
    faults: frozenset[str] = frozenset(),
    conditions: dict | None = None,
) -> Sample:
    rows = [_row("i-0", "s0"), _row("i-1", "s1", health1), _row("i-2", "s2")]
    world = [_world("i-0", "s0"), _world("i-1", "s1", faults=fault1), _world("i-2", "s2")]
    return _sample(t, rows, world, faults=faults, conditions=conditions)


def test_recover_step_timings() -> None:
    fault = (("f-1", "judge0-down"),)
    active = frozenset({"f-1"})
    samples = [
        _three(99.5),
        _three(100.5, fault1=fault, faults=active),  # injected at 100: status still says Healthy
        _three(103.5, "Unhealthy", fault, active),  # detected
        _three(106.5, "Unhealthy"),  # restarted: the world healed the fault, status not yet caught up
        _three(108.5),  # recovered
    ]
    actions = [
        ActionSeen(t=105.0, action="RestartJudge0", instance_id="i-1", slot="s1", outcome="Succeeded"),
        ActionSeen(t=105.5, action="RestartJudge0", instance_id="i-2", slot="s2", outcome="Succeeded"),
    ]
    injection = Injection(
        label="down",
        fault="judge0-down",
        expectation="recover",
        target="slot:s1",
        at=100.0,
        fault_ids=("f-1",),
        instances=("i-1",),
        slots=("s1",),
    )
    result = analyse_step(injection, samples, actions, window_end=200.0, origin=90.0)
    assert result.passed and result.verdict == "recovered"
    assert (result.detect_seconds, result.act_seconds, result.recover_seconds) == (3.5, 5.0, 8.5)
    assert [a["instanceId"] for a in result.actions] == [
        "i-1"
    ]  # the other instance's action is not this fault's
    assert result.injected_at == 10.0


def test_a_condition_settling_back_is_not_detection() -> None:
    # The previous step's remediation wraps up (Progressing → Stable) just after the injection:
    # that is not the operator noticing this fault; Ready turning False is.
    fault = (("f-1", "judge0-down"),)
    active = frozenset({"f-1"})
    busy = {"Progressing": Condition("True", "Remediating"), "Ready": Condition("True", "AllHealthy")}
    calm = {"Progressing": Condition("False", "Stable"), "Ready": Condition("True", "AllHealthy")}
    noticed = {"Progressing": Condition("False", "Stable"), "Ready": Condition("False", "Unhealthy")}
    samples = [
        _three(99.5, conditions=busy),
        _three(100.5, fault1=fault, faults=active, conditions=calm),
        _three(103.0, fault1=fault, faults=active, conditions=noticed),
    ]
    injection = Injection(
        label="down", fault="judge0-down", expectation="recover", target="slot:s1", at=100.0,
        fault_ids=("f-1",), instances=("i-1",), slots=("s1",),
    )
    assert detect_time(injection, samples, [], window_end=200.0) == 103.0


def test_recover_step_not_recovered_while_the_fault_stays() -> None:
    fault = (("f-1", "sandbox-broken"),)
    active = frozenset({"f-1"})
    # The status claims all three Healthy, but the world still has the fault: not recovered.
    samples = [
        _three(99.0),
        _three(101.0, fault1=fault, faults=active),
        _three(110.0, fault1=fault, faults=active),
    ]
    injection = Injection(
        label="sandbox",
        fault="sandbox-broken",
        expectation="recover",
        target="slot:s1",
        at=100.0,
        fault_ids=("f-1",),
        instances=("i-1",),
        slots=("s1",),
    )
    result = analyse_step(injection, samples, [], window_end=200.0, origin=90.0)
    assert not result.passed
    assert result.recover_seconds is None and result.detect_seconds is None
    assert result.verdict == "not recovered"


def test_safety_stop_step_passes_only_without_remediation() -> None:
    stop = {"RemediationAllowed": Condition("False", "TooManyUnhealthy", since=103.0)}
    allowed = {"RemediationAllowed": Condition("True", "WithinLimits", since=112.0)}
    rows_bad = [_row(f"i-{n}", f"s{n}", "Unhealthy") for n in range(3)]
    world_bad = [_world(f"i-{n}", f"s{n}", faults=((f"f-{n}", "judge0-down"),)) for n in range(3)]
    active = frozenset({"f-0", "f-1", "f-2"})
    samples = [
        _three(99.0, conditions={"RemediationAllowed": Condition("True", "WithinLimits", since=1.0)}),
        _sample(104.0, rows_bad, world_bad, faults=active, conditions=stop),
        _sample(111.0, rows_bad, [_world(f"i-{n}", f"s{n}") for n in range(3)], conditions=stop),
        _three(113.0, conditions=allowed),
    ]
    injection = Injection(
        label="partition",
        fault="judge0-down",
        expectation="safety-stop",
        target="zone:*",
        at=100.0,
        cleared_at=110.0,
        fault_ids=tuple(active),
        instances=("i-0", "i-1", "i-2"),
        slots=("s0", "s1", "s2"),
        zones=("z-a",),
    )
    good = analyse_step(injection, samples, [], window_end=200.0, origin=90.0)
    assert good.passed, good.verdict
    assert good.details["safetyStopSeconds"] == 4.0 and good.recover_seconds == 13.0
    restart = ActionSeen(t=106.0, action="RestartJudge0", instance_id="i-0", slot="s0", outcome="Succeeded")
    bad = analyse_step(injection, samples, [restart], window_end=200.0, origin=90.0)
    assert not bad.passed and "remediation" in bad.verdict
    # What the operator does once the fleet is whole again (e.g. rebalancing zones) is not the partition's.
    afterwards = ActionSeen(t=115.0, action="Terminate", instance_id="i-0", slot="s0", reason="Replaced")
    later_step = analyse_step(injection, samples, [afterwards], window_end=200.0, origin=90.0)
    assert later_step.passed and later_step.actions == []
    assert safety_stop_intervals(samples, end=200.0) == [(103.0, 112.0)]
    assert not check_safety_stop(samples, [restart], end=200.0).ok
    later = ActionSeen(t=112.5, action="RestartJudge0", instance_id="i-0", slot="s0", outcome="Succeeded")
    assert check_safety_stop(samples, [later], end=200.0).ok


def test_a_safety_stop_that_never_trips_fails_the_step() -> None:
    samples = [_three(99.0), _three(104.0), _three(113.0)]
    injection = Injection(
        label="partition",
        fault="judge0-down",
        expectation="safety-stop",
        target="zone:*",
        at=100.0,
        cleared_at=110.0,
        fault_ids=("f-9",),
        zones=("z-a",),
    )
    result = analyse_step(injection, samples, [], window_end=200.0, origin=90.0)
    assert not result.passed and "never went False" in result.verdict


def test_is_remediation() -> None:
    assert is_remediation(ActionSeen(t=0, action="RebootInstance", outcome="Succeeded"))
    assert is_remediation(
        ActionSeen(t=0, action="Launch", reason="Replace i-1: unhealthy", outcome="Succeeded")
    )
    assert not is_remediation(ActionSeen(t=0, action="Launch", reason="ScaleUp", outcome="Succeeded"))
    assert not is_remediation(ActionSeen(t=0, action="RestartJudge0", outcome="DryRun"))


def test_availability_weighs_intervals_and_caps_at_desired() -> None:
    def at(t: float, healthy: int) -> Sample:
        return Sample(t=t, desired=3, healthy=healthy)

    # 3 healthy for 10 s, 1 for 10 s, 5 (capped to 3) for 20 s: (30 + 10 + 60) / (3 * 40)
    samples = [at(0, 3), at(10, 1), at(20, 5), at(40, 5)]
    assert availability(samples) == round(100 / 120, 4)
    assert availability([at(0, 3)]) is None


def test_truth_availability_uses_the_world_not_the_status() -> None:
    broken = _world("i-1", "s1", faults=(("f-1", "workers-dead"),))
    samples = [
        _sample(
            0,
            [_row("i-0", "s0"), _row("i-1", "s1"), _row("i-2", "s2")],
            [_world("i-0", "s0"), broken, _world("i-2", "s2")],
        ),
        _sample(10, [], []),
    ]
    assert availability(samples) == 1.0
    assert availability(samples, truth=True, fleet_uid=UID) == round(2 / 3, 4)


def test_duplicate_launch_and_surplus_detection() -> None:
    twins = [_world("i-1", "s1"), _world("i-9", "s1")]  # same slot, same attempt
    dup = check_duplicate_launches([_sample(0, [_row("i-1", "s1")], twins, desired=1)], UID)
    assert not dup.ok and "slot s1 attempt 0" in dup.violations[0]
    replacement = [_world("i-1", "s1"), _world("i-9", "s1", attempt="1")]
    assert check_duplicate_launches(
        [_sample(0, [_row("i-1", "s1"), _row("i-9", "s1")], replacement, desired=1)], UID
    ).ok
    surplus = [_world(f"i-{n}", f"s{n}") for n in range(5)]  # 5 live for desired 2 + surge 1, all healthy
    rows = [_row(f"i-{n}", f"s{n}") for n in range(5)]
    once = check_duplicate_launches([_sample(0, rows, surplus, desired=2)], UID)
    assert once.ok  # a single sample can race the status
    twice = check_duplicate_launches(
        [_sample(0, rows, surplus, desired=2), _sample(1, rows, surplus, desired=2)], UID
    )
    assert not twice.ok
    foreign = check_duplicate_launches(
        [_sample(0, [], [_world("i-1", "s1"), _world("i-2", "s1", uid="other")], desired=1)], UID
    )
    assert foreign.ok


def test_leaks_are_live_instances_missing_from_status() -> None:
    final = _sample(
        0,
        [_row("i-0", "s0")],
        [_world("i-0", "s0"), _world("i-7", "s7"), _world("i-8", "s8", state="terminated")],
    )
    result = check_leaks(final, UID)
    assert not result.ok and len(result.violations) == 1 and "i-7" in result.violations[0]
    assert check_leaks(_sample(0, [_row("i-0", "s0")], [_world("i-0", "s0")]), UID).ok


def test_instance_seconds_counts_until_termination_or_the_end() -> None:
    a = WorldInstance("i-a", "running", "z", UID, "s0", "0", launched_at=0.0, serving=True)
    b = WorldInstance("i-b", "running", "z", UID, "s1", "0", launched_at=5.0, serving=True)
    b_gone = WorldInstance("i-b", "terminated", "z", UID, "s1", "0", launched_at=5.0, serving=False)
    samples = [_sample(10, [], [a, b]), _sample(20, [], [a, b_gone])]
    seconds, count = instance_seconds(samples, UID, end=30.0)
    assert count == 2
    assert seconds == pytest.approx((30 - 0) + (20 - 5))


def test_scale_up_and_rollout_judgements() -> None:
    def s(t: float, desired: int, healthy: int, updated: bool = True) -> Sample:
        rows = [_row(f"i-{n}", f"s{n}", updated=updated) for n in range(healthy)]
        return Sample(t=t, desired=desired, healthy=healthy, instances=tuple(rows))

    burst = Injection(
        label="burst", fault="burst", expectation="scale-up", target="fleet", at=10.0, baseline_desired=3
    )
    samples = [s(9, 3, 3), s(12, 5, 3), s(16, 5, 5), s(30, 3, 3)]
    result = analyse_step(burst, samples, [], window_end=40.0, origin=0.0)
    assert result.passed and result.details["peakReplicas"] == 5
    assert result.details["scaleUpSeconds"] == 2.0 and result.details["capacitySeconds"] == 6.0
    assert result.details["scaleDownSeconds"] == 20.0
    flat = analyse_step(burst, [s(9, 3, 3), s(20, 3, 3)], [], window_end=40.0, origin=0.0)
    assert not flat.passed
    rollout = Injection(label="roll", fault="rollout", expectation="rollout", target="fleet", at=10.0)
    done = analyse_step(rollout, [s(11, 3, 3, updated=False), s(20, 3, 3)], [], window_end=40.0, origin=0.0)
    assert done.passed and done.recover_seconds == 10.0
    stuck = analyse_step(rollout, [s(11, 3, 3, updated=False), s(20, 3, 3, updated=False)], [], 40.0, 0.0)
    assert not stuck.passed


def test_build_report_fails_on_a_broken_invariant_or_step() -> None:
    samples = [_three(99.0), _three(101.0), _three(102.0)]
    ok = build_report(
        scenario="t",
        speed=10,
        origin=100.0,
        end=103.0,
        injections=[],
        samples=samples,
        actions=[],
        aws_calls={"DescribeInstances": 4, "RunInstances": 1},
        fleet_uid=UID,
        final=samples[-1],
    )
    assert ok.ok and ok.aws_calls_total == 5
    data = ok.to_dict()
    assert data["ok"] is True and "awsCallsTotal" in data and "availabilityTruth" in data
    leaked = _three(102.0)
    leaked = Sample(
        t=leaked.t,
        desired=3,
        healthy=3,
        instances=leaked.instances,
        world=(*leaked.world, _world("i-7", "s7")),
    )
    bad = build_report(
        scenario="t",
        speed=10,
        origin=100.0,
        end=103.0,
        injections=[],
        samples=samples,
        actions=[],
        aws_calls={},
        fleet_uid=UID,
        final=leaked,
    )
    assert not bad.ok


def test_percentile_nearest_rank() -> None:
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 95) == 5.0
    assert percentile(values, 0) == 1.0
    assert percentile([], 50) is None


def test_parse_sample_reads_status_and_world() -> None:
    fleet = {
        "spec": {"replicas": 3, "rollout": {"maxSurge": "50%"}},
        "status": {
            "healthyReplicas": 2,
            "readyReplicas": 3,
            "scaling": {"desiredReplicas": 4, "reason": "QueueBacklog"},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Ok",
                    "lastTransitionTime": "2030-01-01T00:00:00Z",
                }
            ],
            "instances": [
                {
                    "instanceId": "i-1",
                    "slot": "s1",
                    "health": "Unhealthy",
                    "signals": {"api": {"status": "Unhealthy", "since": "x", "bad": True}},
                }
            ],
        },
    }
    world = [
        {
            "id": "i-1",
            "state": "running",
            "zone": "z-a",
            "serving": False,
            "launchTime": "2030-01-01T00:00:00Z",
            "tags": {"judge0.dev/fleet-uid": UID, "judge0.dev/slot": "s1", "judge0.dev/launch-attempt": "2"},
            "faults": [{"id": "f-3", "fault": "judge0-down"}],
        }
    ]
    s = parse_sample(5.0, fleet, world, [{"id": "f-3"}])
    assert (s.desired, s.healthy, s.ready, s.max_surge) == (4, 2, 3, 2)
    assert s.condition("Ready") is not None and s.condition("Ready").since is not None  # type: ignore[union-attr]
    assert s.instances[0].bad == frozenset({"api"}) and s.instances[0].signals["api"] == "Unhealthy"
    w = s.world[0]
    assert (w.slot, w.attempt, w.faults, w.truly_healthy) == ("s1", "2", (("f-3", "judge0-down"),), False)
    assert s.active_faults == frozenset({"f-3"})


# --- manifests fitted to the world ---------------------------------------------------------------------

INFO = {
    "region": "us-east-1",
    "subnets": {"us-east-1b": "subnet-0000000b", "us-east-1a": "subnet-0000000a"},
    "image_id": "ami-12345678",
    "security_group_id": "sg-12345678",
    "judge0_endpoint_template": "http://127.0.0.1:9/{instance_id}",
    "instance_types": ["t3.large", "c5.large"],
}


def test_fleet_fitted_to_the_world() -> None:
    fleet = manifests.fit_fleet(
        manifests.read_manifest(None, "fleet.yaml", manifests._FALLBACK_FLEET),
        INFO,
        policy_name="p",
        default_shape=True,
    )
    spec = fleet["spec"]
    assert spec["region"] == "us-east-1" and spec["instance"]["subnets"] == [
        "subnet-0000000a",
        "subnet-0000000b",
    ]
    assert spec["instance"]["instanceType"] in INFO["instance_types"]
    assert spec["judge0"]["endpointTemplate"] == INFO["judge0_endpoint_template"]
    assert spec["judge0"]["authSecretRef"]["name"] == manifests.SECRET_NAME
    assert spec["replicas"] == manifests.SIM_REPLICAS and "scaling" in spec


def test_world_manifests_carry_the_token_secret_only_when_the_world_asks_for_one() -> None:
    secret, policy, fleet = manifests.world_manifests({**INFO, "judge0_auth_token": "t0k"})
    assert secret["kind"] == "Secret" and secret["stringData"][manifests.SECRET_KEY] == "t0k"
    assert fleet["spec"]["judge0"]["authSecretRef"] == {"name": manifests.SECRET_NAME, "key": manifests.SECRET_KEY}
    assert fleet["spec"]["recoveryPolicyRef"]["name"] == policy["metadata"]["name"]
    assert policy["spec"]["startupGraceSeconds"] == manifests.FAST_POLICY["startupGraceSeconds"]
    policy, fleet = manifests.world_manifests({**INFO, "judge0_auth_token": None})
    assert (policy["kind"], fleet["kind"]) == ("RecoveryPolicy", "Judge0Fleet")
    assert "authSecretRef" not in fleet["spec"]["judge0"]


def test_fast_policy_keeps_the_rules_and_shortens_the_timings() -> None:
    original = manifests.read_manifest(None, "policy.yaml", manifests._FALLBACK_POLICY)
    fast = manifests.describe_policy(manifests.fit_policy(original, fast=True))
    slow = manifests.describe_policy(manifests.fit_policy(original, fast=False))
    assert fast["startupGraceSeconds"] < slow["startupGraceSeconds"]
    assert fast["probes"]["api"]["unhealthyAfterSeconds"] < slow["probes"]["api"]["unhealthyAfterSeconds"]
    assert fast["maxUnhealthy"] == slow["maxUnhealthy"] and len(fast["ladder"]) == len(slow["ladder"])


def test_an_overlapping_step_does_not_cut_the_previous_steps_window() -> None:
    def s(t: float, desired: int, healthy: int) -> Sample:
        rows = [_row(f"i-{n}", f"s{n}") for n in range(healthy)]
        return Sample(t=t, desired=desired, healthy=healthy, instances=tuple(rows))

    samples = [s(9, 3, 3), s(12, 5, 3), s(16, 5, 5), s(30, 3, 3)]
    burst = Injection(
        label="burst", fault="burst", expectation="scale-up", target="fleet", at=10.0, baseline_desired=3
    )
    traffic = Injection(
        label="traffic", fault="load", expectation="observe", target="zone:*", at=11.0, zones=("z-a",)
    )
    for waited, passes in ((False, True), (True, False)):
        report = build_report(
            scenario="t",
            speed=10,
            origin=0.0,
            end=40.0,
            injections=[burst, replace(traffic, waited=waited)],
            samples=samples,
            actions=[],
            aws_calls={},
            fleet_uid=UID,
            final=samples[-1],
        )
        assert report.steps[0].passed is passes
