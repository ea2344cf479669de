"""A world, the real operator as a subprocess, and fleets of a chosen size — for the benchmarks.

Fleets of hundreds of instances are not launched one RunInstances at a time through the
operator (EC2's RunInstances budget, 2 per second, would make that take minutes): each fleet is
created paused, its instances are launched straight into the world with exactly the tags the
operator puts on its own launches (``act.aws.launch_tags``, the current template hash), and the
fleet is unpaused — the operator adopts them by tag, as it does after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from judge0_operator.simulate import manifests
from judge0_operator.simulate.clients import ControlClient, KubeClient
from judge0_operator.simulate.operator_process import OperatorProcess

NAMESPACE = "default"
POLICY_NAME = "bench"
LAUNCH_CHUNK = 100


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_policy(*, canary: bool, interval: int = 1, unhealthy_after: int = 3) -> dict[str, Any]:
    """The compressed simulation policy; the canary can be switched off for size runs (one Python
    process per canary run would measure the world's machine, not the operator)."""
    policy = manifests.fit_policy(
        manifests.read_manifest(None, "policy.yaml", manifests._FALLBACK_POLICY), fast=True
    )
    policy["metadata"] = {"name": POLICY_NAME, "namespace": NAMESPACE}
    probes = policy["spec"]["probes"]
    for name in ("api", "workers"):
        probes[name]["intervalSeconds"] = interval
        probes[name]["unhealthyAfterSeconds"] = unhealthy_after
    if not canary:
        probes["canary"]["enabled"] = False
    return policy


@dataclass
class Metrics:
    """What the operator's Prometheus endpoint says at one moment."""

    passes: float = 0.0
    pass_seconds: float = 0.0
    aws_calls: dict[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Metrics:
        out = cls()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "judge0_operator_reconcile_duration_seconds_count":
                    out.passes += sample.value
                elif sample.name == "judge0_operator_reconcile_duration_seconds_sum":
                    out.pass_seconds += sample.value
                elif sample.name == "judge0_operator_aws_calls_total":
                    op = sample.labels.get("operation", "?")
                    out.aws_calls[op] = out.aws_calls.get(op, 0.0) + sample.value
        return out


class BenchEnv:
    """World + operator + the clients to drive them (use ``async with BenchEnv.up(...)``)."""

    def __init__(
        self,
        info: Mapping[str, Any],
        session: aiohttp.ClientSession,
        operator: OperatorProcess,
        metrics_port: int,
    ) -> None:
        self.info = info
        self.session = session
        self.operator = operator
        self.metrics_port = metrics_port
        self.control = ControlClient(str(info["control_url"]), session)
        self.kube = KubeClient(str(info["kubeconfig"]))
        self.fleets: dict[str, dict[str, Any]] = {}  # name → fleet manifest as applied (with uid)

    @classmethod
    @contextlib.asynccontextmanager
    async def up(cls, *, speed: float = 20.0, work_dir: str | None = None) -> AsyncIterator[BenchEnv]:
        """A fresh world and operator; both stopped on exit."""
        from judge0_operator.world.config import WorldConfig
        from judge0_operator.world.world import World

        token = "bench-token"
        directory = Path(work_dir or tempfile.mkdtemp(prefix="judge0-bench-"))
        async with World(WorldConfig(speed=speed, auth_token=token, seed=11)) as world:
            port = free_port()
            operator = OperatorProcess(world.info, directory / "operator.log", metrics_port=port)
            async with aiohttp.ClientSession() as session:
                env = cls(world.info, session, operator, port)
                try:
                    await operator.start()
                    await env.kube.apply(manifests.secret(token, NAMESPACE))
                    yield env
                finally:
                    await operator.stop()
                    env.kube.close()

    # ---- fleets -----------------------------------------------------------------------------
    async def apply_policy(self, policy: Mapping[str, Any]) -> None:
        await self.kube.apply(policy)

    async def create_fleet(self, name: str, replicas: int, *, paused: bool = True) -> dict[str, Any]:
        fleet = manifests.fit_fleet(
            manifests.read_manifest(None, "fleet.yaml", manifests._FALLBACK_FLEET),
            self.info,
            policy_name=POLICY_NAME,
            default_shape=False,
        )
        fleet["metadata"] = {"name": name, "namespace": NAMESPACE}
        fleet["spec"]["replicas"] = replicas
        fleet["spec"]["paused"] = paused
        fleet["spec"]["instance"]["tags"] = {}
        created = await self.kube.apply(fleet)
        fleet["metadata"]["uid"] = created["metadata"]["uid"]
        self.fleets[name] = fleet
        return fleet

    async def set_paused(self, name: str, paused: bool) -> None:
        await self.kube.patch_fleet_spec(NAMESPACE, name, {"paused": paused})

    async def prelaunch(self, name: str, count: int) -> list[str]:
        """Launch ``count`` instances for the fleet, tagged as the operator tags its own."""
        fleet = self.fleets[name]
        return await asyncio.to_thread(_prelaunch, self.info, fleet, count)

    async def warm_up(self, expected: int, timeout: float = 120.0) -> None:
        """One job on every node once all ``expected`` serve: Judge0's ``/workers`` answers ``[]`` until
        a node has run its first job, which the operator rightly calls inconclusive — and with the
        canary off nothing else would ever submit one."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            serving = [i for i in await self.control.instances() if i.get("serving")]
            if len(serving) >= expected:
                break
            await asyncio.sleep(0.5)
        for zone in sorted((self.info.get("subnets") or {}).keys()):
            await self.control.load(f"zone:{zone}", 1)

    async def fleets_status(self) -> list[dict[str, Any]]:
        def list_fleets() -> list[dict[str, Any]]:
            found = self.kube.custom.list_namespaced_custom_object(
                "judge0.dev", "v1alpha1", NAMESPACE, "judge0fleets"
            )
            return list(found.get("items", []))

        return await asyncio.to_thread(list_fleets)

    async def wait_healthy(self, names: Sequence[str], timeout: float) -> float:
        """Until every named fleet reports healthyReplicas == replicas; returns seconds waited."""
        start = time.monotonic()
        wanted = set(names)
        while time.monotonic() - start < timeout:
            if not self.operator.alive:
                raise RuntimeError(f"the operator exited:\n{self.operator.tail()}")
            done = set()
            for item in await self.fleets_status():
                name = item["metadata"]["name"]
                status = item.get("status") or {}
                if name in wanted and status.get("healthyReplicas", 0) >= item["spec"]["replicas"] > 0:
                    done.add(name)
            if done == wanted:
                return time.monotonic() - start
            await asyncio.sleep(0.5)
        raise TimeoutError(
            f"fleets not healthy within {timeout:.0f}s; operator log tail:\n{self.operator.tail()}"
        )

    async def metrics(self) -> Metrics:
        async with self.session.get(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=aiohttp.ClientTimeout(total=10)
        ) as resp:
            return Metrics.parse(await resp.text())

    async def wait_metrics(self, timeout: float = 30.0) -> Metrics:
        start = time.monotonic()
        while True:
            try:
                return await self.metrics()
            except (aiohttp.ClientError, OSError):
                if time.monotonic() - start > timeout:
                    raise
                await asyncio.sleep(0.25)


def _prelaunch(info: Mapping[str, Any], fleet: Mapping[str, Any], count: int) -> list[str]:
    import boto3

    from judge0_operator.act.aws import launch_tags
    from judge0_operator.api.fleet import Judge0FleetSpec
    from judge0_operator.decide.model import Launch
    from judge0_operator.decide.rollout import template_hash

    spec = Judge0FleetSpec.model_validate(copy.deepcopy(fleet["spec"]))
    digest = template_hash(spec.instance)
    uid = fleet["metadata"]["uid"]
    ref = f"{fleet['metadata'].get('namespace', NAMESPACE)}/{fleet['metadata']['name']}"
    ec2: Any = boto3.client(
        "ec2",
        endpoint_url=info["aws_endpoint"],
        region_name=info["region"],
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    subnets = list(spec.instance.subnets)
    zones = {v: k for k, v in (info.get("subnets") or {}).items()}
    ids: list[str] = []
    slot = 0
    per_subnet = [count // len(subnets) + (1 if i < count % len(subnets) else 0) for i in range(len(subnets))]
    for subnet, n in zip(subnets, per_subnet, strict=True):
        while n > 0:
            chunk = min(n, LAUNCH_CHUNK)
            common = launch_tags(
                spec,
                Launch(
                    slot="s0",
                    attempt=1,
                    client_token="",
                    subnet_id=subnet,
                    zone=zones.get(subnet, ""),
                    instance_type=spec.instance.instance_type or "",
                    market="on-demand",
                    reason="bench",
                ),
                fleet_uid=uid,
                fleet_ref=ref,
                template_hash=digest,
            )
            common = {k: v for k, v in common.items() if k not in ("judge0.dev/slot", "Name")}
            reply = ec2.run_instances(
                ImageId=spec.instance.image_id,
                InstanceType=spec.instance.instance_type,
                MinCount=chunk,
                MaxCount=chunk,
                SubnetId=subnet,
                SecurityGroupIds=list(spec.instance.security_group_ids),
                TagSpecifications=[
                    {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in common.items()]}
                ],
            )
            for item in reply["Instances"]:
                name = f"s{slot}"
                ec2.create_tags(
                    Resources=[item["InstanceId"]],
                    Tags=[
                        {"Key": "judge0.dev/slot", "Value": name},
                        {"Key": "Name", "Value": f"{fleet['metadata']['name']}-{name}"},
                    ],
                )
                ids.append(item["InstanceId"])
                slot += 1
            n -= chunk
    return ids
