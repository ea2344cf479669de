"""The canary of one Judge0 node: POST a submission **without** ``wait`` and poll its token, which
proves workers pick jobs up and the sandbox runs code (``wait=true`` would bypass the workers in
v1.13.1). It runs as a background task; its verdict comes with the evidence the diagnosis reads
(the stage, HTTP and Judge0 status, Judge0's message)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from judge0_operator.api.policy import CanaryProbe
from judge0_operator.decide.model import CanaryStage, NoAnswer, ProbeResult
from judge0_operator.observe.judge0.client import Judge0Http, ProbeFailed, Reply, clip
from judge0_operator.observe.judge0.node import NodeState, record

POLL_FIELDS = "status,stdout,stderr,message,time"
STATUS_ACCEPTED = 3
STATUS_INTERNAL_ERROR = 13
QUEUED = "In Queue"  # Judge0 status 1


@dataclass(frozen=True)
class _CanaryOutcome:
    """One canary's verdict and the evidence behind it (for the diagnosis)."""

    ok: bool | None
    detail: str
    saturated: bool = False
    stage: CanaryStage | None = None
    http_status: int | None = None
    no_answer: NoAnswer | None = None
    judge0_status: int | None = None
    judge0_message: str | None = None


async def run_canary(
    http: Judge0Http,
    node: NodeState,
    base: str,
    spec: CanaryProbe,
    token: str | None,
    started_at: datetime,
    *,
    poll_seconds: float,
) -> None:
    """One canary on ``node``, recorded when it completes (never raises but for cancellation)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        outcome = await _canary(http, node, base, spec, token, started + spec.timeout_seconds, poll_seconds)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug here must not kill the canary loop of this node
        outcome = _CanaryOutcome(False, http.scrub(f"canary error: {type(exc).__name__}"))
    elapsed = loop.time() - started
    message = outcome.judge0_message
    record(
        node,
        ProbeResult(
            signal="canary",
            ok=outcome.ok,
            observed_at=started_at + timedelta(seconds=elapsed),
            detail=clip(http.scrub(outcome.detail)),
            latency_seconds=elapsed,
            saturated=outcome.saturated,
            http_status=outcome.http_status,
            no_answer=outcome.no_answer,
            stage=outcome.stage,
            judge0_status=outcome.judge0_status,
            judge0_message=clip(http.scrub(message)) if message else None,
        ),
    )


async def _canary(
    http: Judge0Http,
    node: NodeState,
    base: str,
    spec: CanaryProbe,
    token: str | None,
    deadline: float,
    poll_seconds: float,
) -> _CanaryOutcome:
    """One canary: submit without wait, then poll until done or deadline; verdict and evidence."""
    loop = asyncio.get_running_loop()
    body: dict[str, Any] = {
        "source_code": spec.source_code,
        "language_id": spec.language_id,
        "stdin": spec.stdin,
    }
    if spec.expected_stdout:
        body["expected_output"] = spec.expected_stdout
    try:
        reply = await http.request(
            "POST",
            base + "/submissions?base64_encoded=false",
            token,
            max(0.1, deadline - loop.time()),
            body,
        )
    except ProbeFailed as exc:
        return _CanaryOutcome(False, f"submit: {exc}", stage="submit", no_answer=exc.kind)
    if reply.status == 503:
        error = _error_text(reply)
        if "queue is full" in error:
            return _CanaryOutcome(
                None, "queue full (503): node overloaded", True, "submit", 503, judge0_message=error
            )
        return _CanaryOutcome(
            None, f"not accepting submissions (503): {error}", False, "submit", 503, judge0_message=error
        )
    if reply.status != 201:
        error = _error_text(reply)
        return _CanaryOutcome(
            False, f"submit: HTTP {reply.status} {error}".rstrip(), False, "submit", reply.status,
            judge0_message=error or None,
        )
    try:
        submission_token = str(reply.json()["token"])
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        return _CanaryOutcome(False, "submit: no token in the answer", stage="submit", http_status=201)

    url = f"{base}/submissions/{submission_token}?base64_encoded=false&fields={POLL_FIELDS}"
    last = QUEUED
    last_status: int | None = 1
    last_http: int | None = None
    last_failure: NoAnswer | None = None
    delay = poll_seconds
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            timed_out = f"not finished after {spec.timeout_seconds}s (last: {last})"
            ok: bool | None = False
            detail = timed_out
            if last == QUEUED:  # never picked up: busy workers, or none taking jobs?
                ok, detail = _queued_verdict(timed_out, node.results.get("workers"))
            return _CanaryOutcome(
                ok,
                detail,
                stage="poll",
                http_status=last_http,
                no_answer=last_failure,
                judge0_status=1 if last == QUEUED else last_status,
            )
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 1.5, 2.0)
        remaining = deadline - loop.time()
        if remaining <= 0:
            continue
        try:
            reply = await http.request("GET", url, token, remaining)
        except ProbeFailed as exc:
            last, last_failure, last_http = f"poll: {exc}", exc.kind, None
            continue
        last_failure = None
        last_http = reply.status
        if reply.status == 404:
            return _CanaryOutcome(False, "submission vanished (404)", stage="poll", http_status=404)
        if reply.status != 200:
            last = f"poll: HTTP {reply.status}"
            continue
        try:
            submission = reply.json()
            status = submission.get("status") or {}
            status_id = int(status.get("id", 0))
        except (ValueError, UnicodeDecodeError, AttributeError, TypeError):
            last = "poll: unreadable answer"
            continue
        description = str(status.get("description", ""))
        if status_id <= 2:
            last, last_status = description or f"status {status_id}", status_id
            continue
        ok, detail = _verdict(status_id, description, submission, spec.expected_stdout)
        message = submission.get("message") or submission.get("stderr")
        return _CanaryOutcome(
            ok,
            detail,
            stage="poll",
            http_status=200,
            judge0_status=status_id,
            judge0_message=str(message) if message else None,
        )


def _queued_verdict(detail: str, workers: ProbeResult | None) -> tuple[bool | None, str]:
    """A canary still waiting in the queue at its deadline: on a node whose workers are busy with
    other jobs (an exam burst) that is load, not a fault — inconclusive, and the queue is the
    workers probe's and the autoscaler's business; with no worker taking jobs it is a failure."""
    if (
        workers is not None
        and workers.ok is True
        and (workers.available_workers or 0) > 0
        and (workers.queue_size or 0) > 0
    ):
        return None, f"{detail}: busy ({workers.queue_size} queued for {workers.available_workers} workers), not broken"
    return False, detail


def _verdict(status_id: int, description: str, submission: dict[str, Any], expected: str) -> tuple[bool, str]:
    stdout = submission.get("stdout")
    message = submission.get("message") or submission.get("stderr") or ""
    if status_id == STATUS_ACCEPTED:
        if stdout == expected or not expected:
            return True, f"Accepted in {submission.get('time')}s"
        return False, f"Accepted but stdout {stdout!r}, expected {expected!r}"
    if status_id == STATUS_INTERNAL_ERROR:
        return False, f"sandbox broken: {message or description}"
    return False, f"status {status_id} {description}: {message}".rstrip(": ")


def _error_text(reply: Reply) -> str:
    try:
        data = reply.json()
    except (ValueError, UnicodeDecodeError):
        return clip(reply.body.decode("utf-8", "replace"), 120)
    if isinstance(data, dict) and "error" in data:
        return clip(str(data["error"]), 120)
    return clip(json.dumps(data), 120)
