"""One chaos run: a Ready fleet in a fresh namespace, a crash point armed or faults injected, the
flow set going, the operator revived whenever it is killed, and the invariants judged once the
fleet has converged (or the run timed out).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from judge0_operator.chaos import ledger
from judge0_operator.chaos.env import FLEET_NAME, ChaosEnv, OperatorWontStart, wait_for
from judge0_operator.chaos.flows import FLOWS, FlowState, ready_at

log = logging.getLogger(__name__)

MODES = ("tokens-on", "tokens-off", "tokens-on+ec", "tokens-off+ec")
CLIENT_RATE = 2.0  # submissions per second through the fleet's Service while a flow runs
CLIENT_DRAIN_SECONDS = 5.0  # submissions in flight at the end get this long to finish
NO_CLIENTS = frozenset({"deletion"})  # deleting the fleet takes its work with it: not the operator's loss
PASS_BOUND_SECONDS = 5.0  # "one pass": a probe interval, the observer's cache and a pass, with room
SETTLE_SECONDS = 1.0
READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class FaultStep:
    """A fault a run injects ``at`` seconds after the flow's trigger and deletes ``clear_after``
    seconds later (None: it stays until the run ends, or expires by its own durationSeconds).
    Targets: ``aws``, ``kube``, ``zone:<zone>``, or ``instance:<n>`` (the n-th instance of the
    Ready fleet, by id). Durations in ``params`` are real seconds here; the run scales them."""

    target: str
    fault: str
    params: Mapping[str, Any] = field(default_factory=dict)
    at: float = 0.0
    clear_after: float | None = None


WORLD_SECOND_PARAMS = frozenset(
    {
        "durationSeconds",
        "delaySeconds",
        "holdSeconds",
        "newHiddenSeconds",
        "tagsLateSeconds",
        "terminatedRunningSeconds",
    }
)


@dataclass(frozen=True)
class RunSpec:
    row: str  # the table row this run counts toward
    flow: str
    mode: str = "tokens-on"
    crash: tuple[str, int] | None = None  # (point, nth)
    faults: tuple[FaultStep, ...] = ()
    timeout: float = 90.0


@dataclass
class RunResult:
    spec: RunSpec
    converged: bool = False
    seconds: float | None = None
    extra_launches: int = 0
    duplicates: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    safety: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    restarts: int = 0
    crash_fired: bool | None = None  # None: no crash point armed
    lost_submissions: int | None = None
    notes: list[str] = field(default_factory=list)
    point_counts: dict[str, int] = field(default_factory=dict)  # crash points hit during the flow
    evidence: dict[str, Any] = field(default_factory=dict)  # what healed what, the API's faults, the students

    @property
    def ok(self) -> bool:
        lost = bool(self.lost_submissions)
        return self.converged and not (self.duplicates or self.leaks or self.safety or self.secrets or lost)

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.spec.row,
            "flow": self.spec.flow,
            "mode": self.spec.mode,
            "crash": list(self.spec.crash) if self.spec.crash else None,
            "faults": [s.fault for s in self.spec.faults],
            "ok": self.ok,
            "converged": self.converged,
            "secondsToConverge": round(self.seconds, 2) if self.seconds is not None else None,
            "extraLaunches": self.extra_launches,
            "duplicates": self.duplicates,
            "leaks": self.leaks,
            "remediationDuringSafetyStop": self.safety,
            "secretSeen": self.secrets,
            "operatorRestarts": self.restarts,
            "crashFired": self.crash_fired,
            "pointCounts": {k: v for k, v in sorted(self.point_counts.items()) if v},
            "lostSubmissions": self.lost_submissions,
            "notes": self.notes,
            "evidence": self.evidence,
        }


def _scaled(params: Mapping[str, Any], speed: float) -> dict[str, Any]:
    return {k: (v * speed if k in WORLD_SECOND_PARAMS and isinstance(v, int | float) else v) for k, v in params.items()}


def consistency_params(speed: float) -> dict[str, Any]:
    """EC2's eventual consistency, in real seconds: longer than a pass, as it bites in AWS."""
    return _scaled({"newHiddenSeconds": 4.0, "tagsLateSeconds": 2.0, "terminatedRunningSeconds": 3.0}, speed)


async def _target(step: FaultStep, ready_ids: list[str]) -> str:
    if step.target.startswith("instance:"):
        return ready_ids[int(step.target.split(":", 1)[1]) % len(ready_ids)]
    return step.target


async def execute(env: ChaosEnv, spec: RunSpec, index: int) -> RunResult:
    """Run one ``spec`` (see the module doc); never raises for what the operator does wrong."""
    result = RunResult(spec)
    try:
        await _execute(env, spec, index, result)
    except OperatorWontStart:
        raise
    except Exception as error:  # the harness itself failed: the run did not converge, and says why
        log.exception("chaos run %s failed", spec.row)
        result.notes.append(f"run failed: {type(error).__name__}: {error}")
    finally:
        env.world.crash.disarm()
    return result


async def _execute(env: ChaosEnv, spec: RunSpec, index: int, result: RunResult) -> None:
    speed = float(env.info["speed"])
    flow = FLOWS[spec.flow]
    namespace = f"chaos-{index:03d}"
    await env.reset()
    env.world.configure(client_tokens=spec.mode != "tokens-off")
    if not env.operator.alive:
        await env.start_operator()
    log_start = env._log_size()
    await env.setup_fleet(namespace, replicas=flow.replicas, policy=flow.policy, **dict(flow.spec))

    async def current() -> dict[str, Any] | None:
        return await env.fleet(namespace)

    async def is_ready() -> dict[str, Any] | None:
        fleet = await current()
        return fleet if ready_at(fleet, flow.replicas) else None

    fleet = await wait_for(is_ready, timeout=READY_TIMEOUT, each=_revive(env))
    if fleet is None:
        result.notes.append(f"the fleet was not Ready within {READY_TIMEOUT:g}s before the flow")
        return
    clients = spec.flow not in NO_CLIENTS and await _start_clients(env, namespace)
    uid = str(fleet["metadata"]["uid"])
    ready_ids = sorted(r["instanceId"] for r in fleet["status"]["instances"])
    if spec.mode.endswith("+ec"):
        await env.fault("aws", "ec2-eventual-consistency", consistency_params(speed))
    if spec.crash is not None:
        env.arm(*spec.crash)
        result.crash_fired = False
    state = FlowState(uid=uid)
    counts_before = env.crash_counts()
    started = time.time()
    pending = sorted(spec.faults, key=lambda s: s.at)
    clears: list[tuple[float, str]] = []

    async def inject_due() -> None:
        now = time.time() - started
        while pending and pending[0].at <= now:
            step = pending.pop(0)
            fault_id = await env.fault(await _target(step, ready_ids), step.fault, _scaled(step.params, speed))
            if step.clear_after is not None:
                clears.append((now + step.clear_after, fault_id))
        for due, fault_id in list(clears):
            if due <= now:
                clears.remove((due, fault_id))
                if env.world.faults.get(fault_id) is not None:
                    await env.world.remove_fault(fault_id)

    await inject_due()
    await flow.trigger(env, namespace, fleet, state)
    hold = asyncio.ensure_future(flow.hold(env, namespace, state)) if flow.hold is not None else None
    deadline = time.monotonic() + spec.timeout
    try:
        while time.monotonic() < deadline:
            await env.revive_if_killed()
            await inject_due()
            now_fleet = await current()
            faults_done = not pending and (hold is None or hold.done())
            if faults_done and await flow.done(env, namespace, now_fleet, state):
                result.converged, result.seconds = True, time.time() - started
                break
            await asyncio.sleep(0.25)
    finally:
        if hold is not None and not hold.done():
            hold.cancel()
        for _, fault_id in clears:  # faults still due to be cleared stayed through the flow
            if env.world.faults.get(fault_id) is not None:
                await env.world.remove_fault(fault_id)
    if hold is not None and hold.done() and not hold.cancelled() and hold.exception() is not None:
        result.notes.append(f"hold failed: {hold.exception()!r}")
    if not result.converged:
        result.notes.append(f"not converged within {spec.timeout:g}s; {describe(await current())}")
    await asyncio.sleep(SETTLE_SECONDS)
    await env.revive_if_killed()
    final = await current()
    if result.converged and not await flow.done(env, namespace, final, state):
        result.converged = False
        result.notes.append(f"converged, then fell apart within the settle period; {describe(final)}")
    if spec.crash is not None:
        result.crash_fired = env.crash_fired() > 0
        if not result.crash_fired:
            result.notes.append(f"crash point {spec.crash[0]}#{spec.crash[1]} not reached in this run")
    result.point_counts = {k: v - counts_before.get(k, 0) for k, v in env.crash_counts().items()}
    if clients:
        result.lost_submissions, note, seen = await _stop_clients(env)
        result.evidence["clients"] = seen
        if note:
            result.notes.append(note)
    await _judge(env, namespace, result, uid, final, state, log_start)
    for exit_ in env.unexpected_exits:
        result.notes.append(f"the operator exited on its own ({exit_})")
        result.converged = False


async def _start_clients(env: ChaosEnv, namespace: str) -> bool:
    """Students submit through the fleet's Service (its EndpointSlice: instances in rotation)."""
    from judge0_operator.world.clients.load import LoadSettings

    clients = getattr(env.world, "clients", None)
    if clients is None:
        return False
    await clients.start_load(LoadSettings(target=f"svc:{namespace}/{FLEET_NAME}", rate=CLIENT_RATE))
    return True


async def _stop_clients(env: ChaosEnv) -> tuple[int | None, str | None, dict[str, Any]]:
    """Submissions lost to the operator's own actions (the world attributes each loss), or None
    when the front never had a target (nothing was published to judge)."""
    load = await env.world.clients.stop_load(CLIENT_DRAIN_SECONDS)
    if load is None:
        return None, None, {}
    summary = load.summary()
    lost = summary.get("lost") or {}
    seen = {
        "submitted": summary.get("submitted"),
        "delivered": summary.get("delivered"),
        "rejected": (summary.get("rejected") or {}).get("total"),
        "lost": lost.get("total"),
        "lostToOperator": lost.get("operator"),
        "lostToFaults": lost.get("fault"),
    }
    if not summary.get("frontHadTargets"):
        return None, "no client load judged: the fleet's Service never had an endpoint", seen
    operator = int(lost.get("operator", 0))
    note = None
    if operator:
        causes = [r.get("cause") for r in summary.get("losses", []) if (r.get("cause") or {}).get("by") == "operator"]
        note = f"{operator} submission(s) lost to operator actions: {causes[:3]}"
    return operator, note, seen


def describe(fleet: Mapping[str, Any] | None) -> str:
    """A one-line account of a fleet's status, for a run that did not converge."""
    if fleet is None:
        return "the fleet is gone"
    status = fleet.get("status") or {}
    conditions = ", ".join(
        f"{c.get('type')}={c.get('status')}/{c.get('reason')}" for c in status.get("conditions") or []
    )
    rows = "; ".join(
        f"{r.get('instanceId')} {r.get('slot')} {r.get('zone')} {r.get('state')} {r.get('health')}"
        for r in status.get("instances") or []
    )
    actions = "; ".join(
        f"{a.get('action')} {a.get('instanceId') or a.get('slot')} {a.get('outcome')}"
        for a in (status.get("lastActions") or [])[-4:]
    )
    return (
        f"generation {fleet['metadata'].get('generation')} observed {status.get('observedGeneration')}, "
        f"replicas {status.get('replicas')}/{status.get('desiredReplicas')} healthy {status.get('healthyReplicas')}, "
        f"pending {[p.get('slot') for p in status.get('pendingLaunches') or []]}, {conditions}; rows: {rows}; "
        f"last actions: {actions}"
    )


def _revive(env: ChaosEnv) -> Any:
    async def each() -> None:
        await env.revive_if_killed()

    return each


async def _judge(
    env: ChaosEnv,
    namespace: str,
    result: RunResult,
    uid: str,
    final: dict[str, Any] | None,
    state: FlowState,
    log_start: int,
) -> None:
    records = await env.records()
    lives = ledger.lives(records, env.tags_visible())
    now = time.time()
    verdict = ledger.duplicates(lives, uid, now=now, bound=PASS_BOUND_SECONDS, downtime=env.life.downtime)
    result.extra_launches = verdict.extra_launches
    result.duplicates = verdict.lasting
    owned = {r["instanceId"] for r in ((final or {}).get("status") or {}).get("instances") or []}
    result.leaks = ledger.leaks(lives, uid, owned, now=now, bound=PASS_BOUND_SECONDS) if result.converged else []
    result.safety = ledger.remediation_during(records, uid, state.stop_windows)
    result.restarts = env.life.restarts
    healed = {f.id: f for f in env.world.faults.healed()}
    result.evidence |= {
        "flowFaults": [
            {"fault": healed[i].name, "healedBy": healed[i].healed_by, "healedAt": healed[i].healed_at}
            for i in state.fault_ids
            if i in healed
        ],
        "apiFaults": [
            {"fault": f.name, "createdAt": f.created_at, "endedAt": f.healed_at}
            for f in healed.values()
            if f.kind in ("kube", "aws")
        ],
    }
    result.secrets = await _secret_seen(env, final, namespace, log_start)


async def _secret_seen(env: ChaosEnv, final: dict[str, Any] | None, namespace: str, log_start: int) -> list[str]:
    """Where the Judge0 token shows up: the fleet (status), its Events, the operator's log, metrics."""
    token = env.token
    found = []
    if final is not None and token in json.dumps(final):
        found.append("fleet object")
    if token in json.dumps(await env.events(namespace)):
        found.append("Events")
    if token in env.log_since(log_start):
        found.append("operator log")
    port = env.operator.metrics_port
    if port and env.operator.alive:
        try:
            async with env.session.get(
                f"http://127.0.0.1:{port}/metrics", timeout=aiohttp.ClientTimeout(total=5)
            ) as resp:
                if token in await resp.text():
                    found.append("metrics")
        except (aiohttp.ClientError, OSError, TimeoutError):
            pass
    return found
