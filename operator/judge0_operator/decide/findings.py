"""Part of phase 1 (memory): what a row says beyond health — its diagnosis, a human's hold, the
request tag already done, and the instance it replaced.

- ``diagnosis`` (``decide/diagnosis.py``) is shown while the instance is not Healthy, and always
  for the causes the operator never acts on (configuration, load), so a human sees them.
- ``doNotDisrupt``: the fleet's ``judge0.dev/do-not-disrupt`` annotation names it, or its tag says
  ``true``.
- ``handledRequest``: the ``judge0.dev/remediate`` tag value already acted on, forgotten once the
  tag goes (so setting it again asks again).
- ``predecessor``: a replacement launched by remediation remembers the instance it replaced (its
  diagnosis and template, from the launch intent) until it proves Healthy: the test of a broken
  template (``decide/templates.py``).

Events: ``Diagnosed`` — Warning (an unhealthy instance's cause named or changed; Normal for the
causes never acted on); ``DoNotDisrupt`` / ``DisruptionAllowed`` — Normal (a hold set or lifted).
"""

from __future__ import annotations

from collections.abc import Sequence

from judge0_operator.api.diagnosis import Predecessor
from judge0_operator.api.fleet_status import InstanceStatus, LaunchIntent
from judge0_operator.decide.controls import held_by_tag, tag_request
from judge0_operator.decide.diagnosis import TRAITS, Diagnosis, diagnose
from judge0_operator.decide.health import Assessment
from judge0_operator.decide.inputs import PassInputs
from judge0_operator.decide.model import EventNote, InstanceObservation
from judge0_operator.decide.timeutil import parse_time

_SHOWN_WHILE = frozenset({"Unhealthy", "Unknown"})


def annotate(
    row: InstanceStatus,
    seen: InstanceObservation,
    old: InstanceStatus | None,
    verdict: Assessment,
    given: PassInputs,
    intents: Sequence[LaunchIntent],
) -> tuple[InstanceStatus, list[EventNote]]:
    """The row with its diagnosis, hold, handled tag and predecessor; the Events they call for."""
    instance = seen.instance
    notes: list[EventNote] = []
    acted_at = parse_time(old.last_action_at) if old is not None else None
    found = diagnose(seen, verdict.signals, expected_version=given.spec.judge0.expected_version, fresh_after=acted_at)
    if found is None and old is not None and old.diagnosis in TRAITS and row.health == "Unhealthy":
        found = Diagnosis(old.diagnosis, old.diagnosis_detail)  # type: ignore[arg-type]  # inconclusive: it stands
    if found is not None and (row.health not in _SHOWN_WHILE and found.traits.acts):
        found = None
    held = instance.instance_id in given.controls.do_not_disrupt or held_by_tag(instance.tags)
    tagged = tag_request(instance.instance_id, instance.tags)
    handled = old.handled_request if old is not None and tagged is not None else None
    predecessor = old.predecessor if old is not None else _predecessor_of(row, intents)
    if row.health == "Healthy":
        predecessor = None
    reset: dict[str, object] = {}
    if given.reset:  # judge0.dev/reset-circuit: the ladder starts over; a template is judged afresh
        predecessor = None
        if row.gave_up or row.attempts:
            reset = {"gave_up": False, "attempts": 0, "rung": 0, "rung_attempts": 0, "next_action_at": None}
    updated = row.model_copy(
        update={
            **reset,
            "diagnosis": found.name if found else None,
            "diagnosis_detail": found.evidence if found else "",
            "do_not_disrupt": held,
            "handled_request": handled if tagged is not None and handled == tagged.key else None,
            "predecessor": predecessor,
        }
    )
    was = (old.diagnosis, old.diagnosis_detail) if old is not None else (None, "")
    if found is not None and (found.name != was[0]):
        message = f"{instance.instance_id} (slot {row.slot or 'none'}): {found.text()}"
        notes.append(EventNote("Warning" if found.traits.acts else "Normal", "Diagnosed", message))
    if old is not None and old.do_not_disrupt != held:
        if held:
            notes.append(
                EventNote(
                    "Normal",
                    "DoNotDisrupt",
                    f"{instance.instance_id} is held (judge0.dev/do-not-disrupt): no remediation, scale-in "
                    "or rollout replacement; it still counts and is reported",
                )
            )
        else:
            notes.append(EventNote("Normal", "DisruptionAllowed", f"{instance.instance_id} is no longer held"))
    return updated, notes


def _predecessor_of(row: InstanceStatus, intents: Sequence[LaunchIntent]) -> Predecessor | None:
    for intent in intents:
        if intent.predecessor is not None and (
            intent.instance_id == row.instance_id or (intent.slot, intent.attempt) == (row.slot, row.launch_attempt)
        ):
            return intent.predecessor
    return None
