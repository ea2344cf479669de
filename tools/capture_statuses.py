"""Capture real Judge0Fleet objects from the simulated world, one per situation, as test fixtures.

    .venv/bin/python tools/capture_statuses.py [--output tests/fixtures/statuses]

Runs the world and the real operator (as the end-to-end tests do), drives a fleet into each
situation below and writes the fleet object as the API server returned it (managedFields
dropped) to ``<output>/<situation>.json``. The Argo CD health script and the ``status``
command are tested on these files; re-run this when the status format changes.

Situations: launching, ready, remediating (a node's Judge0 down), rolling (instance type
changed), safety-stop (every node down at once), gave-up (a one-attempt ladder that cannot
heal a broken sandbox), launch-blocked (a terminal AWS error: an AMI that does not exist),
paused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "e2e"), str(ROOT / "operator")]
os.environ.setdefault("JUDGE0_OPERATOR_LOOPBACK_ONLY", "1")

from judge0_operator.world import loopback  # noqa: E402

loopback.install_guard_if_requested()

from e2e_support import E2E, E2E_SPEED, OperatorHandle, condition, row  # noqa: E402


def _clean(fleet: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in fleet["metadata"].items() if k != "managedFields"}
    return {**fleet, "metadata": meta}


def capture(output: Path, only: set[str] | None = None) -> list[Path]:
    from judge0_operator.simulate.clients import KubeClient
    from judge0_operator.world.config import WorldConfig
    from judge0_operator.world.thread import WorldThread

    written: list[Path] = []
    thread = WorldThread(WorldConfig(speed=E2E_SPEED, seed=20240601))
    thread.start()
    kube = KubeClient(str(thread.world.info["kubeconfig"]))
    operator = OperatorHandle(thread, Path(tempfile.mkdtemp()) / "operator.log")
    operator.start()

    def save(name: str, fleet: dict[str, Any]) -> None:
        path = output / f"{name}.json"
        path.write_text(json.dumps(_clean(fleet), indent=1, sort_keys=True) + "\n")
        written.append(path)
        print(f"captured {name}: {path}", flush=True)

    def session(namespace: str, body: Callable[[E2E], None]) -> None:
        e2e = E2E(thread, kube, operator, namespace)
        try:
            body(e2e)
        finally:
            problems = e2e.cleanup()
            if problems:
                print("\n".join(problems), file=sys.stderr)

    def lifecycle(e2e: E2E) -> None:
        e2e.apply_policy()
        e2e.apply_fleet(replicas=3)
        save("launching", e2e.wait_fleet(lambda f: condition(f, "Progressing").get("reason") == "Launching"))
        fleet = e2e.wait_ready()
        save("ready", fleet)
        victim = fleet["status"]["instances"][0]["instanceId"]
        e2e.fault(victim, "judge0-down")
        save(
            "remediating",
            e2e.wait_fleet(
                lambda f: row(f, victim).get("health") == "Unhealthy" and row(f, victim).get("lastAction"),
                what="remediating",
            ),
        )
        e2e.clear_faults()
        e2e.wait_ready(timeout=40)
        e2e.patch_fleet_spec("fleet", {"instance": {"instanceType": "t3.medium"}})
        save("rolling", e2e.wait_fleet(lambda f: condition(f, "Progressing").get("reason") == "RollingOut"))
        e2e.wait_ready(timeout=90)
        e2e.patch_fleet_spec("fleet", {"paused": True})
        save("paused", e2e.wait_fleet(lambda f: condition(f, "Progressing").get("reason") == "Paused"))

    def safety_stop(e2e: E2E) -> None:
        _, ids = e2e.ready_fleet(replicas=3)
        e2e.operator.pause()
        try:
            for iid in ids:
                e2e.fault(iid, "judge0-down")
        finally:
            e2e.operator.resume()
        save(
            "safety-stop",
            e2e.wait_fleet(lambda f: condition(f, "RemediationAllowed").get("reason") == "TooManyUnhealthy"),
        )

    def gave_up(e2e: E2E) -> None:
        one_try = {
            "remediation": {
                "ladder": [{"action": "RestartJudge0", "attempts": 1, "timeoutSeconds": 10}],
                "maxRetries": 1,
            }
        }
        _, ids = e2e.ready_fleet(replicas=3, policy=one_try)
        e2e.fault(ids[0], "sandbox-broken")
        save("gave-up", e2e.wait_fleet(lambda f: condition(f, "Degraded").get("reason") == "GaveUp", timeout=60))

    def launch_blocked(e2e: E2E) -> None:
        e2e.apply_policy()
        e2e.apply_fleet(replicas=2, instance={"imageId": "ami-00000000000000000"})
        save("launch-blocked", e2e.wait_fleet(lambda f: condition(f, "Ready").get("reason") == "LaunchBlocked"))

    sessions = {
        "lifecycle": lifecycle,
        "safety-stop": safety_stop,
        "gave-up": gave_up,
        "launch-blocked": launch_blocked,
    }
    try:
        for name, body in sessions.items():
            if only is None or name in only:
                session(f"capture-{name}", body)
    finally:
        operator.stop()
        kube.close()
        thread.stop()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(ROOT / "tests" / "fixtures" / "statuses"))
    parser.add_argument(
        "--only", action="append", help="lifecycle, safety-stop, gave-up or launch-blocked (repeatable; default all)"
    )
    args = parser.parse_args()
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    capture(output, set(args.only) if args.only else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
