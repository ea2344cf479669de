"""One watch stream's side of the store: which events it sees (namespace and selectors, a MODIFIED
turned into ADDED/DELETED as an object starts or stops matching) and its bounded queue.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from judge0_operator.world.kube.selectors import Predicate, object_labels

if TYPE_CHECKING:
    from judge0_operator.world.kube.store.core import Obj


@dataclass(slots=True)
class WatchEvent:
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    key: tuple[str, str]
    obj: Obj
    prev: Obj | None  # the object before a MODIFIED: selectors turn it into ADDED/DELETED as they match


CLOSED = ("CLOSED", None)


@dataclass(eq=False)
class Watcher:
    """One watch stream's filter and pending events (bounded: overflow closes the stream)."""

    key: tuple[str, str]
    namespace: str | None
    labels: Predicate | None
    fields: Predicate | None
    max_pending: int
    initial: list[tuple[str, Obj]] = field(default_factory=list)
    initial_end_bookmark: bool = False
    pending: deque[tuple[str, Obj | None]] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def matches(self, obj: Mapping[str, Any]) -> bool:
        if self.namespace is not None and obj["metadata"].get("namespace") != self.namespace:
            return False
        if self.labels is not None and not self.labels(object_labels(obj)):
            return False
        return self.fields is None or self.fields(obj)

    def translate(self, ev: WatchEvent) -> tuple[str, Obj] | None:
        now = self.matches(ev.obj)
        if ev.type != "MODIFIED":
            return (ev.type, ev.obj) if now else None
        before = ev.prev is not None and self.matches(ev.prev)
        if now:
            return ("MODIFIED" if before else "ADDED", ev.obj)
        return ("DELETED", ev.obj) if before else None

    def offer(self, ev: WatchEvent) -> None:
        item = self.translate(ev)
        if item is None or self.closed:
            return
        if len(self.pending) >= self.max_pending:
            self.close()  # a consumer this far behind re-watches from its last resourceVersion
            return
        self.pending.append(item)
        self.wakeup.set()

    def close(self) -> None:
        self.closed = True
        self.pending.clear()
        self.wakeup.set()

    async def next(self, timeout: float) -> tuple[str, Obj | None] | None:
        """The next event, ``CLOSED`` when the stream must end, or None after ``timeout`` idle seconds."""
        while not self.pending:
            if self.closed:
                return CLOSED
            self.wakeup.clear()
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout)
            except TimeoutError:
                return None
        return self.pending.popleft()
