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

Parts: ``availability.py`` (what a node's faults allow), ``rails.py`` (Rails' bodies and answers),
``endpoints.py`` (the API and its routes), ``queues.py`` (Resque and the workers), ``hooks.py``
(what the world calls), ``statistics.py`` (``/statistics``); this module is the listener and the
request filters in front of the endpoints.

Scale: state is created lazily per node; one ticker task serves all nodes (load arrivals and
dispatching of queues whose workers were blocked); finished submissions are forgotten beyond the
last ``keep_finished_per_node`` per node. The world hooks are plain methods: call them from the
event loop the simulator was started on.
"""

from __future__ import annotations

import asyncio
import hmac

from aiohttp import web

from judge0_operator.world.judge0.availability import fault_number, reachable
from judge0_operator.world.judge0.endpoints import Call, Judge0Endpoints, resolve_route
from judge0_operator.world.judge0.hooks import WorldHooks
from judge0_operator.world.judge0.nodes import NodeDirectory
from judge0_operator.world.judge0.rails import empty_response, rails_error
from judge0_operator.world.judge0.runner import CodeRunner
from judge0_operator.world.serve import serve_on_loopback

AUTHN_HEADER = "X-Auth-Token"


class Judge0Simulator(Judge0Endpoints, WorldHooks):
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
        super().__init__(
            directory,
            workers_per_node=workers_per_node,
            job_seconds=job_seconds,
            load_job_seconds=load_job_seconds,
            max_queue_size=max_queue_size,
            keep_finished_per_node=keep_finished_per_node,
            tick_seconds=tick_seconds,
        )
        self._tokens = (auth_token or "").split()
        self._run_timeout = run_timeout_seconds
        self._max_concurrent_runs = max_concurrent_runs
        self._enable_wait_result = enable_wait_result
        self._web: web.AppRunner | None = None
        self._base_url: str | None = None

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
            await asyncio.sleep(max(0.0, fault_number(slow, "delaySeconds", 1.0)))
        if "load" in faults:
            self._loaded.add(instance_id)
        method = "GET" if request.method == "HEAD" else request.method
        path = request.match_info.get("tail", "").strip("/")
        if path == "":
            return empty_response(200) if method == "GET" else rails_error(404)  # GET /: no filters at all
        route = resolve_route(method, path)
        if route is None:
            return rails_error(404)
        handler, needs_authz, arg = route
        rejected = faults.get("auth-rejected")
        if rejected is not None:  # the node's ALLOW_IP/AUTHN_TOKEN no longer admit us: 403/401, empty
            return empty_response(int(rejected.get("status", 401)))
        if not self._authenticated(request):
            return empty_response(401)
        if needs_authz:
            return empty_response(403)  # AUTHZ_TOKEN is empty: authorization always fails
        if "api-500" in faults:
            return rails_error(500)
        return await handler(self, Call(request, instance_id, faults, arg))

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        """Close the connection without an answer (our stand-in for "connection refused")."""
        if request.transport is not None:
            request.transport.close()
        return empty_response(503)  # never reaches the client: the transport is already closed

    def _authenticated(self, request: web.Request) -> bool:
        if not self._tokens:
            return True
        provided = request.headers.get(AUTHN_HEADER)
        if provided is None:
            provided = request.query.get(AUTHN_HEADER, "")
        given = provided.encode()
        return any(hmac.compare_digest(token.encode(), given) for token in self._tokens)
