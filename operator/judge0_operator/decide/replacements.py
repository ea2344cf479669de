"""Phase 7, finishing replacements: terminate what a replacement supersedes.

An instance being replaced (an older attempt in its slot, or a holder with a newer launch
pending) is terminated once the new instance is Healthy — launch first, so capacity never dips
— or at once if it is beyond use (``health.Assessment.unrecoverable``: retired, terminated by
EC2, …). Above maxUnhealthy nothing is finished: a storm must not swap instances.

Events: ``InstanceReplaced`` — Normal.
"""

from __future__ import annotations

from collections.abc import Mapping

from judge0_operator.decide.draft import REPLACED, Draft
from judge0_operator.decide.health import Assessment
from judge0_operator.decide.safety import Limits


def finish_replacements(draft: Draft, assessments: Mapping[str, Assessment], limits: Limits) -> None:
    if limits.restricted:
        return
    for view in draft.views().values():
        if draft.removed(view.slot):
            continue
        incoming = view.incoming()
        ready = incoming is not None and incoming.health == "Healthy"
        for row in view.stepping_down():
            if draft.leaving(row.instance_id):
                continue
            verdict = assessments.get(row.instance_id)
            if ready and incoming is not None:
                why = f"replacement {incoming.instance_id} is healthy"
            elif verdict is not None and verdict.unrecoverable:
                why = f"beyond use ({verdict.summary}); replacement under way"
            else:
                continue
            draft.terminate(row, f"{REPLACED}: {why}", event=("Normal", "InstanceReplaced"))
