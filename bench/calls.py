"""AWS API calls per reconcile pass for 1, 10 and 50 fleets sharing a fixed number of instances.

Two measurements in the same run, on the same world and the same instances:

- shared (the operator as it runs): the real operator process reconciles every fleet; the world
  counts every AWS call it receives over a steady window, and the operator's own metric counts its
  passes. A *round* is one pass of every fleet; calls per round must stay flat as fleets grow.
- one fleet at a time (the comparison): the operator's own EC2 observer, driven in-process once
  per fleet with nothing shared between fleets — what a controller that describes per fleet does.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import BenchEnv, bench_policy

DESCRIBES = ("DescribeInstances", "DescribeInstanceStatus")


async def _one_fleet_at_a_time(env: BenchEnv, uids: list[str], rounds: int) -> dict[str, Any]:
    """Calls per round when every fleet describes on its own (operator code, nothing shared)."""
    from judge0_operator.aws.clients import AwsClients, AwsSettings
    from judge0_operator.observe.ec2 import Ec2Observer

    clients = AwsClients(
        AwsSettings(
            endpoint_url=str(env.info["aws_endpoint"]), access_key_id="bench", secret_access_key="bench"
        )
    )
    region = str(env.info["region"])
    start = datetime.now(UTC)
    try:
        results = {}
        for mode in ("shared", "per-fleet"):
            await env.control.reset_calls()
            shared = Ec2Observer(clients, region)
            seen = 0
            for r in range(rounds):
                now = start + timedelta(seconds=60 * (r + 1))  # past the cache: every round describes afresh
                for uid in uids:
                    observer = shared if mode == "shared" else Ec2Observer(clients, region)
                    snapshot = await observer.snapshot(now)
                    seen += len(snapshot.fleet_observation(uid).instances)
            calls = (await env.control.calls()).get("by_action", {})
            results[mode] = {
                "callsPerRound": sum(calls.values()) / rounds,
                "describeCallsPerRound": sum(calls.get(a, 0) for a in DESCRIBES) / rounds,
                "instancesSeenPerRound": seen / rounds,
            }
        return results
    finally:
        clients.close()


async def measure_fleets(fleets: int, total: int, window: float, speed: float) -> dict[str, Any]:
    async with BenchEnv.up(speed=speed) as env:
        await env.apply_policy(bench_policy(canary=False, interval=1))
        names = [f"f{i:02d}" for i in range(fleets)]
        sizes = [total // fleets + (1 if i < total % fleets else 0) for i in range(fleets)]
        for name, size in zip(names, sizes, strict=True):
            await env.create_fleet(name, size, paused=True)
        for name, size in zip(names, sizes, strict=True):
            await env.prelaunch(name, size)
        for name in names:
            await env.set_paused(name, False)
        await env.warm_up(total)
        settle = await env.wait_healthy(names, timeout=180)
        await asyncio.sleep(2.0)
        m0 = await env.wait_metrics()
        await env.control.reset_calls()
        t0 = time.monotonic()
        await asyncio.sleep(window)
        calls = (await env.control.calls()).get("by_action", {})
        m1 = await env.metrics()
        elapsed = time.monotonic() - t0
        passes = m1.passes - m0.passes
        rounds = passes / fleets if passes else 0.0
        await env.operator.stop()
        uids = [env.fleets[n]["metadata"]["uid"] for n in names]
        baseline = await _one_fleet_at_a_time(env, uids, rounds=3)
        total_calls = sum(calls.values())
        return {
            "fleets": fleets,
            "instances": total,
            "windowSeconds": round(elapsed, 1),
            "adoptSeconds": round(settle, 1),
            "passes": passes,
            "rounds": round(rounds, 2),
            "operatorCallsPerRound": round(total_calls / rounds, 2) if rounds else None,
            "operatorDescribeCallsPerRound": round(sum(calls.get(a, 0) for a in DESCRIBES) / rounds, 2)
            if rounds
            else None,
            "operatorCallsPerSecond": round(total_calls / elapsed, 2),
            "operatorCallsByAction": dict(calls),
            "inProcess": baseline,
        }


async def run_calls(fleet_counts: list[int], total: int, window: float, speed: float) -> list[dict[str, Any]]:
    return [await measure_fleets(n, total, window, speed) for n in fleet_counts]


def render_calls(results: list[dict[str, Any]]) -> str:
    if not results:
        return ""
    lines = [
        f"(2) AWS API calls per round (one pass of every fleet), {results[0]['instances']} instances in total",
        f"    {'fleets':>6}  {'operator calls/round':>20}  {'of which describe':>17}  {'calls/s':>7}  "
        f"{'shared, no cache':>16}  {'one fleet at a time':>19}  {'ratio':>6}",
    ]
    for r in results:
        shared = r["inProcess"]["shared"]["describeCallsPerRound"]
        per = r["inProcess"]["per-fleet"]["describeCallsPerRound"]
        op = r["operatorCallsPerRound"]
        op_describe = r["operatorDescribeCallsPerRound"]
        ratio = f"{per / op_describe:5.1f}x" if op_describe else "—"
        lines.append(
            f"    {r['fleets']:>6}  {op if op is not None else '—':>20}  {op_describe or '—':>17}  "
            f"{r['operatorCallsPerSecond']:>7}  {shared:>16.1f}  {per:>19.1f}  {ratio:>6}"
        )
    lines.append(
        "    operator: the real operator process over a steady window, calls counted by the world, passes by\n"
        "    its own metric. shared, no cache / one fleet at a time: the operator's EC2 observer driven in-process,\n"
        "    one snapshot per round for all fleets vs. one per fleet. ratio: one fleet at a time ÷ operator."
    )
    return "\n".join(lines)
