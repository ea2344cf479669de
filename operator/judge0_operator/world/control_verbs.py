"""The verbs a running world answers to — inject, remove and clear faults, list instances with
their Judge0 counters, seed a target group, read the AWS call log, put load on nodes — apart from
how the world is assembled and keeps time (``world.py``). The control API, the chaos API,
scenarios and tests call them on ``World``, which mixes them in.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from judge0_operator.world.aws.elbv2 import create_target_group as _create_target_group
from judge0_operator.world.faults.catalogue import check_fault
from judge0_operator.world.faults.errors import FaultError
from judge0_operator.world.faults.registry import Fault, FaultRegistry
from judge0_operator.world.faults.targets import target_kind

if TYPE_CHECKING:
    from judge0_operator.world.aws.ec2.instances import Ec2Model
    from judge0_operator.world.aws.front import AwsFront
    from judge0_operator.world.aws.moto_server import MotoServer, Network
    from judge0_operator.world.aws.timeline import Timeline
    from judge0_operator.world.config import WorldConfig
    from judge0_operator.world.kube.faults import KubeChaos


class ControlVerbs:
    """The control API's verbs over the parts a ``World`` holds (declared here, made by ``World``)."""

    config: WorldConfig
    faults: FaultRegistry
    timeline: Timeline
    ec2: Ec2Model
    front: AwsFront | None
    kube_chaos: KubeChaos | None
    judge0: Any
    moto: MotoServer
    network: Network | None

    if TYPE_CHECKING:

        def tick(self) -> None: ...

    async def add_fault(self, target: str, name: str, params: dict[str, Any] | None = None) -> Fault:
        _, kind = check_fault(name, target)
        self.ec2.check_target(kind, target, name, list(self.config.zones))
        assert self.front is not None
        async with self.front.serial:
            self.tick()
            with self.ec2.lock:
                fault = self.faults.add(target, name, params, now=self.timeline.now())
                self.ec2.fault_added(fault)
                self._expire_later(fault)
            if kind == "kube" and self.kube_chaos is not None:
                self.kube_chaos.fault_added(fault)
            self.tick()
        return fault

    def _expire_later(self, fault: Fault) -> None:
        """``durationSeconds``: the fault deletes itself then (API faults: kube-down for a minute…)."""
        seconds = fault.params.get("durationSeconds")

        def expire() -> None:
            if self.faults.get(fault.id) is not None:
                self.faults.remove(fault.id, reason="expired")

        if seconds:
            self.timeline.after(float(seconds), expire)

    async def remove_fault(self, fault_id: str) -> Fault:
        assert self.front is not None
        async with self.front.serial:
            with self.ec2.lock:
                fault = self.faults.remove(fault_id)
                self.ec2.fault_removed(fault)
        return fault

    async def clear_faults(self) -> list[Fault]:
        assert self.front is not None
        async with self.front.serial:
            with self.ec2.lock:
                faults = self.faults.clear()
                for fault in faults:
                    self.ec2.fault_removed(fault)
        return faults

    async def instances(self) -> list[dict[str, Any]]:
        assert self.front is not None
        async with self.front.serial:  # the view reads moto's tags
            self.tick()
            out = self.ec2.view()
        stats = getattr(self.judge0, "node_stats", None)
        for item in out:
            if stats is not None:
                try:
                    item["judge0"] = stats(item["id"])
                except Exception:
                    item["judge0"] = None
        return out

    async def create_target_group(self, name: str, **options: Any) -> dict[str, Any]:
        """Seed helper: an instance target group for Judge0 in the world's VPC (``elbv2.py``);
        made straight in moto (not counted as a call). Returns ELBv2's TargetGroup description."""
        assert self.front is not None and self.network is not None
        import boto3

        client = boto3.client(
            "elbv2",
            endpoint_url=self.moto.url,
            region_name=self.config.region,
            aws_access_key_id="world",
            aws_secret_access_key="world",
        )
        vpc_id = self.network.vpc_id
        async with self.front.serial:
            return await asyncio.to_thread(_create_target_group, client, name, vpc_id, **options)

    def calls(self) -> dict[str, Any]:
        assert self.front is not None
        return self.front.calls.to_dict()  # lost answers and refused Kubernetes requests: GET /chaos

    def reset_calls(self) -> None:
        assert self.front is not None
        self.front.calls.reset()

    def submit_load(self, target: str, jobs: int) -> dict[str, int]:
        """Put ``jobs`` on the Judge0 queue of each running instance the target names; returns how
        many each queue took (a full queue takes fewer)."""
        kind = target_kind(target)
        if kind == "aws":
            raise FaultError("load needs an instance id or 'zone:<zone>'")
        self.ec2.check_target(kind, target, "load", list(self.config.zones))
        with self.ec2.lock:
            if kind == "instance":
                ids = [target] if self.ec2.records[target].state == "running" else []
            else:
                zone = target.split(":", 1)[1]
                ids = [
                    r.instance_id
                    for r in self.ec2.records.values()
                    if r.zone == zone and r.state == "running"
                ]
        submitted = {}
        for instance_id in ids:
            accepted = self.judge0.submit_load(instance_id, jobs)
            submitted[instance_id] = accepted if isinstance(accepted, int) else jobs
        return submitted
