"""The scenario's broken-template rollout and how the report judges it and names diagnoses."""

from __future__ import annotations

import pytest

from judge0_operator.simulate.report.step_timings import Injection
from judge0_operator.simulate.report.step_verdicts import analyse_step, diagnosis_of
from judge0_operator.simulate.samples import ActionSeen, Condition, Sample
from judge0_operator.simulate.scenario import ScenarioError, Step, builtin_scenario, load_scenario

T0 = 1_000.0


def broken(**extra: object) -> Step:
    return Step.model_validate({"at": 10, "fault": "rollout", "params": {"brokenSandbox": True}, **extra})


def test_a_broken_image_rollout_expects_a_defective_template_and_may_be_rolled_back() -> None:
    step = broken(clearAt=30)
    assert step.expectation == "template-defective" and step.selector.kind == "fleet"
    plain = Step.model_validate({"at": 10, "fault": "rollout", "params": {"instanceType": "t3.large"}})
    assert plain.expectation == "rollout" and "brokenSandbox" not in plain.params
    with pytest.raises(ValueError, match="cannot be cleared"):
        Step.model_validate({"at": 10, "fault": "rollout", "params": {"instanceType": "t3.large"}, "clearAt": 30})
    with pytest.raises(ValueError, match="leave out imageId"):
        Step.model_validate({"at": 10, "fault": "rollout", "params": {"brokenSandbox": True, "imageId": "ami-1"}})


def test_the_default_scenario_rehearses_the_targeted_repairs() -> None:
    steps = {s.label: s for s in builtin_scenario().steps}
    assert steps["redis down"].fault == "redis-down"
    assert steps["disk filling"].fault == "disk-filling"
    assert steps["broken template"].expectation == "template-defective"


def degraded(t: float, reason: str | None) -> Sample:
    conditions = {"Degraded": Condition("True", reason)} if reason else {}
    return Sample(t=t, desired=6, healthy=6, conditions=conditions)


def judge(samples: list[Sample], actions: list[ActionSeen]):  # type: ignore[no-untyped-def]
    injection = Injection(
        label="broken template",
        fault="rollout",
        expectation="template-defective",
        target="fleet",
        at=T0,
        cleared_at=T0 + 30,
        params={"brokenSandbox": True},
    )
    return analyse_step(injection, samples, actions, window_end=T0 + 40, origin=T0 - 100)


ROLL = ActionSeen(T0 + 1, "Launch", slot="s0", reason="Rollout: replace outdated i-1")
REPLACE = ActionSeen(T0 + 9, "Launch", slot="s0", reason="Remediation: replace i-7 (SandboxBroken: canary …)")


def test_marked_after_one_replacement_and_nothing_launched_since_passes() -> None:
    samples = [degraded(T0 + 5, None), degraded(T0 + 12, "TemplateDefective"), degraded(T0 + 20, "TemplateDefective")]
    result = judge(samples, [ROLL, REPLACE])
    assert result.passed, result.verdict
    assert result.details["replacements"] == 1 and result.recover_seconds == 12


def test_never_marked_or_a_launch_after_the_mark_fails() -> None:
    assert not judge([degraded(T0 + 5, "InstancesUnhealthy")], [ROLL, REPLACE]).passed
    late = ActionSeen(T0 + 25, "Launch", slot="s0", reason="Remediation: replace i-8 (SandboxBroken: …)")
    result = judge([degraded(T0 + 12, "TemplateDefective")], [ROLL, REPLACE, late])
    assert not result.passed and "after it was marked defective" in result.verdict


@pytest.mark.parametrize(
    ("reason", "diagnosis"),
    [
        ("Remediation: RedisDown: workers unhealthy for 3s (HTTP 500: Redis down?)", "RedisDown"),
        ("Remediation: replace i-0abc (SandboxBroken: canary unhealthy for 5s (…))", "SandboxBroken"),
        ("Remediation: instance stopped", None),
        ("ScaleUp: slot s3", None),
    ],
)
def test_the_report_reads_the_diagnosis_from_the_action_reason(reason: str, diagnosis: str | None) -> None:
    assert diagnosis_of(reason) == diagnosis


def test_a_scenario_file_with_a_broken_rollout_loads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.yaml"
    path.write_text("name: t\nsteps:\n  - {at: 1, fault: rollout, params: {brokenSandbox: true}, clearAt: 5}\n")
    assert load_scenario(path).steps[0].expectation == "template-defective"
    path.write_text("name: t\nsteps:\n  - {at: 1, fault: rollout, params: {}}\n")
    with pytest.raises((ScenarioError, ValueError)):
        load_scenario(path)


def test_a_launch_right_at_the_roll_back_belongs_to_the_good_template() -> None:
    at_roll_back = ActionSeen(T0 + 29.9, "Launch", slot="s0", reason="Remediation: replace i-8 (SandboxBroken: …)")
    result = judge([degraded(T0 + 12, "TemplateDefective")], [ROLL, REPLACE, at_roll_back])
    assert result.passed, result.verdict
