"""Operator CPU seconds per pass and peak RSS at 100, 500 and 1000 instances.

How the operator's own time is isolated from moto's: the operator runs as its own process, and
its CPU time is read from ``/proc/<pid>/stat`` (utime + stime) around a steady window, divided by
the passes its own ``judge0_operator_reconcile_duration_seconds`` metric counted in that window.
moto, the Judge0 simulator and the Kubernetes API run in this (the benchmark's) process, so their
CPU never lands on the operator's account — only the operator's parsing of their answers does.
Peak RSS is the operator process's ``VmHWM``. The canary probe is off for these runs (each canary
is a Python process in the world); API and workers probes run every ``interval`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bench.harness import BenchEnv, bench_policy
from judge0_operator.world.kube.store.core import MAX_OBJECT_BYTES


async def measure_size(instances: int, window: float, speed: float, interval: int) -> dict[str, Any]:
    async with BenchEnv.up(speed=speed) as env:
        await env.apply_policy(bench_policy(canary=False, interval=interval, unhealthy_after=3 * interval))
        await env.create_fleet("big", instances, paused=True)
        t_launch = time.monotonic()
        await env.prelaunch("big", instances)
        launch_seconds = time.monotonic() - t_launch
        await env.set_paused("big", False)
        await env.warm_up(instances, timeout=max(120.0, instances * 0.3))
        adopt = await env.wait_healthy(["big"], timeout=max(120.0, instances * 0.6))
        await asyncio.sleep(2.0)
        m0 = await env.wait_metrics()
        cpu0 = env.operator.cpu_seconds() or 0.0
        await env.control.reset_calls()
        t0 = time.monotonic()
        deadline = t0 + window
        m1 = m0
        while time.monotonic() < deadline or m1.passes - m0.passes < 3:
            await asyncio.sleep(1.0)
            m1 = await env.metrics()
            if time.monotonic() > deadline + 4 * window:
                break
        cpu1 = env.operator.cpu_seconds() or 0.0
        elapsed = time.monotonic() - t0
        calls = (await env.control.calls()).get("by_action", {})
        peak = env.operator.peak_rss_bytes() or 0
        fleets = await env.fleets_status()  # the object as stored: etcd refuses one over 1.5 MiB
        object_bytes = max((len(json.dumps(f, separators=(",", ":"))) for f in fleets), default=0)
        passes = m1.passes - m0.passes
        return {
            "instances": instances,
            "windowSeconds": round(elapsed, 1),
            "passes": passes,
            "cpuSecondsPerPass": round((cpu1 - cpu0) / passes, 4) if passes else None,
            "cpuUtilisation": round((cpu1 - cpu0) / elapsed, 3),
            "passWallSeconds": round((m1.pass_seconds - m0.pass_seconds) / passes, 3) if passes else None,
            "peakRssMiB": round(peak / 2**20, 1),
            "awsCallsPerPass": round(sum(calls.values()) / passes, 2) if passes else None,
            "prelaunchSeconds": round(launch_seconds, 1),
            "adoptSeconds": round(adopt, 1),
            "probeIntervalSeconds": interval,
            "fleetObjectKiB": round(object_bytes / 1024, 1),
            "fleetObjectShareOfLimit": round(object_bytes / MAX_OBJECT_BYTES, 3),
        }


async def run_cpu(sizes: list[int], window: float, speed: float, interval: int) -> list[dict[str, Any]]:
    return [await measure_size(n, window, speed, interval) for n in sizes]


def render_cpu(results: list[dict[str, Any]]) -> str:
    if not results:
        return ""
    lines = [
        "(3) operator CPU per pass and peak RSS (operator process only; /proc/<pid>/stat, VmHWM)",
        f"    {'instances':>9}  {'passes':>6}  {'CPU s/pass':>10}  {'CPU util':>8}  {'pass wall s':>11}  "
        f"{'peak RSS MiB':>12}  {'AWS calls/pass':>14}  {'fleet object KiB':>16}",
    ]
    for r in results:
        lines.append(
            f"    {r['instances']:>9}  {r['passes']:>6.0f}  {r['cpuSecondsPerPass'] or 0:>10.3f}  "
            f"{r['cpuUtilisation']:>8.2f}  {r['passWallSeconds'] or 0:>11.2f}  {r['peakRssMiB']:>12.1f}  "
            f"{r['awsCallsPerPass'] or 0:>14.2f}  "
            f"{r.get('fleetObjectKiB', 0):>9.1f} ({100 * r.get('fleetObjectShareOfLimit', 0):.0f}%)"
        )
    lines.append(
        f"    probes (api, workers) every {results[0]['probeIntervalSeconds']} s, canary off; pass wall time "
        "includes waiting for moto, which slows past ~1000 instances; fleet object = the Judge0Fleet as "
        "stored, % of the API server's 1.5 MiB object limit"
    )
    return "\n".join(lines)
