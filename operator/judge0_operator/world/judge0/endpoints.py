"""The Judge0 API's endpoints, by what each needs of the node (web process only, Redis, Postgres),
and the Rails routes of v1.13.1 that lead to them; the request filters in front are ``server.py``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from judge0_operator.world.judge0.catalog import (
    ABOUT,
    ACTIVE_LANGUAGES_BY_NAME,
    ALL_LANGUAGES_BY_NAME,
    CONFIG_DEFAULTS,
    IN_QUEUE,
    LANGUAGES,
    MAINTENANCE_MESSAGE,
    PROCESSING,
    QUEUE_NAME,
    STATUSES,
    VERSION,
    system_info,
)
from judge0_operator.world.judge0.queues import NodeQueues
from judge0_operator.world.judge0.rails import body_params, empty_response, json_response, rails_error
from judge0_operator.world.judge0.statistics import (
    STATISTICS_CACHE_SECONDS,
    disk_database_bytes,
    statistics_payload,
)
from judge0_operator.world.judge0.submission import UTF8_ERROR, Utf8ConversionError, build_submission, parse_fields


@dataclass(slots=True)
class Call:
    """One routed request: who it is for and what the node looks like."""

    request: web.Request
    instance_id: str
    faults: Mapping[str, Mapping[str, Any]]
    arg: str = ""


Handler = Callable[["Judge0Endpoints", Call], Awaitable[web.StreamResponse]]


class Judge0Endpoints(NodeQueues):
    """The endpoints, as methods over the nodes' queues and rows."""

    _enable_wait_result: bool  # set by the simulator: POST /submissions?wait=true allowed

    # -- endpoints: web process only ----------------------------------------------------------

    async def _about(self, call: Call) -> web.StreamResponse:
        return json_response(ABOUT)

    async def _version(self, call: Call) -> web.StreamResponse:
        return web.Response(text=VERSION, content_type="text/plain")

    async def _config_info(self, call: Call) -> web.StreamResponse:
        config = dict(CONFIG_DEFAULTS)
        config["maintenance_mode"] = "maintenance" in call.faults
        config["enable_wait_result"] = self._enable_wait_result
        config["max_queue_size"] = self._max_queue_size
        return json_response(config)

    async def _system_info(self, call: Call) -> web.StreamResponse:
        return json_response(system_info(self._workers_per_node))

    async def _statuses(self, call: Call) -> web.StreamResponse:
        return json_response([{"id": sid, "description": name} for sid, name in STATUSES.items()])

    async def _authenticate(self, call: Call) -> web.StreamResponse:
        return empty_response(200)

    async def _forbidden(self, call: Call) -> web.StreamResponse:  # pragma: no cover - filtered earlier
        return empty_response(403)

    # -- endpoints: Redis ----------------------------------------------------------------------

    async def _workers(self, call: Call) -> web.StreamResponse:
        if "redis-down" in call.faults:
            return rails_error(500)
        node = self._nodes.get(call.instance_id)
        queue_full = "queue-full" in call.faults
        if (node is None or not node.ever_queued) and not queue_full:
            return json_response([])  # Resque has never seen the queue (or Redis restarted empty)
        size = len(node.queue) if node else 0
        if queue_full:
            size = max(size, self._max_queue_size)
        dead = "workers-dead" in call.faults
        available = 0 if dead else self._workers_per_node
        working = 0 if dead else min(len(node.in_flight) if node else 0, available)
        return json_response([{"queue": QUEUE_NAME, "size": size, "available": available,
                               "idle": available - working, "working": working, "paused": 0,
                               "failed": node.failed if node else 0}])

    # -- endpoints: Postgres -------------------------------------------------------------------

    async def _languages(self, call: Call) -> web.StreamResponse:
        if "db-down" in call.faults:
            return rails_error(500)
        return json_response([{"id": lang.id, "name": lang.name} for lang in ACTIVE_LANGUAGES_BY_NAME])

    async def _all_languages(self, call: Call) -> web.StreamResponse:
        if "db-down" in call.faults:
            return rails_error(500)
        return json_response([{"id": lang.id, "name": lang.name, "is_archived": lang.is_archived}
                              for lang in ALL_LANGUAGES_BY_NAME])

    async def _language(self, call: Call) -> web.StreamResponse:
        if "db-down" in call.faults:
            return rails_error(500)
        language = LANGUAGES.get(int(call.arg)) if call.arg.isdigit() else None
        return json_response(language.full()) if language else rails_error(404)

    async def _statistics(self, call: Call) -> web.StreamResponse:
        if "db-down" in call.faults:
            return rails_error(500)
        stats = self._node(call.instance_id).stats
        now = time.monotonic()
        fresh = stats.cached is not None and now - stats.cached_at < STATISTICS_CACHE_SECONDS
        if not fresh or call.request.query.get("invalidate_cache") == "true":
            stats.cached, stats.cached_at = statistics_payload(stats, disk_database_bytes(call.faults)), now
        return json_response(stats.cached)

    async def _show_submission(self, call: Call) -> web.StreamResponse:
        query = call.request.query
        fields, invalid = parse_fields(query.get("fields"))
        if invalid:
            return json_response({"error": f"invalid fields: [{', '.join(invalid)}]"}, 400)
        if "db-down" in call.faults:
            return rails_error(500)
        node = self._nodes.get(call.instance_id)
        submission = node.submissions.get(call.arg) if node else None
        if submission is None:
            return rails_error(404)
        try:
            return json_response(submission.render(fields, base64_encoded=query.get("base64_encoded") == "true"))
        except Utf8ConversionError:
            return json_response({"error": UTF8_ERROR}, 400)

    async def _create_submission(self, call: Call) -> web.StreamResponse:
        faults = call.faults
        if "maintenance" in faults:
            return json_response({"error": MAINTENANCE_MESSAGE}, 503)
        body = await body_params(call.request)
        if body is None:
            return rails_error(400)
        params: dict[str, Any] = {**call.request.query, **body}
        wait = params.get("wait") == "true"
        if wait and not self._enable_wait_result:
            return json_response({"error": "wait not allowed"}, 400)
        if "redis-down" in faults:
            return rails_error(500)  # Resque.size raises before anything else touches Redis
        existing = self._nodes.get(call.instance_id)
        waiting = len(existing.queue) if existing else 0
        if "queue-full" in faults or waiting + 1 > self._max_queue_size:
            return json_response({"error": "queue is full"}, 503)
        fields_param = params.get("fields")
        fields, invalid = parse_fields(None if fields_param is None else str(fields_param))
        if invalid:
            return json_response({"error": f"invalid fields: [{', '.join(invalid)}]"}, 400)
        base64_encoded = params.get("base64_encoded") == "true"
        if "db-down" in faults:
            return rails_error(500)  # validation reads the languages table
        submission, errors = build_submission(params, base64_encoded=base64_encoded)
        if submission is None:
            return json_response(errors, 422)
        node = self._node(call.instance_id)
        node.submissions[submission.token] = submission
        node.stats.created(submission.language_id)
        if not wait:
            node.queue.append(submission.token)
            node.ever_queued = True
            self._dispatch(call.instance_id, node, self._directory.node(call.instance_id))
            return json_response({"token": submission.token}, 201)
        # wait=true: IsolateJob.perform_now inside the request, no queue, no worker.
        node.inline_runs += 1
        self._move(node, submission.token, IN_QUEUE, PROCESSING)
        await self._run(call.instance_id, node, submission)
        try:
            return json_response(submission.render(fields, base64_encoded=base64_encoded), 201)
        except Utf8ConversionError:
            return json_response({"error": UTF8_ERROR, "token": submission.token}, 201)


# ---------------------------------------------------------------------------------------------
# Routing (Rails routes of v1.13.1 that the simulator serves)
# ---------------------------------------------------------------------------------------------

_FIXED_ROUTES: dict[tuple[str, str], tuple[Handler, bool]] = {
    ("GET", "about"): (Judge0Endpoints._about, False),
    ("GET", "version"): (Judge0Endpoints._version, False),
    ("GET", "config_info"): (Judge0Endpoints._config_info, False),
    ("GET", "system_info"): (Judge0Endpoints._system_info, False),
    ("GET", "statistics"): (Judge0Endpoints._statistics, False),
    ("GET", "workers"): (Judge0Endpoints._workers, False),
    ("GET", "languages"): (Judge0Endpoints._languages, False),
    ("GET", "languages/all"): (Judge0Endpoints._all_languages, False),
    ("GET", "statuses"): (Judge0Endpoints._statuses, False),
    ("POST", "submissions"): (Judge0Endpoints._create_submission, False),
    ("GET", "submissions"): (Judge0Endpoints._forbidden, True),  # index: authorization always fails
    ("POST", "authenticate"): (Judge0Endpoints._authenticate, False),
    ("POST", "authorize"): (Judge0Endpoints._forbidden, True),
}


def resolve_route(method: str, path: str) -> tuple[Handler, bool, str] | None:
    """(handler, needs authorization, path argument) or ``None`` for a route Rails would 404."""
    fixed = _FIXED_ROUTES.get((method, path))
    if fixed is not None:
        return fixed[0], fixed[1], ""
    head, _, arg = path.partition("/")
    if not arg or "/" in arg:
        return None
    if head == "submissions" and method == "GET":
        return Judge0Endpoints._show_submission, False, arg
    if head == "submissions" and method == "DELETE":
        return Judge0Endpoints._forbidden, True, arg  # destroy: authorization always fails
    if head == "languages" and method == "GET":
        return Judge0Endpoints._language, False, arg
    return None
