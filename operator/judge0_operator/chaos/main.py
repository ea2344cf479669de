"""``judge0-operator chaos [--quick] [--report FILE]``: the crash-point sweep and every fault class
against the real operator process, as a table; exits 1 if any invariant broke.

Everything runs in the simulated world on loopback. The full run takes minutes (like ``make
bench``; not asserted by time); ``--quick`` is the subset CI runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_SPEED = 20.0
TOKEN_ENV = "JUDGE0_CHAOS_TOKEN"


def add_chaos_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="the CI subset: a few crash points and fault classes")
    p.add_argument("--report", help="also write the table, every run and the operator's API requests as JSON here")
    p.add_argument("--markdown", help="also write the table as Markdown here (as the README shows it)")
    p.add_argument("--speed", type=float, default=DEFAULT_SPEED, help=f"world time scale (default {DEFAULT_SPEED:g})")
    p.add_argument(
        "--max-status-nth",
        type=int,
        default=4,
        help="sweep status writes up to the nth in each flow (default 4; every cloud call is swept)",
    )
    p.add_argument(
        "--max-other-nth",
        type=int,
        default=1,
        help="sweep every other kind of call (SSM, target groups, EndpointSlices) up to the nth (default 1)",
    )
    p.add_argument("--only", action="append", default=[], help="run only rows whose label contains this (repeatable)")
    p.add_argument("--seed", type=int, default=11, help="world seed (ids, injected error sequences)")
    p.add_argument("--work-dir", help="where the operator's log goes (default: a temporary directory)")


def _machine() -> str:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def chaos_main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.ERROR)
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)  # a killed client's half-sent request
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "chaos")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "chaos")
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    return asyncio.run(_chaos(args))


async def _chaos(args: argparse.Namespace) -> int:
    from judge0_operator.chaos import plan, report
    from judge0_operator.chaos.env import ChaosEnv
    from judge0_operator.chaos.flows import CRASH_FLOWS
    from judge0_operator.chaos.runs import CLIENT_RATE, RunResult, RunSpec, execute

    started = time.monotonic()
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="judge0-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    # The Judge0 token: it must show up nowhere (a test may choose it, to look for it itself).
    token = os.environ.get(TOKEN_ENV) or "chaos-" + secrets.token_hex(12)
    results: list[RunResult] = []
    counter = 0

    def wanted(spec: RunSpec) -> bool:
        return not args.only or any(o in spec.row for o in args.only)

    async def run(env: ChaosEnv, spec: RunSpec) -> RunResult:
        nonlocal counter
        counter += 1
        result = await execute(env, spec, counter)
        results.append(result)
        crash = f" kill after {spec.crash[0]}#{spec.crash[1]}" if spec.crash else ""
        seconds = f"{result.seconds:.1f}s" if result.seconds is not None else "-"
        print(
            f"[{counter:>3}] {'ok  ' if result.ok else 'FAIL'} {spec.row} [{spec.mode}]{crash}: "
            f"converged {seconds}, extra launches {result.extra_launches}, restarts {result.restarts}"
            + (
                f" — {'; '.join(result.notes + result.duplicates + result.leaks + result.safety)}"
                if not result.ok
                else ""
            ),
            flush=True,
        )
        return result

    print(f"machine: {_machine()}; world speed {args.speed:g}; operator log: {work / 'operator.log'}", flush=True)
    async with ChaosEnv.up(speed=args.speed, work_dir=work, seed=args.seed, token=token) as env:
        if args.quick:
            for spec in plan.quick_runs():
                if wanted(spec):
                    await run(env, spec)
        else:
            sweep: list[RunSpec] = []
            for flow in CRASH_FLOWS:
                clean = RunSpec(f"clean: {flow}", flow, "tokens-on")
                counts: dict[str, int] = {}
                prefix = plan.crash_row(flow, "")  # an --only naming this flow's crash rows needs its counts
                if wanted(clean) or any(o in prefix or prefix in o for o in args.only) or not args.only:
                    counts = (await run(env, clean)).point_counts
                runs = plan.crash_runs(
                    flow, counts, max_status_nth=args.max_status_nth, max_other_nth=args.max_other_nth
                )
                sweep += [s for s in runs if wanted(s)]
            for spec in sweep:
                await run(env, spec)
            for spec in plan.fault_runs():
                if wanted(spec):
                    await run(env, spec)
        env.collect_requests()
        requests = sorted(env.kube_requests.values(), key=lambda e: json.dumps(e, sort_keys=True))

    elapsed = time.monotonic() - started
    table = report.rows(results)
    lost_note = (
        f"students submit {CLIENT_RATE:g}/s through the fleet's Service; each loss attributed by the world; "
        "— : no load (deletion takes its work with it)"
    )
    text = report.render(table, results, elapsed=elapsed, lost_note=lost_note)
    ok = bool(results) and all(r.ok for r in results)
    document: dict[str, Any] = {
        "command": " ".join(["judge0-operator chaos", *sys.argv[2:]]),
        "machine": _machine(),
        "speed": args.speed,
        "quick": bool(args.quick),
        "ok": ok,
        "elapsedSeconds": round(elapsed, 1),
        "crashPointsSwept": report.crash_points_swept(results),
        "rows": [row.to_dict() for row in table],
        "runs": [r.to_dict() for r in results],
        "operatorKubernetesRequests": requests,
        "operatorLog": str(work / "operator.log"),
    }
    serialised = json.dumps(document, indent=2)
    if token in serialised or token in text:  # the report itself must not carry the secret
        ok = False
        document["ok"] = False
        text += "\nFAILED: the Judge0 token appears in the report"
        serialised = json.dumps(document, indent=2).replace(token, "<redacted>")
    print(text, flush=True)
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(serialised + "\n")
    if args.markdown:
        markdown = report.render_markdown(table, results, elapsed=elapsed, machine=_machine())
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(markdown.replace(token, "<redacted>"))
    print("PASS" if ok else "FAIL", flush=True)
    return 0 if ok else 1
