"""Serving an aiohttp app on loopback, the one way every part of the world does it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from judge0_operator.world.loopback import is_loopback


async def serve_on_loopback(
    app: web.Application, host: str = "127.0.0.1", port: int = 0, *, what: str, **runner_options: Any
) -> tuple[web.AppRunner, str]:
    """Start ``app`` on ``host:port`` (port 0: ephemeral); the runner (to clean up) and the base URL.

    Refuses any address outside loopback: nothing the world serves may be reachable from elsewhere.
    """
    if not is_loopback(host):
        raise ValueError(f"{what} binds to loopback only, not {host!r}")
    runner = web.AppRunner(app, access_log=None, **runner_options)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, f"http://[{bound_host}]:{bound_port}" if ":" in bound_host else f"http://{bound_host}:{bound_port}"
