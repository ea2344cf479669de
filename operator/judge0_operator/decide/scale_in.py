"""Phase 6, scale-in: remove the slots beyond the desired count.

Which slots go, one at a time: unhealthy first (then Unknown, Starting, Healthy), then those
already draining (so the drain begun last pass is the one finished), then from the zone holding
the most slots (so the fleet stays spread, as EC2 Auto Scaling does), then idle nodes (nothing
queued or running: no drain to wait for), then the newest. A removed slot's instances are
terminated — once drained (``Draft.terminate``) — and its pending launch dropped; later phases
leave it alone (it is not refilled, remediated or rolled). A slot whose instance a human holds
(``judge0.dev/do-not-disrupt``) is skipped (reported as held back), the next in line goes instead.

Events: ``ScalingDown`` — Normal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

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
    removed: list[SlotView] = []
    idle = {h.instance_id for v in occupied if (h := v.holder) and (w := draft.work_of(h.instance_id)) and w.idle}
    for view in scale_in_order(occupied, len(occupied), idle=idle):
        if len(removed) == excess:
            break
        held = [r.instance_id for r in [*([view.holder] if view.holder else []), *view.outgoing] if r.do_not_disrupt]
        for instance_id in held:  # a human holds it: the next in line goes instead
            draft.hold_back(instance_id, SCALE_DOWN)
        if not held:
            removed.append(view)
    if not removed:
        return ()
    news = False  # a drain still under way from an earlier pass is no news: said once, when it began
    for view in removed:
        for row in [*([view.holder] if view.holder else []), *view.outgoing]:
            if not draft.leaving(row.instance_id):
                went = draft.terminate(row, f"{SCALE_DOWN}: desired {size.desired}, slot {view.slot} removed")
                news = news or went or row.drain is None
        draft.remove_slot(view.slot)
    if news:
        draft.decision_note(
            "Normal",
            "ScalingDown",
            f"removing {len(removed)} slot(s) ({', '.join(v.slot for v in removed)}): "
            f"{len(occupied)} present, desired {size.desired} ({size.scaling.reason})",
        )
    return tuple(v.slot for v in removed)


def scale_in_order(occupied: list[SlotView], count: int, *, idle: Collection[str] = ()) -> list[SlotView]:
    """The slots to remove, in order (see the module docstring); ``idle``: holders with no work."""
    left = list(occupied)
    removed: list[SlotView] = []
    for _ in range(min(count, len(left))):
        per_zone = Counter(_view_zone(v) for v in left)
        pick = min(left, key=lambda view: _scale_in_rank(view, per_zone, idle))
        left.remove(pick)
        removed.append(pick)
    return removed


def _view_zone(view: SlotView) -> str:
    if view.holder is not None:
        return view.holder.zone
    return view.intent.zone if view.intent is not None else ""


def _scale_in_rank(
    view: SlotView, per_zone: Counter[str], idle: Collection[str]
) -> tuple[int, int, int, int, float, tuple[int, str]]:
    crowding = -per_zone[_view_zone(view)]
    if view.holder is None:  # a launch not yet seen ranks with Starting
        return (2, 1, crowding, 0, -_ts(view.intent.requested_at if view.intent else None), slot_key(view.slot))
    holder = view.holder
    return (
        _SCALE_IN_RANK.get(holder.health, 1),
        0 if holder.drain is not None else 1,
        crowding,
        0 if holder.instance_id in idle else 1,
        -_ts(holder.launched_at),
        slot_key(view.slot),
    )


def _ts(text: str | None) -> float:
    moment = parse_time(text)
    return moment.timestamp() if moment else 0.0
