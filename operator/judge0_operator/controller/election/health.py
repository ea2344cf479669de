"""The health server of ``--leader-election`` (the ``--liveness`` address): ``/readyz`` answers 200
for a standing-by replica and for the leader; the liveness path answers 200 while standing by,
and for the leader only if its event loop still runs callbacks. Served by the election, not by
Kopf, so a standby answers too."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from judge0_operator.controller.election.leadership import Leadership
from judge0_operator.controller.election.operator_thread import OperatorThread
from judge0_operator.controller.election.state_machine import Role


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
