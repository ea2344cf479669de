"""The simulation's clients section: where the students' load goes and how the report shows it."""

from __future__ import annotations

from judge0_operator.simulate import manifests
from judge0_operator.simulate.report.client_load import clients_section
from judge0_operator.simulate.report.text import render_clients

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/judge0-students/0123456789abcdef"


def fleet(traffic: object = None) -> dict:
    spec: dict = {"replicas": 3}
    if traffic is not None:
        spec["traffic"] = traffic
    return {"metadata": {"name": "judge0", "namespace": "exams"}, "spec": spec}


def test_client_target_prefers_the_target_group_then_the_service():
    assert manifests.client_target(fleet()) is None
    assert manifests.client_target(fleet({"targetGroupArns": [ARN], "service": {}})) == f"tg:{ARN}"
    assert manifests.client_target(fleet({"service": {}})) == "svc:exams/judge0"
    assert manifests.client_target(fleet({"service": {"name": "students"}})) == "svc:exams/students"
    assert manifests.client_target(fleet({"service": {"enabled": False}})) is None
    placeholder_only = fleet({"targetGroupArns": [manifests.TARGET_GROUP_PLACEHOLDER]})
    assert manifests.client_target(placeholder_only) is None  # never the unreplaced placeholder


def test_an_unpublished_fleet_says_so():
    section = clients_section(None, target=None, rate=1.0)
    assert section.status == "not-published"
    assert render_clients(section) == ["clients: no client load: fleet not published"]


def test_a_measured_load_is_counted_and_every_loss_explained():
    losses = [
        {"n": 3, "cause": {"by": "operator", "action": "TerminateInstances", "event": "queue lost"}},
        {"n": 4, "cause": {"by": "operator", "action": "TerminateInstances", "event": "queue lost"}},
        {"n": 9, "cause": {"by": "fault", "action": "spot interruption (f-2)", "event": "worker killed"}},
    ]
    summary = {
        "rate": 2.0,
        "frontHadTargets": True,
        "submitted": 40,
        "accepted": 37,
        "delivered": 33,
        "deliveredWrong": 1,
        "rejected": {"total": 3, "5xx": 1, "refused": 2, "byReason": {"http-503": 1, "no-target": 2}},
        "lost": {"total": 3, "operator": 2, "fault": 1, "unknown": 0},
        "pending": 1,
        "latencySeconds": {"p50": 1.1, "p99": 2.4},
        "losses": losses,
    }
    section = clients_section(summary, target=f"tg:{ARN}", rate=2.0)
    assert (section.status, section.accepted, section.lost_to_operator) == ("measured", 37, 2)
    text = "\n".join(render_clients(section))
    assert "37 accepted, 33 delivered (1 wrong), 3 rejected at the front (1 5xx, 2 refused)" in text
    assert "3 lost (2 to the operator's actions, 1 to injected faults, 0 unexplained)" in text
    assert "p50 1.1s, p99 2.4s" in text
    assert "lost 2: operator: TerminateInstances — queue lost" in text
    assert "lost 1: fault: spot interruption (f-2) — worker killed" in text


def test_a_front_that_never_had_a_target_is_noted():
    section = clients_section({"frontHadTargets": False, "submitted": 5}, target="svc:exams/judge0", rate=1.0)
    assert section.note == "the front never had a target in service"
