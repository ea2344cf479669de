"""Detection latency and time to recovery, p50/p95/max, against the policy's own floor.

Runs the simulation harness (world + operator subprocess + the compressed policy) on a scenario of
repeated faults — the Judge0 process down (API probe) and dead workers (workers probe) — each
injected on the next slot in turn once the fleet is whole again. No controller can detect a
fault sooner than the probe's ``unhealthyAfterSeconds``; the overhead above that floor is what the
operator adds (probe interval, pass scheduling, status write) plus up to one 0.5 s sample.
"""

from __future__ import annotations

from typing import Any

from judge0_operator.simulate.report.build import Report
from judge0_operator.simulate.report.measures import percentile
from judge0_operator.simulate.runner.context import Options
from judge0_operator.simulate.runner.simulation import Simulation
from judge0_operator.simulate.scenario import Scenario, Step
from judge0_operator.simulate.state import SimState

FAULTS = {"judge0-down": "api", "workers-dead": "workers"}
SLOTS = 6  # the simulation fleet's size: faults go round the slots, so no node's attempt count carries over


def latency_scenario(repeats: int) -> Scenario:
    steps = [
        Step(
            name=f"{fault} #{i + 1}",
            at=float(2 * (i * len(FAULTS) + j)),
            fault=fault,
            target=f"slot:s{(i * len(FAULTS) + j) % SLOTS}",
        )
        for i in range(repeats)
        for j, fault in enumerate(FAULTS)
    ]
    return Scenario.model_validate({"name": "bench-latency", "seed": 3, "settleSeconds": 20, "steps": steps})


def _stats(values: list[float]) -> dict[str, float | None]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values) if values else None,
    }


async def run_latency(repeats: int, speed: float) -> dict[str, Any]:
    state = SimState(scenario="bench-latency", speed=speed)
    simulation = Simulation(Options(scenario=latency_scenario(repeats), speed=speed), state)
    report: Report = await simulation.run()
    floors = {
        name: report.policy["probes"][signal]["unhealthyAfterSeconds"] for name, signal in FAULTS.items()
    }
    interval = {name: report.policy["probes"][signal]["intervalSeconds"] for name, signal in FAULTS.items()}
    out: dict[str, Any] = {
        "speed": speed,
        "repeats": repeats,
        "faults": {},
        "ok": report.ok,
        "failed": [s.label for s in report.steps if not s.passed],
    }
    for fault in FAULTS:
        steps = [s for s in report.steps if s.fault == fault and s.passed]
        detect = [s.detect_seconds for s in steps if s.detect_seconds is not None]
        act = [s.act_seconds for s in steps if s.act_seconds is not None]
        recover = [s.recover_seconds for s in steps if s.recover_seconds is not None]
        floor = floors[fault]
        out["faults"][fault] = {
            "signal": FAULTS[fault],
            "unhealthyAfterSeconds": floor,
            "probeIntervalSeconds": interval[fault],
            "detect": _stats(detect),
            "act": _stats(act),
            "recover": _stats(recover),
            "detectOverFloor": _stats([d - floor for d in detect]),
        }
    return out


def render_latency(result: dict[str, Any]) -> str:
    def f(value: float | None) -> str:
        return "   —" if value is None else f"{value:5.1f}"

    lines = [
        f"(1) detection and recovery, {result['repeats']} faults of each kind,"
        f" world speed {result['speed']:g}"
        " (seconds; sampled every 0.5 s)",
        f"    {'fault':13} {'floor':>5}  {'detect p50/p95/max':>20}  {'over floor p50/p95':>19}  "
        f"{'act p50':>7}  {'recover p50/p95/max':>21}",
    ]
    for fault, r in result["faults"].items():
        d, o, a, rc = r["detect"], r["detectOverFloor"], r["act"], r["recover"]
        lines.append(
            f"    {fault:13} {r['unhealthyAfterSeconds']:5d}  {f(d['p50'])} {f(d['p95'])} {f(d['max'])}   "
            f"   {f(o['p50'])} {f(o['p95'])}    {f(a['p50'])}   {f(rc['p50'])} {f(rc['p95'])} {f(rc['max'])}"
        )
    if result["failed"]:
        lines.append(f"    not recovered or not detected: {', '.join(result['failed'])}")
    return "\n".join(lines)
