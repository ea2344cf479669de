"""Instance refresh: which instances are outdated and how many may be replaced now.

A change to what makes an instance (image, launch template and version, type, user data, tags,
security groups, profile, key) changes ``template_hash``; instances tagged with another hash are
outdated, as Karpenter's drift. They are replaced like a Deployment's rolling update:

- launch-first within ``maxSurge`` (rounded up): the new instance starts beside the old one,
  which is terminated once the new one is healthy;
- terminate-first within ``maxUnavailable`` (rounded down), only while enough are healthy;
- healthy-before-next: a replacement still starting holds its surge (or unavailability) slot;
- oldest outdated first, spread across zones so no zone loses several at once;
- a replacement that turns Unhealthy (not merely Starting) stalls the rollout until the
  template changes again (condition Progressing=False, reason RolloutStalled).

Placement changes (subnets, market, fallback types) apply to new launches only: no rollout.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from judge0_operator.api.common import resolve_int_or_percent
from judge0_operator.api.fleet_status import Judge0FleetStatus
from judge0_operator.api.instance import InstanceSpec

# What makes the machine (a change rolls the fleet) and what only says where/how to buy it.
IN_TEMPLATE_HASH = frozenset(
    {
        "image_id",
        "launch_template",
        "instance_type",
        "user_data",
        "tags",
        "security_group_ids",
        "iam_instance_profile",
        "key_name",
    }
)
NOT_IN_TEMPLATE_HASH = frozenset({"subnets", "fallback_instance_types", "market"})
REASON_ROLLOUT_STALLED = "RolloutStalled"


def template_hash(instance: InstanceSpec) -> str:
    """A short stable hash of what makes an instance (image, template, type, user data, tags…).

    Defaults are left out, so spelling out a default (or a new optional field in a later
    operator version) does not roll the fleet; security-group order does not matter either.
    """
    wire = instance.model_dump(
        include=set(IN_TEMPLATE_HASH), exclude_defaults=True, exclude_none=True, by_alias=True, mode="json"
    )
    if "securityGroupIds" in wire:
        wire["securityGroupIds"] = sorted(wire["securityGroupIds"])
    return hashlib.sha256(json.dumps(wire, sort_keys=True).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class OutdatedInstance:
    """An instance launched from an older template, still filling its slot."""

    instance_id: str
    slot: str
    zone: str
    launched_at: datetime


@dataclass(frozen=True)
class RolloutStep:
    """What this pass may do for the rollout."""

    # Launch a replacement now; terminate the old instance once the new one is healthy.
    launch_first: tuple[OutdatedInstance, ...] = ()
    # Within maxUnavailable: terminate now; the slot is refilled from the current template.
    terminate_first: tuple[OutdatedInstance, ...] = ()
    surge: int = 1  # resolved maxSurge
    max_unavailable: int = 0  # resolved maxUnavailable
    spare_surge: int = 0  # surge left after this step (e.g. for zone-balance moves)
    stalled: bool = False
    remaining: int = 0  # outdated instances not yet replaced (including those in this step)
    message: str = ""

    @property
    def progressing(self) -> bool:
        return self.remaining > 0 and not self.stalled


def rollout_limits(max_surge: int | str, max_unavailable: int | str, *, desired: int) -> tuple[int, int]:
    """(surge, unavailable) for ``desired``: surge rounds up, unavailability down; never both 0."""
    surge = max(0, resolve_int_or_percent(max_surge, desired, round_up=True))
    unavailable = max(0, resolve_int_or_percent(max_unavailable, desired, round_up=False))
    return (1, unavailable) if surge == 0 and unavailable == 0 else (surge, unavailable)


def _oldest_first_across_zones(
    candidates: Sequence[OutdatedInstance], count: int, picked_per_zone: Counter[str]
) -> list[OutdatedInstance]:
    """Up to ``count`` picks: each from the zone picked least so far, the oldest instance within it."""
    remaining = sorted(candidates, key=lambda o: (o.launched_at, o.slot))
    picks: list[OutdatedInstance] = []
    while remaining and len(picks) < count:
        chosen = min(remaining, key=lambda o: (picked_per_zone[o.zone], o.launched_at, o.slot))
        remaining.remove(chosen)
        picked_per_zone[chosen.zone] += 1
        picks.append(chosen)
    return picks


def plan_rollout(
    outdated: Sequence[OutdatedInstance],
    *,
    desired: int,
    healthy: int,
    surge_in_use: int,
    max_surge: int | str,
    max_unavailable: int | str,
    new_unhealthy: int = 0,
    already_stalled: bool = False,
) -> RolloutStep:
    """How many outdated instances to start replacing now, and which.

    ``outdated``: outdated instances that stay in the fleet (not being scaled in, not already
    being replaced). ``healthy``: Healthy instances of any template. ``surge_in_use``: instances
    above ``desired`` right now (replacements not yet swapped in, launches in flight).
    ``new_unhealthy``: replacements on the current template that are Unhealthy (not Starting).
    ``already_stalled``: the rollout stalled earlier on this same template (see ``stalled_before``).
    """
    surge, unavailable_allowed = rollout_limits(max_surge, max_unavailable, desired=desired)
    surge_budget = max(0, surge - max(0, surge_in_use))
    if not outdated:
        return RolloutStep(surge=surge, max_unavailable=unavailable_allowed, spare_surge=surge_budget)
    if already_stalled or new_unhealthy > 0:
        return RolloutStep(
            surge=surge,
            max_unavailable=unavailable_allowed,
            stalled=True,
            remaining=len(outdated),
            message=(
                f"rollout paused: {new_unhealthy} new instance(s) unhealthy; "
                f"{len(outdated)} outdated left; resumes when the instance template changes"
            ),
        )
    unavailable_budget = max(0, unavailable_allowed - max(0, desired - healthy))
    per_zone: Counter[str] = Counter()
    launch_first = _oldest_first_across_zones(outdated, surge_budget, per_zone)
    rest = [o for o in outdated if o not in launch_first]
    terminate_first = _oldest_first_across_zones(rest, unavailable_budget, per_zone)
    started = len(launch_first) + len(terminate_first)
    return RolloutStep(
        launch_first=tuple(launch_first),
        terminate_first=tuple(terminate_first),
        surge=surge,
        max_unavailable=unavailable_allowed,
        spare_surge=surge_budget - len(launch_first),
        remaining=len(outdated),
        message=(
            f"replacing {started} of {len(outdated)} outdated (maxSurge {surge}, maxUnavailable "
            f"{unavailable_allowed}, {max(0, surge_in_use)} surge in use)"
        ),
    )


def stalled_before(previous: Judge0FleetStatus | None, current_hash: str) -> bool:
    """The previous pass left the rollout stalled and the template has not changed since."""
    if previous is None or previous.template_hash != current_hash:
        return False
    return any(
        c.type == "Progressing" and c.status == "False" and c.reason == REASON_ROLLOUT_STALLED
        for c in previous.conditions
    )
