"""The queue and workers of every node (Resque and IsolateJob as v1.13.1 runs them): jobs wait FIFO,
idle workers take them, a run stores its result in the node's rows, and the one ticker brings
``load`` arrivals and retries queues whose workers were blocked. Lost submissions get a *fate*.
The world's hooks (``hooks.py``) and the endpoints (``endpoints.py``) build on this."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from judge0_operator.world.judge0.availability import (
    accepts_api_submissions,
    drops_jobs,
    fault_number,
    workers_running,
)
from judge0_operator.world.judge0.catalog import ACCEPTED, IN_QUEUE, INTERNAL_ERROR, PROCESSING
from judge0_operator.world.judge0.nodes import NodeDirectory, NodeView
from judge0_operator.world.judge0.runner import SANDBOX_BROKEN_MESSAGE, CodeRunner, RunResult
from judge0_operator.world.judge0.statistics import Statistics
from judge0_operator.world.judge0.submission import Submission

log = logging.getLogger(__name__)

LOAD_LANGUAGE_ID = 71
_MAX_FATES = 50_000
_SCAN_SECONDS = 0.5  # how often the ticker looks for nodes that acquired a ``load`` fault


@dataclass(slots=True)
class NodeState:
    """One node's Judge0: Redis' queue, the workers' jobs, Postgres' rows and the counters."""

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
    stats: Statistics = field(default_factory=Statistics)


class NodeQueues:
    """Every node's Resque queue, workers and Postgres rows, created lazily; one ticker for all."""

    def __init__(
        self,
        directory: NodeDirectory,
        *,
        workers_per_node: int,
        job_seconds: float,
        load_job_seconds: float,
        max_queue_size: int,
        keep_finished_per_node: int,
        tick_seconds: float,
    ) -> None:
        self._directory = directory
        self._workers_per_node = workers_per_node
        self._job_seconds = job_seconds
        self._load_job_seconds = load_job_seconds
        self._max_queue_size = max_queue_size
        self._keep_finished = keep_finished_per_node
        self._tick = tick_seconds
        self._nodes: dict[str, NodeState] = {}
        self._backlog: set[str] = set()  # nodes with waiting jobs (the ticker retries dispatching)
        self._loaded: set[str] = set()  # nodes with an active ``load`` fault
        self._runner: CodeRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fates: OrderedDict[str, dict[str, Any]] = OrderedDict()  # token → why it has no result
        self._gone: dict[str, dict[str, Any]] = {}  # terminated instance → origin

    # -- queue and workers ---------------------------------------------------------------------

    def _node(self, instance_id: str) -> NodeState:
        node = self._nodes.get(instance_id)
        if node is None:
            node = self._nodes[instance_id] = NodeState()
        return node

    @staticmethod
    def _move(node: NodeState, token: str | None, old: int, new: int) -> None:
        """Change a job's status (``old`` matters for synthetic jobs), keeping the counters in step."""
        submission = node.submissions.get(token) if token is not None else None
        if submission is not None:
            old, submission.status_id = submission.status_id, new
        node.stats.moved(old, new)

    def _enqueue_synthetic(self, node: NodeState, count: int) -> int:
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

    def _dispatch(self, instance_id: str, node: NodeState, view: NodeView | None) -> None:
        """Idle workers take jobs from the head of the queue."""
        if node.queue and drops_jobs(view):
            # Postgres down: IsolateJob retries its find 100 x 0.1 s, then drops the job; the row stays
            # status 1 until ``rake judge0:run_in_queue`` (dropped at once here, not after 10 s).
            self._drop_queue(instance_id, node, "job dropped: the worker could not read it (Postgres down)",
                             {"by": "fault", "action": "db-down"})
        if node.queue and workers_running(view):
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

    async def _work(self, instance_id: str, node: NodeState, token: str | None) -> None:
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

    async def _run(self, instance_id: str, node: NodeState, submission: Submission) -> None:
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

    def _store(self, node: NodeState, submission: Submission, result: RunResult) -> None:
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

    # -- lost submissions: each gets a fate --------------------------------------------------------

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

    def _kill_jobs(self, instance_id: str, node: NodeState, event: str, origin: Mapping[str, Any]) -> int:
        killed = list(node.in_flight.items())
        node.in_flight.clear()
        for task, token in killed:
            task.cancel()
            if token is not None:
                self._fate(instance_id, token, PROCESSING, event, origin)
        return len(killed)

    def _drop_queue(self, instance_id: str, node: NodeState, event: str, origin: Mapping[str, Any]) -> None:
        for token in node.queue:  # synthetic jobs (None) just vanish: their rows stay status 1 in /statistics
            if token is not None and token in node.submissions:
                self._fate(instance_id, token, IN_QUEUE, event, origin)
        node.queue.clear()
        self._backlog.discard(instance_id)

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
        node.load_credit += max(0.0, fault_number(params, "jobsPerSecond", 1.0)) * elapsed
        arrivals = int(node.load_credit)
        if arrivals == 0:
            return
        node.load_credit -= arrivals
        if accepts_api_submissions(view):
            self._enqueue_synthetic(node, arrivals)
            self._dispatch(instance_id, node, view)
        else:
            node.rejected += arrivals
