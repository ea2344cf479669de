"""Where a new instance goes: zone, subnet, instance type and market.

Preference, first match wins: the market (Spot before on-demand when ``market: Spot``), then
the zone with the fewest healthy instances (ties: subnet order) among zones that are not out,
then the instance type (``instanceType``, then ``fallbackInstanceTypes`` in order). So a spot
capacity error moves on to the fallback types, then to other zones, then to on-demand. An
(instance type, zone, market) that answered a capacity error is skipped for three minutes, as
Karpenter does, so the operator does not hammer it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from judge0_operator.api.fleet_status import ExhaustedOffering
from judge0_operator.api.instance import InstanceSpec
from judge0_operator.decide.timeutil import format_time, parse_time

Market = Literal["on-demand", "spot"]
EXHAUSTED_TTL_SECONDS = 180  # Karpenter's unavailable-offerings cache keeps a pair 3 minutes


@dataclass(frozen=True)
class LaunchTarget:
    subnet_id: str
    zone: str
    instance_type: str
    market: Market


def _zone_of(subnet: str, zone_of_subnet: Mapping[str, str]) -> str:
    """The subnet's zone; an unmapped subnet (the observer maps them all) stands for a zone of its own."""
    return zone_of_subnet.get(subnet) or subnet


def instance_types(instance: InstanceSpec) -> list[str]:
    """``instanceType`` then the fallbacks, without repeats ("" = the launch template's type)."""
    return list(dict.fromkeys([instance.instance_type or "", *instance.fallback_instance_types]))


def markets(instance: InstanceSpec) -> list[Market]:
    """Spot fleets fall back to on-demand; on-demand fleets never go spot."""
    return ["spot", "on-demand"] if instance.market == "Spot" else ["on-demand"]


def allowed_subnets(
    instance: InstanceSpec, *, zone_of_subnet: Mapping[str, str], zones_out: frozenset[str]
) -> list[str]:
    """The fleet's subnets outside zones that are out; all of them if every zone is out. Once the
    region's subnets are known, one it does not have (another region's, deleted) is left out: a
    launch there would only fail, and stop launches until the spec changes (condition SubnetNotFound
    names it). With none known yet — DescribeSubnets failing — every subnet is tried."""
    subnets = list(dict.fromkeys(instance.subnets))
    subnets = [s for s in subnets if s in zone_of_subnet] or subnets
    return [s for s in subnets if _zone_of(s, zone_of_subnet) not in zones_out] or subnets


def is_exhausted(
    exhausted: Sequence[ExhaustedOffering], *, instance_type: str, zone: str, market: str, now: datetime
) -> bool:
    """True while a capacity error for this (type, zone, market) is remembered."""
    for offering in exhausted:
        if (offering.instance_type, offering.zone, offering.market) == (instance_type, zone, market):
            until = parse_time(offering.until)
            if until is not None and until > now:
                return True
    return False


def launch_candidates(
    instance: InstanceSpec,
    *,
    zone_of_subnet: Mapping[str, str],
    healthy_per_zone: Mapping[str, int],
    zones_out: frozenset[str],
) -> Iterator[LaunchTarget]:
    """Every (subnet, type, market) in order of preference, exhausted or not."""
    subnets = allowed_subnets(instance, zone_of_subnet=zone_of_subnet, zones_out=zones_out)
    by_emptiness = sorted(
        subnets, key=lambda s: (healthy_per_zone.get(_zone_of(s, zone_of_subnet), 0), subnets.index(s))
    )
    for market in markets(instance):
        for subnet in by_emptiness:
            for instance_type in instance_types(instance):
                yield LaunchTarget(subnet, _zone_of(subnet, zone_of_subnet), instance_type, market)


def choose_launch_target(
    instance: InstanceSpec,
    *,
    zone_of_subnet: Mapping[str, str],
    healthy_per_zone: Mapping[str, int],
    zones_out: frozenset[str],
    exhausted: Sequence[ExhaustedOffering],
    now: datetime,
    only_zones: frozenset[str] | None = None,
) -> LaunchTarget | None:
    """The best (subnet, type, market) for one more instance, or None when nothing has capacity.

    ``healthy_per_zone`` should already count launches planned earlier in the same pass.
    ``only_zones`` restricts the choice (e.g. to the target of a zone-balance move).
    """
    for target in launch_candidates(
        instance, zone_of_subnet=zone_of_subnet, healthy_per_zone=healthy_per_zone, zones_out=zones_out
    ):
        if only_zones is not None and target.zone not in only_zones:
            continue
        if not is_exhausted(
            exhausted, instance_type=target.instance_type, zone=target.zone, market=target.market, now=now
        ):
            return target
    return None


def zones_with_capacity(
    instance: InstanceSpec,
    *,
    zone_of_subnet: Mapping[str, str],
    zones_out: frozenset[str],
    exhausted: Sequence[ExhaustedOffering],
    now: datetime,
) -> list[str]:
    """Zones (subnet order) not out where at least one (type, market) is not exhausted."""
    zones = []
    for subnet in allowed_subnets(instance, zone_of_subnet=zone_of_subnet, zones_out=zones_out):
        zone = _zone_of(subnet, zone_of_subnet)
        if zone in zones:
            continue
        if any(
            not is_exhausted(exhausted, instance_type=t, zone=zone, market=m, now=now)
            for m in markets(instance)
            for t in instance_types(instance)
        ):
            zones.append(zone)
    return zones


def mark_exhausted(
    exhausted: Sequence[ExhaustedOffering],
    *,
    instance_type: str,
    zone: str,
    market: str,
    now: datetime,
    ttl_seconds: int = EXHAUSTED_TTL_SECONDS,
) -> list[ExhaustedOffering]:
    """Remember a capacity error for a few minutes (Karpenter keeps such pairs 3 min); drop expired ones."""
    key = (instance_type, zone, market)
    kept = []
    for offering in exhausted:
        until = parse_time(offering.until)
        if until is None or until <= now or (offering.instance_type, offering.zone, offering.market) == key:
            continue
        kept.append(offering)
    expiry = format_time(now + timedelta(seconds=ttl_seconds))
    kept.append(ExhaustedOffering(instance_type=instance_type, zone=zone, market=market, until=expiry))
    return kept


def prune_exhausted(exhausted: Sequence[ExhaustedOffering], *, now: datetime) -> list[ExhaustedOffering]:
    """Drop entries whose time is up (call each pass so status does not keep stale pairs)."""
    return [o for o in exhausted if (until := parse_time(o.until)) is not None and until > now]


# --- Zone balance: move capacity back after a zone returns ---------------------------------------
@dataclass(frozen=True)
class PlacedInstance:
    """A healthy, up-to-date instance that could be moved (not already being replaced)."""

    instance_id: str
    slot: str
    zone: str
    launched_at: datetime


@dataclass(frozen=True)
class ZoneMove:
    """Replace ``instance_id`` launch-first with a new instance in ``to_zone``; terminate it once healthy."""

    instance_id: str
    slot: str
    from_zone: str
    to_zone: str


def zone_balance_moves(
    placed: Sequence[PlacedInstance], *, zones: Sequence[str], max_moves: int
) -> list[ZoneMove]:
    """At most ``max_moves`` moves from the fullest zone to the emptiest while they differ by ≥ 2.

    ``zones`` are the zones that may receive instances (not out, with capacity), in subnet order;
    ties go to the earlier one. The newest instance of the fullest zone moves first (the same
    order as scale-in). Gradual by design: pass the rollout's spare surge as ``max_moves``.
    """
    counts = Counter({zone: 0 for zone in zones})
    counts.update(p.zone for p in placed)
    oldest_first = sorted(placed, key=lambda p: (p.launched_at, p.slot))
    movable = {zone: [p for p in oldest_first if p.zone == zone] for zone in counts}
    order = {zone: i for i, zone in enumerate([*zones, *sorted(set(counts) - set(zones))])}
    moves: list[ZoneMove] = []
    while len(moves) < max_moves and zones:
        source = max((z for z in counts if movable[z]), key=lambda z: (counts[z], -order[z]), default=None)
        target = min(zones, key=lambda z: (counts[z], order[z]))
        if source is None or counts[source] - counts[target] < 2:
            break
        moved = movable[source].pop()
        moves.append(ZoneMove(moved.instance_id, moved.slot, source, target))
        counts[source] -= 1
        counts[target] += 1
    return moves
