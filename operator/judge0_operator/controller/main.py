"""``judge0-operator run``: configure and start Kopf with this operator's handlers.

Without ``--leader-election`` Kopf runs in the main thread and acts at once (one replica only).
With it, the replica stands by until it holds the Lease (``election/elected.py``), then runs Kopf in a
thread of its own, every mutating call fenced by the Lease.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from typing import Any

import kopf


def run_operator(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT (Kopf handles both and stops the daemons gracefully)."""
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("botocore", "boto3", "urllib3", "kubernetes", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    if args.aws_endpoint:
        os.environ["JUDGE0_OPERATOR_AWS_ENDPOINT"] = args.aws_endpoint
    os.environ["JUDGE0_OPERATOR_METRICS_PORT"] = str(args.metrics_port)

    from judge0_operator.controller import handlers  # registers the handlers

    namespaces = list(args.namespace)
    handlers.CONFIG.namespaces = tuple(namespaces)
    handlers.CONFIG.kubeconfig = args.kubeconfig
    handlers.CONFIG.aws_endpoint = args.aws_endpoint
    handlers.CONFIG.metrics_port = args.metrics_port
    handlers.CONFIG.metrics_address = args.metrics_address
    kopf_kwargs: dict[str, Any] = {
        "standalone": True,  # no Kopf peering: the Lease (when enabled) decides who acts
        "clusterwide": not namespaces,
        "namespaces": namespaces,
    }
    if getattr(args, "leader_election", False):
        return _run_elected(args, handlers.CONFIG, kopf_kwargs)
    kopf.run(liveness_endpoint=args.liveness or None, **kopf_kwargs)
    return 0


def _run_elected(args: argparse.Namespace, config: Any, kopf_kwargs: dict[str, Any]) -> int:
    from judge0_operator.controller.election.elected import (
        ElectionSettings,
        default_identity,
        default_namespace,
        run_elected,
    )
    from judge0_operator.controller.election.leadership import Leadership
    from judge0_operator.controller.election.operator_thread import OperatorThread
    from judge0_operator.controller.election.state_machine import LeaseElection, Timings

    try:
        timings = Timings(args.lease_duration, args.renew_deadline, args.retry_period)
    except ValueError as error:
        logging.getLogger(__name__).error("%s", error)
        return 2
    settings = ElectionSettings(
        kubeconfig=args.kubeconfig,
        lease_namespace=args.lease_namespace or default_namespace(),
        lease_name=args.lease_name,
        identity=default_identity(),
        timings=timings,
        health_url=args.liveness or None,  # served by the election (a standby answers too), not Kopf
    )
    leadership = Leadership(LeaseElection(settings.identity, timings))
    config.fence = leadership.fence
    config.identity = settings.identity
    if args.metrics_port:  # a standby exports judge0_operator_leader 0 too: serve metrics from the start
        from prometheus_client import start_http_server

        from judge0_operator.metrics import REGISTRY

        start_http_server(args.metrics_port, addr=args.metrics_address, registry=REGISTRY)
        config.metrics_port = 0  # the runtime must not bind it again

    def start_operator() -> OperatorThread:
        def run_kopf(loop: asyncio.AbstractEventLoop) -> None:
            kopf.run(loop=loop, **kopf_kwargs)

        thread = OperatorThread(run_kopf)
        thread.start()
        return thread

    return run_elected(settings, leadership, start_operator)
