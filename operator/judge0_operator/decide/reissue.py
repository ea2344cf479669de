"""Phase 8, re-issuing intents: launches recorded but never confirmed go again, with the same token.

A launch intent is written to status before RunInstances is called; if the call's answer was
lost (a crash, a throttled or failed call), the intent is still pending without an instance id.
Re-issuing it with its own ClientToken is safe: EC2 returns the instance it already made, if
any. A remediation replacement waits while remediation is restricted (above maxUnhealthy).
"""

from __future__ import annotations

from judge0_operator.decide.draft import REMEDIATION, Draft
from judge0_operator.decide.safety import Limits


def reissue_intents(draft: Draft, limits: Limits) -> None:
    for intent in list(draft.intents):
        if intent.instance_id is not None or draft.removed(intent.slot):
            continue
        if not draft.can_launch_more():
            return
        if intent.replaces and intent.reason.startswith(REMEDIATION) and limits.restricted:
            continue
        draft.reissue(intent)
