"""A world on its own event loop in a daemon thread, for synchronous callers (tests, benchmarks,
tools) whose blocking clients must not stall the world's servers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from judge0_operator.world.config import WorldConfig
from judge0_operator.world.world import World

T = TypeVar("T")


class WorldThread:
    """Runs a World on its own event loop in a daemon thread, so blocking clients (boto3, the
    kubernetes client) can call it from the current thread without stalling its servers."""

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.world = World(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="judge0-world", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.world.start())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def start(self, timeout: float = 60.0) -> World:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the world did not start in time")
        if self._error is not None:
            raise self._error
        return self.world

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run a coroutine on the world's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, fn: Any, *args: Any) -> Any:
        """Call a plain function on the world's loop (the world's state belongs to that thread)."""

        async def wrapper() -> Any:
            return fn(*args)

        return self.run(wrapper())

    def stop(self, timeout: float = 30.0) -> None:
        if not self._thread.is_alive():
            return
        try:
            self.run(self.world.stop(), timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    def __enter__(self) -> World:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
