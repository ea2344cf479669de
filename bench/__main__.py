"""``python -m bench [latency|calls|cpu|failover|traffic|all] [--quick] [--json FILE]`` — figures, never assertions.

(1) latency: detection and recovery p50/p95/max vs. the policy's unhealthyAfterSeconds;
(2) calls:   AWS API calls per round for 1, 10 and 50 fleets over 100 instances, beside the same
             work done one fleet at a time;
(3) cpu:     operator CPU seconds per pass and peak RSS at 100, 500 and 1000 instances;
(4) failover: two replicas with leader election, the leader SIGKILLed / SIGTERMed: p50/max seconds
             until the other holds the Lease and acts (default timings 15/10/2 s; --quick: 3/2/0.5);
(5) traffic: rotation lag (Unhealthy → out of the target group and the EndpointSlice) beside
             detection, and a rollout of 6 with and without client load (the cost of draining).
Everything runs against the simulated world on loopback (``make bench`` sets the loopback guard).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from judge0_operator.world.loopback import install_guard_if_requested


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    parser.add_argument(
        "what", nargs="?", default="all", choices=("all", "latency", "calls", "cpu", "failover", "traffic")
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer repeats, smaller sizes")
    parser.add_argument("--json", help="also write every figure as JSON here")
    parser.add_argument("--speed", type=float, default=20.0, help="world time scale (default 20)")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.calls import render_calls, run_calls
    from bench.cpu import render_cpu, run_cpu
    from bench.latency import render_latency, run_latency

    quick = args.quick
    out: dict[str, Any] = {"machine": machine(), "command": " ".join(["python -m bench", *sys.argv[1:]])}
    print(f"machine: {out['machine']}", flush=True)
    if args.what in ("all", "latency"):
        started = time.monotonic()
        out["latency"] = await run_latency(repeats=2 if quick else 6, speed=args.speed)
        print(render_latency(out["latency"]) + f"\n    ({time.monotonic() - started:.0f}s)\n", flush=True)
    if args.what in ("all", "calls"):
        started = time.monotonic()
        counts, total = ([1, 10], 20) if quick else ([1, 10, 50], 100)
        out["calls"] = await run_calls(counts, total=total, window=6.0 if quick else 12.0, speed=args.speed)
        print(render_calls(out["calls"]) + f"\n    ({time.monotonic() - started:.0f}s)\n", flush=True)
    if args.what in ("all", "cpu"):
        started = time.monotonic()
        sizes = [100] if quick else [100, 500, 1000]
        out["cpu"] = await run_cpu(sizes, window=10.0 if quick else 20.0, speed=args.speed, interval=5)
        print(render_cpu(out["cpu"]) + f"\n    ({time.monotonic() - started:.0f}s)\n", flush=True)
    if args.what in ("all", "failover"):
        from bench.failover import render_failover, run_failover

        started = time.monotonic()
        timings = (3.0, 2.0, 0.5) if quick else (15.0, 10.0, 2.0)
        out["failover"] = await run_failover(kills=2 if quick else 5, speed=args.speed, timings=timings)
        print(render_failover(out["failover"]) + f"\n    ({time.monotonic() - started:.0f}s)\n", flush=True)
    if args.what in ("all", "traffic"):
        from bench.traffic import render_traffic, run_traffic

        started = time.monotonic()
        out["traffic"] = await run_traffic(repeats=3 if quick else 6, speed=args.speed)
        print(render_traffic(out["traffic"]) + f"\n    ({time.monotonic() - started:.0f}s)\n", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    install_guard_if_requested()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    args = parse_args(argv)
    log_dir = Path(tempfile.mkdtemp(prefix="judge0-bench-logs-"))
    logging.basicConfig(
        filename=log_dir / "bench.log",
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    started = time.monotonic()
    figures = asyncio.run(run(args))
    figures["seconds"] = round(time.monotonic() - started, 1)
    print(f"total {figures['seconds']:.0f}s; logs in {log_dir}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
