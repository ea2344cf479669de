"""The request probes of one Judge0 node: ``api`` (GET ``/about``: the web process answers, and
which version), ``workers`` (GET ``/workers``: Redis up, workers registered) and GET
``/statistics`` (the database's size, read at the disk probe's pace). Each records its result on
the node; the canary, which runs in the background, is ``canary.py``."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from judge0_operator.api.judge0 import Judge0Spec
from judge0_operator.api.policy import Probes
from judge0_operator.decide.model import ProbeResult
from judge0_operator.observe.judge0.client import Judge0Http, ProbeFailed, as_int, clip
from judge0_operator.observe.judge0.node import NodeState, record


async def probe_api(
    http: Judge0Http,
    node: NodeState,
    base: str,
    judge0: Judge0Spec,
    probes: Probes,
    token: str | None,
    now: datetime,
) -> None:
    """GET ``/about`` (or the policy's path): the web process answers, with the expected version."""
    path = probes.api.path
    try:
        reply = await http.request("GET", base + path, token, probes.api.timeout_seconds)
    except ProbeFailed as exc:
        failed = ProbeResult(signal="api", ok=False, observed_at=now, detail=str(exc), no_answer=exc.kind)
        record(node, failed)
        return
    ok: bool = reply.status == 200
    detail = f"HTTP {reply.status}"
    version: str | None = None
    if ok and path.rstrip("/").endswith("/about"):
        try:
            about = reply.json()
            version = str(about["version"]) if isinstance(about, dict) and "version" in about else None
        except (ValueError, UnicodeDecodeError):
            ok, detail = False, "HTTP 200 but /about is not JSON"
        if version:
            node.version = version
            detail = f"version {version}"
            if judge0.expected_version and version != judge0.expected_version:
                ok, detail = False, f"version {version}, expected {judge0.expected_version}"
    elif reply.status == 401:
        detail = "HTTP 401: auth token rejected"
    elif reply.status == 403:
        detail = "HTTP 403: forbidden (IP filter or authorization)"
    record(
        node,
        ProbeResult(
            signal="api",
            ok=ok,
            observed_at=now,
            detail=detail,
            latency_seconds=reply.latency,
            version=version,
            http_status=reply.status,
        ),
    )


async def probe_workers(
    http: Judge0Http,
    node: NodeState,
    base: str,
    judge0: Judge0Spec,
    probes: Probes,
    token: str | None,
    now: datetime,
) -> None:
    """GET ``/workers``: enough workers available on the node's queue; ``[]`` is inconclusive."""
    spec = probes.workers
    try:
        reply = await http.request("GET", base + "/workers", token, spec.timeout_seconds)
    except ProbeFailed as exc:
        failed = ProbeResult(signal="workers", ok=False, observed_at=now, detail=str(exc), no_answer=exc.kind)
        record(node, failed)
        return
    result = ProbeResult(
        signal="workers", ok=False, observed_at=now, latency_seconds=reply.latency, http_status=reply.status
    )
    if reply.status == 500:
        record(node, replace(result, detail="HTTP 500: Redis down?"))
        return
    if reply.status != 200:
        record(node, replace(result, detail=f"HTTP {reply.status}"))
        return
    try:
        queues = reply.json()
    except (ValueError, UnicodeDecodeError):
        queues = None
    if not isinstance(queues, list) or not all(isinstance(q, dict) for q in queues):
        record(node, replace(result, detail="unexpected /workers body"))
        return
    if not queues:
        # Judge0 answers [] until a job is first queued and after Redis restarts: inconclusive for
        # health, but no queue means nothing waiting or running (what a drain needs to know).
        record(
            node, replace(result, ok=None, detail="no queues yet ([] is inconclusive)", queue_size=0, working=0)
        )
        return
    wanted = judge0.expected_version or node.version
    entry = next((q for q in queues if wanted and q.get("queue") == wanted), queues[0])
    available, size = as_int(entry.get("available")), as_int(entry.get("size"))
    ok = available is not None and available >= spec.min_available
    detail = (
        f"queue {entry.get('queue')}: available {available}, idle {entry.get('idle')}, "
        f"working {entry.get('working')}, waiting {size}"
    )
    if not ok:
        detail += f" (minAvailable {spec.min_available})"
    record(
        node,
        replace(
            result,
            ok=ok,
            detail=clip(detail),
            queue_size=size,
            available_workers=available,
            working=as_int(entry.get("working")),
        ),
    )


async def probe_statistics(http: Judge0Http, node: NodeState, base: str, token: str | None, timeout: float) -> None:
    """GET /statistics: ``database.size_in_bytes`` (Judge0 caches it 10 min; 500 with Postgres down)."""
    try:
        reply = await http.request("GET", base + "/statistics", token, timeout)
        size = reply.json()["database"]["size_in_bytes"] if reply.status == 200 else None
    except (ProbeFailed, ValueError, UnicodeDecodeError, KeyError, TypeError):
        return
    value = as_int(size)
    if value is not None:
        node.database_bytes = value
