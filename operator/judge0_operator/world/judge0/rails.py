"""How Judge0's Rails app parses a request body and shapes its answers (JSON, empty, the exception
app's errors), shared by the request filters and every endpoint."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
                        status=status, content_type="application/json")


def empty_response(status: int) -> web.Response:
    return web.Response(status=status)


def rails_error(status: int) -> web.Response:
    """What Rails' exception app renders for a JSON client (404 routing, 500 on a dead dependency)."""
    reason = {404: "Not Found", 400: "Bad Request", 500: "Internal Server Error"}[status]
    return json_response({"status": status, "error": reason}, status)


async def body_params(request: web.Request) -> dict[str, Any] | None:
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
