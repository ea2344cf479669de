"""Target health of the ELBv2 target groups fleets are published in, shared like the EC2 snapshot.

One ``DescribeTargetHealth`` per target group per pass, cached for ``cache_seconds`` behind a lock
per group: however many fleets (or passes close together) ask about a group, they share one call,
and the count never grows with instances — ELBv2 answers every target of the group at once.
A failed call yields a snapshot marked incomplete: the planner then neither registers nor
deregisters on guesswork for that group (it keeps the previous rotation).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from judge0_operator.aws.budget import ApiBudget
from judge0_operator.aws.circuit import CircuitBreakers
from judge0_operator.aws.clients import AwsClients
from judge0_operator.aws.guarded import AwsCallError, CircuitOpenError, GuardedCaller
from judge0_operator.decide.model import TargetGroupHealth, TargetHealth

log = logging.getLogger(__name__)


def parse_target_health(raw: Mapping[str, Any]) -> TargetHealth | None:
    """One ``TargetHealthDescriptions`` item; None for a target that is not an instance."""
    target = raw.get("Target") or {}
    target_id = str(target.get("Id") or "")
    if not target_id.startswith("i-"):
        return None
    health = raw.get("TargetHealth") or {}
    port = target.get("Port")
    return TargetHealth(
        instance_id=target_id,
        state=str(health.get("State") or "unavailable"),
        reason=health.get("Reason") or None,
        port=int(port) if port is not None else None,
    )


@dataclass
class _Cached:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    snapshot: TargetGroupHealth | None = None


class TargetHealthObserver:
    """Target health per target group of one region. Use from one event loop."""

    def __init__(
        self,
        clients: AwsClients,
        region: str,
        *,
        cache_seconds: float = 2.0,
        circuit: CircuitBreakers | None = None,
        budget: ApiBudget | None = None,
    ) -> None:
        self.region = region
        self.cache_seconds = cache_seconds
        self._clients = clients
        self._caller = GuardedCaller(region, circuit=circuit, budget=budget)
        self._groups: dict[str, _Cached] = {}

    def invalidate(self, arns: Iterable[str] | None = None) -> None:
        """Forget cached health (all groups, or these): right after registering or deregistering."""
        for arn in self._groups if arns is None else arns:
            if arn in self._groups:
                self._groups[arn].snapshot = None

    async def describe(self, arns: Iterable[str], now: datetime) -> dict[str, TargetGroupHealth]:
        """Health of each group (fresh unless a snapshot younger than ``cache_seconds`` exists)."""
        wanted = list(dict.fromkeys(arns))
        found = await asyncio.gather(*(self._one(arn, now) for arn in wanted))
        return dict(zip(wanted, found, strict=True))

    async def _one(self, arn: str, now: datetime) -> TargetGroupHealth:
        cached = self._groups.setdefault(arn, _Cached())
        async with cached.lock:
            snapshot = cached.snapshot
            if snapshot is not None and (now - snapshot.observed_at) < timedelta(seconds=self.cache_seconds):
                return snapshot
            cached.snapshot = await self._describe(arn, now)
            return cached.snapshot

    async def _describe(self, arn: str, now: datetime) -> TargetGroupHealth:
        try:
            page = await self._caller.call(
                "DescribeTargetHealth", self._clients.elbv2(self.region).describe_target_health, TargetGroupArn=arn
            )
        except (AwsCallError, CircuitOpenError) as exc:
            log.warning("DescribeTargetHealth failed for %s: %s", arn, exc)
            return TargetGroupHealth(arn=arn, observed_at=now, error=str(exc))
        targets = {}
        for raw in page.get("TargetHealthDescriptions", ()):
            health = parse_target_health(raw)
            if health is not None:
                targets[health.instance_id] = health
        return TargetGroupHealth(arn=arn, observed_at=now, targets=targets)
