"""Phase 5, duplicates: two instances in one slot with the same attempt, or one without a slot tag.

A launch retried without EC2 idempotency can leave two instances for one (slot, attempt): the
healthiest, then oldest, is kept (``slots.keeper_key``) and the others are terminated. An
instance of the fleet without a slot tag belongs to no slot and is terminated too.

Events: ``DuplicateInstance`` — Warning (one per instance terminated).
"""

from __future__ import annotations

from judge0_operator.decide.draft import DUPLICATE, Draft


def terminate_duplicates(draft: Draft) -> None:
    views, unslotted = draft.group()
    for view in views.values():
        for dup in view.duplicates:
            kept = view.holder.instance_id if view.holder else "?"
            draft.terminate(
                dup,
                f"{DUPLICATE}: slot {view.slot} attempt {dup.launch_attempt} is already filled by {kept} (kept)",
                event=("Warning", DUPLICATE),
            )
    for row in unslotted:
        draft.terminate(row, f"{DUPLICATE}: no slot tag", event=("Warning", DUPLICATE))
