"""Process-wide state shared by every fleet's daemon: AWS clients, observers, prober, actuators.

Sharing is the point: one EC2 observer per region serves every fleet in that region from one
cached DescribeInstances/DescribeInstanceStatus pair per pass, so AWS calls per pass do not
grow with the number of fleets.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from judge0_operator.act.aws import AwsActuator
from judge0_operator.aws.clients import AwsClients, AwsSettings
from judge0_operator.aws.guarded import Fence
from judge0_operator.aws.regions import AwsRegions
from judge0_operator.controller.freshness import StatusKeeper
from judge0_operator.controller.kube import KubeApi
from judge0_operator.observe.ec2 import Ec2Observer
from judge0_operator.observe.judge0.prober import Judge0Prober
from judge0_operator.telemetry.fleet import TELEMETRY

logger = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """Shared clients and the registry of fleets the operator currently manages."""

    kube: KubeApi
    clients: AwsClients
    aws: AwsRegions
    namespaces: tuple[str, ...] = ()
    metrics_port: int = 0
    metrics_address: str = "127.0.0.1"
    prober: Judge0Prober = field(default_factory=Judge0Prober)
    fleets: dict[str, tuple[str, str]] = field(default_factory=dict)  # uid → (namespace, name)
    policy_refs: dict[tuple[str, str], str | None] = field(default_factory=dict)  # fleet → policy name
    orphan_sweep_seconds: float = 60.0
    statuses: StatusKeeper = field(default_factory=StatusKeeper)  # what our status writes returned
    _regions_seen: set[str] = field(default_factory=set)
    _generations: dict[tuple[str, str], Any] = field(default_factory=dict)
    _wakes: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        *,
        kubeconfig: str | None,
        aws_endpoint: str | None,
        namespaces: tuple[str, ...],
        metrics_port: int,
        metrics_address: str,
        fence: Fence | None = None,
        identity: str | None = None,
    ) -> Runtime:
        settings = AwsSettings(
            endpoint_url=aws_endpoint or os.environ.get("JUDGE0_OPERATOR_AWS_ENDPOINT"), replica=identity
        )
        clients = AwsClients(settings)
        runtime = cls(
            kube=KubeApi.from_config(kubeconfig, fence=fence),
            clients=clients,
            aws=AwsRegions(clients, fence=fence),
            namespaces=namespaces,
            metrics_port=metrics_port,
            metrics_address=metrics_address,
        )
        sweep = os.environ.get("JUDGE0_OPERATOR_ORPHAN_SWEEP_SECONDS")
        if sweep:
            runtime.orphan_sweep_seconds = float(sweep)
        return runtime

    # --- shared per-region components -------------------------------------------------------
    def observer(self, region: str) -> Ec2Observer:
        self._regions_seen.add(region)
        return self.aws.observer(region)

    def actuator(self, region: str) -> AwsActuator:
        return self.aws.actuator(region)

    @property
    def regions(self) -> list[str]:
        return sorted(self._regions_seen)

    # --- fleet registry and wake-ups --------------------------------------------------------
    def is_news(self, body: kopf.Body, event_type: str | None) -> bool:
        """A fleet appeared, went, or its spec changed (our own status writes are not news)."""
        key = (body.meta.namespace or "", body.meta.name or "")
        if event_type == "DELETED":
            return True
        return self._generations.get(key) != body.meta.get("generation")

    def track_fleet(self, body: kopf.Body) -> None:
        """Remember the fleet (orphan sweeps, policy wake-ups); wake its daemon if its spec changed."""
        key = (body.meta.namespace or "", body.meta.name or "")
        self.fleets[body.meta.uid or ""] = key
        ref = (body.get("spec") or {}).get("recoveryPolicyRef") or {}
        self.policy_refs[key] = ref.get("name")
        generation = body.meta.get("generation")
        if self._generations.get(key, generation) != generation:
            self.wake_event(body).set()
        self._generations[key] = generation

    def forget_fleet(self, body: kopf.Body) -> None:
        key = (body.meta.namespace or "", body.meta.name or "")
        TELEMETRY.forget(*key)  # a deleted fleet's series go with it
        region = (body.get("spec") or {}).get("region")
        if region:
            self.aws.disk_prober(str(region)).forget_fleet(body.meta.uid or "")
        self.fleets.pop(body.meta.uid or "", None)
        self.policy_refs.pop(key, None)
        self.statuses.forget(key)
        self._wakes.pop(key, None)
        self._generations.pop(key, None)

    def wake_event(self, body: kopf.Body) -> asyncio.Event:
        key = (body.meta.namespace or "", body.meta.name or "")
        if key not in self._wakes:
            self._wakes[key] = asyncio.Event()
        return self._wakes[key]

    def wake_fleets_using_policy(self, namespace: str, policy_name: str) -> None:
        for (fleet_namespace, fleet_name), ref in self.policy_refs.items():
            if fleet_namespace == namespace and ref == policy_name:
                wake = self._wakes.get((fleet_namespace, fleet_name))
                if wake is not None:
                    wake.set()

    @staticmethod
    def seconds_until(moment: datetime) -> float:
        return (moment - utcnow()).total_seconds()

    # --- background tasks -------------------------------------------------------------------
    def start_background_tasks(self) -> None:
        if self.metrics_port:
            from prometheus_client import start_http_server

            from judge0_operator.metrics import REGISTRY

            start_http_server(self.metrics_port, addr=self.metrics_address, registry=REGISTRY)
        from judge0_operator.controller.orphans import sweep_orphans_forever

        self._tasks.append(asyncio.create_task(sweep_orphans_forever(self)))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.prober.close()
        await self.aws.close()  # the background disk probes
        self.clients.close()
