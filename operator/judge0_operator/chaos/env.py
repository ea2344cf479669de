"""The world (in this process) and the real operator (a child process), and what a chaos run
does to them: apply manifests, read fleets, restart the operator after a crash, read the ledger.

The operator is one ``judge0-operator run`` process for the whole chaos run, restarted only when
a crash point killed it. Between runs the world is reset (no instances, faults, objects); each
run works in a namespace of its own. Requests this runner makes to the Kubernetes API carry the
User-Agent ``judge0-chaos-runner``, so the request log can tell the operator's traffic apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from judge0_operator.simulate import manifests
from judge0_operator.simulate.clients import GROUP, VERSION, ControlClient, KubeClient
from judge0_operator.simulate.operator_process import OperatorProcess

RUNNER_AGENT = "judge0-chaos-runner"
STARTED_LINE = "judge0-operator started"
POLICY_NAME = "chaos"
FLEET_NAME = "fleet"
INSTANCE_TYPE = "t3.small"

# Judged within seconds, ladder walked within a minute (as the end-to-end tests' policy).
CHAOS_POLICY: dict[str, Any] = {
    "mode": "Enforce",
    "startupGraceSeconds": 5,
    "graceAfterActionSeconds": 3,
    "probes": {
        "ec2UnhealthyAfterSeconds": 2,
        "api": {"intervalSeconds": 1, "timeoutSeconds": 1, "unhealthyAfterSeconds": 2},
        "workers": {"intervalSeconds": 1, "timeoutSeconds": 1, "unhealthyAfterSeconds": 2},
        "canary": {"intervalSeconds": 5, "timeoutSeconds": 5, "unhealthyAfterSeconds": 5},
    },
    "remediation": {
        "ladder": [
            {"action": "RestartJudge0", "attempts": 2, "timeoutSeconds": 10},
            {"action": "RebootInstance", "attempts": 1, "timeoutSeconds": 15},
            {"action": "ReplaceInstance", "attempts": 1, "timeoutSeconds": 30},
        ],
        "backoff": {"initialSeconds": 1, "maxSeconds": 5, "multiplier": 2, "jitter": 0.2},
        "healthyPeriodSeconds": 30,
    },
    "safety": {"maxUnhealthy": "40%", "maxInFlight": 1, "zoneOutageThreshold": 60},
    # a drain waits for a node's queue and running jobs, then 2 s for clients to fetch results
    "drain": {"timeoutSeconds": 30, "graceSeconds": 2},
}


class OperatorWontStart(RuntimeError):
    """The operator process keeps exiting on its own (its log tail says why)."""


@dataclass
class OperatorLife:
    """Kills and restarts of the operator during one run (epoch seconds)."""

    restarts: int = 0
    downtime: list[tuple[float, float]] = field(default_factory=list)


class ChaosEnv:
    """World + operator + clients; ``async with ChaosEnv.up(...)``."""

    def __init__(self, world: Any, session: aiohttp.ClientSession, operator: OperatorProcess, token: str) -> None:
        self.world = world
        self.info: dict[str, Any] = dict(world.info)
        self.session = session
        self.operator = operator
        self.token = token
        self.control = ControlClient(str(self.info["control_url"]), session)
        self.kube = KubeClient(str(self.info["kubeconfig"]))
        self.kube.api_client.user_agent = RUNNER_AGENT
        self.life = OperatorLife()
        self.unexpected_exits: list[str] = []
        self._last_start = 0.0
        self._reviving = asyncio.Lock()
        self.kube_requests: dict[tuple[str, ...], dict[str, Any]] = {}  # the operator's, over every run
        self.log_offset = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def up(
        cls, *, speed: float, work_dir: Path, seed: int, token: str, inactivity_seconds: float = 5.0
    ) -> AsyncIterator[ChaosEnv]:
        from judge0_operator.world.config import WorldConfig
        from judge0_operator.world.world import World

        # The operator gives a silent watch stream this long; the world bookmarks more often.
        os.environ["JUDGE0_OPERATOR_WATCH_INACTIVITY_SECONDS"] = str(inactivity_seconds)
        os.environ.setdefault("JUDGE0_OPERATOR_ORPHAN_SWEEP_SECONDS", "5")
        async with World(WorldConfig(speed=speed, auth_token=token, seed=seed)) as world:
            world.kube.bookmark_interval = max(0.5, inactivity_seconds / 3)
            operator = OperatorProcess(world.info, work_dir / "operator.log", metrics_port=free_port())
            async with aiohttp.ClientSession() as session:
                env = cls(world, session, operator, token)
                try:
                    await env.start_operator()
                    yield env
                finally:
                    await operator.stop()
                    env.kube.close()

    # ---- the operator ---------------------------------------------------------------------------
    async def start_operator(self) -> None:
        self.log_offset = self._log_size()
        self._last_start = time.time()
        await self.operator.start()
        await self.wait_started()

    def _log_size(self) -> int:
        try:
            return self.operator.log_path.stat().st_size
        except OSError:
            return 0

    async def wait_started(self, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if STARTED_LINE in self.log_since(self.log_offset):
                return True
            if not self.operator.alive:
                return False
            await asyncio.sleep(0.1)
        return False

    def log_since(self, offset: int) -> str:
        try:
            with self.operator.log_path.open("rb") as handle:
                handle.seek(offset)
                return handle.read().decode(errors="replace")
        except OSError:
            return ""

    async def revive_if_killed(self) -> bool:
        """If the operator died (a crash point, or on its own), start it again; True if it did.

        A death no crash point explains is counted in ``unexpected_exits`` (a run with one fails);
        an operator that will not stay up is not restarted for ever (``OperatorWontStart``)."""
        if self.operator.alive:
            return False
        async with self._reviving:  # the run's loop and a flow's hold both look: one revives
            if self.operator.alive:
                return False
            return await self._revive()

    async def _revive(self) -> bool:
        fired = [t["firedAt"] for t in self.world.crash.state()["fired"] if t.get("firedAt")]
        code = self.operator.proc.returncode if self.operator.proc is not None else None
        if not fired or fired[-1] <= self._last_start or code != -9:
            self.unexpected_exits.append(f"exit code {code}: {self.operator.tail(5)[-400:]}")
            if len(self.unexpected_exits) > 3:
                raise OperatorWontStart(self.operator.tail(30))
        killed_at = max(fired) if fired else time.time()
        await self.operator.stop()  # reaps it and closes the log handle
        await self.start_operator()
        self.life.restarts += 1
        self.life.downtime.append((killed_at, time.time()))
        return True

    # ---- Kubernetes -----------------------------------------------------------------------------
    async def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        return await self.kube.apply(manifest)

    async def setup_fleet(
        self, namespace: str, *, replicas: int, policy: Mapping[str, Any] | None = None, **spec: Any
    ) -> dict[str, Any]:
        """Secret, policy and fleet in ``namespace``; returns the created fleet."""
        await self.apply(manifests.secret(self.token, namespace))
        policy_manifest = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "RecoveryPolicy",
            "metadata": {"name": POLICY_NAME, "namespace": namespace},
            "spec": merged(CHAOS_POLICY, policy or {}),
        }
        await self.apply(manifests.fit_policy(policy_manifest, fast=False))
        fleet = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Judge0Fleet",
            "metadata": {"name": FLEET_NAME, "namespace": namespace},
            "spec": {
                "replicas": replicas,
                "instance": {"instanceType": INSTANCE_TYPE},
                "rollout": {"maxSurge": 1, "maxUnavailable": 0},
                # students reach it through its Service (chaos/runs.py); a load balancer through
                # its target group, as a fleet behind an ALB is served
                "traffic": {"service": {}, "targetGroupArns": [await self._target_group(namespace)]},
            },
        }
        fitted = manifests.fit_fleet(fleet, self.info, policy_name=POLICY_NAME, default_shape=False)
        fitted["spec"] = merged(fitted["spec"], spec)
        return await self.apply(fitted)

    async def _target_group(self, namespace: str) -> str:
        group = await self.world.create_target_group(namespace, tags=manifests.TARGET_GROUP_TAGS)
        return str(group["TargetGroupArn"])

    # The runner reads and changes fleets in-process, past the API's faults: it observes the truth
    # and sets flows going even while the operator's view of the API is broken.
    async def fleet(self, namespace: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.world.kube.get_object(GROUP, VERSION, "judge0fleets", namespace, FLEET_NAME)
        return found

    async def patch_spec(self, namespace: str, patch: Mapping[str, Any]) -> None:
        self.world.kube.patch_object(GROUP, VERSION, "judge0fleets", namespace, FLEET_NAME, {"spec": dict(patch)})

    async def delete_fleet(self, namespace: str) -> None:
        self.world.kube.delete_object(GROUP, VERSION, "judge0fleets", namespace, FLEET_NAME)

    async def events(self, namespace: str) -> list[dict[str, Any]]:
        events = list(self.world.kube.list_objects("", "v1", "events", namespace))
        return [e for e in events if (e.get("involvedObject") or {}).get("name") == FLEET_NAME]

    # ---- the world ------------------------------------------------------------------------------
    async def records(self) -> list[dict[str, Any]]:
        """Every instance the world holds or held (live first, then vanished)."""
        live = await self.world.instances()
        with self.world.ec2.lock:
            gone = list(self.world.ec2.gone)
        return [*live, *gone]

    def tags_visible(self) -> dict[str, float]:
        """Epoch seconds at which each instance hidden by eventual consistency showed its tags."""
        chaos = self.world.front.chaos if self.world.front is not None else None
        if chaos is None:
            return {}
        wall = self.world.timeline.wall
        return {iid: wall(v.tags_at).timestamp() for iid, v in list(chaos.visibility.items())}

    async def fault(self, target: str, name: str, params: Mapping[str, Any] | None = None) -> str:
        created = await self.world.add_fault(target, name, dict(params or {}))
        return str(created.id)

    async def clear_faults(self) -> None:
        await self.world.clear_faults()

    def arm(self, point: str, nth: int) -> None:
        assert self.operator.pid is not None
        self.world.crash.arm(point, nth, self.operator.pid)

    def crash_counts(self) -> dict[str, int]:
        return dict(self.world.crash.state()["counts"])

    def crash_fired(self) -> int:
        return len(self.world.crash.state()["fired"])

    def collect_requests(self) -> None:
        """Keep the operator's Kubernetes requests (the runner's own are left out) before a reset."""
        if self.world.kube_chaos is None:
            return
        for entry in self.world.kube_chaos.requests.entries():
            agents = [a for a in entry.get("userAgents", []) if a != RUNNER_AGENT]
            if not agents:
                continue
            key = tuple(
                str(entry.get(k, "")) for k in ("verb", "group", "resource", "subresource", "namespace", "path")
            )
            kept = self.kube_requests.setdefault(
                key, {**{k: v for k, v in entry.items() if k != "userAgents"}, "count": 0}
            )
            kept["count"] += int(entry.get("count", 0))

    async def reset(self) -> None:
        self.collect_requests()
        self.world.crash.disarm()
        await self.world.reset()
        self.life = OperatorLife()
        self.unexpected_exits.clear()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def merged(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``base`` with ``overlay`` merged in (mappings merge, the rest replaces)."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


async def wait_for(
    probe: Callable[[], Awaitable[Any]],
    *,
    timeout: float,
    interval: float = 0.25,
    each: Callable[[], Awaitable[None]] | None = None,
) -> Any:
    """Poll ``probe`` until truthy (returns it) or ``timeout`` (returns None); ``each`` runs every poll."""
    deadline = time.monotonic() + timeout
    while True:
        if each is not None:
            await each()
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(interval)
