"""What the world calls on the simulator when a host's life changes — services restarted, host
down or gone, ``rake judge0:run_in_queue`` — with v1.13.1's queue semantics, plus the counters
and fates it reads back for reports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from judge0_operator.world.judge0.catalog import IN_QUEUE, PROCESSING
from judge0_operator.world.judge0.queues import NodeQueues


class WorldHooks(NodeQueues):
    """The world's hooks: plain methods, called on the event loop the simulator was started on."""

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
