"""The controller's traffic helpers that need no I/O: what a restart left behind is reported, and
drains become metrics."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from judge0_operator import metrics
from judge0_operator.api.fleet import Judge0FleetSpec
from judge0_operator.api.fleet_status import Judge0FleetStatus
from judge0_operator.api.instance import InstanceSpec
from judge0_operator.controller import traffic
from judge0_operator.decide.drain_gate import DrainEnd
from judge0_operator.decide.model import (
    ActionOutcome,
    Ec2Instance,
    FleetObservation,
    InstanceObservation,
    ProbeResult,
    Reboot,
    RestartJudge0,
)

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
REQUEUE = "docker compose exec -T server rake judge0:run_in_queue"


def spec(topology: str = "SelfContained") -> Judge0FleetSpec:
    instance = InstanceSpec(image_id="ami-12345678", instance_type="c6i.large", subnets=["subnet-0000000a"])
    return Judge0FleetSpec(region="eu-west-1", instance=instance, judge0={"topology": topology})  # type: ignore[arg-type]


def observation(queued: int | None = 3, running: int | None = 1) -> FleetObservation:
    instance = Ec2Instance("i-1", "running", "eu-west-1a", "subnet-0000000a", "c6i.large", T0)
    workers = ProbeResult(signal="workers", ok=True, observed_at=T0, queue_size=queued, working=running)
    return FleetObservation(T0, (InstanceObservation(instance, probes={"workers": workers}),))


def restarted(ok: bool = True, requeue: bool = True) -> ActionOutcome:
    return ActionOutcome(RestartJudge0("i-1", "workers stuck", requeue=requeue), ok=ok, instance_id="i-1")


def test_a_restart_that_re_enqueued_says_how_many_were_left_and_how_many_were_cut_off() -> None:
    [note] = traffic.requeue_events([restarted()], observation(3, 1), spec(), REQUEUE)
    assert (note.type, note.reason) == ("Normal", "SubmissionsRequeued")
    assert "3 queued and 1 running" in note.message and "killed mid-job" in note.message


def test_an_unknown_queue_is_said_so() -> None:
    [note] = traffic.requeue_events([restarted()], observation(None, None), spec(), REQUEUE)
    assert "unknown" in note.message


@pytest.mark.parametrize(("outcomes", "fleet", "command"), [
    ([restarted(ok=False)], spec(), REQUEUE),  # the command failed: nothing was re-enqueued
    ([restarted(requeue=False)], spec(), REQUEUE),  # a web-only restart keeps the queue
    ([restarted()], spec("SharedBackend"), REQUEUE),  # a shared queue survives a node's restart
    ([restarted()], spec(), ""),  # requeueCommand switched off
    ([ActionOutcome(Reboot("i-1", "impaired"), ok=True, instance_id="i-1")], spec(), REQUEUE),
])
def test_no_requeue_report_where_nothing_was_re_enqueued(outcomes, fleet, command) -> None:
    assert traffic.requeue_events(outcomes, observation(), fleet, command) == []


def _sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_drains_become_metrics() -> None:
    labels = {"namespace": "unit-traffic", "fleet": "f"}
    status = Judge0FleetStatus(in_rotation_replicas=4)
    ends = [
        DrainEnd("i-1", "drained", 3.0),
        DrainEnd("i-2", "timed-out", 300.0, queued=2, running=1),
        DrainEnd("i-3", "not-needed", 0.0),
    ]
    traffic.report("unit-traffic", "f", status, ends)
    assert _sample("judge0_operator_fleet_in_rotation", **labels) == 4
    assert _sample("judge0_operator_drain_seconds_count", **labels, outcome="drained") == 1
    assert _sample("judge0_operator_drain_seconds_sum", **labels, outcome="timed-out") == 300
    assert _sample("judge0_operator_drain_seconds_count", **labels, outcome="not-needed") == 0
    assert _sample("judge0_operator_drain_timeouts_total", **labels) == 1
    metrics.forget_fleet("unit-traffic", "f")
    assert _sample("judge0_operator_fleet_in_rotation", **labels) == 0


def test_the_draining_nodes_are_read_from_the_last_status() -> None:
    from judge0_operator.api.fleet_status import InstanceStatus

    rows = [InstanceStatus(instance_id=i, slot=f"s{n}", traffic=t)  # type: ignore[arg-type]
            for n, (i, t) in enumerate([("i-1", "InRotation"), ("i-2", "Draining"), ("i-3", "Out")])]
    assert traffic.draining(Judge0FleetStatus(instances=rows)) == {"i-2"}
