"""Where a new instance goes: zone, subnet, instance type and market.

STUB (owned by the capacity work, issue 7): the zone with the fewest instances among zones not
out, first instance type, the spec's market.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from judge0_operator.api.fleet import ExhaustedOffering, InstanceSpec


@dataclass(frozen=True)
class LaunchTarget:
    subnet_id: str
    zone: str
    instance_type: str
    market: Literal["on-demand", "spot"]


def choose_launch_target(
    instance: InstanceSpec,
    *,
    zone_of_subnet: Mapping[str, str],
    healthy_per_zone: Mapping[str, int],
    zones_out: frozenset[str],
    exhausted: Sequence[ExhaustedOffering],
    now: datetime,
) -> LaunchTarget | None:
    """The best (subnet, type, market) for one more instance, or None when nothing has capacity.

    ``healthy_per_zone`` should already count launches planned earlier in the same pass.
    """
    candidates = [s for s in instance.subnets if zone_of_subnet.get(s, s) not in zones_out] or list(instance.subnets)
    subnet = min(candidates, key=lambda s: healthy_per_zone.get(zone_of_subnet.get(s, s), 0))
    return LaunchTarget(
        subnet_id=subnet,
        zone=zone_of_subnet.get(subnet, ""),
        instance_type=instance.instance_type or "",
        market="spot" if instance.market == "Spot" else "on-demand",
    )


def mark_exhausted(
    exhausted: Sequence[ExhaustedOffering], *, instance_type: str, zone: str, market: str, now: datetime
) -> list[ExhaustedOffering]:
    """Remember a capacity error for a few minutes (Karpenter keeps such pairs 3 min); drop expired ones."""
    return list(exhausted)
