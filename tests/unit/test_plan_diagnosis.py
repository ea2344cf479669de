"""Planner tables: every diagnosis and the action it gets — or the action it must never get.

The evidence is written as the prober records it (status codes, bodies, Judge0 status and
message, EC2 checks) and run through the whole planner (``plan``), pass after pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pytest
from plan_builders import (
    T0,
    UID,
    ZONE_OF_SUBNET,
    Node,
    at,
    condition,
    make_policy,
    make_spec,
    observe_node,
    reasons,
    row,
)

from judge0_operator.api.fleet import Judge0FleetSpec
from judge0_operator.api.fleet_status import Judge0FleetStatus
from judge0_operator.api.policy import RecoveryPolicySpec
from judge0_operator.decide.controls import Controls
from judge0_operator.decide.model import (
    Action,
    ActionOutcome,
    CleanDisk,
    FleetObservation,
    InstanceObservation,
    Launch,
    ProbeResult,
    RestartJudge0,
)
from judge0_operator.decide.plan import Plan, plan, record_outcomes

ISOLATE = "No such file or directory @ rb_sysopen - /box/script.py"
# Judged at once (no tolerance, no startup grace), two restarts, a reboot, a replacement.
FAST = make_policy(
    {
        "startupGraceSeconds": 0,
        "graceAfterActionSeconds": 10,
        "probes": {
            "ec2UnhealthyAfterSeconds": 0,
            "api": {"unhealthyAfterSeconds": 0},
            "workers": {"unhealthyAfterSeconds": 0},
            "canary": {"unhealthyAfterSeconds": 0},
        },
        "remediation": {"backoff": {"initialSeconds": 0, "maxSeconds": 0}},
        "safety": {"maxUnhealthy": "100%"},
    }
)


def p(signal: str, ok: bool | None = True, **evidence: Any) -> ProbeResult:
    return ProbeResult(signal=signal, ok=ok, observed_at=T0, detail=evidence.pop("detail", ""), **evidence)  # type: ignore[arg-type]


GOOD: dict[str, ProbeResult] = {
    "api": p("api", http_status=200, version="1.13.1"),
    "workers": p("workers", http_status=200, available_workers=4, queue_size=0),
    "canary": p("canary", stage="poll", http_status=200, judge0_status=3),
}

EVIDENCE: dict[str, dict[str, ProbeResult]] = {
    "WebDown": {
        "api": p("api", False, no_answer="refused", detail="cannot connect"),
        "workers": p("workers", False, no_answer="refused"),
    },
    "WorkersStuck": {"workers": p("workers", False, http_status=200, available_workers=0, queue_size=9)},
    "RedisDown": {
        "workers": p("workers", False, http_status=500),
        "canary": p("canary", False, stage="submit", http_status=500),
    },
    "DatabaseDown": {"canary": p("canary", False, stage="submit", http_status=500)},
    "SandboxBroken": {
        "canary": p(
            "canary",
            False,
            stage="poll",
            http_status=200,
            judge0_status=13,
            judge0_message=ISOLATE,
            detail=f"sandbox broken: {ISOLATE}",
        )
    },
    "DiskPressure": {"disk": p("disk", False, disk_used_percent=93.0, detail="data volume 93% used")},
    "Unreachable": {"api": p("api", False, no_answer="timeout"), "workers": p("workers", False, no_answer="timeout")},
    "VersionMismatch": {"api": p("api", False, http_status=200, version="1.12.0", detail="version 1.12.0")},
    "AuthRejected": {
        "api": p("api", False, http_status=401),
        "workers": p("workers", False, http_status=401),
        "canary": p("canary", False, stage="submit", http_status=401),
    },
    "Maintenance": {
        "canary": p(
            "canary", None, stage="submit", http_status=503, judge0_message="Judge0 is currently in maintenance."
        )
    },
    "QueueSaturated": {
        "canary": p("canary", None, stage="submit", http_status=503, judge0_message="queue is full", saturated=True)
    },
    "Unknown": {"api": p("api", False, http_status=200, detail="HTTP 200 but /about is not JSON")},
}
NODE_CHANGES: dict[str, dict[str, Any]] = {
    "Unreachable": {"instance_check": "insufficient-data"},
    "Impaired": {"instance_check": "impaired"},
    "Retiring": {"events": ("instance-retirement",)},
    "Stopped": {"state": "stopped"},
}


@dataclass
class Fleet:
    """Passes of the planner over observations built from evidence; status carried between them."""

    spec: Judge0FleetSpec = field(default_factory=lambda: make_spec(1))
    policy: RecoveryPolicySpec = field(default_factory=lambda: FAST)
    status: Judge0FleetStatus = field(default_factory=Judge0FleetStatus)
    controls: Controls = field(default_factory=Controls)

    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # extra EC2 tags per instance

    def step(self, now: datetime, nodes: Sequence[tuple[Node, Mapping[str, ProbeResult]]]) -> Plan:
        instances = []
        for node, probes in nodes:
            seen = observe_node(node, now)
            extra = self.tags.get(node.iid)
            if extra:
                seen = replace(seen, instance=replace(seen.instance, tags={**seen.instance.tags, **extra}))
            if node.state == "running":
                merged = {**GOOD, **probes}
                seen = InstanceObservation(
                    seen.instance, seen.ec2, {s: replace(r, observed_at=now) for s, r in merged.items()}
                )
            instances.append(seen)
        observation = FleetObservation(observed_at=now, instances=tuple(instances), zones=dict(ZONE_OF_SUBNET))
        result = plan(
            self.spec,
            self.policy,
            observation,
            self.status,
            now,
            fleet_uid=UID,
            generation=1,
            fleet_name="exam",
            controls=self.controls,
        )
        self.status = result.status
        return result

    def succeed(self, result: Plan, now: datetime, launched: str = "i-new") -> None:
        outcomes = [
            ActionOutcome(a, ok=True, instance_id=launched if isinstance(a, Launch) else None) for a in result.actions
        ]
        self.status, _ = record_outcomes(self.status, outcomes, now, generation=1)


SPEC_CHANGES: dict[str, dict[str, Any]] = {"VersionMismatch": {"judge0": {"expectedVersion": "1.13.1"}}}


def node_for(name: str, iid: str = "i-1", **extra: Any) -> Node:
    return Node(iid, **{**NODE_CHANGES.get(name, {}), **extra})


def actions_of(result: Plan) -> list[Action]:
    return list(result.actions)


ACTS: list[tuple[str, str, dict[str, Any]]] = [
    # diagnosis, first action, what the action carries
    ("WebDown", "RestartJudge0", {"component": "server", "requeue": False}),
    ("WorkersStuck", "RestartJudge0", {"component": "workers", "requeue": True}),
    ("RedisDown", "RestartJudge0", {"component": "redis", "requeue": True}),
    ("DatabaseDown", "RestartJudge0", {"component": "db", "requeue": True}),
    ("SandboxBroken", "Launch", {}),
    ("DiskPressure", "CleanDisk", {}),
    ("Unreachable", "RebootInstance", {}),
    ("Impaired", "RebootInstance", {}),
    ("VersionMismatch", "Launch", {}),
    ("Retiring", "Launch", {}),
    ("Stopped", "Start", {}),
    ("Unknown", "RestartJudge0", {"component": None, "requeue": True}),
]


@pytest.mark.parametrize(("name", "kind", "carries"), ACTS, ids=[a[0] for a in ACTS])
def test_each_diagnosis_gets_its_targeted_first_action(name: str, kind: str, carries: dict[str, Any]) -> None:
    fleet = Fleet(spec=make_spec(1, **SPEC_CHANGES.get(name, {})))
    result = fleet.step(at(0), [(node_for(name), EVIDENCE.get(name, {}))])
    assert row(result.status, "i-1").diagnosis == name
    assert [a.kind for a in result.actions] == [kind], (name, result.events)
    action = result.actions[0]
    for attribute, value in carries.items():
        assert getattr(action, attribute) == value, (name, attribute)
    assert name in action.reason, "the action's reason names the diagnosis (and so its Event)"
    assert any(e.reason in ("Remediating", "FailingOver") and name in e.message for e in result.events), result.events


def test_the_restart_commands_come_from_the_policy_per_component() -> None:
    policy = FAST.model_copy(deep=True)
    policy.remediation.component_commands.redis = "systemctl restart judge0-redis"
    fleet = Fleet(policy=policy)
    redis = fleet.step(at(0), [(node_for("RedisDown"), EVIDENCE["RedisDown"])]).actions[0]
    assert isinstance(redis, RestartJudge0) and redis.command == "systemctl restart judge0-redis"
    other = Fleet().step(at(0), [(node_for("Unknown"), EVIDENCE["Unknown"])]).actions[0]
    assert isinstance(other, RestartJudge0) and other.command == FAST.remediation.restart_command


NEVER: list[tuple[str, str | None]] = [
    ("AuthRejected", "AuthRejected"),
    ("Maintenance", "Maintenance"),
    ("QueueSaturated", None),
]


@pytest.mark.parametrize(("name", "condition_reason"), NEVER, ids=[n[0] for n in NEVER])
def test_configuration_and_load_are_never_remediated(name: str, condition_reason: str | None) -> None:
    fleet = Fleet()
    for second in (0, 30, 300, 3000):
        result = fleet.step(at(second), [(node_for(name), EVIDENCE[name])])
        assert not result.actions, (name, second, result.actions)
    assert row(result.status, "i-1").diagnosis == name
    configured = condition(result.status, "Configured")
    if condition_reason:
        assert configured.status == "False" and configured.reason == condition_reason
        assert "i-1" in configured.message
    else:
        assert configured.status == "True"
    assert condition(result.status, "RemediationAllowed").status == "True"


def test_a_fleet_wide_wrong_token_is_configuration_not_a_remediation_storm() -> None:
    fleet = Fleet(spec=make_spec(3), policy=FAST.model_copy(update={"safety": make_policy().safety}))
    nodes = [
        (node_for("AuthRejected", f"i-{n}", slot=f"s{n}", zone=z), EVIDENCE["AuthRejected"])
        for n, z in ((1, "a"), (2, "b"), (3, "c"))
    ]
    result = fleet.step(at(0), nodes)
    assert not result.actions
    assert condition(result.status, "RemediationAllowed").reason != "TooManyUnhealthy"
    assert condition(result.status, "Configured").reason == "AuthRejected"


def test_redis_down_that_a_redis_restart_does_not_fix_walks_on_to_the_reboot() -> None:
    fleet = Fleet()
    seen = [(node_for("RedisDown"), EVIDENCE["RedisDown"])]
    kinds_over_time = []
    for second in (0, 200, 400):
        result = fleet.step(at(second), seen)
        kinds_over_time.append([(a.kind, getattr(a, "component", None)) for a in result.actions])
    assert kinds_over_time == [[("RestartJudge0", "redis")], [("RestartJudge0", "redis")], [("RebootInstance", None)]]


def test_a_broken_sandbox_is_never_restarted_or_rebooted() -> None:
    policy = FAST.model_copy(deep=True)
    policy.remediation.ladder = policy.remediation.ladder[:2]  # Restart x2, Reboot: no replacement rung
    fleet = Fleet(policy=policy)
    result = fleet.step(at(0), [(node_for("SandboxBroken"), EVIDENCE["SandboxBroken"])])
    assert not result.actions
    assert "RemediationGaveUp" in reasons(result)
    assert any("no rung left that can help SandboxBroken" in e.message for e in result.events)


def test_disk_pressure_is_cleaned_first_then_the_ladder_if_it_remains() -> None:
    fleet = Fleet()
    full = [(node_for("DiskPressure"), EVIDENCE["DiskPressure"])]
    first = fleet.step(at(0), full)
    clean = first.actions[0]
    assert isinstance(clean, CleanDisk)
    assert "interval '30 days'" in clean.command and "docker image prune" in clean.command
    assert row(first.status, "i-1").cleanups == 1
    fleet.succeed(first, at(1))
    assert not fleet.step(at(60), full).actions, "the cleanup has its timeout to work"
    later = fleet.step(at(400), full)
    assert [a.kind for a in later.actions] == ["Launch"], "still full: restart and reboot cannot help a disk"


def test_a_cleaned_disk_is_healthy_and_the_next_pressure_cleans_again() -> None:
    fleet = Fleet()
    full = [(node_for("DiskPressure"), EVIDENCE["DiskPressure"])]
    fleet.succeed(fleet.step(at(0), full), at(1))
    healthy = fleet.step(at(320), [(node_for("DiskPressure"), {"disk": p("disk", True, disk_used_percent=50.0)})])
    assert row(healthy.status, "i-1").health == "Healthy" and row(healthy.status, "i-1").cleanups == 0
    again = fleet.step(at(4000), full)
    assert [a.kind for a in again.actions] == ["CleanDisk"]


def sandbox_replacement_fleet(replicas: int = 2) -> tuple[Fleet, list[tuple[Node, Mapping[str, ProbeResult]]]]:
    fleet = Fleet(spec=make_spec(replicas))
    broken = [(Node("i-1", slot="s0", zone="a"), EVIDENCE["SandboxBroken"])]
    healthy = [(Node(f"i-{n + 1}", slot=f"s{n}", zone="bc"[n % 2]), {}) for n in range(1, replicas)]
    return fleet, broken + healthy


def test_a_replacement_that_fails_like_its_predecessor_marks_the_template_defective() -> None:
    fleet, nodes = sandbox_replacement_fleet()
    first = fleet.step(at(0), nodes)
    launch = first.actions[0]
    assert isinstance(launch, Launch) and launch.slot == "s0"
    intent = fleet.status.pending_launches[0]
    assert intent.predecessor is not None and intent.predecessor.diagnosis == "SandboxBroken"
    fleet.succeed(first, at(1), launched="i-9")
    replacement = Node("i-9", slot="s0", zone="b", attempt=1, launched=at(5))
    second = fleet.step(at(20), [*nodes, (replacement, EVIDENCE["SandboxBroken"])])

    assert not [a for a in second.actions if isinstance(a, Launch)], "no second replacement from the same template"
    degraded = condition(second.status, "Degraded")
    assert degraded.status == "True" and degraded.reason == "TemplateDefective"
    assert "SandboxBroken" in degraded.message and ISOLATE in degraded.message
    assert "i-1" in degraded.message and "i-9" in degraded.message
    assert "TemplateDefective" in reasons(second)
    [defective] = second.status.defective_templates
    assert defective.template_hash == second.status.template_hash

    later = fleet.step(at(2000), [*nodes, (replacement, EVIDENCE["SandboxBroken"])])
    assert not [a for a in later.actions if isinstance(a, Launch)]
    assert "TemplateDefective" not in reasons(later), "announced once"


def test_a_defective_template_still_lets_other_instances_be_restarted() -> None:
    fleet, nodes = sandbox_replacement_fleet(3)
    fleet.policy = FAST.model_copy(update={"safety": FAST.safety.model_copy(update={"max_in_flight": 3})})
    first = fleet.step(at(0), nodes)
    fleet.succeed(first, at(1), launched="i-9")
    replacement = (Node("i-9", slot="s0", zone="c", attempt=1, launched=at(5)), EVIDENCE["SandboxBroken"])
    web_down = (nodes[2][0], EVIDENCE["WebDown"])  # zone b: one unhealthy there is no zone outage
    result = fleet.step(at(20), [nodes[0], nodes[1], web_down, replacement])
    assert [(a.kind, a.instance_id) for a in result.actions] == [("RestartJudge0", "i-3")]
    assert condition(result.status, "Degraded").reason == "TemplateDefective"


def test_a_replacement_failing_for_another_reason_is_not_a_defective_template() -> None:
    fleet, nodes = sandbox_replacement_fleet()
    fleet.succeed(fleet.step(at(0), nodes), at(1), launched="i-9")
    replacement = (Node("i-9", slot="s0", zone="b", attempt=1, launched=at(5)), EVIDENCE["WebDown"])
    result = fleet.step(at(20), [*nodes, replacement])
    assert not result.status.defective_templates
    assert ("RestartJudge0", "i-9") in [(a.kind, getattr(a, "instance_id", None)) for a in result.actions]


def test_a_new_template_or_a_reset_lifts_the_defective_mark() -> None:
    fleet, nodes = sandbox_replacement_fleet()
    fleet.succeed(fleet.step(at(0), nodes), at(1), launched="i-9")
    replacement = (Node("i-9", slot="s0", zone="b", attempt=1, launched=at(5)), EVIDENCE["SandboxBroken"])
    assert fleet.step(at(20), [*nodes, replacement]).status.defective_templates

    reset = Fleet(spec=fleet.spec, status=fleet.status, controls=Controls(reset_circuit="2026-11-23T13:00"))
    after_reset = reset.step(at(40), [*nodes, replacement])
    assert not after_reset.status.defective_templates and after_reset.status.circuit_reset == "2026-11-23T13:00"
    assert "CircuitReset" in reasons(after_reset)
    assert "CircuitReset" not in reasons(reset.step(at(60), [*nodes, replacement])), "acted on once per value"

    fleet.spec = make_spec(2, instance=fleet.spec.instance.model_copy(update={"instance_type": "c6i.xlarge"}))
    changed = fleet.step(at(80), [*nodes, replacement])
    assert not changed.status.defective_templates
    assert condition(changed.status, "Degraded").reason != "TemplateDefective"


def test_reset_clears_a_terminal_aws_error_and_give_ups() -> None:
    fleet = Fleet()
    fleet.status = fleet.status.model_copy(
        update={"aws_error": {"code": "UnauthorizedOperation", "message": "no", "generation": 1}}
    )
    blocked = fleet.step(at(0), [])
    assert not blocked.actions and condition(blocked.status, "Ready").reason == "LaunchBlocked"
    fleet.controls = Controls(reset_circuit="fixed-iam")
    freed = fleet.step(at(1), [])
    assert [a.kind for a in freed.actions] == ["Launch"] and freed.status.aws_error is None


def held(*ids: str, **extra: Any) -> Controls:
    return Controls(do_not_disrupt=frozenset(ids), **extra)


def test_a_held_instance_is_not_remediated_but_still_counts_and_is_reported() -> None:
    fleet = Fleet(controls=held("i-1"))
    result = fleet.step(at(0), [(node_for("WebDown"), EVIDENCE["WebDown"])])
    assert not result.actions
    state = row(result.status, "i-1")
    assert state.do_not_disrupt and state.health == "Unhealthy" and state.diagnosis == "WebDown"
    assert result.status.replicas == 1
    assert result.status.held_back == ["i-1: Remediation"]
    assert "DisruptionBlocked" in reasons(result)


def test_instance_tags_hold_an_instance_and_ask_for_an_action_once() -> None:
    fleet = Fleet(tags={"i-1": {"judge0.dev/do-not-disrupt": "true"}})
    sick = [(node_for("WebDown"), EVIDENCE["WebDown"])]
    assert not fleet.step(at(0), sick).actions and row(fleet.status, "i-1").do_not_disrupt
    fleet.tags = {"i-1": {"judge0.dev/do-not-disrupt": "false"}}
    lifted = fleet.step(at(1), sick)
    assert [a.kind for a in lifted.actions] == ["RestartJudge0"] and "DisruptionAllowed" in reasons(lifted)

    asked = Fleet(tags={"i-1": {"judge0.dev/remediate": "Reboot"}})
    first = asked.step(at(0), [(Node("i-1"), {})])
    assert [a.kind for a in first.actions] == ["RebootInstance"]
    assert row(first.status, "i-1").handled_request == "tag:Reboot"
    assert not asked.step(at(100), [(Node("i-1"), {})]).actions, "the tag is done until it changes"
    asked.tags = {}
    asked.step(at(101), [(Node("i-1"), {})])
    asked.tags = {"i-1": {"judge0.dev/remediate": "Reboot"}}
    assert [a.kind for a in asked.step(at(300), [(Node("i-1"), {})]).actions] == ["RebootInstance"]


def test_scale_in_and_rollout_pass_a_held_instance_by() -> None:
    fleet = Fleet(spec=make_spec(3), controls=held("i-1"))
    nodes = [(Node(f"i-{n}", slot=f"s{n - 1}", zone="abc"[n - 1]), {}) for n in (1, 2, 3)]
    assert not fleet.step(at(0), nodes).actions
    fleet.spec = make_spec(1)
    scaled = fleet.step(at(10), nodes)
    terminated = sorted(a.instance_id for a in scaled.actions if a.kind == "Terminate")  # type: ignore[union-attr]
    assert terminated == ["i-2", "i-3"], "the held instance stays; the next in line go"
    assert scaled.status.held_back == ["i-1: ScaleDown"], "it was first in line (same age, first slot)"
    assert condition(scaled.status, "Progressing").reason in ("ScalingDown", "HeldBack")

    rolled = Fleet(spec=make_spec(2), controls=held("i-1"))
    old = [(Node(f"i-{n}", slot=f"s{n - 1}", zone="ab"[n - 1], template="0ldhash000"), {}) for n in (1, 2)]
    result = rolled.step(at(0), old)
    replaced = [a.replaces for a in result.actions if isinstance(a, Launch)]
    assert replaced == ["i-2"]
    assert result.status.held_back == ["i-1: Rollout"]


def test_a_request_acts_now_once_within_the_limits_and_is_remembered() -> None:
    fleet = Fleet(spec=make_spec(2), controls=Controls(requests=(_request("i-1", "Replace"),)))
    healthy = [(Node("i-1", slot="s0", zone="a"), {}), (Node("i-2", slot="s1", zone="b"), {})]
    first = fleet.step(at(0), healthy)
    assert [(a.kind, getattr(a, "replaces", None)) for a in first.actions] == [("Launch", "i-1")]
    assert first.status.handled_requests == ["i-1=Replace"]
    assert row(first.status, "i-1").attempts == 0, "a human's request is not an attempt of the ladder"
    assert "RemediationRequested" in reasons(first)
    fleet.succeed(first, at(1), launched="i-9")
    again = fleet.step(at(5), healthy)
    assert not [a for a in again.actions if isinstance(a, Launch)], "done once"
    fleet.controls = Controls()
    assert fleet.step(at(6), healthy).status.handled_requests == [], "removing the entry forgets it"


def test_a_request_waits_above_max_unhealthy_and_is_refused_for_a_held_instance() -> None:
    policy = FAST.model_copy(update={"safety": make_policy({"safety": {"maxUnhealthy": 0}}).safety})
    fleet = Fleet(policy=policy, controls=Controls(requests=(_request("i-1", "Restart"),)))
    sick = [(node_for("WebDown"), EVIDENCE["WebDown"])]
    waiting = fleet.step(at(0), sick)
    assert not waiting.actions and waiting.status.handled_requests == []

    refused = Fleet(controls=Controls(requests=(_request("i-1", "Restart"),), do_not_disrupt=frozenset({"i-1"})))
    result = refused.step(at(0), [(Node("i-1"), {})])
    assert not result.actions and "RemediationRequestRefused" in reasons(result)
    assert "RemediationRequestRefused" not in reasons(refused.step(at(1), [(Node("i-1"), {})]))


def test_annotations_are_read_and_what_cannot_be_read_is_reported() -> None:
    from judge0_operator.decide.controls import parse_annotations

    controls = parse_annotations(
        {
            "judge0.dev/do-not-disrupt": "i-0123456789abcdef0, i-0aaaaaaaaaaaaaaa1 nonsense",
            "judge0.dev/remediate": (
                "i-0123456789abcdef0=Replace i-0aaaaaaaaaaaaaaa1=restart i-0bbbbbbbbbbbbbbb2=explode"
            ),
            "judge0.dev/reset-circuit": " 2026-11-23T12:00Z ",
        }
    )
    assert controls.do_not_disrupt == {"i-0123456789abcdef0", "i-0aaaaaaaaaaaaaaa1"}
    assert [(r.instance_id, r.action) for r in controls.requests] == [
        ("i-0123456789abcdef0", "Replace"),
        ("i-0aaaaaaaaaaaaaaa1", "Restart"),
    ]
    assert controls.reset_circuit == "2026-11-23T12:00Z"
    assert len(controls.problems) == 2
    result = Fleet(controls=controls).step(at(0), [(Node("i-1"), {})])
    assert condition(result.status, "Configured").reason == "ControlNotUnderstood"


def _request(instance_id: str, action: str):  # type: ignore[no-untyped-def]
    from judge0_operator.decide.controls import Request

    return Request(instance_id, action, f"{instance_id}={action}")  # type: ignore[arg-type]


def test_diagnosis_and_reboot_actions_keep_the_plain_ladder_for_unknown_causes() -> None:
    fleet = Fleet()
    nodes = [(node_for("Unknown"), EVIDENCE["Unknown"])]
    seen = [a.kind for second in (0, 200, 400, 800) for a in fleet.step(at(second), nodes).actions]
    assert seen == ["RestartJudge0", "RestartJudge0", "RebootInstance", "Launch"]


def test_the_diagnosis_stands_while_the_evidence_turns_inconclusive() -> None:
    fleet = Fleet()
    fleet.step(at(0), [(node_for("RedisDown"), EVIDENCE["RedisDown"])])
    after_restart = {"workers": p("workers", None, http_status=200, detail="no queues yet ([] is inconclusive)")}
    result = fleet.step(at(20), [(node_for("RedisDown"), after_restart)])
    state = row(result.status, "i-1")
    assert state.health == "Unhealthy" and state.diagnosis == "RedisDown"
    assert "Diagnosed" not in reasons(result), "no new cause was found"


def test_a_canary_from_before_the_restart_does_not_name_a_new_cause() -> None:
    """Redis restarted at 0: the canary that failed (POST 500) while Redis was down is older than the
    restart; with /workers fine again it must not read as DatabaseDown."""
    fleet = Fleet()
    fleet.step(at(0), [(node_for("RedisDown"), EVIDENCE["RedisDown"])])
    stale = replace(EVIDENCE["RedisDown"]["canary"], observed_at=at(-5))
    seen = observe_node(node_for("RedisDown"), at(20))
    probes = {**{s: replace(r, observed_at=at(20)) for s, r in GOOD.items()}, "canary": stale}
    observation = FleetObservation(
        observed_at=at(20),
        instances=(InstanceObservation(seen.instance, seen.ec2, probes),),
        zones=dict(ZONE_OF_SUBNET),
    )
    result = plan(
        fleet.spec, fleet.policy, observation, fleet.status, at(20), fleet_uid=UID, generation=1, fleet_name="exam"
    )
    assert row(result.status, "i-1").diagnosis == "RedisDown"
    assert "Diagnosed" not in reasons(result)
