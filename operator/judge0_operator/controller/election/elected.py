"""``judge0-operator run --leader-election``: only the replica holding the Lease runs Kopf.

Threads of one replica:

- the **renewal thread** (``LeaseRunner``, ``renewal.py``) keeps the Lease, and exits the
  process at once when leadership is lost;
- the **operator thread** (``operator_thread.py``) runs Kopf on its own event loop, started only
  once the Lease is held;
- the **main thread** (``run_elected``, here) waits for SIGTERM/SIGINT: the leader then closes the
  fence (no new mutating call), waits for the calls already inside it, releases the Lease (so a
  rolling update hands over in about one retry period) and exits;
- an optional **health server** (``health.py``, the ``--liveness`` address), which a
  standby answers too.

What they share is the replica's ``Leadership`` (``leadership.py``), whose ``fence`` every
mutating AWS call and every status write enters.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judge0_operator import metrics
from judge0_operator.controller.election.health import HealthServer
from judge0_operator.controller.election.leadership import Leadership
from judge0_operator.controller.election.operator_thread import OperatorThread
from judge0_operator.controller.election.renewal import LeaseRunner, exit_now
from judge0_operator.controller.election.state_machine import Timings

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def default_identity() -> str:
    """The pod's name (``POD_NAME``, from the downward API) or the host name, plus a random suffix:
    a restarted container never mistakes its predecessor's Lease for its own."""
    base = os.environ.get("POD_NAME") or socket.gethostname() or "judge0-operator"
    return f"{base}-{secrets.token_hex(3)}"


def default_namespace() -> str:
    """The operator's own namespace: ``POD_NAMESPACE``, the ServiceAccount's, else ``default``."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    with contextlib.suppress(OSError):
        found = SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
        if found:
            return found
    return "default"


@dataclass(frozen=True)
class ElectionSettings:
    kubeconfig: str | None
    lease_namespace: str
    lease_name: str
    identity: str
    timings: Timings
    health_url: str | None = None  # the liveness URL; None: no health server


def run_elected(
    settings: ElectionSettings,
    leadership: Leadership,
    start_operator: Callable[[], OperatorThread],
) -> int:
    """Stand by until the Lease is ours, run the operator, step down on SIGTERM. Never returns
    once leading: the process ends with ``os._exit`` (0 after a release, 1 otherwise)."""
    from judge0_operator.controller.election.lease_api import LeaseApi

    lease_ref = f"{settings.lease_namespace}/{settings.lease_name}"
    api = LeaseApi.from_config(settings.kubeconfig, settings.lease_namespace, settings.lease_name)
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    operator: OperatorThread | None = None
    if settings.health_url:
        HealthServer(settings.health_url, leadership, lambda: operator).start()
    metrics.LEADER.set(0)
    runner = LeaseRunner(leadership, api, lease_ref=lease_ref)
    runner.start()
    timings = settings.timings
    log.info(
        "leader election: %s standing by for the lease %s (lease %gs, renew deadline %gs, retry %gs)",
        settings.identity,
        lease_ref,
        timings.lease_duration,
        timings.renew_deadline,
        timings.retry_period,
    )
    while not stop.is_set() and not leadership.became_leader.is_set():
        leadership.became_leader.wait(0.2)
        if not runner.is_alive() and not leadership.became_leader.is_set():
            log.error("leader election: the renewal thread ended before leading")
            return 1
    if not leadership.became_leader.is_set():
        log.info("leader election: %s received while standing by; exiting", ", ".join(received))
        runner.release()
        runner.join(timeout=timings.retry_period + 1)
        return 0

    code = 0
    if not stop.is_set():
        operator = start_operator()
        while not stop.wait(0.2):
            if not operator.is_alive():
                log.error("leader election: the operator thread ended; stepping down")
                code = 1
                break
    why = ", ".join(received) or "the operator ended"
    log.warning("leader election: %s: stopping acting, then releasing the lease %s", why, lease_ref)
    leadership.stop_acting()
    if not leadership.wait_idle(timings.renew_deadline):
        log.warning("leader election: calls still in flight after %gs; releasing anyway", timings.renew_deadline)
    runner.release()
    runner.join(timeout=timings.retry_period + timings.request_timeout + 1)
    exit_now(code)
    return code  # pragma: no cover - exit_now does not return
