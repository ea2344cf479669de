"""The emulated Kubernetes API misbehaving as a real one does, over real HTTP on loopback: down,
5xx/429 with Retry-After, 409 on status writes, 410 on watch resume, silent and delayed watch
streams, the request and object size limits, crash points after writes, and the request log.

An emulator of its own per test (no moto needed); faults go into a ``FaultRegistry`` exactly as
the world's control API puts them there.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from judge0_operator.world.aws.timeline import Timeline
from judge0_operator.world.crash import CrashTriggers
from judge0_operator.world.faults.registry import Fault, FaultRegistry
from judge0_operator.world.kube.faults import KubeChaos, request_info
from judge0_operator.world.kube.server import KubeEmulator

GROUP, VERSION, PLURAL = "chaos.judge0.dev", "v1", "gadgets"
BASE = f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "gadget", "kind": "Gadget"},
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


class Api:
    def __init__(self, emulator: KubeEmulator, chaos: KubeChaos, faults: FaultRegistry, session: aiohttp.ClientSession):
        self.emulator, self.chaos, self.faults, self.session = emulator, chaos, faults, session
        self.url = emulator.url

    def fault(self, name: str, **params: Any) -> Fault:
        fault = self.faults.add("kube", name, params)
        self.chaos.fault_added(fault)
        return fault

    async def call(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, dict[str, str], Any]:
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["data"] = body if isinstance(body, bytes) else json.dumps(body)
            kwargs["headers"] = {
                "Content-Type": "application/merge-patch+json" if method == "PATCH" else "application/json",
                **headers,
            }
        async with self.session.request(method, self.url + path, **kwargs) as resp:
            text = await resp.text()
            return resp.status, dict(resp.headers), (json.loads(text) if text else None)

    async def create(self, name: str = "g1") -> dict[str, Any]:
        status, _, body = await self.call(
            "POST",
            BASE,
            {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Gadget", "metadata": {"name": name}, "spec": {"size": 1}},
        )
        assert status == 201, body
        return dict(body)

    async def watch_lines(
        self, resource_version: str, count: int, timeout: float
    ) -> list[tuple[float, dict[str, Any]]]:
        """Up to ``count`` events of one watch stream, each with the time it arrived."""
        out: list[tuple[float, dict[str, Any]]] = []
        params = {"watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "false"}
        try:
            async with self.session.get(
                self.url + BASE, params=params, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as resp:
                async for line in resp.content:
                    if line.strip():
                        out.append((time.monotonic(), json.loads(line)))
                    if len(out) >= count:
                        break
        except (TimeoutError, aiohttp.ClientPayloadError):  # timed out, or the stream was cut
            pass
        return out


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    emulator = KubeEmulator([CRD], bookmark_interval=30.0)
    faults = FaultRegistry()
    chaos = KubeChaos(faults, Timeline(1.0), seed=3, crash=CrashTriggers())
    chaos.attach(emulator)
    await emulator.start("127.0.0.1", 0)
    async with aiohttp.ClientSession() as session:
        yield Api(emulator, chaos, faults, session)
    await emulator.stop()


async def test_down_resets_connections_and_cuts_open_watch_streams(api: Api) -> None:
    obj = await api.create()
    stream = asyncio.ensure_future(api.watch_lines(obj["metadata"]["resourceVersion"], 5, timeout=10))
    await asyncio.sleep(0.2)
    fault = api.fault("kube-down")
    with pytest.raises(aiohttp.ClientError):
        await api.call("GET", BASE)
    assert len(await asyncio.wait_for(stream, 5)) == 0, "the open stream ended without another event"
    api.faults.remove(fault.id)
    status, _, _ = await api.call("GET", BASE)
    assert status == 200


@pytest.mark.parametrize(("code", "reason"), [(429, "TooManyRequests"), (503, "ServiceUnavailable")])
async def test_error_bursts_answer_status_with_retry_after_and_end_after_count(
    api: Api, code: int, reason: str
) -> None:
    api.fault("kube-error", status=code, count=2, retryAfterSeconds=3, methods=["GET"])
    for _ in range(2):
        status, headers, body = await api.call("GET", BASE)
        assert (status, body["reason"], body["code"], headers.get("Retry-After")) == (code, reason, code, "3")
    status, _, _ = await api.call("GET", BASE)
    assert status == 200, "spent after count"
    assert api.faults.on_kube() == []


async def test_status_writes_get_409_but_other_writes_pass(api: Api) -> None:
    await api.create()
    api.fault("kube-status-conflict")
    status, _, body = await api.call("PATCH", f"{BASE}/g1/status", {"status": {"phase": "x"}})
    assert status == 409 and body["reason"] == "Conflict", body
    status, _, _ = await api.call("PATCH", f"{BASE}/g1", {"spec": {"size": 2}})
    assert status == 200


async def test_a_resumed_watch_gets_410_gone_as_an_error_event(api: Api) -> None:
    obj = await api.create()
    api.fault("kube-watch-expired", count=1)
    events = await api.watch_lines(obj["metadata"]["resourceVersion"], 1, timeout=5)
    assert [(e["type"], e["object"]["code"], e["object"]["reason"]) for _, e in events] == [("ERROR", 410, "Expired")]
    status, _, _ = await api.call("GET", BASE + "?watch=false")
    assert status == 200


async def test_a_silent_stream_stays_open_and_says_nothing_while_a_new_one_works(api: Api) -> None:
    obj = await api.create()
    rv = obj["metadata"]["resourceVersion"]
    silent = asyncio.ensure_future(api.watch_lines(rv, 1, timeout=1.5))
    await asyncio.sleep(0.2)
    api.fault("kube-watch-silent")
    await api.call("PATCH", f"{BASE}/g1", {"spec": {"size": 5}})
    fresh = await api.watch_lines(rv, 1, timeout=3)
    assert [e["type"] for _, e in fresh] == ["MODIFIED"], "a stream opened after the fault works"
    assert await silent == [], "the stream open at injection delivered nothing"


async def test_watch_events_arrive_late_while_reads_are_current(api: Api) -> None:
    obj = await api.create()
    api.fault("kube-watch-delay", delaySeconds=1.5)
    stream = asyncio.ensure_future(api.watch_lines(obj["metadata"]["resourceVersion"], 1, timeout=6))
    await asyncio.sleep(0.2)
    status, _, written = await api.call("PATCH", f"{BASE}/g1", {"spec": {"size": 7}})
    assert status == 200
    _, _, read = await api.call("GET", f"{BASE}/g1")
    assert read["metadata"]["resourceVersion"] == written["metadata"]["resourceVersion"], "reads are current"
    await asyncio.sleep(0.3)
    assert not stream.done(), "the watch event is still on its way"
    events = await stream
    assert [e["object"]["metadata"]["resourceVersion"] for _, e in events] == [written["metadata"]["resourceVersion"]]


async def test_objects_over_etcds_limit_and_bodies_over_3_mib_are_refused(api: Api) -> None:
    await api.create()
    big = {"status": {"blob": "x" * 1_600_000}}
    status, _, body = await api.call("PATCH", f"{BASE}/g1/status", big)
    assert (status, body["message"]) == (500, "etcdserver: request is too large"), body
    fits = {"status": {"blob": "x" * 1_400_000}}
    status, _, _ = await api.call("PATCH", f"{BASE}/g1/status", fits)
    assert status == 200
    huge = json.dumps({"status": {"blob": "x" * (3 * 1024 * 1024 + 10)}}).encode()
    status, _, body = await api.call("PATCH", f"{BASE}/g1/status", huge)
    assert (status, body["reason"]) == (413, "RequestEntityTooLarge"), body


async def test_crash_point_after_a_status_write(api: Api) -> None:
    await api.create()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        api.chaos.crash.arm(f"kube:{PLURAL}/status", 1, child.pid)  # type: ignore[union-attr]
        await api.call("PATCH", f"{BASE}/g1", {"spec": {"size": 3}})
        assert child.poll() is None, "a spec write is another point"
        status, _, _ = await api.call("PATCH", f"{BASE}/g1/status", {"status": {"phase": "y"}})
        assert status == 200
        child.wait(timeout=5)
        assert child.returncode == -9
    finally:
        child.kill()
        child.wait()


async def test_the_request_log_has_verb_resource_subresource_and_namespace(api: Api) -> None:
    await api.create()
    await api.call("PATCH", f"{BASE}/g1/status", {"status": {"phase": "z"}})
    await api.call("GET", BASE)
    await api.call("GET", "/version")
    seen = {
        (e.get("verb"), e.get("resource"), e.get("subresource"), e.get("namespace"))
        for e in api.chaos.requests.entries()
    }
    assert ("create", PLURAL, "", "default") in seen
    assert ("patch", PLURAL, "status", "default") in seen
    assert ("list", PLURAL, "", "default") in seen
    assert ("get", None, None, None) in seen  # /version: a non-resource request


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces", {}, ("list", "", "namespaces", "", "")),
        ("GET", "/api/v1/namespaces/ns1", {}, ("get", "", "namespaces", "", "ns1")),
        ("GET", "/api/v1/namespaces/ns1/secrets/s", {}, ("get", "", "secrets", "", "ns1")),
        (
            "GET",
            "/apis/judge0.dev/v1alpha1/judge0fleets",
            {"watch": "true"},
            ("watch", "judge0.dev", "judge0fleets", "", ""),
        ),
        (
            "PATCH",
            "/apis/judge0.dev/v1alpha1/namespaces/a/judge0fleets/f/status",
            {},
            ("patch", "judge0.dev", "judge0fleets", "status", "a"),
        ),
        ("POST", "/api/v1/namespaces/a/events", {}, ("create", "", "events", "", "a")),
        ("DELETE", "/api/v1/namespaces/a/pods", {}, ("deletecollection", "", "pods", "", "a")),
    ],
)
def test_request_info_resolves_as_kubernetes_does(
    method: str, path: str, query: dict[str, str], expected: tuple[str, ...]
) -> None:
    info = request_info(method, path, query)
    assert (info.verb, info.group, info.resource, info.subresource, info.namespace) == expected
