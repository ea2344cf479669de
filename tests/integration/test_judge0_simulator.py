"""The Judge0 node simulator over real HTTP on loopback, driven the way the operator's prober drives it.

The simulator's input is a ``NodeDirectory``; here a dict-backed one the test controls (that is the
contract of ``world/judge0/nodes.py``, not a mock of the code under test).
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import pytest

from judge0_operator.world.judge0.nodes import NodeView
from judge0_operator.world.judge0.server import Judge0Simulator

pytestmark = pytest.mark.timeout(60)

SANDBOX_MESSAGE = "No such file or directory @ rb_sysopen - /box/script.py"
DEFAULT_FIELDS = {"token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status"}


class Directory:
    """What the world would tell the simulator: per instance, serving or not and the active faults."""

    def __init__(self) -> None:
        self.views: dict[str, NodeView] = {}

    def node(self, instance_id: str) -> NodeView | None:
        return self.views.get(instance_id)

    def up(self, instance_id: str, faults: Mapping[str, Mapping[str, Any]] | None = None) -> str:
        self.views[instance_id] = NodeView(serving=True, faults=dict(faults or {}))
        return instance_id

    def stopped(self, instance_id: str) -> str:
        self.views[instance_id] = NodeView(serving=False)
        return instance_id


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as client:
        yield client


@pytest.fixture
async def start_sim() -> AsyncIterator[Callable[..., Awaitable[tuple[Judge0Simulator, Directory]]]]:
    started: list[Judge0Simulator] = []

    async def start(**options: Any) -> tuple[Judge0Simulator, Directory]:
        directory = Directory()
        options = {"job_seconds": 0.02, "load_job_seconds": 0.02, "run_timeout_seconds": 3.0, **options}
        sim = Judge0Simulator(directory, **options)
        await sim.start()
        started.append(sim)
        return sim, directory

    yield start
    for sim in started:
        await sim.stop()


def node_id() -> str:
    return f"i-{uuid.uuid4().hex[:17]}"


async def call(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, str, Any]:
    """(status, content type, parsed JSON or raw text)."""
    async with session.request(method, url, **kwargs) as response:
        text = await response.text()
        body: Any = text
        if response.content_type == "application/json":
            body = await response.json()
        return response.status, response.content_type, body


async def submit(session: aiohttp.ClientSession, base: str, source: str, *, query: str = "",
                 **fields: Any) -> tuple[int, Any]:
    status, _, body = await call(session, "POST", f"{base}/submissions{query}",
                                 json={"source_code": source, "language_id": 71, **fields})
    return status, body


async def wait_for_submission(session: aiohttp.ClientSession, base: str, token: str, *,
                              until: Callable[[dict[str, Any]], bool] = lambda s: s["status"]["id"] > 2,
                              deadline: float = 10.0, query: str = "") -> tuple[dict[str, Any], list[int]]:
    """Poll like the canary prober; returns the last answer and every status id seen on the way."""
    seen: list[int] = []
    end = time.monotonic() + deadline
    while True:
        status, _, body = await call(session, "GET", f"{base}/submissions/{token}{query}")
        assert status == 200, body
        if not seen or seen[-1] != body["status"]["id"]:
            seen.append(body["status"]["id"])
        if until(body):
            return body, seen
        assert time.monotonic() < end, f"submission {token} stuck: {body}"
        await asyncio.sleep(0.02)


async def poll(check: Callable[[], Awaitable[bool]], deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while not await check():
        assert time.monotonic() < end, "condition not reached before the deadline"
        await asyncio.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# Information endpoints
# ---------------------------------------------------------------------------------------------

async def test_information_endpoints_have_the_v1_13_1_shapes(start_sim, session):
    sim, directory = await start_sim(workers_per_node=6, max_queue_size=42)
    base = sim.endpoint_template.format(instance_id=directory.up(node_id()))
    assert sim.endpoint_template.startswith("http://127.0.0.1:")

    assert await call(session, "GET", f"{base}/") == (200, "application/octet-stream", "")
    status, ctype, text = await call(session, "GET", f"{base}/version")
    assert (status, ctype, text) == (200, "text/plain", "1.13.1")

    status, _, about = await call(session, "GET", f"{base}/about")
    assert status == 200
    assert about["version"] == "1.13.1"
    assert set(about) == {"version", "homepage", "source_code", "maintainer"}

    _, _, config = await call(session, "GET", f"{base}/config_info")
    assert config["maintenance_mode"] is False and config["enable_wait_result"] is True
    assert config["max_queue_size"] == 42
    assert config["cpu_time_limit"] == 5.0 and config["wall_time_limit"] == 10.0
    assert config["memory_limit"] == 128000 and config["max_submission_batch_size"] == 20
    assert config["enable_batched_submissions"] is True and config["submission_cache_duration"] == 1.0

    _, _, system = await call(session, "GET", f"{base}/system_info")
    assert system["CPU(s)"] == "3" and "Mem" in system  # COUNT = 2 x nproc

    _, _, statuses = await call(session, "GET", f"{base}/statuses")
    assert [s["id"] for s in statuses] == list(range(1, 15))
    assert statuses[12] == {"id": 13, "description": "Internal Error"}

    _, _, languages = await call(session, "GET", f"{base}/languages")
    assert {"id": 71, "name": "Python (3.8.1)"} in languages
    assert all(set(language) == {"id", "name"} for language in languages)
    assert [x["name"] for x in languages] == sorted(x["name"] for x in languages)
    status, _, python = await call(session, "GET", f"{base}/languages/71")
    assert status == 200
    assert python["source_file"] == "script.py" and python["is_archived"] is False
    assert set(python) == {"id", "name", "is_archived", "source_file", "compile_cmd", "run_cmd"}
    assert (await call(session, "GET", f"{base}/languages/9999"))[0] == 404
    assert (await call(session, "GET", f"{base}/no_such_route"))[0] == 404

    _, _, statistics = await call(session, "GET", f"{base}/statistics")
    assert statistics["submissions"]["total"] == 0 and len(statistics["submissions"]["last_30_days"]) == 30
    assert {"created_at", "cached_until", "languages", "statuses", "database"} <= set(statistics)


# ---------------------------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------------------------

async def test_authentication_by_header_or_query_with_several_tokens(start_sim, session):
    sim, directory = await start_sim(auth_token="alpha beta")
    base = sim.endpoint_template.format(instance_id=directory.up(node_id()))

    assert await call(session, "GET", f"{base}/about") == (401, "application/octet-stream", "")
    assert (await call(session, "GET", f"{base}/about", headers={"X-Auth-Token": "gamma"}))[0] == 401
    assert (await call(session, "GET", f"{base}/about", headers={"X-Auth-Token": "alpha beta"}))[0] == 401
    assert (await call(session, "GET", f"{base}/about", headers={"X-Auth-Token": "alpha"}))[0] == 200
    assert (await call(session, "GET", f"{base}/workers", headers={"X-Auth-Token": "beta"}))[0] == 200
    assert (await call(session, "GET", f"{base}/version?X-Auth-Token=beta"))[0] == 200
    status, body = await submit(session, base, "print(1)", query="?X-Auth-Token=alpha")
    assert status == 201 and "token" in body
    # GET / has no filters at all; unknown routes are 404 before any filter runs.
    assert (await call(session, "GET", f"{base}/"))[0] == 200
    assert (await call(session, "GET", f"{base}/nope"))[0] == 404


async def test_authorization_only_endpoints_always_answer_403(start_sim, session):
    sim, directory = await start_sim(auth_token="secret")
    base = sim.endpoint_template.format(instance_id=directory.up(node_id()))
    token = {"X-Auth-Token": "secret"}
    for method, path in [("GET", "/submissions"), ("DELETE", "/submissions/abc"), ("POST", "/authorize")]:
        answer = await call(session, method, base + path, headers=token)
        assert answer == (403, "application/octet-stream", "")
        assert (await call(session, method, base + path))[0] == 401  # authentication comes first
    assert (await call(session, "POST", f"{base}/authenticate", headers=token))[0] == 200


# ---------------------------------------------------------------------------------------------
# Workers, queue and the canary
# ---------------------------------------------------------------------------------------------

async def test_workers_is_empty_until_the_first_job_then_reports_the_queue(start_sim, session):
    sim, directory = await start_sim(workers_per_node=3)
    base = sim.endpoint_template.format(instance_id=directory.up(node_id()))
    assert await call(session, "GET", f"{base}/workers") == (200, "application/json", [])

    status, body = await submit(session, base, "print(42)")
    assert status == 201
    await wait_for_submission(session, base, body["token"])
    _, _, workers = await call(session, "GET", f"{base}/workers")
    assert workers == [{"queue": "1.13.1", "size": 0, "available": 3, "idle": 3, "working": 0,
                        "paused": 0, "failed": 0}]


async def test_canary_without_wait_goes_in_queue_then_processing_then_accepted(start_sim, session):
    sim, directory = await start_sim()
    instance = directory.up(node_id(), {"workers-dead": {}})
    base = sim.endpoint_template.format(instance_id=instance)

    status, body = await submit(session, base, "print(42)", stdin="")
    assert status == 201 and set(body) == {"token"}
    token = body["token"]
    queued, _ = await wait_for_submission(session, base, token, until=lambda s: True)
    assert queued["status"] == {"id": 1, "description": "In Queue"}
    assert queued["stdout"] is None and queued["time"] is None

    directory.up(instance)  # workers come back
    final, seen = await wait_for_submission(session, base, token)
    assert seen[0] == 1 and seen[-1] == 3 and seen == sorted(seen)
    assert set(final) == DEFAULT_FIELDS
    assert final["token"] == token and final["stdout"] == "42\n"
    assert final["status"] == {"id": 3, "description": "Accepted"}
    assert final["stderr"] is None and final["compile_output"] is None and final["message"] is None
    assert isinstance(final["time"], str) and float(final["time"]) >= 0
    assert isinstance(final["memory"], int) and final["memory"] > 0

    full, _ = await wait_for_submission(session, base, token, query="?fields=*")
    assert full["language"] == {"id": 71, "name": "Python (3.8.1)"}
    assert isinstance(full["wall_time"], str) and full["exit_code"] == 0
    assert full["source_code"] == "print(42)" and full["finished_at"].endswith("Z")
    fields = "stdout,status_id,language_id"
    _, _, picked = await call(session, "GET", f"{base}/submissions/{token}?fields={fields}")
    assert picked == {"language_id": 71, "stdout": "42\n", "status_id": 3}


async def test_results_of_real_runs(start_sim, session):
    sim, directory = await start_sim(run_timeout_seconds=1.0)
    base = sim.endpoint_template.format(instance_id=directory.up(node_id()))
    cases = {
        "echo": ("print(input()[::-1])", {"stdin": "abc\n", "expected_output": "cba"}),
        "wrong": ("print(41)", {"expected_output": "42"}),
        "crash": ("x = 1\n1 / 0\n", {}),
        "exit": ("import sys\nsys.exit(3)", {}),
        "loop": ("while True:\n    pass\n", {}),
        "escape": ("import socket\nsocket.create_connection(('10.0.0.7', 2358), timeout=1)", {}),
    }
    tokens = {}
    for name, (source, extra) in cases.items():
        status, body = await submit(session, base, source, **extra)
        assert status == 201, body
        tokens[name] = body["token"]
    results = {name: (await wait_for_submission(session, base, token))[0] for name, token in tokens.items()}

    assert results["echo"]["status"]["id"] == 3 and results["echo"]["stdout"] == "cba\n"
    assert results["wrong"]["status"] == {"id": 4, "description": "Wrong Answer"}
    assert results["crash"]["status"] == {"id": 11, "description": "Runtime Error (NZEC)"}
    assert 'File "script.py", line 2' in results["crash"]["stderr"]
    assert "ZeroDivisionError" in results["crash"]["stderr"]
    assert results["crash"]["message"] == "Exited with error status 1"
    assert results["exit"]["status"]["id"] == 11
    assert results["exit"]["message"] == "Exited with error status 3"
    assert results["loop"]["status"] == {"id": 5, "description": "Time Limit Exceeded"}
    # User code runs under the loopback-only guard too.
    assert results["escape"]["status"]["id"] == 11 and "loopback-only guard" in results["escape"]["stderr"]


async def test_wait_true_bypasses_dead_workers_while_a_canary_stays_in_queue(start_sim, session):
    sim, directory = await start_sim()
    instance = directory.up(node_id(), {"workers-dead": {}})
    base = sim.endpoint_template.format(instance_id=instance)

    status, queued = await submit(session, base, "print(42)")
    assert status == 201
    status, waited = await submit(session, base, "print(42)", query="?wait=true")
    assert status == 201
    assert set(waited) == DEFAULT_FIELDS and waited["status"]["id"] == 3 and waited["stdout"] == "42\n"

    still, _ = await wait_for_submission(session, base, queued["token"], until=lambda s: True)
    assert still["status"]["id"] == 1
    _, _, workers = await call(session, "GET", f"{base}/workers")
    assert workers[0]["size"] == 1 and workers[0]["available"] == 0 and workers[0]["idle"] == 0


async def test_base64_encoded_round_trip(start_sim, session):
    sim, directory = await start_sim()
    base = sim.endpoint_template.format(instance_id=directory.up(node_id()))
    source = ("import sys\nline = sys.stdin.readline()\nprint(line.strip() * 30)\n"
              "print('é', file=sys.stderr)\n")
    status, _, body = await call(session, "POST", f"{base}/submissions?base64_encoded=true&wait=true", json={
        "source_code": base64.b64encode(source.encode()).decode(), "language_id": 71,
        "stdin": base64.b64encode(b"ab\n").decode(),
    })
    assert status == 201 and body["status"]["id"] == 3
    assert base64.b64decode(body["stdout"]) == b"ab" * 30 + b"\n"
    assert all(len(line) <= 60 for line in body["stdout"].splitlines())  # Ruby's encode64 wraps at 60
    assert body["stdout"].endswith("\n") and body["stdout"].count("\n") == 2
    assert base64.b64decode(body["stderr"]).decode() == "é\n"

    _, _, plain = await call(session, "GET", f"{base}/submissions/{body['token']}")
    assert plain["stdout"] == "ab" * 30 + "\n" and plain["stderr"] == "é\n"
    _, _, encoded = await call(session, "GET", f"{base}/submissions/{body['token']}?base64_encoded=true"
                                               "&fields=source_code,message")
    assert base64.b64decode(encoded["source_code"]).decode() == source and encoded["message"] is None


# ---------------------------------------------------------------------------------------------
# POST /submissions error order
# ---------------------------------------------------------------------------------------------

async def test_submission_errors_in_judge0_order(start_sim, session):
    sim, directory = await start_sim(max_queue_size=2, enable_wait_result=False)
    instance = directory.up(node_id(), {"workers-dead": {}})
    base = sim.endpoint_template.format(instance_id=instance)

    status, _, body = await call(session, "POST", f"{base}/submissions", json={})
    assert status == 422
    assert body == {"source_code": ["can't be blank"],
                    "language_id": ["can't be blank", "language with id  doesn't exist"]}
    status, _, body = await call(session, "POST", f"{base}/submissions",
                                 json={"source_code": "print(1)", "language_id": 4242, "cpu_time_limit": 99})
    assert status == 422
    assert body == {"cpu_time_limit": ["must be less than or equal to 15.0"],
                    "language_id": ["language with id 4242 doesn't exist"]}
    status, body = await submit(session, base, "print(1)", query="?fields=stdout,foo,bar")
    assert (status, body) == (400, {"error": "invalid fields: [foo, bar]"})
    # wait not allowed (400) is checked before the queue.
    assert await submit(session, base, "print(1)", query="?wait=true") == (400, {"error": "wait not allowed"})

    for _ in range(2):
        assert (await submit(session, base, "print(1)"))[0] == 201
    full = (503, {"error": "queue is full"})
    assert await submit(session, base, "print(1)") == full
    # The queue check comes before fields and model validation ...
    assert await submit(session, base, "", query="?fields=nope") == full
    # ... and after "wait not allowed" and maintenance.
    assert await submit(session, base, "print(1)", query="?wait=true") == (400, {"error": "wait not allowed"})
    directory.up(instance, {"workers-dead": {}, "maintenance": {}})
    assert await submit(session, base, "print(1)") == (503, {"error": "Judge0 is currently in maintenance."})


# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------

async def test_unreachable_nodes_drop_the_connection(start_sim, session):
    sim, directory = await start_sim()
    stopped = sim.endpoint_template.format(instance_id=directory.stopped(node_id()))
    down = sim.endpoint_template.format(instance_id=directory.up(node_id(), {"judge0-down": {}}))
    unknown = sim.endpoint_template.format(instance_id=node_id())
    healthy = sim.endpoint_template.format(instance_id=directory.up(node_id()))
    for base in (stopped, down, unknown):
        for path in ("/", "/about", "/workers"):
            with pytest.raises(aiohttp.ClientConnectionError):
                await call(session, "GET", base + path)
        with pytest.raises(aiohttp.ClientConnectionError):
            await submit(session, base, "print(1)")
    assert (await call(session, "GET", f"{healthy}/about"))[0] == 200


async def test_flapping_alternates_between_down_and_up(start_sim, session):
    sim, directory = await start_sim()
    flapping = directory.up(node_id(), {"flapping": {"periodSeconds": 0.3}})
    base = sim.endpoint_template.format(instance_id=flapping)
    outcomes: list[str] = []

    async def both_seen() -> bool:
        try:
            status, _, _ = await call(session, "GET", f"{base}/about")
            outcomes.append(f"http {status}")
        except aiohttp.ClientConnectionError:
            outcomes.append("dropped")
        return "dropped" in outcomes and "http 200" in outcomes

    await poll(both_seen, deadline=5.0)
    assert set(outcomes) == {"dropped", "http 200"}


async def test_api_500_slow_and_maintenance(start_sim, session):
    sim, directory = await start_sim()
    broken = sim.endpoint_template.format(instance_id=directory.up(node_id(), {"api-500": {}}))
    for path in ("/about", "/version", "/workers", "/languages"):
        status, ctype, body = await call(session, "GET", broken + path)
        assert (status, ctype) == (500, "application/json") and body["error"] == "Internal Server Error"
    assert (await call(session, "GET", f"{broken}/"))[0] == 200

    slow_node = directory.up(node_id(), {"judge0-slow": {"delaySeconds": 0.4}})
    slow = sim.endpoint_template.format(instance_id=slow_node)
    started = time.monotonic()
    assert (await call(session, "GET", f"{slow}/about"))[0] == 200
    assert time.monotonic() - started >= 0.4

    maintenance = sim.endpoint_template.format(instance_id=directory.up(node_id(), {"maintenance": {}}))
    _, _, config = await call(session, "GET", f"{maintenance}/config_info")
    assert config["maintenance_mode"] is True
    in_maintenance = (503, {"error": "Judge0 is currently in maintenance."})
    assert await submit(session, maintenance, "print(1)") == in_maintenance
    assert (await call(session, "GET", f"{maintenance}/about"))[0] == 200


async def test_sandbox_broken_answers_but_every_run_is_an_internal_error(start_sim, session):
    sim, directory = await start_sim()
    base = sim.endpoint_template.format(instance_id=directory.up(node_id(), {"sandbox-broken": {}}))
    _, body = await submit(session, base, "print(42)")
    final, _ = await wait_for_submission(session, base, body["token"])
    assert final["status"] == {"id": 13, "description": "Internal Error"}
    assert final["message"] == SANDBOX_MESSAGE and final["stdout"] is None
    _, waited = await submit(session, base, "print(42)", query="?wait=true")
    assert waited["status"]["id"] == 13
    assert (await call(session, "GET", f"{base}/about"))[0] == 200


async def test_queue_full_redis_down_and_db_down(start_sim, session):
    sim, directory = await start_sim(max_queue_size=7)
    full = sim.endpoint_template.format(instance_id=directory.up(node_id(), {"queue-full": {}}))
    assert await submit(session, full, "print(1)") == (503, {"error": "queue is full"})
    _, _, workers = await call(session, "GET", f"{full}/workers")
    assert workers[0]["size"] == 7  # consistent with the 503: no headroom left

    redis_down = directory.up(node_id())
    redis = sim.endpoint_template.format(instance_id=redis_down)
    _, body = await submit(session, redis, "print(1)")
    directory.up(redis_down, {"redis-down": {}})
    assert (await call(session, "GET", f"{redis}/workers"))[0] == 500
    assert (await submit(session, redis, "print(1)"))[0] == 500
    assert (await call(session, "GET", f"{redis}/languages"))[0] == 200
    assert (await call(session, "GET", f"{redis}/submissions/{body['token']}"))[0] == 200

    db_down = directory.up(node_id())
    db = sim.endpoint_template.format(instance_id=db_down)
    _, body = await submit(session, db, "print(1)")
    directory.up(db_down, {"db-down": {}})
    for path in ("/languages", "/languages/71", "/statistics", f"/submissions/{body['token']}"):
        assert (await call(session, "GET", db + path))[0] == 500, path
    assert (await call(session, "GET", f"{db}/workers"))[0] == 200
    assert (await call(session, "GET", f"{db}/about"))[0] == 200


async def test_load_fault_fills_the_queue_of_a_node_whose_workers_are_dead(start_sim, session):
    sim, directory = await start_sim(max_queue_size=20)
    instance = directory.up(node_id(), {"workers-dead": {}})
    base = sim.endpoint_template.format(instance_id=instance)
    await call(session, "GET", f"{base}/about")  # the node becomes known to the simulator
    directory.up(instance, {"workers-dead": {}, "load": {"jobsPerSecond": 200}})

    async def saturated() -> bool:
        _, _, workers = await call(session, "GET", f"{base}/workers")
        return bool(workers) and workers[0]["size"] == 20

    await poll(saturated)
    assert await submit(session, base, "print(1)") == (503, {"error": "queue is full"})

    async def arrivals_rejected() -> bool:  # further arrivals bounce off the full queue
        return sim.node_stats(instance)["rejected"] > 0

    await poll(arrivals_rejected)

    directory.up(instance)  # load stops, workers return: the backlog drains

    async def drained() -> bool:
        _, _, workers = await call(session, "GET", f"{base}/workers")
        return workers[0]["size"] == 0 and workers[0]["working"] == 0

    await poll(drained)
    _, _, statistics = await call(session, "GET", f"{base}/statistics?invalidate_cache=true")
    assert statistics["submissions"]["total"] >= 20
    assert {"status": {"id": 3, "name": "Accepted"}, "count": statistics["submissions"]["total"]} \
        in statistics["statuses"]


async def test_a_burst_of_synthetic_jobs_holds_the_workers_for_load_job_seconds(start_sim, session):
    # A burst stands for whole submissions: it must stay visible on /workers for a while, not
    # drain between two probes.
    sim, directory = await start_sim(load_job_seconds=1.0)
    instance = directory.up(node_id())
    base = sim.endpoint_template.format(instance_id=instance)
    assert sim.submit_load(instance, 12) == 12  # 4 workers: three rounds of 1 s
    await asyncio.sleep(0.5)
    _, _, workers = await call(session, "GET", f"{base}/workers")
    assert (workers[0]["working"], workers[0]["size"]) == (4, 8)
    await asyncio.sleep(1.0)
    _, _, workers = await call(session, "GET", f"{base}/workers")
    assert (workers[0]["working"], workers[0]["size"]) == (4, 4)

    async def drained() -> bool:
        return sim.node_stats(instance)["processed"] == 12

    await poll(drained)


# ---------------------------------------------------------------------------------------------
# World hooks
# ---------------------------------------------------------------------------------------------

async def test_restart_requeues_processing_jobs_and_keeps_the_queue(start_sim, session):
    sim, directory = await start_sim(workers_per_node=1)
    instance = directory.up(node_id())
    base = sim.endpoint_template.format(instance_id=instance)
    _, running = await submit(session, base, "import time\ntime.sleep(1.0)\nprint('done')")
    _, waiting = await submit(session, base, "print('second')")
    await wait_for_submission(session, base, running["token"], until=lambda s: s["status"]["id"] == 2)

    directory.up(instance, {"workers-dead": {}})  # keep the restarted workers from picking up at once
    sim.restart_node(instance)
    first, _ = await wait_for_submission(session, base, running["token"], until=lambda s: True)
    second, _ = await wait_for_submission(session, base, waiting["token"], until=lambda s: True)
    assert first["status"]["id"] == 1 and second["status"]["id"] == 1
    _, _, workers = await call(session, "GET", f"{base}/workers")
    assert workers[0]["size"] == 2 and workers[0]["failed"] == 1

    directory.up(instance)
    final, _ = await wait_for_submission(session, base, running["token"])
    assert final["stdout"] == "done\n" and final["status"]["id"] == 3
    assert (await wait_for_submission(session, base, waiting["token"]))[0]["stdout"] == "second\n"
    assert sim.node_stats(instance)["processed"] == 2


async def test_reset_drops_queue_submissions_and_the_workers_entry(start_sim, session):
    sim, directory = await start_sim()
    instance = directory.up(node_id(), {"workers-dead": {}})
    base = sim.endpoint_template.format(instance_id=instance)
    _, body = await submit(session, base, "print(1)")
    assert sim.submit_load(instance, 3) == 3
    _, _, workers = await call(session, "GET", f"{base}/workers")
    assert workers[0]["size"] == 4

    sim.reset_node(instance)
    assert await call(session, "GET", f"{base}/workers") == (200, "application/json", [])
    assert (await call(session, "GET", f"{base}/submissions/{body['token']}"))[0] == 404
    assert sim.node_stats(instance)["queue_size"] == 0

    sim.forget_node(instance)
    assert sim.node_stats(instance)["known"] is False


async def test_finished_submissions_are_forgotten_beyond_the_bound(start_sim, session):
    sim, directory = await start_sim(keep_finished_per_node=2)
    base = sim.endpoint_template.format(instance_id=directory.up(node_id()))
    tokens = []
    for n in range(3):
        status, body = await submit(session, base, f"print({n})", query="?wait=true")
        assert status == 201
        tokens.append(body["token"])
    assert (await call(session, "GET", f"{base}/submissions/{tokens[0]}"))[0] == 404
    for token in tokens[1:]:
        assert (await call(session, "GET", f"{base}/submissions/{token}"))[0] == 200
