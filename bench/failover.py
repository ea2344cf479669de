"""Failover time with leader election: two operator replicas, the leader killed again and again.

Each round finds the leader (the Lease's holder) and a standby, signals the leader, and times
from the signal to

- **lease**: the Lease naming another replica (polled every 50 ms);
- **acting**: that replica's first AWS call (the world attributes calls by User-Agent), i.e. its
  Kopf daemons are running.

SIGKILL (a crash: the standby waits out the lease, so the figure is about leaseDuration ±
retryPeriod) and SIGTERM (a rolling update: the leader releases the Lease, so about one retry
period). The killed replica is replaced by a fresh standby before the next round.
"""

from __future__ import annotations

import asyncio
import random
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import NAMESPACE, POLICY_NAME, bench_policy, free_port
from judge0_operator.simulate import manifests
from judge0_operator.simulate.clients import ControlClient, KubeClient
from judge0_operator.simulate.operator_process import OperatorProcess
from judge0_operator.simulate.report.measures import percentile

LEASE_NAME = "judge0-operator-bench"
POLL = 0.05


class Replica:
    def __init__(self, info: dict[str, Any], name: str, directory: Path, timings: tuple[float, float, float]) -> None:
        self.name = name
        self.port = free_port()
        lease, renew, retry = timings
        self.process = OperatorProcess(
            info,
            directory / f"operator-{name}.log",
            extra_args=[
                "--leader-election",
                f"--lease-namespace={NAMESPACE}",
                f"--lease-name={LEASE_NAME}",
                f"--lease-duration={lease:g}",
                f"--renew-deadline={renew:g}",
                f"--retry-period={retry:g}",
                f"--liveness=http://127.0.0.1:{self.port}/healthz",
            ],
            extra_env={"POD_NAME": f"bench-{name}"},
        )
        self.identity = ""

    async def start(self, session: aiohttp.ClientSession) -> None:
        await self.process.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            view = await self.view(session)
            if view:
                self.identity = str(view["identity"])
                return
            if not self.process.alive:
                raise RuntimeError(f"replica {self.name} exited:\n{self.process.tail()}")
            await asyncio.sleep(0.1)
        raise TimeoutError(f"replica {self.name} never answered /readyz")

    async def view(self, session: aiohttp.ClientSession) -> dict[str, Any] | None:
        try:
            async with session.get(f"http://127.0.0.1:{self.port}/readyz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                return dict(await r.json()) if r.status == 200 else None
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None


async def _lease_holder(kube: KubeClient) -> str:
    import kubernetes

    def read() -> str:
        api = kubernetes.client.CoordinationV1Api(kube.api_client)
        try:
            return str(api.read_namespaced_lease(LEASE_NAME, NAMESPACE).spec.holder_identity or "")
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return ""
            raise

    return await asyncio.to_thread(read)


async def _calls_by(control: ControlClient, identity: str) -> int:
    calls = await control.calls()
    return sum((calls.get("by_agent") or {}).get(f"replica/{identity}", {}).values())


async def _round(
    replicas: list[Replica], how: signal.Signals, kube: KubeClient, control: ControlClient,
    session: aiohttp.ClientSession, retry: float,
) -> dict[str, float]:
    deadline = time.monotonic() + 120
    while True:  # a leader, and the other standing by
        holder = await _lease_holder(kube)
        leader = next((r for r in replicas if r.identity == holder and r.process.alive), None)
        others = [r for r in replicas if r is not leader]
        views = [await r.view(session) for r in others]
        if leader and all(v and v["state"] == "standing by" for v in views):
            break
        if time.monotonic() > deadline:
            raise TimeoutError("no leader with a standby")
        await asyncio.sleep(0.2)
    standby = others[0]
    assert await _calls_by(control, standby.identity) == 0, "a standby made AWS calls"
    await asyncio.sleep(random.uniform(0, retry))  # land anywhere in the renewal cycle
    started = time.monotonic()
    leader.process.proc.send_signal(how)  # type: ignore[union-attr]
    lease_at = act_at = None
    while act_at is None and time.monotonic() - started < 120:
        now = time.monotonic()
        if lease_at is None and await _lease_holder(kube) == standby.identity:
            lease_at = now
        if lease_at is not None and await _calls_by(control, standby.identity) > 0:
            act_at = now
        await asyncio.sleep(POLL)
    if lease_at is None or act_at is None:
        raise TimeoutError(f"no failover after {how.name}:\n{standby.process.tail()}")
    await leader.process.stop()
    return {"lease": lease_at - started, "acting": act_at - started}


def _stats(values: list[float]) -> dict[str, float | None]:
    return {"n": len(values), "p50": percentile(values, 50), "max": max(values) if values else None}


async def run_failover(
    kills: int, speed: float, timings: tuple[float, float, float] = (15.0, 10.0, 2.0)
) -> dict[str, Any]:
    from judge0_operator.world.config import WorldConfig
    from judge0_operator.world.world import World

    directory = Path(tempfile.mkdtemp(prefix="judge0-bench-failover-"))
    token = "bench-token"
    out: dict[str, Any] = {"kills": kills, "timings": dict(zip(("lease", "renew", "retry"), timings, strict=True))}
    async with World(WorldConfig(speed=speed, auth_token=token, seed=13)) as world, aiohttp.ClientSession() as session:
        info = dict(world.info)
        kube = KubeClient(str(info["kubeconfig"]))
        control = ControlClient(str(info["control_url"]), session)
        serial = iter(range(1000))
        replicas = [Replica(info, f"r{next(serial)}", directory, timings) for _ in range(2)]
        try:
            for replica in replicas:
                await replica.start(session)
            await kube.apply(manifests.secret(token, NAMESPACE))
            policy = bench_policy(canary=False)
            await kube.apply(policy)
            fleet = manifests.fit_fleet(
                manifests.read_manifest(None, "fleet.yaml", manifests._FALLBACK_FLEET), info,
                policy_name=POLICY_NAME, default_shape=False,
            )
            fleet["metadata"] = {"name": "bench-failover", "namespace": NAMESPACE}
            fleet["spec"]["replicas"] = 2
            await kube.apply(fleet)
            for how in (signal.SIGKILL, signal.SIGTERM):
                rounds = []
                for _ in range(kills):
                    rounds.append(await _round(replicas, how, kube, control, session, timings[2]))
                    replicas = [r for r in replicas if r.process.alive]
                    replacement = Replica(info, f"r{next(serial)}", directory, timings)
                    await replacement.start(session)
                    replicas.append(replacement)
                out[how.name] = {
                    "lease": _stats([r["lease"] for r in rounds]),
                    "acting": _stats([r["acting"] for r in rounds]),
                }
        finally:
            for replica in replicas:
                await replica.process.stop()
            kube.close()
    out["logs"] = str(directory)
    return out


def render_failover(result: dict[str, Any]) -> str:
    t = result["timings"]

    def f(value: float | None) -> str:
        return "   —" if value is None else f"{value:5.1f}"

    lines = [
        f"(4) failover with leader election, {result['kills']} kills of each kind, lease {t['lease']:g}s /"
        f" renew deadline {t['renew']:g}s / retry {t['retry']:g}s (seconds from the signal)",
        f"    {'signal':8} {'lease taken p50/max':>20}  {'new leader acting p50/max':>26}",
    ]
    for how in ("SIGKILL", "SIGTERM"):
        r = result.get(how)
        if r:
            lines.append(
                f"    {how:8} {f(r['lease']['p50'])} {f(r['lease']['max'])}          "
                f"   {f(r['acting']['p50'])} {f(r['acting']['max'])}"
            )
    return "\n".join(lines)
