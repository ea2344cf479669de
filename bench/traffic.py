"""Traffic figures: how fast rotation follows health, and what draining costs a rollout.

(a) rotation: a fleet of 6 published in a target group and a Service; the Judge0 process of one
    node after another is stopped (the API probe's fault). For each: detection (the fault to the
    operator's Unhealthy verdict, as the latency bench measures it) and *rotation lag* — from the
    moment the node turned Unhealthy (its signal's ``since`` plus ``unhealthyAfterSeconds``, whole
    seconds) to the later of the world's record of its DeregisterTargets and the EndpointSlice
    showing it not ready. The bound it is held to: one probe interval + 1 s.
(b) drain cost: the same rollout of 6 nodes (a new instance type, launch first) three times: the
    fleet unpublished (no rotation, so nothing to drain: the rollout as it was), published with no
    client load, and published under load through the target group; the rollout time of each, the
    drains (leaving rotation → terminated: the node's queued work, then the grace, read every
    second) and what the clients saw.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import kubernetes
import yaml

from bench.harness import NAMESPACE, POLICY_NAME, BenchEnv, bench_policy
from judge0_operator.simulate import manifests
from judge0_operator.simulate.report.measures import percentile
from judge0_operator.simulate.runner.context import Options
from judge0_operator.simulate.runner.simulation import Simulation
from judge0_operator.simulate.scenario import Scenario
from judge0_operator.simulate.state import SimState

FLEET = "traffic"
REPLICAS = 6
INTERVAL, UNHEALTHY_AFTER = 1, 3


def _stats(values: list[float]) -> dict[str, float | None]:
    return {"n": len(values), "p50": percentile(values, 50), "max": max(values) if values else None}


def _epoch(text: str | None) -> float | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


async def _fleet(env: BenchEnv) -> dict[str, Any]:
    def get() -> dict[str, Any]:
        found: dict[str, Any] = env.kube.custom.get_namespaced_custom_object(
            "judge0.dev", "v1alpha1", NAMESPACE, "judge0fleets", FLEET
        )
        return found

    return await asyncio.to_thread(get)


async def _slice_ready(env: BenchEnv, address: str) -> bool | None:
    def read() -> bool | None:
        found = kubernetes.client.DiscoveryV1Api(env.kube.api_client).read_namespaced_endpoint_slice(FLEET, NAMESPACE)
        for endpoint in found.endpoints or []:
            if address in (endpoint.addresses or []):
                return bool(endpoint.conditions.ready) if endpoint.conditions else None
        return None

    try:
        return await asyncio.to_thread(read)
    except kubernetes.client.ApiException:
        return None


async def _one_fault(env: BenchEnv, victim: dict[str, Any], timeout: float = 30.0) -> dict[str, float] | None:
    """Stop the victim's Judge0 process; measure detection and rotation lag; heal it (the operator does)."""
    instance_id, address = victim["id"], victim["privateIp"]
    injected = time.time()
    fault = await env.control.add_fault(instance_id, "judge0-down", {})
    unhealthy_at = detected_at = dereg_at = slice_out_at = None
    try:
        while time.time() - injected < timeout:
            status = (await _fleet(env)).get("status") or {}
            row = next((r for r in status.get("instances") or [] if r["instanceId"] == instance_id), {})
            api = (row.get("signals") or {}).get("api") or {}
            if detected_at is None and api.get("status") == "Unhealthy":
                detected_at = time.time()
                since = _epoch(api.get("since"))
                unhealthy_at = since + UNHEALTHY_AFTER if since is not None else detected_at
            if slice_out_at is None and await _slice_ready(env, address) is False:
                slice_out_at = time.time()
            if dereg_at is None:
                world = next((i for i in await env.control.instances() if i["id"] == instance_id), {})
                calls = world.get("calls") or []
                times = [_epoch(c.get("at")) for c in calls if c.get("action") == "DeregisterTargets"]
                after = [t for t in times if t is not None and t >= injected]
                dereg_at = min(after) if after else None
            if None not in (detected_at, slice_out_at, dereg_at):
                break
            await asyncio.sleep(0.1)
    finally:
        await env.control.remove_fault(str(fault["id"]))
    if unhealthy_at is None or detected_at is None or slice_out_at is None or dereg_at is None:
        return None
    removed = max(slice_out_at, dereg_at)
    return {"detect": detected_at - injected, "rotationLag": removed - unhealthy_at, "deregisterAt": dereg_at}


async def run_rotation(repeats: int, speed: float) -> dict[str, Any]:
    async with BenchEnv.up(speed=speed) as env:
        group = await env.control.create_target_group("bench-traffic", tags=manifests.TARGET_GROUP_TAGS)
        await env.apply_policy(bench_policy(canary=False, interval=INTERVAL, unhealthy_after=UNHEALTHY_AFTER))
        fleet = manifests.fit_fleet(
            manifests.read_manifest(None, "fleet.yaml", manifests._FALLBACK_FLEET),
            env.info,
            policy_name=POLICY_NAME,
            default_shape=False,
            traffic={"service": {}, "targetGroupArns": [group["TargetGroupArn"]]},
        )
        fleet["metadata"] = {"name": FLEET, "namespace": NAMESPACE}
        fleet["spec"]["replicas"] = REPLICAS
        await env.kube.apply(fleet)
        env.fleets[FLEET] = fleet
        await env.warm_up(REPLICAS)  # the canary is off: one job each, or /workers stays "[]" (unknown)
        await env.wait_healthy([FLEET], timeout=120)
        lags, detects, missed = [], [], 0
        for n in range(repeats):
            await env.wait_healthy([FLEET], timeout=60)
            await _settle_rotation(env)
            serving = sorted(
                (i for i in await env.control.instances() if i["state"] == "running" and i.get("privateIp")),
                key=lambda i: i["id"],
            )
            measured = await _one_fault(env, serving[n % len(serving)])
            if measured is None:
                missed += 1
                continue
            lags.append(measured["rotationLag"])
            detects.append(measured["detect"])
        return {
            "speed": speed,
            "repeats": repeats,
            "probeIntervalSeconds": INTERVAL,
            "unhealthyAfterSeconds": UNHEALTHY_AFTER,
            "bound": INTERVAL + 1.0,
            "detect": _stats(detects),
            "rotationLag": _stats(lags),
            "missed": missed,
        }


async def _settle_rotation(env: BenchEnv, timeout: float = 60.0) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        status = (await _fleet(env)).get("status") or {}
        if status.get("inRotationReplicas") == REPLICAS and not status.get("drainingReplicas"):
            return
        await asyncio.sleep(0.25)


def rollout_scenario() -> Scenario:
    return Scenario.model_validate(
        {
            "name": "bench-rollout",
            "seed": 5,
            "settleSeconds": 90,
            "steps": [{"name": "rollout of 6", "at": 5, "fault": "rollout", "params": {"instanceType": "t3.large"}}],
        }
    )


def rollout_fleet(directory: Path, *, published: bool) -> Path:
    """examples/fleet.yaml with 6 replicas, published (its Service and the world's target group) or not."""
    fleet = manifests.read_manifest(None, "fleet.yaml", manifests._FALLBACK_FLEET)
    fleet["spec"]["replicas"] = REPLICAS
    fleet["spec"]["rollout"] = {"maxSurge": 1, "maxUnavailable": 0}
    fleet["spec"].pop("traffic", None)
    if published:
        fleet["spec"]["traffic"] = {"service": {}, "targetGroupArns": [manifests.TARGET_GROUP_PLACEHOLDER]}
    path = directory / ("fleet-published.yaml" if published else "fleet-unpublished.yaml")
    path.write_text(yaml.safe_dump(fleet, sort_keys=False))
    return path


async def run_rollout(rate: float, speed: float, *, published: bool = True) -> dict[str, Any]:
    state = SimState(scenario="bench-rollout", speed=speed)
    with tempfile.TemporaryDirectory(prefix="judge0-bench-rollout-") as directory:
        fleet = rollout_fleet(Path(directory), published=published)
        options = Options(scenario=rollout_scenario(), speed=speed, client_rate=rate, fleet_path=str(fleet))
        report = await Simulation(options, state).run()
    [step] = report.steps
    drains = [
        float(e.text.split(" drained in ", 1)[1].split("s", 1)[0]) for e in state.timeline if " drained in " in e.text
    ]
    clients = report.clients
    return {
        "rate": rate,
        "published": published,
        "rolloutSeconds": step.recover_seconds,
        "passed": step.passed,
        "drains": _stats(drains),
        "graceSeconds": manifests.FAST_POLICY["drain"]["graceSeconds"],
        "clients": None
        if clients is None or clients.status != "measured"
        else {"accepted": clients.accepted, "delivered": clients.delivered, "lost": clients.lost},
    }


async def run_traffic(repeats: int, speed: float, rate: float = 5.0) -> dict[str, Any]:
    return {
        "rotation": await run_rotation(repeats, speed),
        "rollout": [
            await run_rollout(0.0, speed, published=False),
            await run_rollout(0.0, speed),
            await run_rollout(rate, speed),
        ],
    }


def render_traffic(result: dict[str, Any]) -> str:
    def f(value: float | None) -> str:
        return "   —" if value is None else f"{value:5.1f}"

    rot = result["rotation"]
    lines = [
        f"(5) rotation follows health: {rot['repeats']} nodes' Judge0 stopped in turn, fleet of {REPLICAS}, world speed"
        f" {rot['speed']:g} (seconds; probe interval {rot['probeIntervalSeconds']} s, unhealthyAfter"
        f" {rot['unhealthyAfterSeconds']} s)",
        f"    detection (fault → Unhealthy)           p50 {f(rot['detect']['p50'])}  max {f(rot['detect']['max'])}",
        f"    rotation lag (Unhealthy → out of the target group and the EndpointSlice)"
        f"  p50 {f(rot['rotationLag']['p50'])}  max {f(rot['rotationLag']['max'])}  (bound: {rot['bound']:g})",
    ]
    if rot["missed"]:
        lines.append(f"    not measured: {rot['missed']}")
    lines.append(
        "    rollout of 6 (launch first, maxSurge 1): unpublished (nothing drained), published without and with load:"
    )
    for run in result["rollout"]:
        load = "unpublished" if not run["published"] else "no load" if not run["rate"] else f"{run['rate']:g}/s load"
        seen = run["clients"]
        what = (
            f"; clients: {seen['accepted']} accepted, {seen['delivered']} delivered, {seen['lost']['total']} lost "
            f"({seen['lost']['operator']} to the operator)"
            if seen
            else ""
        )
        lines.append(
            f"      {load:12} rollout {f(run['rolloutSeconds'])} s; {run['drains']['n']} drains p50 "
            f"{f(run['drains']['p50'])} max {f(run['drains']['max'])} s (grace {run['graceSeconds']} s){what}"
        )
    return "\n".join(lines)
