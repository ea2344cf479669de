"""From the simulator's answers to a diagnosis: the prober records the evidence (status codes,
bodies, Judge0 status and message, no answer at all) and ``decide.diagnosis`` names the cause.

Every node serves the real HTTP API of the Judge0 simulator with one failure of
/work/shared/judge0-failures.md; nothing in the prober or the planner is patched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from judge0_operator.api.diagnosis import DiskProbe
from judge0_operator.api.fleet_status import SignalStatus
from judge0_operator.api.judge0 import Judge0Spec
from judge0_operator.api.policy import ApiProbe, CanaryProbe, Probes, WorkersProbe
from judge0_operator.decide.diagnosis import diagnose
from judge0_operator.decide.model import Ec2Health, Ec2Instance, InstanceObservation, ProbeResult
from judge0_operator.observe.judge0.prober import Judge0Prober
from judge0_operator.world.judge0.nodes import NodeView
from judge0_operator.world.judge0.server import Judge0Simulator

pytestmark = pytest.mark.timeout(60)
TOKEN = "tok-evidence-1234567890"
T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)


class Nodes:
    def __init__(self) -> None:
        self.views: dict[str, NodeView] = {}

    def node(self, instance_id: str) -> NodeView | None:
        return self.views.get(instance_id)


def ec2(instance_id: str) -> Ec2Instance:
    return Ec2Instance(
        instance_id=instance_id,
        state="running",
        zone="us-east-1a",
        subnet_id="subnet-1",
        instance_type="t3.small",
        launch_time=T0 - timedelta(hours=1),
        private_ip="10.0.0.9",
    )


PROBES = Probes(
    api=ApiProbe(interval_seconds=10, timeout_seconds=1),
    workers=WorkersProbe(interval_seconds=10, timeout_seconds=1),
    canary=CanaryProbe(interval_seconds=60, timeout_seconds=2),
    disk=DiskProbe(interval_seconds=900),
)


@pytest.fixture
async def simulator() -> AsyncIterator[tuple[Nodes, Judge0Simulator, Judge0Spec]]:
    nodes = Nodes()
    sim = Judge0Simulator(nodes, auth_token=TOKEN, job_seconds=0.02)
    await sim.start()
    yield nodes, sim, Judge0Spec(endpoint_template=sim.endpoint_template)
    await sim.stop()


async def evidence(
    setup: tuple[Nodes, Judge0Simulator, Judge0Spec],
    instance_id: str,
    faults: dict[str, dict[str, Any]],
    *,
    warm: bool = True,
) -> dict[str, ProbeResult]:
    """Probe one node twice (the second pass reports the canary that completed in between)."""
    nodes, sim, spec = setup
    prober = Judge0Prober(concurrency=4, canary_poll_seconds=0.05)
    try:
        nodes.views[instance_id] = NodeView(serving=True, faults={})
        if warm:  # one job queued once: /workers knows the queue (it answers [] before)
            sim.submit_load(instance_id, 1)
        nodes.views[instance_id] = NodeView(serving=True, faults=faults)
        await prober.probe_fleet([ec2(instance_id)], spec, PROBES, TOKEN, T0)
        await prober.wait_for_canaries()
        found = await prober.probe_fleet([ec2(instance_id)], spec, PROBES, TOKEN, T0 + timedelta(seconds=10))
        return found[instance_id]
    finally:
        await prober.close()


def named(results: dict[str, ProbeResult]) -> str | None:
    seen = InstanceObservation(instance=ec2("i-x"), ec2=Ec2Health(), probes=results)
    signals = {
        s: SignalStatus(
            status="Unhealthy" if r.ok is False else "Healthy", since="t", bad=r.ok is False, detail=r.detail
        )
        for s, r in results.items()
    }
    found = diagnose(seen, signals)
    return found.name if found else None


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        ({}, None),
        ({"judge0-down": {}}, "WebDown"),
        ({"api-500": {}}, "WebDown"),
        ({"redis-down": {}}, "RedisDown"),
        ({"db-down": {}}, "DatabaseDown"),
        ({"sandbox-broken": {}}, "SandboxBroken"),
        ({"workers-dead": {}}, "WorkersStuck"),
        ({"maintenance": {}}, "Maintenance"),
        ({"queue-full": {}}, "QueueSaturated"),
        ({"auth-rejected": {"status": 401}}, "AuthRejected"),
        ({"auth-rejected": {"status": 403}}, "AuthRejected"),
    ],
    ids=lambda v: next(iter(v), "healthy") if isinstance(v, dict) else str(v),
)
async def test_each_failure_is_diagnosed_from_what_the_simulator_answers(simulator, faults, expected) -> None:
    results = await evidence(simulator, "i-" + (next(iter(faults), "ok")).replace("-", ""), faults)
    assert named(results) == expected, {s: (r.ok, r.http_status, r.no_answer, r.detail) for s, r in results.items()}


async def test_the_canary_keeps_the_isolate_message_and_the_http_answer(simulator) -> None:
    results = await evidence(simulator, "i-sandbox", {"sandbox-broken": {}})
    canary = results["canary"]
    assert (canary.stage, canary.http_status, canary.judge0_status) == ("poll", 200, 13)
    assert canary.judge0_message is not None and "rb_sysopen" in canary.judge0_message
    down = await evidence(simulator, "i-refused", {"judge0-down": {}}, warm=False)
    assert down["api"].no_answer == "refused" and down["api"].http_status is None


async def test_statistics_database_size_is_read_with_the_probes(simulator) -> None:
    nodes, _, spec = simulator
    prober = Judge0Prober(concurrency=4, canary_poll_seconds=0.05)
    try:
        nodes.views["i-db"] = NodeView(serving=True, faults={"disk-filling": {"usedPercent": 80.0}})
        assert prober.database_bytes("i-db") is None
        await prober.probe_fleet([ec2("i-db")], spec, PROBES, TOKEN, T0)
        size = prober.database_bytes("i-db")
        assert size is not None and size > 10 * 1024**3  # most of 80% of 32 GiB is the database
    finally:
        await prober.close()
