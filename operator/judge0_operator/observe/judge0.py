"""Async probes of every running Judge0 node, each proving something different (see judge0-api.md).

- ``api``: GET ``/about`` (or the policy's path) — the web process answers (and which version).
- ``workers``: GET ``/workers`` — Redis is up and workers are registered; ``[]`` is *unknown*.
- ``canary``: POST a submission **without** ``wait`` and poll its token — workers pick jobs up and
  the sandbox runs code (``wait=true`` would bypass the workers in v1.13.1).

Each probe runs only when its interval is due for that instance; otherwise the previous result is
returned unchanged. Canaries run as background tasks, so a slow node never holds a pass up: a pass
starts a due canary and reports the latest *completed* one. One shared ``aiohttp.ClientSession``,
a semaphore bounding requests in flight, and the auth token never in any log, detail or error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import string
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from judge0_operator import metrics
from judge0_operator.api.fleet import Judge0Spec
from judge0_operator.api.policy import CanaryProbe, Probes
from judge0_operator.decide.model import CanaryStage, Ec2Instance, NoAnswer, ProbeResult, Signal

log = logging.getLogger(__name__)

AUTH_HEADER = "X-Auth-Token"
MAX_BODY_BYTES = 1 << 20
MAX_DETAIL_CHARS = 240
POLL_FIELDS = "status,stdout,stderr,message,time"
STATUS_ACCEPTED = 3
STATUS_INTERNAL_ERROR = 13
_TEMPLATE_FIELDS = ("private_ip", "public_ip", "instance_id")

SessionFactory = Callable[[], aiohttp.ClientSession]


QUEUED = "In Queue"  # Judge0 status 1
DRAIN_POLL_SECONDS = 1.0  # /workers of a draining node (decide/drain.py POLL_SECONDS)


@dataclass
class _NodeState:
    instance_id: str
    last_run: dict[Signal, datetime] = field(default_factory=dict)
    results: dict[Signal, ProbeResult] = field(default_factory=dict)
    canary: asyncio.Task[None] | None = None
    version: str | None = None
    database_bytes: int | None = None  # GET /statistics (read at the disk probe's interval)


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    latency: float

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class _ProbeFailed(Exception):
    """A request that got no HTTP answer (refused, reset, timed out); the text is token-free."""

    def __init__(self, text: str, kind: NoAnswer = "error") -> None:
        super().__init__(text)
        self.kind: NoAnswer = kind


@dataclass(frozen=True)
class _CanaryOutcome:
    """One canary's verdict and the evidence behind it (for the diagnosis)."""

    ok: bool | None
    detail: str
    saturated: bool = False
    stage: CanaryStage | None = None
    http_status: int | None = None
    no_answer: NoAnswer | None = None
    judge0_status: int | None = None
    judge0_message: str | None = None


def _clip(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def endpoint_for(template: str, instance: Ec2Instance) -> tuple[str | None, str]:
    """The node's base URL from ``endpointTemplate``, or (None, why) when it cannot be built yet."""
    values = {
        "private_ip": instance.private_ip,
        "public_ip": instance.public_ip,
        "instance_id": instance.instance_id,
    }
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError as exc:
        return None, f"bad endpointTemplate: {exc}"
    unknown = used - set(_TEMPLATE_FIELDS)
    if unknown:
        return None, f"bad endpointTemplate: unknown placeholder {sorted(unknown)[0]}"
    missing = [name for name in sorted(used) if not values[name]]
    if missing:
        return None, f"no {missing[0]} yet"
    return template.format(**{k: v or "" for k, v in values.items()}).rstrip("/"), ""


class Judge0Prober:
    """Probes Judge0 nodes for any number of fleets; remembers per-instance timing and results."""

    def __init__(
        self,
        *,
        concurrency: int = 64,
        session_factory: SessionFactory | None = None,
        canary_poll_seconds: float = 0.25,
    ) -> None:
        self.concurrency = concurrency
        self.canary_poll_seconds = canary_poll_seconds
        self._session_factory = session_factory
        self._session: aiohttp.ClientSession | None = None
        self._semaphore = asyncio.Semaphore(concurrency)
        self._nodes: dict[str, _NodeState] = {}
        self._secrets: set[str] = set()

    # --- public -------------------------------------------------------------------------------
    async def probe_fleet(
        self,
        instances: Sequence[Ec2Instance],
        judge0: Judge0Spec,
        probes: Probes,
        token: str | None,
        now: datetime,
        *,
        draining: Collection[str] = (),
    ) -> dict[str, dict[Signal, ProbeResult]]:
        """Run the due probes of every running instance; return each one's latest results.

        A signal is absent until its probe has completed once (or when the probe is disabled).
        ``draining`` nodes (out of rotation, an action waiting for their work to finish) get their
        ``/workers`` read every ``DRAIN_POLL_SECONDS`` — even with the workers probe off — and no
        canary (it would be work on a node that is being emptied).
        """
        if token:
            self._secrets.add(token)
        running = [i for i in instances if i.state == "running"]
        jobs = []
        canaries: list[tuple[_NodeState, str]] = []
        for instance in running:
            node = self._nodes.setdefault(instance.instance_id, _NodeState(instance.instance_id))
            base, why = endpoint_for(judge0.endpoint_template, instance)
            if base is None:
                for signal in self._enabled(probes):
                    node.results[signal] = ProbeResult(signal=signal, ok=None, observed_at=now, detail=why)
                continue
            if probes.api.enabled and self._due(node, "api", probes.api.interval_seconds, now):
                node.last_run["api"] = now
                jobs.append(self._probe_api(node, base, judge0, probes, token, now))
            drained = instance.instance_id in draining
            workers_every = DRAIN_POLL_SECONDS if drained else probes.workers.interval_seconds
            if (probes.workers.enabled or drained) and self._due(node, "workers", workers_every, now):
                node.last_run["workers"] = now
                jobs.append(self._probe_workers(node, base, judge0, probes, token, now))
            if probes.disk.enabled and self._due(node, "disk", probes.disk.interval_seconds, now):
                node.last_run["disk"] = now  # GET /statistics: Postgres' size, at the disk probe's pace
                jobs.append(self._probe_statistics(node, base, token, float(probes.disk.timeout_seconds)))
            canary_idle = node.canary is None or node.canary.done()
            if (
                probes.canary.enabled
                and not drained
                and canary_idle
                and self._due(node, "canary", probes.canary.interval_seconds, now)
            ):
                node.last_run["canary"] = now
                canaries.append((node, base))
        await asyncio.gather(*jobs)
        enabled = self._enabled(probes)
        latest = {
            i.instance_id: {
                s: r
                for s, r in self._nodes[i.instance_id].results.items()
                if s in enabled or (s == "workers" and i.instance_id in draining)
            }
            for i in running
        }
        # Started last, in the background: they never hold this pass up, and what it reports for
        # the canary is always the latest *completed* one.
        for node, base in canaries:
            node.canary = asyncio.create_task(
                self._run_canary(node, base, probes.canary, token, now), name=f"canary-{node.instance_id}"
            )
        return latest

    def database_bytes(self, instance_id: str) -> int | None:
        """The database size the node's GET /statistics last reported (cached there for 10 min)."""
        node = self._nodes.get(instance_id)
        return node.database_bytes if node is not None else None

    def forget(self, instance_id: str) -> None:
        """Drop a terminated instance's state (and cancel its canary)."""
        node = self._nodes.pop(instance_id, None)
        if node is not None and node.canary is not None:
            node.canary.cancel()

    async def wait_for_canaries(self) -> None:
        """Wait for the canaries in flight (tests, shutdown)."""
        tasks = [n.canary for n in self._nodes.values() if n.canary is not None and not n.canary.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        """Cancel canaries and close the HTTP session."""
        tasks = [n.canary for n in self._nodes.values() if n.canary is not None and not n.canary.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- scheduling ---------------------------------------------------------------------------
    @staticmethod
    def _enabled(probes: Probes) -> frozenset[Signal]:
        chosen: list[Signal] = []
        if probes.api.enabled:
            chosen.append("api")
        if probes.workers.enabled:
            chosen.append("workers")
        if probes.canary.enabled:
            chosen.append("canary")
        return frozenset(chosen)

    @staticmethod
    def _due(node: _NodeState, signal: Signal, interval_seconds: float, now: datetime) -> bool:
        """Due once the interval has passed, less a little slack so a pass a hair early still runs it."""
        last = node.last_run.get(signal)
        if last is None:
            return True
        slack = min(1.0, interval_seconds * 0.1)
        return (now - last).total_seconds() >= interval_seconds - slack

    # --- HTTP ---------------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            if self._session_factory is not None:
                self._session = self._session_factory()
            else:
                connector = aiohttp.TCPConnector(limit=self.concurrency)
                self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def _request(
        self, method: str, url: str, token: str | None, timeout: float, body: dict[str, Any] | None = None
    ) -> _Reply:
        headers = {AUTH_HEADER: token} if token else {}
        session = self._session_now()
        loop = asyncio.get_running_loop()
        async with self._semaphore:
            started = loop.time()
            try:
                async with session.request(
                    method,
                    url,
                    headers=headers,
                    json=body,
                    timeout=aiohttp.ClientTimeout(total=timeout),
                    allow_redirects=False,
                ) as response:
                    content = await response.content.read(MAX_BODY_BYTES)
                    return _Reply(response.status, content, loop.time() - started)
            except TimeoutError:
                raise _ProbeFailed(f"timed out after {timeout:g}s", "timeout") from None
            except aiohttp.ClientConnectorError as exc:
                text = self._scrub(f"cannot connect: {exc.os_error.strerror or exc}")
                raise _ProbeFailed(text, "refused") from None
            except aiohttp.ServerDisconnectedError as exc:  # closed without an answer: nothing serving
                raise _ProbeFailed(self._scrub(f"{type(exc).__name__}: {exc}"), "refused") from None
            except (aiohttp.ClientError, OSError) as exc:
                raise _ProbeFailed(self._scrub(f"{type(exc).__name__}: {exc}")) from None

    def _record(self, node: _NodeState, result: ProbeResult) -> ProbeResult:
        node.results[result.signal] = result
        outcome = "unknown" if result.ok is None else ("ok" if result.ok else "bad")
        metrics.PROBE_RESULTS.labels(result.signal, outcome).inc()
        if result.latency_seconds > 0:  # an answer came back (refused connections have no latency)
            metrics.PROBE_DURATION.labels(result.signal).observe(result.latency_seconds)
        if result.ok is not True:
            log.debug("probe %s of %s: %s: %s", result.signal, node.instance_id, outcome, result.detail)
        return result

    # --- probes -------------------------------------------------------------------------------
    async def _probe_api(
        self,
        node: _NodeState,
        base: str,
        judge0: Judge0Spec,
        probes: Probes,
        token: str | None,
        now: datetime,
    ) -> None:
        path = probes.api.path
        try:
            reply = await self._request("GET", base + path, token, probes.api.timeout_seconds)
        except _ProbeFailed as exc:
            failed = ProbeResult(signal="api", ok=False, observed_at=now, detail=str(exc), no_answer=exc.kind)
            self._record(node, failed)
            return
        ok: bool = reply.status == 200
        detail = f"HTTP {reply.status}"
        version: str | None = None
        if ok and path.rstrip("/").endswith("/about"):
            try:
                about = reply.json()
                version = str(about["version"]) if isinstance(about, dict) and "version" in about else None
            except (ValueError, UnicodeDecodeError):
                ok, detail = False, "HTTP 200 but /about is not JSON"
            if version:
                node.version = version
                detail = f"version {version}"
                if judge0.expected_version and version != judge0.expected_version:
                    ok, detail = False, f"version {version}, expected {judge0.expected_version}"
        elif reply.status == 401:
            detail = "HTTP 401: auth token rejected"
        elif reply.status == 403:
            detail = "HTTP 403: forbidden (IP filter or authorization)"
        self._record(
            node,
            ProbeResult(
                signal="api",
                ok=ok,
                observed_at=now,
                detail=detail,
                latency_seconds=reply.latency,
                version=version,
                http_status=reply.status,
            ),
        )

    async def _probe_workers(
        self,
        node: _NodeState,
        base: str,
        judge0: Judge0Spec,
        probes: Probes,
        token: str | None,
        now: datetime,
    ) -> None:
        spec = probes.workers
        try:
            reply = await self._request("GET", base + "/workers", token, spec.timeout_seconds)
        except _ProbeFailed as exc:
            failed = ProbeResult(signal="workers", ok=False, observed_at=now, detail=str(exc), no_answer=exc.kind)
            self._record(node, failed)
            return
        result = ProbeResult(
            signal="workers", ok=False, observed_at=now, latency_seconds=reply.latency, http_status=reply.status
        )
        if reply.status == 500:
            self._record(node, replace(result, detail="HTTP 500: Redis down?"))
            return
        if reply.status != 200:
            self._record(node, replace(result, detail=f"HTTP {reply.status}"))
            return
        try:
            queues = reply.json()
        except (ValueError, UnicodeDecodeError):
            queues = None
        if not isinstance(queues, list) or not all(isinstance(q, dict) for q in queues):
            self._record(node, replace(result, detail="unexpected /workers body"))
            return
        if not queues:
            # Judge0 answers [] until a job is first queued and after Redis restarts: inconclusive for
            # health, but no queue means nothing waiting or running (what a drain needs to know).
            self._record(
                node, replace(result, ok=None, detail="no queues yet ([] is inconclusive)", queue_size=0, working=0)
            )
            return
        wanted = judge0.expected_version or node.version
        entry = next((q for q in queues if wanted and q.get("queue") == wanted), queues[0])
        available, size = _int(entry.get("available")), _int(entry.get("size"))
        ok = available is not None and available >= spec.min_available
        detail = (
            f"queue {entry.get('queue')}: available {available}, idle {entry.get('idle')}, "
            f"working {entry.get('working')}, waiting {size}"
        )
        if not ok:
            detail += f" (minAvailable {spec.min_available})"
        self._record(
            node,
            replace(
                result,
                ok=ok,
                detail=_clip(detail),
                queue_size=size,
                available_workers=available,
                working=_int(entry.get("working")),
            ),
        )

    async def _probe_statistics(self, node: _NodeState, base: str, token: str | None, timeout: float) -> None:
        """GET /statistics: ``database.size_in_bytes`` (Judge0 caches it 10 min; 500 with Postgres down)."""
        try:
            reply = await self._request("GET", base + "/statistics", token, timeout)
            size = reply.json()["database"]["size_in_bytes"] if reply.status == 200 else None
        except (_ProbeFailed, ValueError, UnicodeDecodeError, KeyError, TypeError):
            return
        value = _int(size)
        if value is not None:
            node.database_bytes = value

    async def _run_canary(
        self, node: _NodeState, base: str, spec: CanaryProbe, token: str | None, started_at: datetime
    ) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            outcome = await self._canary(node, base, spec, token, started + spec.timeout_seconds)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must not kill the canary loop of this node
            outcome = _CanaryOutcome(False, self._scrub(f"canary error: {type(exc).__name__}"))
        elapsed = loop.time() - started
        message = outcome.judge0_message
        self._record(
            node,
            ProbeResult(
                signal="canary",
                ok=outcome.ok,
                observed_at=started_at + timedelta(seconds=elapsed),
                detail=_clip(self._scrub(outcome.detail)),
                latency_seconds=elapsed,
                saturated=outcome.saturated,
                http_status=outcome.http_status,
                no_answer=outcome.no_answer,
                stage=outcome.stage,
                judge0_status=outcome.judge0_status,
                judge0_message=_clip(self._scrub(message)) if message else None,
            ),
        )

    async def _canary(
        self, node: _NodeState, base: str, spec: CanaryProbe, token: str | None, deadline: float
    ) -> _CanaryOutcome:
        """One canary: submit without wait, then poll until done or deadline; verdict and evidence."""
        loop = asyncio.get_running_loop()
        body: dict[str, Any] = {
            "source_code": spec.source_code,
            "language_id": spec.language_id,
            "stdin": spec.stdin,
        }
        if spec.expected_stdout:
            body["expected_output"] = spec.expected_stdout
        try:
            reply = await self._request(
                "POST",
                base + "/submissions?base64_encoded=false",
                token,
                max(0.1, deadline - loop.time()),
                body,
            )
        except _ProbeFailed as exc:
            return _CanaryOutcome(False, f"submit: {exc}", stage="submit", no_answer=exc.kind)
        if reply.status == 503:
            error = _error_text(reply)
            if "queue is full" in error:
                return _CanaryOutcome(
                    None, "queue full (503): node overloaded", True, "submit", 503, judge0_message=error
                )
            return _CanaryOutcome(
                None, f"not accepting submissions (503): {error}", False, "submit", 503, judge0_message=error
            )
        if reply.status != 201:
            error = _error_text(reply)
            return _CanaryOutcome(
                False, f"submit: HTTP {reply.status} {error}".rstrip(), False, "submit", reply.status,
                judge0_message=error or None,
            )
        try:
            submission_token = str(reply.json()["token"])
        except (ValueError, UnicodeDecodeError, KeyError, TypeError):
            return _CanaryOutcome(False, "submit: no token in the answer", stage="submit", http_status=201)

        url = f"{base}/submissions/{submission_token}?base64_encoded=false&fields={POLL_FIELDS}"
        last = QUEUED
        last_status: int | None = 1
        last_http: int | None = None
        last_failure: NoAnswer | None = None
        delay = self.canary_poll_seconds
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                timed_out = f"not finished after {spec.timeout_seconds}s (last: {last})"
                ok: bool | None = False
                detail = timed_out
                if last == QUEUED:  # never picked up: busy workers, or none taking jobs?
                    ok, detail = _queued_verdict(timed_out, node.results.get("workers"))
                return _CanaryOutcome(
                    ok,
                    detail,
                    stage="poll",
                    http_status=last_http,
                    no_answer=last_failure,
                    judge0_status=1 if last == QUEUED else last_status,
                )
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 1.5, 2.0)
            remaining = deadline - loop.time()
            if remaining <= 0:
                continue
            try:
                reply = await self._request("GET", url, token, remaining)
            except _ProbeFailed as exc:
                last, last_failure, last_http = f"poll: {exc}", exc.kind, None
                continue
            last_failure = None
            last_http = reply.status
            if reply.status == 404:
                return _CanaryOutcome(False, "submission vanished (404)", stage="poll", http_status=404)
            if reply.status != 200:
                last = f"poll: HTTP {reply.status}"
                continue
            try:
                submission = reply.json()
                status = submission.get("status") or {}
                status_id = int(status.get("id", 0))
            except (ValueError, UnicodeDecodeError, AttributeError, TypeError):
                last = "poll: unreadable answer"
                continue
            description = str(status.get("description", ""))
            if status_id <= 2:
                last, last_status = description or f"status {status_id}", status_id
                continue
            ok, detail = _verdict(status_id, description, submission, spec.expected_stdout)
            message = submission.get("message") or submission.get("stderr")
            return _CanaryOutcome(
                ok,
                detail,
                stage="poll",
                http_status=200,
                judge0_status=status_id,
                judge0_message=str(message) if message else None,
            )


def _queued_verdict(detail: str, workers: ProbeResult | None) -> tuple[bool | None, str]:
    """A canary still waiting in the queue at its deadline: on a node whose workers are busy with
    other jobs (an exam burst) that is load, not a fault — inconclusive, and the queue is the
    workers probe's and the autoscaler's business; with no worker taking jobs it is a failure."""
    if (
        workers is not None
        and workers.ok is True
        and (workers.available_workers or 0) > 0
        and (workers.queue_size or 0) > 0
    ):
        return None, f"{detail}: busy ({workers.queue_size} queued for {workers.available_workers} workers), not broken"
    return False, detail


def _verdict(status_id: int, description: str, submission: dict[str, Any], expected: str) -> tuple[bool, str]:
    stdout = submission.get("stdout")
    message = submission.get("message") or submission.get("stderr") or ""
    if status_id == STATUS_ACCEPTED:
        if stdout == expected or not expected:
            return True, f"Accepted in {submission.get('time')}s"
        return False, f"Accepted but stdout {stdout!r}, expected {expected!r}"
    if status_id == STATUS_INTERNAL_ERROR:
        return False, f"sandbox broken: {message or description}"
    return False, f"status {status_id} {description}: {message}".rstrip(": ")


def _error_text(reply: _Reply) -> str:
    try:
        data = reply.json()
    except (ValueError, UnicodeDecodeError):
        return _clip(reply.body.decode("utf-8", "replace"), 120)
    if isinstance(data, dict) and "error" in data:
        return _clip(str(data["error"]), 120)
    return _clip(json.dumps(data), 120)


def _int(value: Any) -> int | None:
    with contextlib.suppress(TypeError, ValueError):
        return int(value)
    return None
