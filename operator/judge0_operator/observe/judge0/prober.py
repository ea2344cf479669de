"""Async probes of every running Judge0 node, each proving something different (see judge0-api.md).

- ``api``: GET ``/about`` (or the policy's path) — the web process answers (and which version).
- ``workers``: GET ``/workers`` — Redis is up and workers are registered; ``[]`` is *unknown*.
- ``canary``: POST a submission **without** ``wait`` and poll its token — workers pick jobs up and
  the sandbox runs code (``wait=true`` would bypass the workers in v1.13.1).

Each probe runs only when its interval is due for that instance; otherwise the previous result is
returned unchanged. Canaries run as background tasks, so a slow node never holds a pass up: a pass
starts a due canary and reports the latest *completed* one. One shared ``aiohttp.ClientSession``,
a semaphore bounding requests in flight, and the auth token never in any log, detail or error.

This module schedules them and keeps each node's state; the probes themselves are
``probes.py`` (api, workers, statistics) and ``canary.py``, over ``client.py``.
"""

from __future__ import annotations

import asyncio
import string
from collections.abc import Collection, Sequence
from datetime import datetime

from judge0_operator.api.judge0 import Judge0Spec
from judge0_operator.api.policy import Probes
from judge0_operator.decide.model import Ec2Instance, ProbeResult, Signal
from judge0_operator.observe.judge0.canary import run_canary
from judge0_operator.observe.judge0.client import Judge0Http, SessionFactory
from judge0_operator.observe.judge0.node import NodeState
from judge0_operator.observe.judge0.probes import probe_api, probe_statistics, probe_workers

DRAIN_POLL_SECONDS = 1.0  # /workers of a draining node (decide/drain.py POLL_SECONDS)
_TEMPLATE_FIELDS = ("private_ip", "public_ip", "instance_id")


def endpoint_for(template: str, instance: Ec2Instance) -> tuple[str | None, str]:
    """The node's base URL from ``endpointTemplate``, or (None, why) when it cannot be built yet."""
    values = {
        "private_ip": instance.private_ip,
        "public_ip": instance.public_ip,
        "instance_id": instance.instance_id,
    }
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError as exc:
        return None, f"bad endpointTemplate: {exc}"
    unknown = used - set(_TEMPLATE_FIELDS)
    if unknown:
        return None, f"bad endpointTemplate: unknown placeholder {sorted(unknown)[0]}"
    missing = [name for name in sorted(used) if not values[name]]
    if missing:
        return None, f"no {missing[0]} yet"
    return template.format(**{k: v or "" for k, v in values.items()}).rstrip("/"), ""


class Judge0Prober:
    """Probes Judge0 nodes for any number of fleets; remembers per-instance timing and results."""

    def __init__(
        self,
        *,
        concurrency: int = 64,
        session_factory: SessionFactory | None = None,
        canary_poll_seconds: float = 0.25,
    ) -> None:
        self.concurrency = concurrency
        self.canary_poll_seconds = canary_poll_seconds
        self._http = Judge0Http(concurrency=concurrency, session_factory=session_factory)
        self._nodes: dict[str, NodeState] = {}

    # --- public -------------------------------------------------------------------------------
    async def probe_fleet(
        self,
        instances: Sequence[Ec2Instance],
        judge0: Judge0Spec,
        probes: Probes,
        token: str | None,
        now: datetime,
        *,
        draining: Collection[str] = (),
    ) -> dict[str, dict[Signal, ProbeResult]]:
        """Run the due probes of every running instance; return each one's latest results.

        A signal is absent until its probe has completed once (or when the probe is disabled).
        ``draining`` nodes (out of rotation, an action waiting for their work to finish) get their
        ``/workers`` read every ``DRAIN_POLL_SECONDS`` — even with the workers probe off — and no
        canary (it would be work on a node that is being emptied).
        """
        if token:
            self._http.remember_secret(token)
        running = [i for i in instances if i.state == "running"]
        jobs = []
        canaries: list[tuple[NodeState, str]] = []
        for instance in running:
            node = self._nodes.setdefault(instance.instance_id, NodeState(instance.instance_id))
            base, why = endpoint_for(judge0.endpoint_template, instance)
            if base is None:
                for signal in self._enabled(probes):
                    node.results[signal] = ProbeResult(signal=signal, ok=None, observed_at=now, detail=why)
                continue
            if probes.api.enabled and self._due(node, "api", probes.api.interval_seconds, now):
                node.last_run["api"] = now
                jobs.append(probe_api(self._http, node, base, judge0, probes, token, now))
            drained = instance.instance_id in draining
            workers_every = DRAIN_POLL_SECONDS if drained else probes.workers.interval_seconds
            if (probes.workers.enabled or drained) and self._due(node, "workers", workers_every, now):
                node.last_run["workers"] = now
                jobs.append(probe_workers(self._http, node, base, judge0, probes, token, now))
            if probes.disk.enabled and self._due(node, "disk", probes.disk.interval_seconds, now):
                node.last_run["disk"] = now  # GET /statistics: Postgres' size, at the disk probe's pace
                jobs.append(probe_statistics(self._http, node, base, token, float(probes.disk.timeout_seconds)))
            canary_idle = node.canary is None or node.canary.done()
            if (
                probes.canary.enabled
                and not drained
                and canary_idle
                and self._due(node, "canary", probes.canary.interval_seconds, now)
            ):
                node.last_run["canary"] = now
                canaries.append((node, base))
        await asyncio.gather(*jobs)
        enabled = self._enabled(probes)
        latest = {
            i.instance_id: {
                s: r
                for s, r in self._nodes[i.instance_id].results.items()
                if s in enabled or (s == "workers" and i.instance_id in draining)
            }
            for i in running
        }
        # Started last, in the background: they never hold this pass up, and what it reports for
        # the canary is always the latest *completed* one.
        for node, base in canaries:
            node.canary = asyncio.create_task(
                run_canary(self._http, node, base, probes.canary, token, now, poll_seconds=self.canary_poll_seconds),
                name=f"canary-{node.instance_id}",
            )
        return latest

    def database_bytes(self, instance_id: str) -> int | None:
        """The database size the node's GET /statistics last reported (cached there for 10 min)."""
        node = self._nodes.get(instance_id)
        return node.database_bytes if node is not None else None

    def forget(self, instance_id: str) -> None:
        """Drop a terminated instance's state (and cancel its canary)."""
        node = self._nodes.pop(instance_id, None)
        if node is not None and node.canary is not None:
            node.canary.cancel()

    async def wait_for_canaries(self) -> None:
        """Wait for the canaries in flight (tests, shutdown)."""
        tasks = [n.canary for n in self._nodes.values() if n.canary is not None and not n.canary.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        """Cancel canaries and close the HTTP session."""
        tasks = [n.canary for n in self._nodes.values() if n.canary is not None and not n.canary.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._http.close()

    # --- scheduling ---------------------------------------------------------------------------
    @staticmethod
    def _enabled(probes: Probes) -> frozenset[Signal]:
        chosen: list[Signal] = []
        if probes.api.enabled:
            chosen.append("api")
        if probes.workers.enabled:
            chosen.append("workers")
        if probes.canary.enabled:
            chosen.append("canary")
        return frozenset(chosen)

    @staticmethod
    def _due(node: NodeState, signal: Signal, interval_seconds: float, now: datetime) -> bool:
        """Due once the interval has passed, less a little slack so a pass a hair early still runs it."""
        last = node.last_run.get(signal)
        if last is None:
            return True
        slack = min(1.0, interval_seconds * 0.1)
        return (now - last).total_seconds() >= interval_seconds - slack
