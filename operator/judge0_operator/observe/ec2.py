"""The EC2 view of one region, shared by every fleet in it.

One paginated ``DescribeInstances`` (filtered by the operator's tag keys and live states) and one
paginated ``DescribeInstanceStatus`` per region per pass, cached for ``cache_seconds`` behind a
lock: however many fleets reconcile at once, they share one pair of calls. Each fleet then picks
its own instances out of the snapshot by its uid tag — the API call count never grows with fleets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from judge0_operator.aws.budget import ApiBudget
from judge0_operator.aws.circuit import CircuitBreakers
from judge0_operator.aws.clients import AwsClients
from judge0_operator.aws.guarded import AwsCallError, CircuitOpenError, GuardedCaller
from judge0_operator.decide.model import (
    MANAGED_BY,
    TAG_FLEET_UID,
    TAG_MANAGED,
    Ec2Health,
    Ec2Instance,
    FleetObservation,
    InstanceObservation,
    ProbeResult,
    ScheduledEvent,
    Signal,
)

log = logging.getLogger(__name__)

LIVE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down")
_STATUS_STATES = ("pending", "running", "stopping", "stopped")  # status checks/events exist only there
_CHECK_STATUSES = frozenset({"ok", "impaired", "initializing", "insufficient-data", "not-applicable"})
PAGE_SIZE = 1000  # EC2's maximum with filters; moto pages at whatever is asked (100 by default)
UNKNOWN_SUBNET_CACHE_SECONDS = 60.0  # a subnet created after the fleet shows up within a minute


@dataclass(frozen=True)
class RegionSnapshot:
    """Operator-tagged instances of one region and their status checks, as of ``observed_at``."""

    region: str
    observed_at: datetime
    instances: tuple[Ec2Instance, ...] = ()
    health: Mapping[str, Ec2Health] = field(default_factory=dict)
    zones: Mapping[str, str] = field(default_factory=dict)  # subnet → zone, as seen on instances
    complete: bool = True
    error: str | None = None

    def for_fleet(self, fleet_uid: str) -> tuple[tuple[Ec2Instance, Ec2Health | None], ...]:
        """The fleet's instances (by uid tag) with their status, or None where EC2 has none yet."""
        return tuple((i, self.health.get(i.instance_id)) for i in self.instances if i.fleet_uid == fleet_uid)

    def orphans(self, known_fleet_uids: Iterable[str]) -> tuple[Ec2Instance, ...]:
        """Operator-tagged instances owned by no known fleet (already shutting down ones left out)."""
        known = set(known_fleet_uids)
        return tuple(i for i in self.instances if i.state != "shutting-down" and i.fleet_uid not in known)

    def fleet_observation(
        self,
        fleet_uid: str,
        *,
        probes: Mapping[str, Mapping[Signal, ProbeResult]] | None = None,
        zones: Mapping[str, str] | None = None,
    ) -> FleetObservation:
        """The planner's input for one fleet: its instances, status checks and probe results."""
        probes = probes or {}
        return FleetObservation(
            observed_at=self.observed_at,
            instances=tuple(
                InstanceObservation(instance=i, ec2=h, probes=dict(probes.get(i.instance_id, {})))
                for i, h in self.for_fleet(fleet_uid)
            ),
            complete=self.complete,
            error=self.error,
            zones=dict(zones if zones is not None else self.zones),
        )


def _tags(raw: Sequence[Mapping[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in raw or () if "Key" in t}


def _is_ours(tags: Mapping[str, str]) -> bool:
    return tags.get(TAG_MANAGED) == MANAGED_BY or TAG_FLEET_UID in tags


def parse_instance(raw: Mapping[str, Any]) -> Ec2Instance:
    """An ``Ec2Instance`` from one DescribeInstances item."""
    launch_time = raw.get("LaunchTime")
    if not isinstance(launch_time, datetime):
        launch_time = datetime.fromtimestamp(0, UTC)
    elif launch_time.tzinfo is None:
        launch_time = launch_time.replace(tzinfo=UTC)
    return Ec2Instance(
        instance_id=raw["InstanceId"],
        state=raw.get("State", {}).get("Name", "pending"),
        zone=raw.get("Placement", {}).get("AvailabilityZone", ""),
        subnet_id=raw.get("SubnetId", "") or "",
        instance_type=raw.get("InstanceType", ""),
        launch_time=launch_time,
        private_ip=raw.get("PrivateIpAddress") or None,
        public_ip=raw.get("PublicIpAddress") or None,
        market="spot" if raw.get("InstanceLifecycle") == "spot" else "on-demand",
        tags=_tags(raw.get("Tags")),
    )


def _check(raw: Mapping[str, Any] | None) -> Any:
    status = (raw or {}).get("Status", "not-applicable")
    return status if status in _CHECK_STATUSES else "insufficient-data"


def parse_status(raw: Mapping[str, Any]) -> Ec2Health:
    """An ``Ec2Health`` from one DescribeInstanceStatus item; completed/canceled events dropped."""
    events = []
    for e in raw.get("Events") or ():
        description = e.get("Description", "") or ""
        if description.startswith(("[Completed]", "[Canceled]")):
            continue
        not_before = e.get("NotBefore")
        events.append(
            ScheduledEvent(
                code=e.get("Code", ""),
                not_before=not_before if isinstance(not_before, datetime) else None,
                description=description,
            )
        )
    return Ec2Health(
        instance_status=_check(raw.get("InstanceStatus")),
        system_status=_check(raw.get("SystemStatus")),
        events=tuple(events),
    )


class Ec2Observer:
    """Snapshots of one region's operator-owned instances, shared by all fleets in the region."""

    def __init__(
        self,
        clients: AwsClients,
        region: str,
        *,
        cache_seconds: float = 2.0,
        subnet_cache_seconds: float = 3600.0,
        circuit: CircuitBreakers | None = None,
        budget: ApiBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.region = region
        self.cache_seconds = cache_seconds
        self.page_size = page_size
        self.subnet_cache_seconds = subnet_cache_seconds
        self._clients = clients
        self._caller = GuardedCaller(region, circuit=circuit, budget=budget)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._snapshot: RegionSnapshot | None = None
        self._subnet_lock = asyncio.Lock()
        self._subnets: dict[str, tuple[str | None, float]] = {}  # subnet → (zone or None if unknown, expiry)

    def invalidate(self) -> None:
        """Forget the cached snapshot (e.g. right after launching or terminating)."""
        self._snapshot = None

    async def snapshot(self, now: datetime) -> RegionSnapshot:
        """The region's snapshot, fresh unless one younger than ``cache_seconds`` (by ``now``) exists."""
        async with self._lock:
            cached = self._snapshot
            if cached is not None and (now - cached.observed_at) < timedelta(seconds=self.cache_seconds):
                return cached
            self._snapshot = await self._describe(now)
            return self._snapshot

    async def _describe(self, now: datetime) -> RegionSnapshot:
        described = await asyncio.gather(
            self._describe_instances(), self._describe_status(), return_exceptions=True
        )
        for result in described:
            if isinstance(result, BaseException):
                if not isinstance(result, AwsCallError | CircuitOpenError):
                    raise result
                log.warning("EC2 describe failed in %s: %s", self.region, result)
                return RegionSnapshot(region=self.region, observed_at=now, complete=False, error=str(result))
        instances, statuses = described
        assert isinstance(instances, list) and isinstance(statuses, dict)
        ours = {i.instance_id for i in instances}
        zones = {i.subnet_id: i.zone for i in instances if i.subnet_id and i.zone}
        expiry = self._clock() + self.subnet_cache_seconds
        for subnet, zone in zones.items():
            self._subnets[subnet] = (zone, expiry)
        return RegionSnapshot(
            region=self.region,
            observed_at=now,
            instances=tuple(instances),
            health={iid: h for iid, h in statuses.items() if iid in ours},
            zones=zones,
        )

    async def _describe_instances(self) -> list[Ec2Instance]:
        ec2 = self._clients.ec2(self.region)
        request: dict[str, Any] = {
            "Filters": [
                {"Name": "tag-key", "Values": [TAG_MANAGED, TAG_FLEET_UID]},
                {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
            ],
            "MaxResults": self.page_size,
        }
        found: dict[str, Ec2Instance] = {}
        async for page in self._pages("DescribeInstances", ec2.describe_instances, request):
            for reservation in page.get("Reservations", ()):
                for raw in reservation.get("Instances", ()):
                    instance = parse_instance(raw)
                    if _is_ours(instance.tags) and instance.state in LIVE_STATES:
                        found[instance.instance_id] = instance
        return list(found.values())

    async def _describe_status(self) -> dict[str, Ec2Health]:
        ec2 = self._clients.ec2(self.region)
        request: dict[str, Any] = {
            "IncludeAllInstances": True,
            "Filters": [{"Name": "instance-state-name", "Values": list(_STATUS_STATES)}],
            "MaxResults": self.page_size,
        }
        health: dict[str, Ec2Health] = {}
        async for page in self._pages("DescribeInstanceStatus", ec2.describe_instance_status, request):
            for raw in page.get("InstanceStatuses", ()):
                health[raw["InstanceId"]] = parse_status(raw)
        return health

    async def _pages(
        self, operation: str, fn: Callable[..., Any], request: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        """Follow NextToken; each page is one guarded call (budgeted, counted, breaker-checked)."""
        token: str | None = None
        while True:
            kwargs = dict(request, NextToken=token) if token else request
            page = await self._caller.call(operation, fn, **kwargs)
            yield page
            token = page.get("NextToken")
            if not token:
                return

    def unknown_subnets(self, subnet_ids: Iterable[str]) -> list[str]:
        """Subnets the last DescribeSubnets answered without (not merely not asked about yet)."""
        return [s for s in dict.fromkeys(subnet_ids) if s in self._subnets and self._subnets[s][0] is None]

    async def subnet_zones(self, subnet_ids: Iterable[str]) -> dict[str, str]:
        """subnet → zone for the given subnets; unknown subnets are left out.

        Cached for ``subnet_cache_seconds`` (subnets never move zones); misses are fetched with one
        filtered DescribeSubnets, which — unlike ``SubnetIds=`` — does not fail on unknown ids.
        On failure the cached part is returned.
        """
        wanted = list(dict.fromkeys(subnet_ids))
        async with self._subnet_lock:
            now = self._clock()
            missing = [s for s in wanted if s not in self._subnets or self._subnets[s][1] <= now]
            if missing:
                try:
                    page = await self._caller.call(
                        "DescribeSubnets",
                        self._clients.ec2(self.region).describe_subnets,
                        Filters=[{"Name": "subnet-id", "Values": missing}],
                    )
                except (AwsCallError, CircuitOpenError) as exc:
                    log.warning("DescribeSubnets failed in %s: %s", self.region, exc)
                else:
                    found = {s["SubnetId"]: s["AvailabilityZone"] for s in page.get("Subnets", ())}
                    for subnet in missing:
                        zone = found.get(subnet)
                        ttl = self.subnet_cache_seconds if zone else UNKNOWN_SUBNET_CACHE_SECONDS
                        self._subnets[subnet] = (zone, now + ttl)
            result: dict[str, str] = {}
            for subnet in wanted:
                zone = self._subnets.get(subnet, (None, 0.0))[0]
                if zone:
                    result[subnet] = zone
            return result
