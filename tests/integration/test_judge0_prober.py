"""Judge0Prober against the Judge0 node simulator over real HTTP on loopback.

Each node's faults come from a plain ``NodeDirectory`` (the world's contract with the simulator),
so every probe result below is produced by the simulator's answers, never by patching the prober.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from judge0_operator import metrics
from judge0_operator.api.judge0 import Judge0Spec
from judge0_operator.api.policy import ApiProbe, CanaryProbe, Probes, WorkersProbe
from judge0_operator.decide.model import Ec2Instance
from judge0_operator.observe.judge0.prober import Judge0Prober
from judge0_operator.world.judge0.nodes import NodeView

Judge0Simulator = pytest.importorskip("judge0_operator.world.judge0.server").Judge0Simulator

TOKEN = "tok-9f8e7d6c5b4a-judge0-secret"
T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)


class Nodes:
    """A NodeDirectory: which nodes serve and with which faults."""

    def __init__(self) -> None:
        self.views: dict[str, NodeView] = {}

    def node(self, instance_id: str) -> NodeView | None:
        return self.views.get(instance_id)

    def serve(self, instance_id: str, *faults: str, params: Mapping[str, Any] | None = None) -> Ec2Instance:
        self.views[instance_id] = NodeView(serving=True, faults={f: dict(params or {}) for f in faults})
        return instance(instance_id)


def instance(instance_id: str, state: str = "running", private_ip: str | None = "10.0.0.7") -> Ec2Instance:
    return Ec2Instance(
        instance_id=instance_id,
        state=state,  # type: ignore[arg-type]
        zone="us-east-1a",
        subnet_id="subnet-0123456789abcdef0",
        instance_type="t3.small",
        launch_time=T0 - timedelta(hours=1),
        private_ip=private_ip,
    )


def probes(canary_timeout: int = 5, **canary: Any) -> Probes:
    return Probes(
        api=ApiProbe(interval_seconds=10, timeout_seconds=2),
        workers=WorkersProbe(interval_seconds=15, timeout_seconds=2, min_available=1),
        canary=CanaryProbe(interval_seconds=60, timeout_seconds=canary_timeout, **canary),
    )


@pytest.fixture
async def world() -> AsyncIterator[tuple[Nodes, Judge0Spec]]:
    nodes = Nodes()
    simulator = Judge0Simulator(nodes, auth_token=TOKEN)
    url = await simulator.start("127.0.0.1", 0)
    template = getattr(simulator, "endpoint_template", "") or url.rstrip("/") + "/{instance_id}"
    yield nodes, Judge0Spec(endpoint_template=template)
    await simulator.stop()


@pytest.fixture
async def prober() -> AsyncIterator[Judge0Prober]:
    made = Judge0Prober(concurrency=8, canary_poll_seconds=0.05)
    yield made
    await made.close()


async def test_healthy_node_api_workers_and_canary(
    world: tuple[Nodes, Judge0Spec], prober: Judge0Prober
) -> None:
    nodes, spec = world
    node = nodes.serve("i-healthy")

    first = (await prober.probe_fleet([node], spec, probes(), TOKEN, T0))["i-healthy"]
    assert first["api"].ok is True and first["api"].version == "1.13.1"
    assert first["workers"].ok is None, "/workers answers [] until a job is queued: unknown, not down"
    assert "canary" not in first, "the canary runs in the background; no result has completed yet"

    await prober.wait_for_canaries()
    later = (await prober.probe_fleet([node], spec, probes(), TOKEN, T0 + timedelta(seconds=15)))["i-healthy"]
    assert later["canary"].ok is True, later["canary"].detail
    assert later["canary"].latency_seconds > 0
    assert later["workers"].ok is True, later["workers"].detail
    assert later["workers"].available_workers is not None and later["workers"].available_workers >= 1
    assert later["workers"].queue_size is not None


async def test_api_down_and_not_serving(world: tuple[Nodes, Judge0Spec], prober: Judge0Prober) -> None:
    nodes, spec = world
    down = nodes.serve("i-down", "judge0-down")
    booting = instance("i-booting")
    nodes.views["i-booting"] = NodeView(serving=False)
    errors = nodes.serve("i-500", "api-500")

    results = await prober.probe_fleet([down, booting, errors], spec, probes(), TOKEN, T0)

    assert results["i-down"]["api"].ok is False and results["i-down"]["api"].detail
    assert results["i-booting"]["api"].ok is False
    assert results["i-500"]["api"].ok is False and "500" in results["i-500"]["api"].detail


async def test_redis_down_makes_workers_bad(world: tuple[Nodes, Judge0Spec], prober: Judge0Prober) -> None:
    nodes, spec = world
    node = nodes.serve("i-redis", "redis-down")

    result = (await prober.probe_fleet([node], spec, probes(), TOKEN, T0))["i-redis"]

    assert result["api"].ok is True, "the web process does not need Redis"
    assert result["workers"].ok is False and "Redis" in result["workers"].detail


async def test_broken_sandbox_fails_the_canary_with_status_13(
    world: tuple[Nodes, Judge0Spec], prober: Judge0Prober
) -> None:
    nodes, spec = world
    node = nodes.serve("i-sandbox", "sandbox-broken")

    await prober.probe_fleet([node], spec, probes(), TOKEN, T0)
    await prober.wait_for_canaries()
    result = (await prober.probe_fleet([node], spec, probes(), TOKEN, T0 + timedelta(seconds=1)))["i-sandbox"]

    assert result["api"].ok is True
    canary = result["canary"]
    assert canary.ok is False
    assert canary.detail.startswith("sandbox broken: ") and "rb_sysopen" in canary.detail


async def test_canary_times_out_when_workers_take_no_jobs(
    world: tuple[Nodes, Judge0Spec], prober: Judge0Prober
) -> None:
    nodes, spec = world
    node = nodes.serve("i-stuck", "workers-dead")

    await prober.probe_fleet([node], spec, probes(canary_timeout=1), TOKEN, T0)
    await prober.wait_for_canaries()
    canary = (await prober.probe_fleet([node], spec, probes(canary_timeout=1), TOKEN, T0))["i-stuck"][
        "canary"
    ]

    assert canary.ok is False
    assert "not finished after 1s" in canary.detail


async def test_canary_queued_behind_a_burst_is_inconclusive_not_a_failure(prober: Judge0Prober) -> None:
    # An exam burst keeps every worker busy: the canary waits its turn. Restarting Judge0 for
    # that would drop the students' queue; it is the autoscaler's business, not remediation's.
    nodes = Nodes()
    simulator = Judge0Simulator(nodes, auth_token=TOKEN, load_job_seconds=1.0)
    url = await simulator.start("127.0.0.1", 0)
    try:
        spec = Judge0Spec(endpoint_template=url.rstrip("/") + "/{instance_id}")
        node = nodes.serve("i-busy")
        await prober.probe_fleet([node], spec, probes(canary_timeout=1), TOKEN, T0)  # known to the simulator
        await prober.wait_for_canaries()
        assert simulator.submit_load("i-busy", 40) == 40  # 4 workers, 1 s each: ten seconds of backlog
        first = (await prober.probe_fleet([node], spec, probes(canary_timeout=1), TOKEN, T0 + timedelta(minutes=2)))
        assert first["i-busy"]["workers"].ok is True and (first["i-busy"]["workers"].queue_size or 0) > 0
        await prober.wait_for_canaries()
        later = await prober.probe_fleet([node], spec, probes(canary_timeout=1), TOKEN, T0 + timedelta(minutes=2))
        canary = later["i-busy"]["canary"]
        assert canary.ok is None, canary.detail
        assert "not finished after 1s (last: In Queue)" in canary.detail and "busy" in canary.detail
    finally:
        await simulator.stop()


async def test_queue_full_is_saturation_not_failure(
    world: tuple[Nodes, Judge0Spec], prober: Judge0Prober
) -> None:
    nodes, spec = world
    node = nodes.serve("i-full", "queue-full")

    await prober.probe_fleet([node], spec, probes(), TOKEN, T0)
    await prober.wait_for_canaries()
    canary = (await prober.probe_fleet([node], spec, probes(), TOKEN, T0))["i-full"]["canary"]

    assert canary.ok is None and canary.saturated is True


async def test_token_is_sent_but_never_logged_or_reported(
    world: tuple[Nodes, Judge0Spec], prober: Judge0Prober, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    nodes, spec = world
    fine = nodes.serve("i-a")
    broken = nodes.serve("i-b", "sandbox-broken", "redis-down")
    down = nodes.serve("i-c", "judge0-down")

    with_token = await prober.probe_fleet([fine, broken, down], spec, probes(), TOKEN, T0)
    await prober.wait_for_canaries()
    with_token = await prober.probe_fleet(
        [fine, broken, down], spec, probes(), TOKEN, T0 + timedelta(seconds=1)
    )
    assert with_token["i-a"]["api"].ok is True, "the simulator requires the token: it was sent"

    wrong_token, no_token = Judge0Prober(), Judge0Prober()
    try:
        wrong = await wrong_token.probe_fleet([fine], spec, probes(), "not-the-token", T0)
        without = await no_token.probe_fleet([fine], spec, probes(), None, T0)
    finally:
        await wrong_token.close()
        await no_token.close()
    assert wrong["i-a"]["api"].ok is False and "401" in wrong["i-a"]["api"].detail
    assert without["i-a"]["api"].ok is False

    details = [r.detail for results in with_token.values() for r in results.values()]
    assert all(TOKEN not in d for d in details)
    assert TOKEN not in caplog.text
    assert caplog.records, "the prober logged something (so the check above means something)"


async def test_probes_run_only_when_due(world: tuple[Nodes, Judge0Spec], prober: Judge0Prober) -> None:
    nodes, spec = world
    node = nodes.serve("i-due")

    first = (await prober.probe_fleet([node], spec, probes(), TOKEN, T0))["i-due"]
    nodes.serve("i-due", "judge0-down")
    soon = (await prober.probe_fleet([node], spec, probes(), TOKEN, T0 + timedelta(seconds=5)))["i-due"]
    assert soon["api"] is first["api"], "not due: the previous result is returned unchanged"

    due = (await prober.probe_fleet([node], spec, probes(), TOKEN, T0 + timedelta(seconds=10)))["i-due"]
    assert due["api"].ok is False and due["api"].observed_at == T0 + timedelta(seconds=10)
    assert due["workers"] is first["workers"], "workers' 15 s interval has not passed"


async def test_only_running_instances_are_probed_and_forget_drops_state(
    world: tuple[Nodes, Judge0Spec], prober: Judge0Prober
) -> None:
    nodes, spec = world
    nodes.serve("i-run")
    nodes.serve("i-stopped")
    stopped = instance("i-stopped", state="stopped")

    results = await prober.probe_fleet([instance("i-run"), stopped], spec, probes(), TOKEN, T0)
    assert set(results) == {"i-run"}

    before = results["i-run"]["api"]
    prober.forget("i-run")
    again = await prober.probe_fleet([instance("i-run")], spec, probes(), TOKEN, T0 + timedelta(seconds=1))
    assert again["i-run"]["api"] is not before, "a forgotten instance is probed afresh"


async def test_disabled_probes_and_missing_addresses(prober: Judge0Prober) -> None:
    only_api = Probes(workers=WorkersProbe(enabled=False), canary=CanaryProbe(enabled=False))
    spec = Judge0Spec(endpoint_template="http://{private_ip}:2358")

    results = await prober.probe_fleet([instance("i-noip", private_ip=None)], spec, only_api, TOKEN, T0)

    assert set(results["i-noip"]) == {"api"}
    assert results["i-noip"]["api"].ok is None and "private_ip" in results["i-noip"]["api"].detail


async def test_probe_metrics_are_counted(world: tuple[Nodes, Judge0Spec], prober: Judge0Prober) -> None:
    nodes, spec = world
    node = nodes.serve("i-metrics", "redis-down")
    labels = {"signal": "workers", "result": "bad"}
    before = metrics.REGISTRY.get_sample_value("judge0_operator_probe_results_total", labels) or 0.0

    await prober.probe_fleet([node], spec, probes(), TOKEN, T0)

    assert metrics.REGISTRY.get_sample_value("judge0_operator_probe_results_total", labels) == before + 1
