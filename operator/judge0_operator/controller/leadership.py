"""``judge0-operator run --leader-election``: only the replica holding the Lease runs Kopf.

Threads of one replica:

- the **renewal thread** (``LeaseRunner``) drives the pure ``LeaseElection`` with short,
  timed-out Lease requests; a busy or blocked event loop cannot starve it. When leadership is
  lost (no renewal confirmed within the renew deadline, or another holder) it exits the process
  *at once* (``os._exit``): nothing winds down gracefully past the point where a standby may take
  over;
- the **operator thread** runs Kopf on its own event loop, started only once the Lease is held;
- the **main thread** waits for SIGTERM/SIGINT: the leader then closes the fence (no new
  mutating call), waits for the calls already inside it, releases the Lease (so a rolling update
  hands over in about one retry period) and exits;
- an optional **health server** (the ``--liveness`` address): ``/readyz`` answers 200 for a
  standing-by replica and for the leader; the liveness path answers 200 while standing by, and
  for the leader only if its event loop still runs callbacks.

``Leadership.fence`` is the ``Fence`` (``aws/guarded.py``) every mutating AWS call and every
status write enters: Leases do not fence by themselves, so this narrows the window to what the
timings allow, and the crash-safety design (intents, client tokens, adoption) covers the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from judge0_operator import metrics
from judge0_operator.aws.guarded import FencedError
from judge0_operator.controller.election import (
    Done,
    LeaseElection,
    LeaseRecord,
    Lost,
    Read,
    Role,
    Sleep,
    Timings,
    Write,
)

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
Clock = Callable[[], float]


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


class Leadership:
    """What the renewal thread knows, behind one lock, for the fence and the health server."""

    def __init__(self, election: LeaseElection, clock: Clock = time.monotonic) -> None:
        self.election = election
        self.clock = clock
        self.lock = threading.Lock()
        self.became_leader = threading.Event()
        self._acting = True
        self._in_flight = 0
        self._idle = threading.Condition(self.lock)

    @property
    def identity(self) -> str:
        return self.election.identity

    def may_act(self) -> bool:
        with self.lock:
            return self._acting and self.election.is_fresh(self.clock())

    @contextlib.contextmanager
    def fence(self, operation: str) -> Iterator[None]:
        """Around one mutating call: refuse it unless the lease is fresh; count it while in flight."""
        with self.lock:
            now = self.clock()
            if not self._acting or not self.election.is_fresh(now):
                renewed = self.election.renewed_at
                age = f"{now - renewed:.1f}s ago" if renewed is not None else "never"
                raise FencedError(
                    f"{operation} not sent: {self.identity} may not act "
                    f"(role {self.election.role.value}, last renewal confirmed {age})"
                )
            self._in_flight += 1
        try:
            yield
        finally:
            with self.lock:
                self._in_flight -= 1
                self._idle.notify_all()

    def stop_acting(self) -> None:
        """From now on every fenced call is refused (shutdown)."""
        with self.lock:
            self._acting = False

    def wait_idle(self, timeout: float) -> bool:
        """Until no fenced call is in flight (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
            return True

    def view(self) -> dict[str, Any]:
        with self.lock:
            return {
                "identity": self.identity,
                "role": self.election.role.value,
                "holder": self.election.holder,
                "fresh": self.election.is_fresh(self.clock()),
                "acting": self._acting,
            }


class LeaseApiLike(Protocol):
    def get(self, timeout: float) -> LeaseRecord | None: ...

    def write(self, step: Write, timeout: float) -> LeaseRecord: ...


def exit_now(code: int) -> None:
    """Flush the logs and leave without unwinding anything (no handler may run after this)."""
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _exit_on_lost(reason: str) -> None:
    exit_now(1)


class LeaseRunner(threading.Thread):
    """The renewal thread: runs the election's steps until it is lost, released or stopped."""

    def __init__(
        self,
        leadership: Leadership,
        api: LeaseApiLike,
        *,
        lease_ref: str = "",
        on_lost: Callable[[str], None] = _exit_on_lost,
    ) -> None:
        super().__init__(name="lease-renewal", daemon=True)
        self.leadership = leadership
        self.api = api
        self.lease_ref = lease_ref
        self.on_lost = on_lost
        self._wake = threading.Event()
        self._seen_holder: str | None = None

    def release(self) -> None:
        """Release the Lease if held (else just stop); returns at once, ``join`` to wait."""
        with self.leadership.lock:
            self.leadership.election.request_release()
        self._wake.set()

    def run(self) -> None:
        try:
            self._run()
        except Exception as error:  # a bug here must not leave a leader acting without renewals
            log.exception("leader election: the renewal thread failed")
            self._lost(f"the renewal thread failed: {_brief(error)}")

    def _run(self) -> None:
        leadership, election, clock = self.leadership, self.leadership.election, self.leadership.clock
        while True:
            with leadership.lock:
                now = clock()
                step = election.next_step(now)
                timeout = election.request_timeout(now)
            if isinstance(step, Sleep):
                self._wake.wait(step.seconds)
                self._wake.clear()
            elif isinstance(step, Read):
                self._read(step, timeout)
            elif isinstance(step, Write):
                self._write(step, timeout)
            elif isinstance(step, Lost):
                self._lost(step.reason)
                return
            elif isinstance(step, Done):
                return

    def _read(self, step: Read, timeout: float) -> None:
        election = self.leadership.election
        try:
            record = self.api.get(timeout)
        except Exception as error:
            log.warning("leader election: reading the lease %s failed: %s", self.lease_ref, _brief(error))
            with self.leadership.lock:
                election.failed(step, self.leadership.clock())
            return
        with self.leadership.lock:
            election.observed(record, self.leadership.clock())
        self._note_holder(record.holder if record else "")

    def _write(self, step: Write, timeout: float) -> None:
        from judge0_operator.controller.lease import LeaseConflict

        election = self.leadership.election
        sent_at = self.leadership.clock()
        try:
            record = self.api.write(step, timeout)
        except LeaseConflict:
            log.info("leader election: %s of %s lost a race (409); reading again", step.purpose, self.lease_ref)
            with self.leadership.lock:
                election.conflict(step, self.leadership.clock())
            if step.purpose == "release":
                self._stepped_down("released (conflict: someone else wrote first)")
            return
        except Exception as error:
            log.warning("leader election: %s of %s failed: %s", step.purpose, self.lease_ref, _brief(error))
            with self.leadership.lock:
                election.failed(step, self.leadership.clock())
            if step.purpose == "release":
                self._stepped_down("stopped without releasing (it expires on its own)")
            return
        with self.leadership.lock:
            happened = election.written(step, record, sent_at)
        if happened == "acquired":
            metrics.LEADER.set(1)
            metrics.LEADERSHIP_CHANGES.inc()
            log.warning(
                "leader election: %s acquired the lease %s (transition %d): acting from now on",
                self.leadership.identity,
                self.lease_ref,
                record.transitions,
            )
            self._seen_holder = record.holder
            self.leadership.became_leader.set()
        elif happened == "released":
            self._stepped_down("released the lease")
        else:
            log.debug("leader election: renewed %s", self.lease_ref)

    def _stepped_down(self, how: str) -> None:
        metrics.LEADER.set(0)
        metrics.LEADERSHIP_CHANGES.inc()
        log.warning("leader election: %s %s", self.leadership.identity, how)

    def _lost(self, reason: str) -> None:
        metrics.LEADER.set(0)
        metrics.LEADERSHIP_CHANGES.inc()
        log.critical(
            "leader election: %s lost the lease %s: %s; exiting now", self.leadership.identity, self.lease_ref, reason
        )
        self.on_lost(reason)

    def _note_holder(self, holder: str) -> None:
        if holder != self._seen_holder:
            log.info("leader election: the lease %s is held by %s", self.lease_ref, holder or "nobody")
            self._seen_holder = holder


def _brief(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


class OperatorThread(threading.Thread):
    """Runs ``run_on(loop)`` (Kopf) on a fresh event loop; can tell whether that loop still turns."""

    def __init__(self, run_on: Callable[[asyncio.AbstractEventLoop], None]) -> None:
        super().__init__(name="operator", daemon=True)
        self._run_on = run_on
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        try:
            self._run_on(loop)
        except BaseException as error:  # reported by the main thread, which then exits
            self.error = error
            log.exception("the operator stopped")

    def responsive(self, timeout: float) -> bool:
        loop = self.loop
        if loop is None or not self.is_alive() or loop.is_closed():
            return False
        answered = threading.Event()
        try:
            loop.call_soon_threadsafe(answered.set)
        except RuntimeError:
            return False
        return answered.wait(timeout)


class HealthServer:
    """``/readyz`` and the liveness path on a small threaded HTTP server of its own."""

    def __init__(
        self, url: str, leadership: Leadership, operator: Callable[[], OperatorThread | None]
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "0.0.0.0"
        self.port = parts.port or 8080
        self.liveness_path = parts.path or "/healthz"
        self.leadership = leadership
        self.operator = operator
        self._server: ThreadingHTTPServer | None = None

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        view = self.leadership.view()
        standing_by = view["role"] == Role.STANDBY.value
        view["state"] = "standing by" if standing_by else view["role"]
        if path == "/readyz":
            return 200, view
        if path == self.liveness_path:
            if standing_by:
                return 200, view
            operator = self.operator()
            if operator is None:
                return 200, {**view, "state": "starting"}
            alive = operator.responsive(5.0)
            return (200 if alive else 503), {**view, "eventLoop": "running" if alive else "unresponsive"}
        return 404, {"error": "not found"}

    def start(self) -> None:
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code, body = server_self.answer(urlsplit(self.path).path)
                payload = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="health", daemon=True).start()


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
    from judge0_operator.controller.lease import LeaseApi

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
