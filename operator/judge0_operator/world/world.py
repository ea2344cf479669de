"""The simulated world in one object: EC2/SSM (moto + the world's additions), Judge0 nodes, a
Kubernetes API and a control API, all on 127.0.0.1. Its settings are ``config.py``, the verbs it
answers ``control_verbs.py``; ``thread.py`` runs it beside synchronous code, ``up.py`` serves it
as ``judge0-operator world up``.

    async with World(WorldConfig(speed=20)) as world:
        world.info  # {"aws_endpoint": ..., "kube_api": ..., "judge0_endpoint_template": ..., ...}

The world is also the Judge0 simulator's ``NodeDirectory``: a node serves while its instance is
running, booted, reachable and not restarting; its faults are the node faults aimed at the
instance or its zone. moto keeps process-wide state, so a process runs one world at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import tempfile
import threading
from pathlib import Path
from typing import Any

import aiohttp

from judge0_operator.world.aws.chaos import AwsChaos
from judge0_operator.world.aws.ec2.instances import Ec2Model
from judge0_operator.world.aws.elbv2 import Elbv2Model
from judge0_operator.world.aws.front import AwsFront
from judge0_operator.world.aws.moto_server import ACCOUNT_ID, MotoServer, Network, ec2_backend, seed_network
from judge0_operator.world.aws.ssm.model import SsmModel
from judge0_operator.world.aws.timeline import Timeline, iso
from judge0_operator.world.config import WorldConfig, load_crds
from judge0_operator.world.control_verbs import ControlVerbs
from judge0_operator.world.crash import CrashTriggers
from judge0_operator.world.faults.registry import FaultRegistry
from judge0_operator.world.judge0.nodes import NodeView
from judge0_operator.world.kube.faults import KubeChaos

log = logging.getLogger(__name__)

INSTANCE_TYPES = ("t3.small", "t3.medium", "t3.large", "c5.large", "c5.xlarge", "m5.large")
_running_world: World | None = None
_running_lock = threading.Lock()


def _spare_image(client: Any, taken: str) -> str | None:
    """A second x86_64 image of moto's catalogue (a stable pick: the first by id)."""
    images = client.describe_images(Filters=[{"Name": "architecture", "Values": ["x86_64"]}])["Images"]
    others = sorted(i["ImageId"] for i in images if i["ImageId"] != taken)
    return others[0] if others else None


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class World(ControlVerbs):
    """EC2/SSM, Judge0 nodes, a Kubernetes API and a control API on loopback (see module doc)."""

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = config or WorldConfig()
        self.faults = FaultRegistry()
        self.timeline = Timeline(self.config.speed)
        self.ec2 = Ec2Model(self.config, self.faults, self.timeline)
        self.ssm = SsmModel(self.ec2, ACCOUNT_ID)
        self.elbv2 = Elbv2Model(
            self.ec2, self.timeline, auth_required=lambda: bool(self.config.auth_token), node_check=_node_answers
        )
        self.clients: Any = None
        self.moto = MotoServer()
        self.crash = CrashTriggers()  # kill-after-the-Nth-call points (crash.py)
        self.kube_chaos: KubeChaos | None = None
        self.front: AwsFront | None = None
        self.judge0: Any = None
        self.kube: Any = None
        self.control: Any = None
        self.network: Network | None = None
        self.spare_image_id: str | None = None
        self.info: dict[str, Any] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._started = False
        self._hook_tasks: set[asyncio.Future[Any]] = set()

    def moto_intact(self) -> bool:
        """False once someone else reset moto in this process (the world's backend was replaced)."""
        return self.ec2.backend is not None and self.ec2.backend is ec2_backend(self.config.region)

    # ---- NodeDirectory ------------------------------------------------------------------------
    def node(self, instance_id: str) -> NodeView | None:
        return self.ec2.node(instance_id)

    # ---- lifecycle ------------------------------------------------------------------------------
    async def __aenter__(self) -> World:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> dict[str, Any]:
        global _running_world
        with _running_lock:
            if _running_world is not None:
                raise RuntimeError("a world is already running in this process (moto state is process-wide)")
            _running_world = self
        self.loop = asyncio.get_running_loop()
        try:
            await self._start_parts()
        except BaseException:
            await self.stop()
            raise
        return self.info

    async def _start_parts(self) -> None:
        config = self.config
        moto_url = self.moto.start()
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{moto_url}/moto-api/reset") as resp:
                resp.raise_for_status()
            if config.seed is not None:
                async with session.post(f"{moto_url}/moto-api/seed", params={"a": str(config.seed)}) as resp:
                    resp.raise_for_status()
        self.network = await asyncio.to_thread(self._seed, moto_url)
        self.ec2.attach(ec2_backend(config.region))
        self.elbv2.attach(elbv2_backend(config.region))
        self.front = AwsFront(
            moto_url=moto_url,
            region=config.region,
            zones=list(config.zones),
            ec2=self.ec2,
            ssm=self.ssm,
            faults=self.faults,
            client_tokens=lambda: self.config.client_tokens,
            seed=config.seed,
            tick=self.tick,
            elbv2=self.elbv2,
        )
        self.front.chaos = AwsChaos(self.faults, self.timeline, seed=config.seed, crash=self.crash)
        aws_endpoint = await self.front.start("127.0.0.1", 0)

        from judge0_operator.world.control import ControlApi

        self.judge0 = _make_judge0(self, config.auth_token)
        judge0_url = await self.judge0.start("127.0.0.1", 0)
        self.kube = _make_kube(config.crds if config.crds is not None else load_crds())
        self.kube_chaos = KubeChaos(self.faults, self.timeline, seed=config.seed, crash=self.crash)
        self.kube_chaos.attach(self.kube)
        kube_url = await self.kube.start("127.0.0.1", 0)
        kubeconfig = Path(config.kubeconfig_path) if config.kubeconfig_path else None
        if kubeconfig is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="judge0-world-")
            kubeconfig = Path(self._tmpdir.name) / "kubeconfig"
        kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        kubeconfig = Path(self.kube.write_kubeconfig(kubeconfig))
        from judge0_operator.world.clients.load import Clients

        self.clients = Clients(self)
        clients_url = await self.clients.start("127.0.0.1", 0)
        self.control = ControlApi(self)
        control_url = await self.control.start("127.0.0.1", 0)
        self.info = {
            "aws_endpoint": aws_endpoint,
            "region": config.region,
            "kubeconfig": str(kubeconfig),
            "kube_api": kube_url,
            "judge0_endpoint_template": getattr(
                self.judge0, "endpoint_template", judge0_url + "/{instance_id}"
            ),
            "control_url": control_url,
            "subnets": dict(self.network.subnets),
            "image_id": self.network.image_id,
            # Another AMI of moto's catalogue: a "new image" to roll out to (a broken one, say).
            "spare_image_id": self.spare_image_id,
            "security_group_id": self.network.security_group_id,
            "vpc_id": self.network.vpc_id,
            "zones": list(config.zones),
            "instance_types": list(INSTANCE_TYPES),
            "account_id": ACCOUNT_ID,
            "speed": config.speed,
            "client_tokens": config.client_tokens,
            "judge0_auth_token": config.auth_token,
            "clients_url": clients_url,
        }
        self._ticker = asyncio.create_task(self._tick_forever(), name="world-ticker")
        self._started = True

    def _seed(self, moto_url: str) -> Network:
        import boto3

        client = boto3.client(
            "ec2",
            endpoint_url=moto_url,
            region_name=self.config.region,
            aws_access_key_id="world",
            aws_secret_access_key="world",
        )
        network = seed_network(client, list(self.config.zones))
        self.spare_image_id = _spare_image(client, network.image_id)
        return network

    async def stop(self) -> None:
        global _running_world
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        for part in (self.control, self.clients, self.kube, self.judge0, self.front):
            if part is not None:
                try:
                    await _maybe_await(part.stop())
                except Exception:
                    log.exception("stopping %s failed", type(part).__name__)
        self.control = self.clients = self.kube = self.judge0 = self.front = None
        self.ec2.reset()
        self.ec2.detach()
        self.ec2.drain_hooks()
        await asyncio.to_thread(self.moto.stop)
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None
        self._started = False
        with _running_lock:
            if _running_world is self:
                _running_world = None

    # ---- time -----------------------------------------------------------------------------------
    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_seconds)
            try:
                await self.settle()
            except Exception:
                log.exception("world tick failed")

    async def settle(self) -> None:
        """``tick`` while no request is inside moto (due steps may call into moto's objects)."""
        if self.front is None:
            self.tick()
            return
        async with self.front.serial:
            self.tick()

    def tick(self) -> None:
        """Apply every due transition, then run the Judge0 hooks they queued (on the world's loop).

        Callers hold ``front.serial`` (the AWS front does; others use ``settle``)."""
        self.ec2.advance()
        for hook, instance_id, *args in self.ec2.drain_hooks():
            fn = getattr(self.judge0, hook, None)
            if fn is None:
                continue
            try:
                result = fn(instance_id, *args)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._hook_tasks.add(task)
                    task.add_done_callback(self._hook_tasks.discard)
            except Exception:
                log.exception("judge0 hook %s(%s) failed", hook, instance_id)
        with self.ec2.lock:
            self.elbv2.advance()

    def configure(self, **changes: Any) -> None:
        """Change timings, speed or client_tokens of a running world (future steps use them)."""
        for key, value in changes.items():
            if key in ("region", "zones", "kubeconfig_path", "crds", "auth_token"):
                raise ValueError(f"{key} cannot change while the world runs")
            if not hasattr(self.config, key):
                raise ValueError(f"unknown world setting {key!r}")
            setattr(self.config, key, value)
        self.timeline.speed = self.config.speed
        if "client_tokens" in changes and self.info:
            self.info["client_tokens"] = self.config.client_tokens

    def clock(self) -> dict[str, Any]:
        return {
            "frozen": self.timeline.frozen,
            "speed": self.timeline.speed,
            "now": iso(self.timeline.wall(self.timeline.now())),
        }

    def freeze_clock(self) -> None:
        """Hold world time still: nothing timed happens until ``advance_clock`` or ``resume_clock``."""
        with self.ec2.lock:
            self.timeline.freeze()

    async def resume_clock(self) -> None:
        with self.ec2.lock:
            self.timeline.resume()
        await self.settle()

    async def advance_clock(self, world_seconds: float) -> None:
        """Move world time forward and apply what fell due."""
        with self.ec2.lock:
            self.timeline.step(world_seconds)
        await self.settle()

    async def reset(self) -> None:
        """Back to a fresh world (no instances, faults, commands, calls or tokens); keeps the network."""
        assert self.front is not None
        async with self.front.serial:
            self.timeline.resume()
            self.ec2.reset()
            self.ssm.reset()
            self.faults.reset()
            self.front.reset()
            self.crash.reset()
            if self.kube_chaos is not None:
                self.kube_chaos.reset()
            self.elbv2.reset()
            self.tick()
        if self.clients is not None:
            await self.clients.reset()
        clear = getattr(self.judge0, "clear_fates", None)
        if clear is not None:
            clear()
        if self.kube is not None and hasattr(self.kube, "reset"):
            await _maybe_await(self.kube.reset())


# ---- the Judge0 simulator and Kubernetes emulator, written beside this module ---------------------
def elbv2_backend(region: str) -> Any:
    """moto's in-process ELBv2 backend of the world's account and region."""
    from moto.elbv2.models import elbv2_backends

    return elbv2_backends[ACCOUNT_ID][region]


def _node_answers(view: NodeView | None) -> bool:
    from judge0_operator.world.judge0.availability import reachable

    return reachable(view)


def _make_judge0(directory: World, auth_token: str | None) -> Any:
    from judge0_operator.world.judge0.server import Judge0Simulator

    return Judge0Simulator(directory, auth_token=auth_token)


def _make_kube(crds: list[dict[str, Any]]) -> Any:
    from judge0_operator.world.kube.server import KubeEmulator

    return KubeEmulator(crds)
