"""The Judge0 simulator shows each failure of /work/shared/judge0-failures.md the way real nodes do.

One test per row of that table (what the API shows: status codes and bodies), over real HTTP on
loopback with a dict-backed ``NodeDirectory`` (the simulator's contract, not a mock). These are
the shapes the operator's diagnosis reads, so a drift here is a diagnosis tuned to a wrong world.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import pytest

from judge0_operator.world.aws.disk import BASE_PERCENT, DISK_BYTES
from judge0_operator.world.judge0.nodes import NodeView
from judge0_operator.world.judge0.server import Judge0Simulator

pytestmark = pytest.mark.timeout(60)


class Directory:
    def __init__(self) -> None:
        self.views: dict[str, NodeView] = {}

    def node(self, instance_id: str) -> NodeView | None:
        return self.views.get(instance_id)

    def up(self, instance_id: str, faults: Mapping[str, Mapping[str, Any]] | None = None) -> str:
        self.views[instance_id] = NodeView(serving=True, faults=dict(faults or {}))
        return instance_id


@pytest.fixture
async def node() -> AsyncIterator[Callable[..., Awaitable[tuple[Judge0Simulator, Directory, str, str]]]]:
    started: list[Judge0Simulator] = []

    async def start(faults: Mapping[str, Mapping[str, Any]] | None = None, **options: Any):
        directory = Directory()
        sim = Judge0Simulator(directory, **{"job_seconds": 0.02, "load_job_seconds": 0.05, **options})
        await sim.start()
        started.append(sim)
        instance = directory.up(f"i-{uuid.uuid4().hex[:17]}", faults)
        return sim, directory, instance, sim.endpoint_template.format(instance_id=instance)

    yield start
    for sim in started:
        await sim.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, bytes, Any]:
    """(status, raw body, parsed JSON or None)."""
    async with http.request(method, url, **kwargs) as response:
        raw = await response.read()
        parsed = await response.json() if response.content_type == "application/json" else None
        return response.status, raw, parsed


async def submit(http: aiohttp.ClientSession, base: str, source: str = "print(42)") -> tuple[int, Any]:
    status, _, body = await call(http, "POST", f"{base}/submissions", json={"source_code": source, "language_id": 71})
    return status, body


async def result(http: aiohttp.ClientSession, base: str, token: str) -> tuple[int, Any]:
    status, _, body = await call(http, "GET", f"{base}/submissions/{token}")
    return status, body


async def eventually(check: Callable[[], Awaitable[bool]], deadline: float = 5.0) -> None:
    end = time.monotonic() + deadline
    while not await check():
        assert time.monotonic() < end, "not reached before the deadline"
        await asyncio.sleep(0.02)


async def test_row1_broken_sandbox_is_status_13_with_the_isolate_message_while_the_api_is_fine(node, http):
    _, _, _, base = await node({"sandbox-broken": {}})
    status, created = await submit(http, base)
    assert status == 201

    async def finished() -> bool:
        return (await result(http, base, created["token"]))[1]["status"]["id"] > 2

    await eventually(finished)
    _, final = await result(http, base, created["token"])
    assert final["status"] == {"id": 13, "description": "Internal Error"}
    assert "rb_sysopen" in final["message"] and "/box/" in final["message"]
    assert (await call(http, "GET", f"{base}/about"))[0] == 200
    assert (await call(http, "GET", f"{base}/workers"))[0] == 200


async def test_row2_dead_workers_leave_status_1_grow_the_queue_then_answer_queue_full(node, http):
    _, _, _, base = await node({"workers-dead": {}}, max_queue_size=3)
    tokens = [(await submit(http, base))[1]["token"] for _ in range(3)]
    assert [(await result(http, base, t))[1]["status"]["id"] for t in tokens] == [1, 1, 1]
    _, _, workers = await call(http, "GET", f"{base}/workers")
    assert workers[0]["size"] == 3 and workers[0]["available"] == 0
    assert await submit(http, base) == (503, {"error": "queue is full"})


async def test_row4_redis_down_fails_post_and_workers_with_500_but_results_and_about_answer(node, http):
    _, directory, instance, base = await node()
    _, created = await submit(http, base)
    directory.up(instance, {"redis-down": {}})
    assert (await submit(http, base))[0] == 500
    assert (await call(http, "GET", f"{base}/workers"))[0] == 500
    assert (await result(http, base, created["token"]))[0] == 200
    assert (await call(http, "GET", f"{base}/about"))[0] == 200


async def test_row6_db_down_drops_queued_jobs_and_run_in_queue_completes_them_once_it_is_back(node, http):
    sim, directory, instance, base = await node(workers_per_node=1, load_job_seconds=0.3)
    sim.submit_load(instance, 3)  # the one worker is busy: what comes next waits in the queue
    queued = [(await submit(http, base))[1]["token"] for _ in range(2)]
    directory.up(instance, {"db-down": {}})
    assert (await submit(http, base))[0] == 500
    assert (await result(http, base, queued[0]))[0] == 500
    assert (await call(http, "GET", f"{base}/workers"))[0] == 200
    assert (await call(http, "GET", f"{base}/about"))[0] == 200

    await eventually(lambda: _true(sim.node_stats(instance)["queue_size"] == 0))
    directory.up(instance)  # Postgres back: the dropped jobs are not re-run by themselves
    await asyncio.sleep(0.4)
    assert [(await result(http, base, t))[1]["status"]["id"] for t in queued] == [1, 1]
    assert sim.fate_of(queued[0])["event"].startswith("job dropped")

    assert sim.run_in_queue(instance) == 2

    async def done() -> bool:
        return [(await result(http, base, t))[1]["status"]["id"] for t in queued] == [3, 3]

    await eventually(done)


async def test_row7_queue_full_and_maintenance_are_503_with_distinct_bodies(node, http):
    _, _, _, full = await node({"queue-full": {}})
    assert await submit(http, full) == (503, {"error": "queue is full"})
    _, _, _, maintenance = await node({"maintenance": {}})
    assert await submit(http, maintenance) == (503, {"error": "Judge0 is currently in maintenance."})


async def test_row8_a_filling_disk_shows_in_statistics_database_size(node, http):
    _, _, _, plain = await node()
    _, _, _, filling = await node({"disk-filling": {"usedPercent": 90.0, "danglingImagesPercent": 10.0}})
    _, _, normal = await call(http, "GET", f"{plain}/statistics")
    _, _, full = await call(http, "GET", f"{filling}/statistics")
    grown = full["database"]["size_in_bytes"] - normal["database"]["size_in_bytes"]
    assert grown == int(DISK_BYTES * (90.0 - BASE_PERCENT - 10.0) / 100)


@pytest.mark.parametrize("status", [401, 403])
async def test_row9_rejected_auth_is_401_or_403_with_an_empty_body_on_every_filtered_route(node, http, status):
    _, _, _, base = await node({"auth-rejected": {"status": status}})
    for method, path in (("GET", "/about"), ("GET", "/workers"), ("GET", "/statistics"), ("POST", "/submissions")):
        code, raw, _ = await call(http, method, base + path, json={} if method == "POST" else None)
        assert (code, raw) == (status, b""), path
    assert (await call(http, "GET", f"{base}/"))[0] == 200  # GET / passes no filter at all


async def test_row10_workers_is_an_empty_list_on_a_healthy_node_before_its_first_job(node, http):
    _, _, _, base = await node()
    assert (await call(http, "GET", f"{base}/workers"))[2] == []


async def _true(value: bool) -> bool:
    return value
