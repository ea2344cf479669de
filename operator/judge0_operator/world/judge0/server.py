"""Judge0 CE v1.13.1 simulator: one aiohttp server that answers for every node the world holds.

A node's API lives at ``http://127.0.0.1:PORT/<instance-id>/…`` (endpoint template
``http://127.0.0.1:PORT/{instance_id}``). Every request asks the world's ``NodeDirectory`` what the
node looks like *now* (``world/judge0/nodes.py``) and behaves accordingly, reproducing the shapes, status
codes and filter order of /work/shared/judge0-api.md.

Deliberate stand-ins and simplifications (each is said here so nobody tunes a probe to them):

- **"Connection refused"**: one listener serves every node, so a node that does not answer
  (unknown instance, ``serving`` False, fault ``judge0-down``, the down half of ``flapping``) has
  its connection *closed without an HTTP answer*. Clients see a connection-level error
  (aiohttp: ``ServerDisconnectedError``, a ``ClientConnectionError``), never a status code.
- Request filters: the IP allow/deny filter is skipped (the world never configures one);
  authentication (``X-Auth-Token`` header or query parameter, several space-separated tokens)
  and authorization (always 403, since ``AUTHZ_TOKEN`` is empty) are faithful.
- Workers: ``workers_per_node`` Resque workers per node take jobs FIFO; a job occupies its worker
  ``job_seconds`` plus the real run. ``wait=true`` runs inside the web request, bypassing queue and
  workers (so it passes with every worker dead, exactly the trap the design warns about).
- Running code: only Python (71) and Plain Text (43) run; other languages finish as 13 Internal
  Error saying so (see ``runner``). ``number_of_runs`` is run once; callbacks are never
  called (nothing may leave loopback); ``additional_files`` are accepted and ignored; the 1-second
  submission cache of ``GET /submissions/:token`` is not modelled (answers are always fresh).
- ``load`` arrivals and ``submit_load`` jobs are *synthetic*: they stand for a student's whole
  submission (compile and run), so they occupy queue slots and a worker for ``load_job_seconds``
  (0.5 s: a node's 4 workers take 8 a second, and a burst of 400 on 6 nodes takes ~8 s to drain,
  long enough for a probe to see it), count in ``/statistics``, spawn no process, have no token.
- ``/workers`` ``failed`` counts jobs interrupted by a workers restart (Resque's DirtyExit).
- Queue semantics of v1.13.1 (the hooks the world calls): ``restart_services`` — a workers or
  Redis restart drops the queue (rows stay status 1), a workers restart kills running jobs (rows
  stay status 2 for ever); ``kill_node`` — reboot/stop/terminate kill running jobs and lose the
  queue, rows stay on disk (a terminated node's rows go with it); ``run_in_queue`` — ``rake
  judge0:run_in_queue`` re-enqueues status-1 rows. Each lost submission gets a *fate* (``fate_of``)
  naming the event and its origin (operator call or injected fault) for the client report.
  ``restart_node``/``reset_node`` (requeue on restart / forget everything) remain for direct callers.
- Not served: ``/submissions/batch``, ``/docs``, ``/isolate``, ``/license`` (404 like any route
  the simulator does not know).

- ``restart_node`` interrupts worker jobs only; a ``wait=true`` run already inside a request
  finishes. A ``load`` fault takes effect once the node is known to the simulator (its first
  request or hook), since a ``NodeDirectory`` cannot list nodes.

Scale: state is created lazily per node; one ticker task serves all nodes (load arrivals and
dispatching of queues whose workers were blocked); finished submissions are forgotten beyond the
last ``keep_finished_per_node`` per node. The world hooks are plain methods: call them from the
event loop the simulator was started on.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

from judge0_operator.world.aws.disk import BASE_PERCENT, DISK_BYTES
from judge0_operator.world.judge0.catalog import (
    ABOUT,
    ACCEPTED,
    ACTIVE_LANGUAGES_BY_NAME,
    ALL_LANGUAGES_BY_NAME,
    CONFIG_DEFAULTS,
    IN_QUEUE,
    INTERNAL_ERROR,
    LANGUAGES,
    MAINTENANCE_MESSAGE,
    PROCESSING,
    QUEUE_NAME,
    STATUSES,
    VERSION,
    system_info,
)
from judge0_operator.world.judge0.nodes import NodeDirectory, NodeView
from judge0_operator.world.judge0.runner import SANDBOX_BROKEN_MESSAGE, CodeRunner, RunResult
from judge0_operator.world.judge0.submission import (
    UTF8_ERROR,
    Submission,
    Utf8ConversionError,
    build_submission,
    parse_fields,
)
from judge0_operator.world.serve import serve_on_loopback

log = logging.getLogger(__name__)

AUTHN_HEADER = "X-Auth-Token"
LOAD_LANGUAGE_ID = 71
STATISTICS_CACHE_SECONDS = 600.0
_MAX_FATES = 50_000
_SCAN_SECONDS = 0.5  # how often the ticker looks for nodes that acquired a ``load`` fault
_REJECTING_FAULTS = ("maintenance", "queue-full", "redis-down", "db-down", "api-500", "auth-rejected")


# ---------------------------------------------------------------------------------------------
# Per-node state (lazy: created on the first request or hook that needs it)
# ---------------------------------------------------------------------------------------------

@dataclass(slots=True)
class _Statistics:
    """What Postgres would answer ``/statistics`` with, kept as counters (submissions are forgotten)."""

    total: int = 0
    by_language: Counter[int] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    by_day: Counter[date] = field(default_factory=Counter)
    cached: dict[str, Any] | None = None
    cached_at: float = 0.0

    def created(self, language_id: int) -> None:
        self.total += 1
        self.by_language[language_id] += 1
        self.by_status[IN_QUEUE] += 1
        today = datetime.now(UTC).date()
        self.by_day[today] += 1
        if len(self.by_day) > 40:
            for day in [d for d in self.by_day if d < today - timedelta(days=31)]:
                del self.by_day[day]

    def moved(self, old: int, new: int) -> None:
        self.by_status[old] -= 1
        self.by_status[new] += 1


@dataclass(slots=True)
class _Node:
    queue: deque[str | None] = field(default_factory=deque)  # waiting jobs; None = synthetic load job
    in_flight: dict[asyncio.Task[None], str | None] = field(default_factory=dict)
    submissions: dict[str, Submission] = field(default_factory=dict)
    finished: deque[str] = field(default_factory=deque)  # finished tokens, oldest first
    ever_queued: bool = False  # Resque knows the queue only once a job was pushed
    processed: int = 0
    failed: int = 0
    internal_errors: int = 0
    inline_runs: int = 0
    rejected: int = 0
    restarts: int = 0
    load_credit: float = 0.0
    stats: _Statistics = field(default_factory=_Statistics)


@dataclass(slots=True)
class _Call:
    """One routed request: who it is for and what the node looks like."""

    request: web.Request
    instance_id: str
    faults: Mapping[str, Mapping[str, Any]]
    arg: str = ""


_Handler = Callable[["Judge0Simulator", _Call], Awaitable[web.StreamResponse]]


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------

def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
                        status=status, content_type="application/json")


def _empty(status: int) -> web.Response:
    return web.Response(status=status)


def _rails_error(status: int) -> web.Response:
    """What Rails' exception app renders for a JSON client (404 routing, 500 on a dead dependency)."""
    reason = {404: "Not Found", 400: "Bad Request", 500: "Internal Server Error"}[status]
    return _json({"status": status, "error": reason}, status)


def _number(params: Mapping[str, Any] | None, key: str, default: float) -> float:
    try:
        return float((params or {}).get(key, default))
    except (TypeError, ValueError):
        return default


def reachable(view: NodeView | None, now: float | None = None) -> bool:
    """False when the node's web process would refuse the connection right now."""
    if view is None or not view.serving or "judge0-down" in view.faults:
        return False
    flapping = view.faults.get("flapping")
    if flapping is not None:
        period = _number(flapping, "periodSeconds", 10.0)
        moment = time.monotonic() if now is None else now
        if period > 0 and int(moment // period) % 2 == 1:
            return False
    return True


def _workers_running(view: NodeView | None) -> bool:
    """Workers take jobs only on a running host with Redis and Postgres reachable."""
    if view is None or not view.serving:
        return False
    faults = view.faults
    return not ("workers-dead" in faults or "redis-down" in faults or "db-down" in faults)


def _drops_jobs(view: NodeView | None) -> bool:
    """Workers running against Redis, but Postgres down: they take jobs and drop them."""
    if view is None or not view.serving:
        return False
    faults = view.faults
    return "db-down" in faults and not ("workers-dead" in faults or "redis-down" in faults)


def _accepts_api_submissions(view: NodeView | None) -> bool:
    if not reachable(view):
        return False
    assert view is not None
    return not any(fault in view.faults for fault in _REJECTING_FAULTS)


async def _body_params(request: web.Request) -> dict[str, Any] | None:
    """Body parameters as Rails would parse them; ``None`` when a JSON body does not parse."""
    if not request.can_read_body:
        return {}
    if request.content_type == "application/json":
        text = await request.text()
        if not text.strip():
            return {}
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return data if isinstance(data, dict) else {}
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        return {key: value for key, value in form.items() if isinstance(value, str)}
    return {}


# ---------------------------------------------------------------------------------------------
# The simulator
# ---------------------------------------------------------------------------------------------

class Judge0Simulator:
    """Serves the Judge0 CE v1.13.1 API of every node in ``directory`` from one loopback listener."""

    def __init__(
        self,
        directory: NodeDirectory,
        *,
        auth_token: str | None = None,
        workers_per_node: int = 4,
        job_seconds: float = 0.05,
        load_job_seconds: float = 0.5,
        max_queue_size: int = 100,
        run_timeout_seconds: float = 5.0,
        max_concurrent_runs: int = 4,
        enable_wait_result: bool = True,
        keep_finished_per_node: int = 1000,
        tick_seconds: float = 0.05,
    ) -> None:
        self._directory = directory
        self._tokens = (auth_token or "").split()
        self._workers_per_node = workers_per_node
        self._job_seconds = job_seconds
        self._load_job_seconds = load_job_seconds
        self._max_queue_size = max_queue_size
        self._run_timeout = run_timeout_seconds
        self._max_concurrent_runs = max_concurrent_runs
        self._enable_wait_result = enable_wait_result
        self._keep_finished = keep_finished_per_node
        self._tick = tick_seconds
        self._nodes: dict[str, _Node] = {}
        self._backlog: set[str] = set()  # nodes with waiting jobs (the ticker retries dispatching)
        self._loaded: set[str] = set()  # nodes with an active ``load`` fault
        self._runner: CodeRunner | None = None
        self._web: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._base_url: str | None = None
        self._fates: OrderedDict[str, dict[str, Any]] = OrderedDict()  # token → why it has no result
        self._gone: dict[str, dict[str, Any]] = {}  # terminated instance → origin

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Bind (loopback only), start the ticker and return the base URL."""
        self._loop = asyncio.get_running_loop()
        self._runner = CodeRunner(max_concurrent_runs=self._max_concurrent_runs,
                                  run_timeout_seconds=self._run_timeout)
        app = web.Application()
        app.router.add_route("*", "/{instance_id}", self._handle)
        app.router.add_route("*", "/{instance_id}/{tail:.*}", self._handle)
        self._web, self._base_url = await serve_on_loopback(
            app, host, port, what="the Judge0 simulator", shutdown_timeout=1.0
        )
        self._ticker = self._loop.create_task(self._tick_forever(), name="judge0-simulator-ticker")
        return self._base_url

    async def stop(self) -> None:
        """Stop the ticker and every job, then close the listener."""
        tasks = [task for node in self._nodes.values() for task in node.in_flight]
        if self._ticker is not None:
            tasks.append(self._ticker)
            self._ticker = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._nodes.clear()
        self._backlog.clear()
        self._loaded.clear()
        if self._web is not None:
            await self._web.cleanup()
            self._web = None

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("Judge0Simulator is not started")
        return self._base_url

    @property
    def endpoint_template(self) -> str:
        """``spec.judge0.endpointTemplate`` for fleets served by this simulator."""
        return self.base_url + "/{instance_id}"

    # -- world hooks ---------------------------------------------------------------------------

    def restart_node(self, instance_id: str) -> None:
        """A graceful restart that puts Processing jobs back at the queue head (Redis kept).

        Not what v1.13.1's compose does (see ``restart_services``, which the world calls); kept
        for callers that want Resque's requeue-on-restart."""
        node = self._nodes.get(instance_id)
        if node is None:
            return
        interrupted = list(node.in_flight.items())
        node.in_flight.clear()
        for task, _ in interrupted:
            task.cancel()
        for _, token in reversed(interrupted):
            self._move(node, token, PROCESSING, IN_QUEUE)
            node.queue.appendleft(token)
            node.failed += 1
        node.restarts += 1
        self._dispatch(instance_id, node, self._directory.node(instance_id))

    # -- v1.13.1 queue semantics: what the world calls ------------------------------------------
    #
    # Postgres keeps its rows on the instance's disk (a volume); Redis keeps nothing (the shipped
    # compose runs it without persistence); only the job that runs a submission writes its result,
    # and nothing re-runs a row left at status 2. Every loss is recorded as a *fate* with the
    # world's ``origin`` of the event (who did it: the operator's call or an injected fault).

    def restart_services(self, instance_id: str, services: Iterable[str], origin: Mapping[str, Any]) -> None:
        """``docker compose restart <services>``: restarting ``workers`` kills the jobs they run (rows
        stay at status 2 for ever) and drops the queue (rows stay at status 1); restarting ``redis``
        drops the queue and Resque's memory of it (``/workers`` answers ``[]`` again)."""
        node = self._nodes.get(instance_id)
        wanted = set(services)
        if node is None:
            return
        if "workers" in wanted:
            node.failed += self._kill_jobs(instance_id, node, "worker killed by a workers restart", origin)
        if "workers" in wanted or "redis" in wanted:
            self._drop_queue(instance_id, node, "queue dropped by a restart", origin)
        if "redis" in wanted:
            node.ever_queued = False
            node.failed = 0  # Resque's failed counter lived in Redis
        node.restarts += 1
        self._dispatch(instance_id, node, self._directory.node(instance_id))

    def kill_node(self, instance_id: str, origin: Mapping[str, Any], gone: bool = False) -> None:
        """The host goes down (reboot, stop, terminate): running jobs die (status 2 for ever), Redis'
        queue is lost (status 1 stays); the rows stay on disk unless ``gone`` (terminated), when
        every submission of the node goes with it."""
        node = self._nodes.get(instance_id)
        if gone:
            self._gone[instance_id] = dict(origin, event="instance terminated: the node and its rows are gone")
        if node is None:
            return
        self._kill_jobs(instance_id, node, "worker killed: the host went down", origin)
        self._drop_queue(instance_id, node, "queue lost: the host went down (Redis keeps nothing)", origin)
        node.ever_queued = False
        node.failed = 0

    def run_in_queue(self, instance_id: str) -> int:
        """``rake judge0:run_in_queue``: re-enqueue every status-1 row that is not queued (Judge0
        enqueues every status-1 row; one already waiting is not queued twice here)."""
        node = self._nodes.get(instance_id)
        if node is None:
            return 0
        waiting = {t for t in node.queue if t is not None} | {t for t in node.in_flight.values() if t is not None}
        requeued = 0
        for token, submission in node.submissions.items():
            if submission.status_id == IN_QUEUE and token not in waiting:
                node.queue.append(token)
                self._fates.pop(token, None)
                requeued += 1
        if requeued:
            node.ever_queued = True
        self._dispatch(instance_id, node, self._directory.node(instance_id))
        return requeued

    def fate_of(self, token: str, instance_id: str | None = None) -> dict[str, Any] | None:
        """Why a submission will never get a result (None: nothing the simulator knows of)."""
        fate = self._fates.get(token)
        if fate is None and instance_id is not None and instance_id in self._gone:
            return dict(self._gone[instance_id])
        return dict(fate) if fate is not None else None

    def clear_fates(self) -> None:
        self._fates.clear()
        self._gone.clear()

    def _fate(self, instance_id: str, token: str, status: int, event: str, origin: Mapping[str, Any]) -> None:
        view = self._directory.node(instance_id)
        self._fates[token] = {
            "faultsActive": sorted(view.faults) if view is not None else [],
            **origin,
            "event": event,
            "status": status,
            "instanceId": instance_id,
        }
        while len(self._fates) > _MAX_FATES:
            self._fates.popitem(last=False)

    def _kill_jobs(self, instance_id: str, node: _Node, event: str, origin: Mapping[str, Any]) -> int:
        killed = list(node.in_flight.items())
        node.in_flight.clear()
        for task, token in killed:
            task.cancel()
            if token is not None:
                self._fate(instance_id, token, PROCESSING, event, origin)
        return len(killed)

    def _drop_queue(self, instance_id: str, node: _Node, event: str, origin: Mapping[str, Any]) -> None:
        for token in node.queue:  # synthetic jobs (None) just vanish: their rows stay status 1 in /statistics
            if token is not None and token in node.submissions:
                self._fate(instance_id, token, IN_QUEUE, event, origin)
        node.queue.clear()
        self._backlog.discard(instance_id)

    def reset_node(self, instance_id: str) -> None:
        """Host rebooted or replaced: queue, submissions and Redis' memory of the queue are gone."""
        self.forget_node(instance_id)

    def forget_node(self, instance_id: str) -> None:
        """Drop everything about a node (terminated instance)."""
        node = self._nodes.pop(instance_id, None)
        self._backlog.discard(instance_id)
        self._loaded.discard(instance_id)
        if node is not None:
            for task in node.in_flight:
                task.cancel()
            node.in_flight.clear()

    def submit_load(self, instance_id: str, n: int) -> int:
        """Put ``n`` synthetic jobs on the node's queue (capped at ``max_queue_size``); returns how many."""
        node = self._node(instance_id)
        accepted = self._enqueue_synthetic(node, n)
        self._dispatch(instance_id, node, self._directory.node(instance_id))
        return accepted

    def node_stats(self, instance_id: str) -> dict[str, Any]:
        """Queue and worker counters of one node, for tests and the simulation's report."""
        node = self._nodes.get(instance_id)
        view = self._directory.node(instance_id)
        dead = view is not None and "workers-dead" in view.faults
        if node is None:
            return {"known": False, "queue_size": 0, "available": 0 if dead else self._workers_per_node,
                    "working": 0, "processed": 0, "failed": 0, "internal_errors": 0, "inline_runs": 0,
                    "rejected": 0, "restarts": 0, "submissions": 0}
        return {
            "known": True,
            "queue_size": len(node.queue),
            "available": 0 if dead else self._workers_per_node,
            "working": len(node.in_flight),
            "processed": node.processed,
            "failed": node.failed,
            "internal_errors": node.internal_errors,
            "inline_runs": node.inline_runs,
            "rejected": node.rejected,
            "restarts": node.restarts,
            "submissions": node.stats.total,
        }

    # -- request entry -------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        instance_id = request.match_info["instance_id"]
        view = self._directory.node(instance_id)
        if not reachable(view):
            return self._drop(request)
        assert view is not None
        faults = view.faults
        slow = faults.get("judge0-slow")
        if slow is not None:
            await asyncio.sleep(max(0.0, _number(slow, "delaySeconds", 1.0)))
        if "load" in faults:
            self._loaded.add(instance_id)
        method = "GET" if request.method == "HEAD" else request.method
        path = request.match_info.get("tail", "").strip("/")
        if path == "":
            return _empty(200) if method == "GET" else _rails_error(404)  # GET /: no filters at all
        route = _resolve(method, path)
        if route is None:
            return _rails_error(404)
        handler, needs_authz, arg = route
        rejected = faults.get("auth-rejected")
        if rejected is not None:  # the node's ALLOW_IP/AUTHN_TOKEN no longer admit us: 403/401, empty
            return _empty(int(rejected.get("status", 401)))
        if not self._authenticated(request):
            return _empty(401)
        if needs_authz:
            return _empty(403)  # AUTHZ_TOKEN is empty: authorization always fails
        if "api-500" in faults:
            return _rails_error(500)
        return await handler(self, _Call(request, instance_id, faults, arg))

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        """Close the connection without an answer (our stand-in for "connection refused")."""
        if request.transport is not None:
            request.transport.close()
        return _empty(503)  # never reaches the client: the transport is already closed

    def _authenticated(self, request: web.Request) -> bool:
        if not self._tokens:
            return True
        provided = request.headers.get(AUTHN_HEADER)
        if provided is None:
            provided = request.query.get(AUTHN_HEADER, "")
        given = provided.encode()
        return any(hmac.compare_digest(token.encode(), given) for token in self._tokens)

    # -- endpoints: web process only ----------------------------------------------------------

    async def _about(self, call: _Call) -> web.StreamResponse:
        return _json(ABOUT)

    async def _version(self, call: _Call) -> web.StreamResponse:
        return web.Response(text=VERSION, content_type="text/plain")

    async def _config_info(self, call: _Call) -> web.StreamResponse:
        config = dict(CONFIG_DEFAULTS)
        config["maintenance_mode"] = "maintenance" in call.faults
        config["enable_wait_result"] = self._enable_wait_result
        config["max_queue_size"] = self._max_queue_size
        return _json(config)

    async def _system_info(self, call: _Call) -> web.StreamResponse:
        return _json(system_info(self._workers_per_node))

    async def _statuses(self, call: _Call) -> web.StreamResponse:
        return _json([{"id": sid, "description": name} for sid, name in STATUSES.items()])

    async def _authenticate(self, call: _Call) -> web.StreamResponse:
        return _empty(200)

    async def _forbidden(self, call: _Call) -> web.StreamResponse:  # pragma: no cover - filtered earlier
        return _empty(403)

    # -- endpoints: Redis ----------------------------------------------------------------------

    async def _workers(self, call: _Call) -> web.StreamResponse:
        if "redis-down" in call.faults:
            return _rails_error(500)
        node = self._nodes.get(call.instance_id)
        queue_full = "queue-full" in call.faults
        if (node is None or not node.ever_queued) and not queue_full:
            return _json([])  # Resque has never seen the queue (or Redis restarted empty)
        size = len(node.queue) if node else 0
        if queue_full:
            size = max(size, self._max_queue_size)
        dead = "workers-dead" in call.faults
        available = 0 if dead else self._workers_per_node
        working = 0 if dead else min(len(node.in_flight) if node else 0, available)
        return _json([{"queue": QUEUE_NAME, "size": size, "available": available, "idle": available - working,
                       "working": working, "paused": 0, "failed": node.failed if node else 0}])

    # -- endpoints: Postgres -------------------------------------------------------------------

    async def _languages(self, call: _Call) -> web.StreamResponse:
        if "db-down" in call.faults:
            return _rails_error(500)
        return _json([{"id": lang.id, "name": lang.name} for lang in ACTIVE_LANGUAGES_BY_NAME])

    async def _all_languages(self, call: _Call) -> web.StreamResponse:
        if "db-down" in call.faults:
            return _rails_error(500)
        return _json([{"id": lang.id, "name": lang.name, "is_archived": lang.is_archived}
                      for lang in ALL_LANGUAGES_BY_NAME])

    async def _language(self, call: _Call) -> web.StreamResponse:
        if "db-down" in call.faults:
            return _rails_error(500)
        language = LANGUAGES.get(int(call.arg)) if call.arg.isdigit() else None
        return _json(language.full()) if language else _rails_error(404)

    async def _statistics(self, call: _Call) -> web.StreamResponse:
        if "db-down" in call.faults:
            return _rails_error(500)
        stats = self._node(call.instance_id).stats
        now = time.monotonic()
        fresh = stats.cached is not None and now - stats.cached_at < STATISTICS_CACHE_SECONDS
        if not fresh or call.request.query.get("invalidate_cache") == "true":
            stats.cached, stats.cached_at = _statistics_payload(stats, _disk_database_bytes(call.faults)), now
        return _json(stats.cached)

    async def _show_submission(self, call: _Call) -> web.StreamResponse:
        query = call.request.query
        fields, invalid = parse_fields(query.get("fields"))
        if invalid:
            return _json({"error": f"invalid fields: [{', '.join(invalid)}]"}, 400)
        if "db-down" in call.faults:
            return _rails_error(500)
        node = self._nodes.get(call.instance_id)
        submission = node.submissions.get(call.arg) if node else None
        if submission is None:
            return _rails_error(404)
        try:
            return _json(submission.render(fields, base64_encoded=query.get("base64_encoded") == "true"))
        except Utf8ConversionError:
            return _json({"error": UTF8_ERROR}, 400)

    async def _create_submission(self, call: _Call) -> web.StreamResponse:
        faults = call.faults
        if "maintenance" in faults:
            return _json({"error": MAINTENANCE_MESSAGE}, 503)
        body = await _body_params(call.request)
        if body is None:
            return _rails_error(400)
        params: dict[str, Any] = {**call.request.query, **body}
        wait = params.get("wait") == "true"
        if wait and not self._enable_wait_result:
            return _json({"error": "wait not allowed"}, 400)
        if "redis-down" in faults:
            return _rails_error(500)  # Resque.size raises before anything else touches Redis
        existing = self._nodes.get(call.instance_id)
        waiting = len(existing.queue) if existing else 0
        if "queue-full" in faults or waiting + 1 > self._max_queue_size:
            return _json({"error": "queue is full"}, 503)
        fields_param = params.get("fields")
        fields, invalid = parse_fields(None if fields_param is None else str(fields_param))
        if invalid:
            return _json({"error": f"invalid fields: [{', '.join(invalid)}]"}, 400)
        base64_encoded = params.get("base64_encoded") == "true"
        if "db-down" in faults:
            return _rails_error(500)  # validation reads the languages table
        submission, errors = build_submission(params, base64_encoded=base64_encoded)
        if submission is None:
            return _json(errors, 422)
        node = self._node(call.instance_id)
        node.submissions[submission.token] = submission
        node.stats.created(submission.language_id)
        if not wait:
            node.queue.append(submission.token)
            node.ever_queued = True
            self._dispatch(call.instance_id, node, self._directory.node(call.instance_id))
            return _json({"token": submission.token}, 201)
        # wait=true: IsolateJob.perform_now inside the request, no queue, no worker.
        node.inline_runs += 1
        self._move(node, submission.token, IN_QUEUE, PROCESSING)
        await self._run(call.instance_id, node, submission)
        try:
            return _json(submission.render(fields, base64_encoded=base64_encoded), 201)
        except Utf8ConversionError:
            return _json({"error": UTF8_ERROR, "token": submission.token}, 201)

    # -- queue and workers ---------------------------------------------------------------------

    def _node(self, instance_id: str) -> _Node:
        node = self._nodes.get(instance_id)
        if node is None:
            node = self._nodes[instance_id] = _Node()
        return node

    @staticmethod
    def _move(node: _Node, token: str | None, old: int, new: int) -> None:
        """Change a job's status (``old`` matters for synthetic jobs), keeping the counters in step."""
        submission = node.submissions.get(token) if token is not None else None
        if submission is not None:
            old, submission.status_id = submission.status_id, new
        node.stats.moved(old, new)

    def _enqueue_synthetic(self, node: _Node, count: int) -> int:
        accepted = 0
        for _ in range(count):
            if len(node.queue) + 1 > self._max_queue_size:
                node.rejected += 1
                continue
            node.queue.append(None)
            node.stats.created(LOAD_LANGUAGE_ID)
            accepted += 1
        if accepted:
            node.ever_queued = True
        return accepted

    def _dispatch(self, instance_id: str, node: _Node, view: NodeView | None) -> None:
        """Idle workers take jobs from the head of the queue."""
        if node.queue and _drops_jobs(view):
            # Postgres down: IsolateJob retries its find 100 x 0.1 s, then drops the job; the row stays
            # status 1 until ``rake judge0:run_in_queue`` (dropped at once here, not after 10 s).
            self._drop_queue(instance_id, node, "job dropped: the worker could not read it (Postgres down)",
                             {"by": "fault", "action": "db-down"})
        if node.queue and _workers_running(view):
            assert self._loop is not None, "Judge0Simulator is not started"
            while node.queue and len(node.in_flight) < self._workers_per_node:
                token = node.queue.popleft()
                if token is not None and token not in node.submissions:
                    continue
                self._move(node, token, IN_QUEUE, PROCESSING)
                task = self._loop.create_task(self._work(instance_id, node, token))
                node.in_flight[task] = token
        if node.queue:
            self._backlog.add(instance_id)
        else:
            self._backlog.discard(instance_id)

    async def _work(self, instance_id: str, node: _Node, token: str | None) -> None:
        """One worker's job: Resque pick-up and bookkeeping (``job_seconds``), then the run."""
        interrupted = False
        try:
            await asyncio.sleep(self._job_seconds if token is not None else self._load_job_seconds)
            if token is None:
                view = self._directory.node(instance_id)
                status = INTERNAL_ERROR if view is not None and "sandbox-broken" in view.faults else ACCEPTED
                self._move(node, None, PROCESSING, status)
                if status == INTERNAL_ERROR:
                    node.internal_errors += 1
            else:
                submission = node.submissions.get(token)
                if submission is not None:
                    await self._run(instance_id, node, submission)
            node.processed += 1
        except asyncio.CancelledError:
            interrupted = True
            raise
        finally:
            current = asyncio.current_task()
            if current is not None:
                node.in_flight.pop(current, None)
            if not interrupted and self._nodes.get(instance_id) is node:
                self._dispatch(instance_id, node, self._directory.node(instance_id))

    async def _run(self, instance_id: str, node: _Node, submission: Submission) -> None:
        """Run a Processing submission and store its result (13 with the rb_sysopen message if broken)."""
        view = self._directory.node(instance_id)
        if view is not None and "sandbox-broken" in view.faults:
            result = RunResult.internal_error(SANDBOX_BROKEN_MESSAGE)
        else:
            assert self._runner is not None
            try:
                result = await self._runner.run(submission)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # IsolateJob rescues everything into status 13
                log.exception("judge0 simulator: run failed")
                result = RunResult.internal_error(str(error))
        self._store(node, submission, result)

    def _store(self, node: _Node, submission: Submission, result: RunResult) -> None:
        for name in ("stdout", "stderr", "compile_output", "message", "exit_code", "exit_signal", "time",
                     "wall_time", "memory"):
            setattr(submission, name, getattr(result, name))
        submission.finished_at = datetime.now(UTC)
        self._move(node, submission.token, PROCESSING, result.status_id)
        if result.status_id == INTERNAL_ERROR:
            node.internal_errors += 1
        node.finished.append(submission.token)
        while len(node.finished) > self._keep_finished:
            node.submissions.pop(node.finished.popleft(), None)

    # -- the one ticker --------------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        last = next_scan = time.monotonic()
        while True:
            await asyncio.sleep(self._tick)
            now = time.monotonic()
            try:
                if now >= next_scan:
                    self._scan_for_load()
                    next_scan = now + _SCAN_SECONDS
                for instance_id in list(self._loaded):
                    self._arrive_load(instance_id, now - last)
                for instance_id in list(self._backlog):
                    node = self._nodes.get(instance_id)
                    if node is None:
                        self._backlog.discard(instance_id)
                    else:
                        self._dispatch(instance_id, node, self._directory.node(instance_id))
            except Exception:  # one bad tick must not freeze every node
                log.exception("judge0 simulator: tick failed")
            last = now

    def _scan_for_load(self) -> None:
        for instance_id in self._nodes:
            view = self._directory.node(instance_id)
            if view is not None and "load" in view.faults:
                self._loaded.add(instance_id)

    def _arrive_load(self, instance_id: str, elapsed: float) -> None:
        """``load`` fault: jobsPerSecond submissions of a tiny program arrive through the API."""
        view = self._directory.node(instance_id)
        node = self._node(instance_id)
        params = view.faults.get("load") if view is not None else None
        if params is None:
            self._loaded.discard(instance_id)
            node.load_credit = 0.0
            return
        node.load_credit += max(0.0, _number(params, "jobsPerSecond", 1.0)) * elapsed
        arrivals = int(node.load_credit)
        if arrivals == 0:
            return
        node.load_credit -= arrivals
        if _accepts_api_submissions(view):
            self._enqueue_synthetic(node, arrivals)
            self._dispatch(instance_id, node, view)
        else:
            node.rejected += arrivals


# ---------------------------------------------------------------------------------------------
# Routing (Rails routes of v1.13.1 that the simulator serves)
# ---------------------------------------------------------------------------------------------

_FIXED_ROUTES: dict[tuple[str, str], tuple[_Handler, bool]] = {
    ("GET", "about"): (Judge0Simulator._about, False),
    ("GET", "version"): (Judge0Simulator._version, False),
    ("GET", "config_info"): (Judge0Simulator._config_info, False),
    ("GET", "system_info"): (Judge0Simulator._system_info, False),
    ("GET", "statistics"): (Judge0Simulator._statistics, False),
    ("GET", "workers"): (Judge0Simulator._workers, False),
    ("GET", "languages"): (Judge0Simulator._languages, False),
    ("GET", "languages/all"): (Judge0Simulator._all_languages, False),
    ("GET", "statuses"): (Judge0Simulator._statuses, False),
    ("POST", "submissions"): (Judge0Simulator._create_submission, False),
    ("GET", "submissions"): (Judge0Simulator._forbidden, True),  # index: authorization always fails
    ("POST", "authenticate"): (Judge0Simulator._authenticate, False),
    ("POST", "authorize"): (Judge0Simulator._forbidden, True),
}


def _resolve(method: str, path: str) -> tuple[_Handler, bool, str] | None:
    """(handler, needs authorization, path argument) or ``None`` for a route Rails would 404."""
    fixed = _FIXED_ROUTES.get((method, path))
    if fixed is not None:
        return fixed[0], fixed[1], ""
    head, _, arg = path.partition("/")
    if not arg or "/" in arg:
        return None
    if head == "submissions" and method == "GET":
        return Judge0Simulator._show_submission, False, arg
    if head == "submissions" and method == "DELETE":
        return Judge0Simulator._forbidden, True, arg  # destroy: authorization always fails
    if head == "languages" and method == "GET":
        return Judge0Simulator._language, False, arg
    return None


def _disk_database_bytes(faults: Mapping[str, Mapping[str, Any]]) -> int:
    """``disk-filling``: what of the filled volume is Postgres (all of it but the dangling images)."""
    params = faults.get("disk-filling")
    if params is None:
        return 0
    share = _number(params, "usedPercent", BASE_PERCENT) - BASE_PERCENT - _number(params, "danglingImagesPercent", 0)
    return max(0, int(DISK_BYTES * share / 100))


def _statistics_payload(stats: _Statistics, extra_bytes: int = 0) -> dict[str, Any]:
    """``InfoController#statistics`` shape, from the node's counters."""
    now = datetime.now(UTC)
    today = now.date()
    days = [today - timedelta(days=offset) for offset in range(1, 31)]
    last_30_days = {day.isoformat(): stats.by_day.get(day, 0) for day in days}
    languages = [{"language": {"id": lid, "name": LANGUAGES[lid].name if lid in LANGUAGES else None},
                  "count": n} for lid, n in stats.by_language.most_common() if n > 0]
    statuses = [{"status": {"id": sid, "name": STATUSES[sid]}, "count": n}
                for sid, n in stats.by_status.most_common() if n > 0]
    size = 8_400_000 + 2_048 * stats.total + extra_bytes
    until = now + timedelta(seconds=STATISTICS_CACHE_SECONDS)
    return {
        "created_at": now.isoformat(timespec="milliseconds"),
        "cached_until": until.isoformat(timespec="milliseconds"),
        "submissions": {"total": stats.total, "today": stats.by_day.get(today, 0),
                        "last_30_days": last_30_days},
        "languages": languages,
        "statuses": statuses,
        "database": {"size_pretty": f"{size // 1024} kB", "size_in_bytes": size},
    }
