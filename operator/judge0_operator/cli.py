"""The `judge0-operator` command: run | crds | version | world | simulate | bench | status.

Each subcommand lives in its own module and is imported lazily, so `judge0-operator version`
does not pay for Kopf, boto3 or moto.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from judge0_operator import __version__
from judge0_operator.world.loopback import install_guard_if_requested


def _cmd_version(args: argparse.Namespace) -> int:
    print(__version__)
    return 0


def _cmd_crds(args: argparse.Namespace) -> int:
    from judge0_operator.api.crds import write_crds

    for path in write_crds(args.output):
        print(path)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from judge0_operator.controller.main import run_operator

    return run_operator(args)


def _cmd_world(args: argparse.Namespace) -> int:
    from judge0_operator.world.up import world_up_main

    return world_up_main(args)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from judge0_operator.simulate.main import simulate_main

    return simulate_main(args)


def _cmd_chaos(args: argparse.Namespace) -> int:
    from judge0_operator.chaos.main import chaos_main

    return chaos_main(args)


def _cmd_status(args: argparse.Namespace) -> int:
    from judge0_operator.status.cli import run_status

    return run_status(args)


def _add_leader_election_arguments(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("leader election (several replicas, one acting)")
    group.add_argument(
        "--leader-election",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="act only while holding a coordination.k8s.io Lease; others stand by (default: off, "
        "for a single local run; the chart turns it on)",
    )
    group.add_argument(
        "--lease-name", default="judge0-operator", help="the Lease's name (default: judge0-operator)"
    )
    group.add_argument(
        "--lease-namespace",
        default="",
        help="the Lease's namespace (default: $POD_NAMESPACE, the ServiceAccount's, else default)",
    )
    group.add_argument("--lease-duration", type=float, default=15.0, help="seconds (default: 15)")
    group.add_argument(
        "--renew-deadline",
        type=float,
        default=10.0,
        help="seconds a leader may go without a confirmed renewal before it exits (default: 10)",
    )
    group.add_argument(
        "--retry-period", type=float, default=2.0, help="seconds between Lease requests (default: 2)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="judge0-operator", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("version", help="print the version")
    p.set_defaults(func=_cmd_version)

    p = sub.add_parser("crds", help="write the CustomResourceDefinitions generated from the models")
    p.add_argument(
        "--output", default="crds", help="directory to write the CRD YAML files into (default: crds)"
    )
    p.set_defaults(func=_cmd_crds)

    p = sub.add_parser("run", help="run the operator (wraps kopf run)")
    p.add_argument("--kubeconfig", help="kubeconfig path (default: in-cluster, then $KUBECONFIG)")
    p.add_argument(
        "--aws-endpoint", help="override the EC2/SSM endpoint URL (the simulated world, a private endpoint)"
    )
    p.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="namespace to watch (repeatable; default: all namespaces)",
    )
    p.add_argument("--metrics-port", type=int, default=9090, help="Prometheus metrics port (0 disables)")
    p.add_argument(
        "--metrics-address",
        default="0.0.0.0",
        help="address the metrics server binds (default: every interface, for in-cluster scraping)",
    )
    p.add_argument(
        "--liveness",
        default="http://0.0.0.0:8080/healthz",
        help="Kopf liveness endpoint URL (empty string disables); with --leader-election the election "
        "serves it, plus /readyz (ready while leading or standing by)",
    )
    p.add_argument("--verbose", action="store_true", help="debug logging")
    _add_leader_election_arguments(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "world", help="the simulated world: EC2/SSM, Judge0 nodes and a Kubernetes API on loopback"
    )
    world_sub = p.add_subparsers(dest="world_command", required=True)
    up = world_sub.add_parser("up", help="start the world and keep it running until interrupted")
    up.add_argument("--info-file", help="also write the world's connection info (JSON) here")
    up.add_argument("--kubeconfig", help="where to write the kubeconfig (default: a temp dir)")
    up.add_argument(
        "--manifests",
        help="write a policy and fleet (and token Secret) aimed at this world here, for kubectl apply -f",
    )
    up.add_argument("--speed", type=float, default=1.0, help="time scale: 10 makes boots 10x faster")
    up.add_argument(
        "--client-tokens",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="honour RunInstances ClientToken idempotency as EC2 does (default; --no-client-tokens: as moto)",
    )
    up.add_argument("--seed", type=int, default=None, help="seed for deterministic ids")
    up.set_defaults(func=_cmd_world)

    p = sub.add_parser("simulate", help="run a scenario against the simulated world and report")
    p.add_argument("--scenario", help="scenario YAML (default: the built-in scenario)")
    p.add_argument("--fleet", help="Judge0Fleet manifest (default: examples/fleet.yaml settings)")
    p.add_argument("--policy", help="RecoveryPolicy manifest")
    p.add_argument("--speed", type=float, default=None, help="time scale for the world's timings")
    p.add_argument("--report", help="write the report as JSON here")
    p.add_argument("--short", action="store_true", help="a shortened scenario (used by CI)")
    p.add_argument("--plain", action="store_true", help="plain lines instead of the live view")
    p.add_argument(
        "--no-capacity",
        action="store_true",
        help="skip the scenario steps that need scaling or rollouts (queue burst, template change)",
    )
    p.add_argument(
        "--fast-policy",
        action="store_true",
        help="compress the timings of a --policy too (the built-in policy is always compressed)",
    )
    p.add_argument("--work-dir", help="where the operator and world logs go (default: a temp dir)")
    p.add_argument(
        "--client-rate",
        type=float,
        default=None,
        help="student submissions per second through the fleet's published front (default 1; 0: off)",
    )
    p.set_defaults(func=_cmd_simulate)

    from judge0_operator.chaos.main import add_chaos_arguments
    from judge0_operator.status.cli import add_status_arguments

    p = sub.add_parser("chaos", help="crash-point sweep and API faults against the real operator; a table")
    add_chaos_arguments(p)
    p.set_defaults(func=_cmd_chaos)

    p = sub.add_parser("status", help="a terminal summary of Judge0Fleets: conditions, instances, signals")
    add_status_arguments(p)
    p.set_defaults(func=_cmd_status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    install_guard_if_requested()
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


def kubectl_plugin_main(argv: Sequence[str] | None = None) -> int:
    """``kubectl judge0 status …``: kubectl runs the ``kubectl-judge0`` executable (plugin convention)."""
    install_guard_if_requested()
    from judge0_operator.status.cli import plugin_main

    return plugin_main(argv)


if __name__ == "__main__":
    sys.exit(main())
