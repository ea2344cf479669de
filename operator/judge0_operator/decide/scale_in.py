"""Phase 6, scale-in: remove the slots beyond the desired count.

Which slots go, one at a time: unhealthy first (then Unknown, Starting, Healthy), then from the
zone holding the most slots (so the fleet stays spread, as EC2 Auto Scaling does), then the
newest. A removed slot's instances are terminated and its pending launch dropped; later phases
leave it alone (it is not refilled, remediated or rolled).

Events: ``ScalingDown`` — Normal.
"""

from __future__ import annotations

from collections import Counter

from judge0_operator.decide.capacity import Size
from judge0_operator.decide.draft import SCALE_DOWN, Draft
from judge0_operator.decide.slots import SlotView, slot_key
from judge0_operator.decide.timeutil import parse_time

_SCALE_IN_RANK = {"Unhealthy": 0, "Unknown": 1, "Starting": 2, "Healthy": 3}


def remove_excess(draft: Draft, size: Size) -> tuple[str, ...]:
    """Scale in to ``size.desired``; the slots removed."""
    occupied = draft.occupied(draft.views())
    excess = len(occupied) - size.desired
    if excess <= 0:
        return ()
    removed = scale_in_order(occupied, excess)
    for view in removed:
        for row in [*([view.holder] if view.holder else []), *view.outgoing]:
            if not draft.leaving(row.instance_id):
                draft.terminate(row, f"{SCALE_DOWN}: desired {size.desired}, slot {view.slot} removed")
        draft.remove_slot(view.slot)
    draft.decision_note(
        "Normal",
        "ScalingDown",
        f"removing {len(removed)} slot(s) ({', '.join(v.slot for v in removed)}): "
        f"{len(occupied)} present, desired {size.desired} ({size.scaling.reason})",
    )
    return tuple(v.slot for v in removed)


def scale_in_order(occupied: list[SlotView], count: int) -> list[SlotView]:
    """The slots to remove, in order (see the module docstring)."""
    left = list(occupied)
    removed: list[SlotView] = []
    for _ in range(min(count, len(left))):
        per_zone = Counter(_view_zone(v) for v in left)
        pick = min(left, key=lambda view: _scale_in_rank(view, per_zone))
        left.remove(pick)
        removed.append(pick)
    return removed


def _view_zone(view: SlotView) -> str:
    if view.holder is not None:
        return view.holder.zone
    return view.intent.zone if view.intent is not None else ""


def _scale_in_rank(view: SlotView, per_zone: Counter[str]) -> tuple[int, int, float, tuple[int, str]]:
    crowding = -per_zone[_view_zone(view)]
    if view.holder is None:  # a launch not yet seen ranks with Starting
        return (2, crowding, -_ts(view.intent.requested_at if view.intent else None), slot_key(view.slot))
    return (_SCALE_IN_RANK.get(view.holder.health, 1), crowding, -_ts(view.holder.launched_at), slot_key(view.slot))


def _ts(text: str | None) -> float:
    moment = parse_time(text)
    return moment.timestamp() if moment else 0.0
