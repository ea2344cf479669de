"""The operator thread of ``--leader-election``: Kopf on an event loop of its own, started once
the Lease is held, that the health server can ask whether it still turns."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


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
