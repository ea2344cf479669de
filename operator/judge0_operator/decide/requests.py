"""A human's ``judge0.dev/remediate`` requests, made ready for remediation (phase 9).

A request is one action on one instance, now: it goes before the ladder's own steps, ignores the
instance's health and backoff, and is not an attempt of the ladder — but it stays within the
safety limits (nothing above maxUnhealthy, a maxInFlight slot like any remediation). A request
for an instance that is not the fleet's, or that is held by ``judge0.dev/do-not-disrupt``, is
refused (and not asked again until the entry changes).

Events: ``RemediationRequested`` — Normal (taken); ``RemediationRequestRefused`` — Warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from judge0_operator.api.diagnosis import REMEDIATE
from judge0_operator.decide.controls import Request, pending_requests
from judge0_operator.decide.draft import Draft
from judge0_operator.decide.ladder import Step, StepAction
from judge0_operator.decide.slots import SlotView

_STEPS: dict[str, StepAction] = {"Restart": "RestartJudge0", "Reboot": "RebootInstance", "Replace": "ReplaceInstance"}


@dataclass(frozen=True)
class Asked:
    request: Request
    view: SlotView
    step: Step


def pending(draft: Draft) -> list[Asked]:
    """The requests to carry out now (refused ones are noted and marked done here)."""
    given = draft.given
    live = {o.instance.instance_id: o.instance for o in given.observation.instances}
    tagged = [(iid, inst.tags) for iid, inst in live.items() if iid in draft.rows]
    handled_tags = {iid: row.handled_request for iid, row in draft.rows.items()}
    done = set(given.previous.handled_requests)
    views = {v.holder.instance_id: v for v in draft.views().values() if v.holder is not None}
    asked: list[Asked] = []
    for request in pending_requests(given.controls, tagged, done, handled_tags):
        view = views.get(request.instance_id)
        if view is None or view.holder is None or draft.leaving(request.instance_id) or draft.removed(view.slot):
            if request.source == "annotation" and request.instance_id not in draft.rows:
                _refuse(draft, request, "it is not a live instance of this fleet")
            continue  # leaving or replaced already: nothing to do, and the tag goes with it
        if view.holder.do_not_disrupt:
            _refuse(draft, request, "it is held by judge0.dev/do-not-disrupt; lift the hold and ask again")
            continue
        why = f"requested by {REMEDIATE} ({request.action})"
        asked.append(Asked(request, view, Step(_STEPS[request.action], why, requested=True)))
    return asked


def done(draft: Draft, request: Request, *, refused: bool = False) -> None:
    """Mark the request carried out: an annotation entry in status, a tag in the instance's row."""
    if request.source == "annotation":
        draft.request_done(request.key, refused=refused)
        return
    row = draft.rows.get(request.instance_id)
    if row is not None and (draft.given.enforce or refused):
        draft.update_row(row.model_copy(update={"handled_request": request.key}))


def _refuse(draft: Draft, request: Request, why: str) -> None:
    draft.note("Warning", "RemediationRequestRefused", f"{request.action} {request.instance_id}: refused: {why}")
    done(draft, request, refused=True)
