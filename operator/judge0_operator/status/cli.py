"""``judge0-operator status [FLEET] [-n NAMESPACE]`` — and ``kubectl judge0 status``, the same
command through kubectl's plugin convention (an executable ``kubectl-judge0`` on PATH).

Reads Judge0Fleets with the official client from any kubeconfig (``--kubeconfig``, else
$KUBECONFIG or ~/.kube/config, else in-cluster), in the context's namespace unless ``-n`` or
``-A`` says otherwise, and prints one summary; ``--watch`` redraws it every ``--interval``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

GROUP, VERSION, PLURAL = "judge0.dev", "v1alpha1", "judge0fleets"


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("fleet", nargs="?", help="one fleet by name (default: every fleet in the namespace)")
    parser.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's, else default)")
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="fleets in every namespace")
    parser.add_argument("--kubeconfig", help="kubeconfig path (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument("-w", "--watch", action="store_true", help="refresh until interrupted")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes with --watch")
    parser.add_argument(
        "--plain", action="store_true", help="plain text even on a terminal (it is the default when piped)"
    )


def _api(args: argparse.Namespace) -> tuple[Any, str]:
    """A CustomObjectsApi for the kubeconfig (or in-cluster), and the context's namespace."""
    import kubernetes

    configuration = kubernetes.client.Configuration()
    namespace = "default"
    try:
        kubernetes.config.load_kube_config(
            config_file=args.kubeconfig, context=args.context, client_configuration=configuration
        )
        contexts, active = kubernetes.config.list_kube_config_contexts(config_file=args.kubeconfig)
        if args.context:
            active = next((c for c in contexts if c["name"] == args.context), active)
        namespace = (active or {}).get("context", {}).get("namespace") or "default"
    except (kubernetes.config.ConfigException, FileNotFoundError):
        if args.kubeconfig:
            raise
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    return kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient(configuration)), namespace


def fetch_fleets(api: Any, namespace: str | None, name: str | None) -> list[dict[str, Any]]:
    """The fleets asked for: one by name, a namespace's, or every namespace's (``namespace`` None)."""
    if name:
        return [api.get_namespaced_custom_object(GROUP, VERSION, namespace or "default", PLURAL, name)]
    if namespace is None:
        listed = api.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    else:
        listed = api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    return list(listed.get("items", []))


def run_status(args: argparse.Namespace, *, out: Any = None) -> int:
    """Print the summary (or keep redrawing it); 0 on success, 1 if the API cannot be read."""
    from kubernetes.client import ApiException
    from rich.console import Console

    from judge0_operator.status.render import plain_text, status_renderable
    from judge0_operator.status.view import fleet_views

    stream = out or sys.stdout
    terminal = bool(getattr(stream, "isatty", lambda: False)()) and not args.plain
    console = Console(file=stream, force_terminal=terminal, highlight=False)

    def clock() -> datetime:
        return datetime.now(UTC)

    try:
        api, context_namespace = _api(args)
    except Exception as error:  # no kubeconfig and not in a cluster, a bad file, an unknown context
        print(f"error: no Kubernetes API to talk to: {error}", file=sys.stderr)
        return 1
    namespace = None if args.all_namespaces else (args.namespace or context_namespace)
    where = "any namespace" if namespace is None else f"namespace {namespace}"

    def snapshot() -> Any:
        fleets = fetch_fleets(api, namespace, args.fleet)
        return status_renderable(fleet_views(fleets, clock()), plain=not terminal,
                                 empty=f"no Judge0Fleets in {where}")

    def show(renderable: Any) -> None:
        if terminal:
            console.print(renderable)
        else:
            stream.write(plain_text(renderable))
            stream.flush()

    try:
        if not args.watch:
            show(snapshot())
            return 0
        if terminal:
            from rich.live import Live

            with Live(snapshot(), console=console, auto_refresh=False, screen=False) as live:
                while True:
                    time.sleep(args.interval)
                    live.update(snapshot(), refresh=True)
        while True:
            stream.write(f"--- {clock().strftime('%Y-%m-%dT%H:%M:%SZ')}\n")
            show(snapshot())
            time.sleep(args.interval)
    except ApiException as error:
        reason = "not found" if error.status == 404 else f"{error.status} {error.reason}"
        print(f"error: reading Judge0Fleets: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def plugin_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubectl judge0", description="Judge0 operator commands for kubectl")
    sub = parser.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="a summary of Judge0Fleets: conditions, instances, signals")
    add_status_arguments(status)
    status.set_defaults(func=run_status)
    return parser


def plugin_main(argv: Sequence[str] | None = None) -> int:
    args = plugin_parser().parse_args(argv)
    return int(args.func(args))
