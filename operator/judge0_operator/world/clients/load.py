"""Students, simulated: a steady submission load through a front, each submission followed to its
result like a real client, and every submission that never got one explained.

``Clients`` (one per world) owns the fronts (``front.py``) and at most one running ``ClientLoad``:

* every ``1/rate`` seconds a client POSTs ``print(<n>)`` (Python, language 71; no ``wait``)
  through the front, then polls ``GET /submissions/<token>`` every ``pollSeconds`` (1 s) until the
  status is final (> 2) — *delivered*, latency = result seen minus submitted — or ``giveUpSeconds``
  (60 s) pass — *lost*. A POST the front or node refuses is *rejected* (``no-target``,
  ``upstream-failed`` or the node's ``http-<code>``); at most ``maxInFlight`` submissions are
  followed at once (more are *skipped*, counted). Times are real seconds: clients are people.
* **Attribution.** A lost submission is explained by the world, which saw why: the Judge0
  simulator records a *fate* whenever an event leaves a row without a result (a worker killed
  mid-job → status 2 for ever; the queue dropped → status 1; the node terminated → gone) with
  its origin — ``operator`` when the event came through the AWS API (TerminateInstances,
  RebootInstances, StopInstances, SendCommand's ``docker compose restart``), ``fault`` when an
  injected fault did it (instance-terminated, spot interruption, …) — plus the node faults active
  then. A loss without a fate is put on the node's active faults (``fault``), else ``unknown``.
  ``rake judge0:run_in_queue`` clears a status-1 fate: that submission may still be delivered.
* When the load stops (``stop``), submissions still being followed are given ``drainSeconds`` to
  finish; then those with a fate count as lost, the rest as *pending* (not judged).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from judge0_operator.world.clients.front import ClientFront, TargetError, parse_target

if TYPE_CHECKING:
    from judge0_operator.world.world import World

PYTHON = 71
MAX_RECORDS = 20_000
MAX_LOSSES_SHOWN = 200


@dataclass
class LoadSettings:
    target: str
    rate: float = 1.0  # submissions per second
    poll_seconds: float = 1.0
    give_up_seconds: float = 60.0
    max_in_flight: int = 500
    timeout_seconds: float = 10.0  # per HTTP request

    def __post_init__(self) -> None:
        parse_target(self.target)
        if not 0 < self.rate <= 200:
            raise TargetError("rate must be a number of submissions per second in (0, 200]")
        if not 0.05 <= self.poll_seconds <= 60:
            raise TargetError("pollSeconds must be from 0.05 to 60")
        if not 1 <= self.give_up_seconds <= 3600:
            raise TargetError("giveUpSeconds must be from 1 to 3600")
        if not 1 <= self.max_in_flight <= 10_000:
            raise TargetError("maxInFlight must be from 1 to 10000")


@dataclass
class SubmissionRecord:
    """One student's submission, from POST to result (or to giving up)."""

    n: int
    submitted_at: float  # Unix seconds
    outcome: str = "pending"  # pending | delivered | rejected | lost
    token: str | None = None
    instance_id: str | None = None  # the node that accepted it
    http_status: int | None = None
    rejected: str | None = None  # no-target | upstream-failed | http-<code> | error
    status_id: int | None = None  # latest status seen
    correct: bool | None = None  # delivered with the expected stdout
    latency_seconds: float | None = None
    polls: int = 0
    cause: dict[str, Any] | None = None  # why it was lost

    def to_dict(self) -> dict[str, Any]:
        return {_camel(k): v for k, v in asdict(self).items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


class ClientLoad:
    """One steady load against one front (see the module docstring)."""

    def __init__(self, clients: Clients, settings: LoadSettings) -> None:
        self.clients = clients
        self.settings = settings
        self.records: deque[SubmissionRecord] = deque(maxlen=MAX_RECORDS)
        self.counts: Counter[str] = Counter()
        self.rejections: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.losses: list[SubmissionRecord] = []
        self.started_at = time.time()
        self.stopped_at: float | None = None
        self.saw_targets = False
        self._followers: set[asyncio.Task[None]] = set()
        self._generator: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._n = 0

    @property
    def running(self) -> bool:
        return self._generator is not None and not self._generator.done()

    def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds))
        self._generator = asyncio.get_running_loop().create_task(self._generate(), name="client-load")

    async def stop(self, drain_seconds: float = 0.0) -> None:
        """Stop submitting; follow what is in flight for up to ``drain_seconds``; then judge the rest."""
        if self._generator is not None:
            self._generator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._generator
        if self._followers and drain_seconds > 0:
            await asyncio.wait(set(self._followers), timeout=drain_seconds)
        for task in list(self._followers):
            task.cancel()
        await asyncio.gather(*self._followers, return_exceptions=True)
        for record in self.records:
            if record.outcome == "pending" and record.token is not None:
                cause = self.clients.fate(record)
                if cause is not None:
                    self._lose(record, cause)
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.stopped_at is None:
            self.stopped_at = time.time()

    # ---- the clients ------------------------------------------------------------------------------
    async def _generate(self) -> None:
        interval = 1.0 / self.settings.rate
        next_at = time.monotonic()
        while True:
            next_at += interval
            if len(self._followers) >= self.settings.max_in_flight:
                self.counts["skipped"] += 1
            else:
                self._n += 1
                task = asyncio.get_running_loop().create_task(self._submission(self._n))
                self._followers.add(task)
                task.add_done_callback(self._followers.discard)
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    def _headers(self) -> dict[str, str]:
        token = self.clients.world.config.auth_token
        return {"X-Auth-Token": token} if token else {}

    async def _submission(self, n: int) -> None:
        assert self._session is not None
        record = SubmissionRecord(n=n, submitted_at=time.time())
        self.records.append(record)
        self.counts["submitted"] += 1
        base = self.clients.front.front_url(self.settings.target)
        started = time.monotonic()
        try:
            async with self._session.post(
                f"{base}/submissions",
                params={"base64_encoded": "false"},
                json={"source_code": f"print({n})", "language_id": PYTHON},
                headers=self._headers(),
            ) as resp:
                record.http_status = resp.status
                front = resp.headers.get("X-World-Front")
                record.instance_id = resp.headers.get("X-World-Target")
                body = await resp.json(content_type=None) if resp.status == 201 else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            self._reject(record, "error")
            return
        if front != "no-target":
            self.saw_targets = True
        if resp.status != 201 or not isinstance(body, dict) or not isinstance(body.get("token"), str):
            self._reject(record, front or f"http-{resp.status}")
            return
        record.token = body["token"]
        self.counts["accepted"] += 1
        await self._follow(record, base, started, f"{n}\n")

    async def _follow(self, record: SubmissionRecord, base: str, started: float, expected: str) -> None:
        assert self._session is not None and record.token is not None
        url = f"{base}/submissions/{record.token}"
        deadline = started + self.settings.give_up_seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(self.settings.poll_seconds)
            record.polls += 1
            try:
                async with self._session.get(
                    url, params={"base64_encoded": "false", "fields": "status,stdout"}, headers=self._headers()
                ) as resp:
                    if resp.status != 200:
                        continue  # node down or restarting (502), Postgres down (500): ask again
                    body = await resp.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError):
                continue
            status = (body.get("status") or {}).get("id") if isinstance(body, dict) else None
            if isinstance(status, int):
                record.status_id = status
                if status > 2:
                    record.outcome = "delivered"
                    record.correct = status == 3 and body.get("stdout") == expected
                    record.latency_seconds = round(time.monotonic() - started, 3)
                    self.latencies.append(record.latency_seconds)
                    self.counts["delivered"] += 1
                    return
        self._lose(record, self.clients.fate(record) or self.clients.blame(record))

    def _reject(self, record: SubmissionRecord, reason: str) -> None:
        record.outcome, record.rejected = "rejected", reason
        self.counts["rejected"] += 1
        self.rejections[reason] += 1

    def _lose(self, record: SubmissionRecord, cause: dict[str, Any]) -> None:
        record.outcome, record.cause = "lost", cause
        self.counts["lost"] += 1
        self.losses.append(record)

    # ---- what it measured -------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        by_cause = Counter(str((r.cause or {}).get("by", "unknown")) for r in self.losses)
        refused = sum(n for k, n in self.rejections.items() if k in ("no-target", "upstream-failed", "error"))
        delivered = [r for r in self.records if r.outcome == "delivered"]
        return {
            "target": self.settings.target,
            "rate": self.settings.rate,
            "running": self.running,
            "startedAt": self.started_at,
            "stoppedAt": self.stopped_at,
            "frontHadTargets": self.saw_targets,
            "submitted": self.counts["submitted"],
            "accepted": self.counts["accepted"],
            "delivered": self.counts["delivered"],
            "deliveredWrong": sum(1 for r in delivered if not r.correct),
            "deliveredByStatus": dict(Counter(str(r.status_id) for r in delivered)),
            "rejected": {
                "total": self.counts["rejected"],
                "5xx": sum(n for k, n in self.rejections.items() if k.startswith("http-5")),
                "refused": refused,
                "byReason": dict(self.rejections),
            },
            "lost": {
                "total": self.counts["lost"],
                "operator": by_cause["operator"],
                "fault": by_cause["fault"],
                "unknown": by_cause["unknown"],
            },
            "pending": sum(1 for r in self.records if r.outcome == "pending"),
            "skipped": self.counts["skipped"],
            "latencySeconds": {
                "p50": _percentile(self.latencies, 50),
                "p99": _percentile(self.latencies, 99),
                "max": max(self.latencies) if self.latencies else None,
            },
            "losses": [r.to_dict() for r in self.losses[:MAX_LOSSES_SHOWN]],
        }


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


@dataclass
class Clients:
    """The world's client side: the fronts and the one load that may run."""

    world: World
    front: ClientFront = field(init=False)
    load: ClientLoad | None = None

    def __post_init__(self) -> None:
        self.front = ClientFront(self.world, self._node_url)

    def _node_url(self, instance_id: str) -> str:
        return str(self.world.judge0.endpoint_template.format(instance_id=instance_id))

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        return await self.front.start(host, port)

    async def stop(self) -> None:
        if self.load is not None:
            await self.load.stop()
        await self.front.stop()

    async def reset(self) -> None:
        if self.load is not None:
            await self.load.stop()
        self.load = None
        self.front.reset()

    async def start_load(self, settings: LoadSettings) -> ClientLoad:
        """Start a load (a running one is stopped first, without draining)."""
        if self.load is not None:
            await self.load.stop()
        self.load = ClientLoad(self, settings)
        self.load.start()
        return self.load

    async def stop_load(self, drain_seconds: float = 0.0) -> ClientLoad | None:
        if self.load is not None:
            await self.load.stop(drain_seconds)
        return self.load

    # ---- attribution ------------------------------------------------------------------------------
    def fate(self, record: SubmissionRecord) -> dict[str, Any] | None:
        """The Judge0 simulator's record of why this submission will not get a result."""
        fate_of = getattr(self.world.judge0, "fate_of", None)
        if fate_of is None or record.token is None:
            return None
        fate: dict[str, Any] | None = fate_of(record.token, record.instance_id)
        return fate

    def blame(self, record: SubmissionRecord) -> dict[str, Any]:
        """No fate: the node's active faults explain it (the node cannot answer or work), else unknown."""
        instance_id = record.instance_id
        view = self.world.node(instance_id) if instance_id else None
        ec2 = self.world.ec2.records.get(instance_id) if instance_id else None
        names = sorted({f.name for f in self.world.faults.on_instance(ec2.instance_id, ec2.zone)}) if ec2 else []
        if names:
            return {
                "by": "fault",
                "action": f"fault {', '.join(names)}",
                "event": f"no result in time (last status {record.status_id})",
                "faultsActive": names,
                "instanceId": instance_id,
            }
        if view is not None and not view.serving:
            return {
                "by": "unknown",
                "action": "node not serving",
                "event": f"the node did not answer (last status {record.status_id})",
                "instanceId": instance_id,
            }
        return {
            "by": "unknown",
            "action": "none seen",
            "event": f"no result in time (last status {record.status_id})",
            "instanceId": instance_id,
        }
