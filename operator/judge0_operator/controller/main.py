"""``judge0-operator run``: configure and start Kopf with this operator's handlers."""

from __future__ import annotations

import argparse
import logging
import os

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
    kopf.run(
        standalone=True,
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=args.liveness or None,
    )
    return 0
