"""``judge0-operator simulate``: the world, the real operator, a scenario, a live view, a report.

Exit codes: 0 every step met its expectation and every invariant held; 1 a step failed or an
invariant broke; 2 the scenario or manifests are invalid or the run could not finish.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from judge0_operator.simulate.report.build import Report
from judge0_operator.simulate.runner.context import DEFAULT_SPEED, Options, SimulationError
from judge0_operator.simulate.runner.simulation import Simulation
from judge0_operator.simulate.scenario import ScenarioError, builtin_scenario, load_scenario
from judge0_operator.simulate.state import SimState
from judge0_operator.simulate.view import make_view


def _quiet_logging(work_dir: Path) -> None:
    """The world's and libraries' log lines go to a file: they would tear the live view apart."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(work_dir / "world.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for noisy in ("werkzeug", "botocore", "urllib3", "kubernetes", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _client_rate(args: argparse.Namespace) -> float:
    rate = getattr(args, "client_rate", None)
    return 1.0 if rate is None else float(rate)


def options_from_args(args: argparse.Namespace) -> Options:
    short = bool(getattr(args, "short", False))
    scenario = (
        load_scenario(args.scenario) if getattr(args, "scenario", None) else builtin_scenario(short=short)
    )
    skip = ("scaling", "rollout") if getattr(args, "no_capacity", False) else ()
    return Options(
        scenario=scenario,
        fleet_path=getattr(args, "fleet", None),
        policy_path=getattr(args, "policy", None),
        speed=float(getattr(args, "speed", None) or DEFAULT_SPEED),
        fast_policy=not getattr(args, "policy", None) or bool(getattr(args, "fast_policy", False)),
        skip_features=skip,
        work_dir=getattr(args, "work_dir", None),
        client_rate=_client_rate(args),
    )


def write_report(path: str, report: Report, extras: dict[str, Any]) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({**report.to_dict(), **extras}, indent=2, default=str) + "\n")


def simulate_main(args: argparse.Namespace) -> int:
    try:
        options = options_from_args(args)
    except (ScenarioError, ValueError) as exc:
        print(f"judge0-operator simulate: {exc}", file=sys.stderr)
        return 2
    work_dir = Path(options.work_dir or tempfile.mkdtemp(prefix="judge0-simulate-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    options.work_dir = str(work_dir)
    _quiet_logging(work_dir)
    state = SimState(scenario=options.scenario.name, speed=options.speed)
    view = make_view(state, plain=bool(getattr(args, "plain", False)))
    simulation = Simulation(options, state)
    view.start()
    ticker_stop = asyncio.Event()

    async def tick_view() -> None:
        while not ticker_stop.is_set():
            view.update()
            await asyncio.sleep(0.5)

    async def run() -> Report:
        ticker = asyncio.create_task(tick_view())
        try:
            return await simulation.run()
        finally:
            ticker_stop.set()
            await ticker

    try:
        report = asyncio.run(run())
    except KeyboardInterrupt:
        view.stop()
        print("interrupted", file=sys.stderr)
        return 130
    except (SimulationError, ScenarioError, ValueError) as exc:
        view.stop()
        print(f"judge0-operator simulate: {exc}", file=sys.stderr)
        print(f"logs: {work_dir}", file=sys.stderr)
        return 2
    view.stop()
    view.show_report(report)
    if getattr(args, "report", None):
        write_report(args.report, report, simulation.extras())
        print(f"report written to {args.report}")
    return 0 if report.ok else 1
