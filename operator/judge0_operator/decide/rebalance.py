"""Phase 12, rebalancing: after a zone comes back, move capacity to it gradually.

Only in a quiet pass — nothing else decided, no launch pending, no zone out, every instance
Healthy and on the current template, exactly the desired count — and only within the surge the
rollout left spare. A move is launch first in the target zone; the old instance goes once the
new one is Healthy (``replacements``). The moves themselves are ``placement.zone_balance_moves``.

Events: ``Rebalancing`` — Normal.
"""

from __future__ import annotations

from judge0_operator.decide import placement
from judge0_operator.decide.draft import ZONE_BALANCE, Draft
from judge0_operator.decide.rollout import RolloutStep
from judge0_operator.decide.safety import Limits
from judge0_operator.decide.timeutil import parse_time


def rebalance(draft: Draft, *, desired: int, limits: Limits, rollout_step: RolloutStep | None) -> tuple[str, ...]:
    """Start zone-balance moves; the instances moved."""
    given = draft.given
    if limits.restricted or not given.can_launch or draft.zones_out or draft.decided or draft.intents:
        return ()
    views = draft.views()
    holders = [v.holder for v in views.values() if v.holder is not None]
    if (
        len(holders) != desired
        or any(v.replacing for v in views.values())
        or any(h.health != "Healthy" or not h.updated for h in holders)
    ):
        return ()
    if any(h.do_not_disrupt for h in holders):
        return ()  # a human holds an instance: no moves while the fleet is held
    spare = rollout_step.spare_surge if rollout_step is not None else 0
    if spare <= 0:
        return ()
    zones = placement.zones_with_capacity(
        given.spec.instance,
        zone_of_subnet=given.observation.zones,
        zones_out=draft.zones_out,
        exhausted=given.exhausted,
        now=given.now,
    )
    placed = [
        placement.PlacedInstance(h.instance_id, h.slot, h.zone, parse_time(h.launched_at) or given.now) for h in holders
    ]
    moved = []
    for move in placement.zone_balance_moves(placed, zones=zones, max_moves=spare):
        reason = f"{ZONE_BALANCE}: move {move.instance_id} from {move.from_zone} to {move.to_zone}"
        only = frozenset({move.to_zone})
        if draft.replace(move.slot, move.instance_id, reason, keyword=ZONE_BALANCE, only_zones=only) is not None:
            moved.append(f"{move.instance_id} {move.from_zone}→{move.to_zone}")
    if moved:
        draft.decision_note("Normal", "Rebalancing", f"moving capacity between zones: {', '.join(moved)}")
    return tuple(moved)
