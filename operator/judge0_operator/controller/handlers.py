"""Every Kopf decorator of the operator, in one place. Handlers only gather inputs and delegate.

- a daemon per Judge0Fleet runs the observe → decide → act → report pass and sleeps until the
  planner's ``next_check_at`` (or until the fleet or its policy changes);
- an index of RecoveryPolicies, so a pass never lists them;
- a delete handler behind the ``judge0.dev/finalizer`` finalizer honours ``deletionPolicy``;
- a sweeper terminates orphans (instances tagged for a fleet that no longer exists).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any

import kopf

from judge0_operator.api import GROUP, VERSION
from judge0_operator.aws.guarded import Fence
from judge0_operator.controller.freshness import FleetGone
from judge0_operator.controller.reconcile import delete_fleet, reconcile_fleet
from judge0_operator.controller.runtime import Runtime

FLEETS = "judge0fleets"
POLICIES = "recoverypolicies"
FINALIZER = "judge0.dev/finalizer"
WATCH_INACTIVITY_ENV = "JUDGE0_OPERATOR_WATCH_INACTIVITY_SECONDS"


@dataclass
class OperatorConfig:
    """Set by ``judge0-operator run`` before Kopf starts."""

    namespaces: tuple[str, ...] = ()
    kubeconfig: str | None = None
    aws_endpoint: str | None = None
    metrics_port: int = 9090
    metrics_address: str = "0.0.0.0"
    min_wait_seconds: float = 0.2
    max_wait_seconds: float = 30.0
    fence: Fence | None = None  # leader election: guards every mutating call (see election/leadership.py)
    identity: str | None = None  # leader election: this replica, appended to the AWS User-Agent


CONFIG = OperatorConfig()


@kopf.on.startup()
async def configure(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: logging.Logger, **_: Any
) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="judge0.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="judge0.dev", key="last-handled-configuration"
    )
    settings.watching.server_timeout = 300  # the API server closes watches after this…
    settings.watching.client_timeout = 330  # …and the client gives up a little later
    settings.watching.connect_timeout = 30
    # A stream that goes silent without closing (Kopf's most reported production failure) is cut
    # after this long without any event or bookmark (the API server bookmarks about every minute).
    settings.watching.inactivity_timeout = float(os.environ.get(WATCH_INACTIVITY_ENV) or 70.0)
    settings.posting.level = logging.INFO
    settings.networking.request_timeout = 60
    # Watching a list of namespaces, the operator is granted nothing cluster-scoped (see the chart):
    # no namespace or CRD scanning then, only the namespaces it was given.
    settings.scanning.disabled = bool(CONFIG.namespaces)
    runtime = Runtime.create(
        kubeconfig=CONFIG.kubeconfig,
        aws_endpoint=CONFIG.aws_endpoint,
        namespaces=CONFIG.namespaces,
        metrics_port=CONFIG.metrics_port,
        metrics_address=CONFIG.metrics_address,
        fence=CONFIG.fence,
        identity=CONFIG.identity,
    )
    memo["runtime"] = runtime
    runtime.start_background_tasks()
    logger.info("judge0-operator started (namespaces: %s)", ", ".join(CONFIG.namespaces) or "all")


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """The official client's login (exec plugins, tokens, certificates), honouring ``--kubeconfig``."""
    if CONFIG.kubeconfig:
        import kubernetes.config.kube_config

        # The client reads $KUBECONFIG once, at import; point its default at the file we were given.
        kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION = CONFIG.kubeconfig
    return kopf.login_via_client(**kwargs)


@kopf.on.cleanup()
async def shutdown(memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime | None = memo.get("runtime")
    if runtime is not None:
        await runtime.close()


@kopf.on.probe(id="fleets")
def liveness_fleets(memo: kopf.Memo, **_: Any) -> int:
    runtime: Runtime | None = memo.get("runtime")
    return len(runtime.fleets) if runtime else 0


@kopf.index(GROUP, VERSION, POLICIES)
def policy_index(
    namespace: str, name: str, spec: kopf.Spec, **_: Any
) -> dict[tuple[str, str], dict[str, Any]]:
    return {(namespace, name): dict(spec)}


@kopf.on.event(GROUP, VERSION, POLICIES)
def policy_changed(namespace: str, name: str, memo: kopf.Memo, **_: Any) -> None:
    """A policy change takes effect at once on every fleet that references it."""
    runtime: Runtime | None = memo.get("runtime")
    if runtime is not None:
        runtime.wake_fleets_using_policy(namespace, name)


def _fleet_news(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> bool:
    runtime: Runtime | None = memo.get("runtime")
    return runtime is not None and runtime.is_news(body, type)


@kopf.on.event(GROUP, VERSION, FLEETS, when=_fleet_news)
def fleet_event(event: dict[str, Any], body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Track which fleets exist (for the orphan sweeper) and wake a fleet's daemon on spec changes."""
    runtime: Runtime | None = memo.get("runtime")
    if runtime is None:
        return
    if event.get("type") == "DELETED":
        runtime.forget_fleet(body)
    else:
        runtime.track_fleet(body)


@kopf.daemon(
    GROUP,
    VERSION,
    FLEETS,
    cancellation_timeout=15,
    when=lambda body, **_: not body.meta.get("deletionTimestamp"),
)
async def fleet_daemon(
    stopped: kopf.DaemonStopped,
    body: kopf.Body,
    memo: kopf.Memo,
    policy_index: kopf.Index[Any, Any],
    logger: logging.Logger,
    **_: Any,
) -> None:
    """One pass, then sleep until the planner's next deadline, a spec/policy change, or stop."""
    runtime: Runtime = memo["runtime"]
    wake = runtime.wake_event(body)
    while not stopped:
        wake.clear()
        try:
            next_check_at = await reconcile_fleet(runtime, body, policy_index, logger)
            delay = runtime.seconds_until(next_check_at)
        except FleetGone:  # removed behind our back (finalizer stripped): nothing left to keep
            logger.warning("the fleet is gone (404 on its status): its daemon stops")
            return
        except Exception:  # a pass must never kill the daemon; the next pass starts afresh
            logger.exception("reconcile pass failed")
            delay = 5.0
        delay = min(max(delay, CONFIG.min_wait_seconds), CONFIG.max_wait_seconds)
        stop_wait = asyncio.ensure_future(stopped.wait(delay))
        wake_wait = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({stop_wait, wake_wait}, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()
            wake_wait.cancel()


@kopf.on.delete(GROUP, VERSION, FLEETS)
async def fleet_deleted(body: kopf.Body, memo: kopf.Memo, logger: logging.Logger, **_: Any) -> None:
    """deletionPolicy Delete: terminate every instance first; Retain: leave them and say so."""
    runtime: Runtime = memo["runtime"]
    remaining = await delete_fleet(runtime, body, logger)
    if remaining:
        raise kopf.TemporaryError(f"waiting for {remaining} instance(s) to terminate", delay=2)
    runtime.forget_fleet(body)
