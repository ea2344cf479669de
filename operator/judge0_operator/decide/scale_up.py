"""Phase 10, scale-up: launch for every slot missing below the desired count.

Empty slots the fleet already knows are refilled first (lowest first, the next attempt), then
new slots are numbered from ``status.nextSlot``; empty slots beyond what is needed are
forgotten. Launches stop at the pass's launch budget or when no target has capacity.

Events: ``ScalingUp`` — Normal.
"""

from __future__ import annotations

from judge0_operator.decide.capacity import Size
from judge0_operator.decide.draft import REFILL, SCALE_UP, Draft
from judge0_operator.decide.slots import slot_key, slot_number


def fill_slots(draft: Draft, size: Size) -> tuple[str, ...]:
    """Launch for missing slots; the slots launched for."""
    desired, why = size.desired, size.scaling.reason
    occupied = {v.slot for v in draft.occupied(draft.views())}
    need = desired - len(occupied)
    vacant = sorted((s for s in draft.slot_attempts if s not in occupied and not draft.removed(s)), key=slot_key)
    launched: list[str] = []
    while need > 0:
        if vacant:
            slot = vacant[0]
            attempt = draft.slot_attempts[slot] + 1
            reason = f"{REFILL}: slot {slot} is empty"
            keyword = REFILL
        else:
            number = draft.next_slot
            while f"s{number}" in draft.slot_attempts or f"s{number}" in occupied:
                number += 1
            slot, attempt, keyword = f"s{number}", 0, SCALE_UP
            reason = f"{SCALE_UP}: desired {desired} ({why}), {len(occupied)} present"
        if draft.launch(slot, attempt, reason, keyword=keyword) is None:
            break
        if vacant and vacant[0] == slot:
            vacant.pop(0)
        else:
            draft.allocate_slots_from((slot_number(slot) or 0) + 1)
        launched.append(slot)
        need -= 1
    for slot in vacant[max(0, need) :]:  # empty slots beyond what is needed are forgotten
        draft.forget_slot(slot)
    if launched:
        draft.decision_note(
            "Normal",
            "ScalingUp",
            f"launching {len(launched)} instance(s) for {', '.join(launched)}: desired "
            f"{desired} ({why}), {len(occupied)} present",
        )
    return tuple(launched)
