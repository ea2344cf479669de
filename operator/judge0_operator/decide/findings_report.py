"""What phase 13 (report) says about diagnoses, broken templates and a human's controls.

- ``Degraded`` True reason ``TemplateDefective`` (before every other reason): the template, the
  diagnosis and its evidence; nothing launches from it.
- ``Configured`` — True ``AsExpected`` · False ``AuthRejected`` or ``Maintenance``: the nodes whose
  diagnosis is configuration, never remediated, and what to fix; ``ControlNotUnderstood``: an
  annotation entry that cannot be read.
- ``status.heldBack``: instances held by ``judge0.dev/do-not-disrupt`` that a disruption spared
  this pass, and which (``ScaleDown``, ``Rollout``, ``Remediation``, …).
- ``status.handledRequests``: ``judge0.dev/remediate`` entries done and still present.
- ``status.circuitReset``: the ``judge0.dev/reset-circuit`` value acted on.

Events: ``DisruptionBlocked`` — Normal (the held-back list changed); ``CircuitReset`` — Normal.
"""

from __future__ import annotations

from collections.abc import Sequence

from judge0_operator.api.fleet_status import InstanceStatus, Judge0FleetStatus
from judge0_operator.decide.conditions import CONFIGURED, DEGRADED, Desired
from judge0_operator.decide.diagnosis import traits_of
from judge0_operator.decide.draft import Draft
from judge0_operator.decide.inputs import PassInputs
from judge0_operator.decide.model import EventNote
from judge0_operator.decide.templates import TemplateVerdict

_FIX = {
    "AuthRejected": "check judge0.authSecretRef (the token sent as X-Auth-Token), the node's AUTHN_TOKEN and "
    "ALLOW_IP/DISALLOW_IP",
    "Maintenance": "the node is in maintenance mode (MAINTENANCE_MODE in judge0.conf); it gets no submissions "
    "and is not remediated",
}


def template_defective(verdict: TemplateVerdict | None) -> Desired | None:
    if verdict is None or verdict.current is None:
        return None
    return Desired(DEGRADED, "True", "TemplateDefective", verdict.message())


def configured(rows: Sequence[InstanceStatus], problems: Sequence[str] = ()) -> Desired:
    """Configuration the operator cannot fix, named per node (the first cause found is the reason);
    annotations it cannot read come first (``ControlNotUnderstood``)."""
    if problems:
        return Desired(CONFIGURED, "False", "ControlNotUnderstood", "; ".join(problems))
    found = [r for r in rows if r.diagnosis and traits_of(r.diagnosis).configuration]
    if not found:
        return Desired(CONFIGURED, "True", "AsExpected", "")
    reason = found[0].diagnosis or "Misconfigured"
    parts = [f"{r.instance_id}: {r.diagnosis_detail or r.diagnosis}" for r in found]
    fixes = sorted({_FIX.get(r.diagnosis or "", "") for r in found} - {""})
    return Desired(CONFIGURED, "False", reason, "; ".join(parts) + (f" — {'; '.join(fixes)}" if fixes else ""))


def held_back(draft: Draft) -> list[str]:
    """``<instance-id>: <disruptions>`` for every held instance a disruption spared, sorted."""
    return [f"{iid}: {', '.join(sorted(what))}" for iid, what in sorted(draft.held_back.items())]


def handled_requests(given: PassInputs, draft: Draft) -> list[str]:
    """Entries done before or now that the annotation still holds (removing one forgets it)."""
    present = given.controls.request_keys
    return sorted((set(given.previous.handled_requests) | draft.handled_requests) & present)


def notes(given: PassInputs, previous: Judge0FleetStatus, held: list[str]) -> list[EventNote]:
    out: list[EventNote] = []
    if held and held != previous.held_back:
        out.append(
            EventNote(
                "Normal",
                "DisruptionBlocked",
                f"held by judge0.dev/do-not-disrupt, so spared: {'; '.join(held)}",
            )
        )
    if given.reset:
        out.append(
            EventNote(
                "Normal",
                "CircuitReset",
                f"judge0.dev/reset-circuit={given.controls.reset_circuit}: terminal AWS error, defective templates "
                "and give-ups cleared; the region's AWS circuit breakers closed",
            )
        )
    return out
