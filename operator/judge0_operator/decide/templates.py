"""Phase 4b, templates: stop launching from a template whose replacement failed like the instance
it replaced.

A broken image (a cgroup v2 host: every run is status 13) fails every instance made from it, so
replacing one such instance with another from the same template is a replacement loop. When a
replacement launched by remediation turns Unhealthy with the same diagnosis as the instance it
replaced (its ``predecessor``), and both come from the current template, that template is marked
defective: ``status.defectiveTemplates``, condition ``Degraded`` reason ``TemplateDefective`` with
the diagnosis and its evidence, an Event, and no launch at all from it — not a replacement, a
scale-up or a rollout step — until the instance template changes (or ``judge0.dev/reset-circuit``).
Restarts and reboots of other instances go on as usual.

Events: ``TemplateDefective`` — Warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from judge0_operator.api.diagnosis import DefectiveTemplate
from judge0_operator.decide import diagnosis
from judge0_operator.decide.draft import Draft
from judge0_operator.decide.timeutil import format_time


@dataclass(frozen=True)
class TemplateVerdict:
    defective: tuple[DefectiveTemplate, ...] = ()  # kept in status (the current template's only)
    current: DefectiveTemplate | None = None  # the current template is defective: nothing launches

    def message(self) -> str:
        found = self.current
        if found is None:
            return ""
        old, new = [*found.instances, "?", "?"][:2]
        return (
            f"template {found.template_hash}: replacement {new} failed like {old} ({found.diagnosis}: "
            f"{found.evidence}); no launches from it until the instance template changes"
        )


def judge_templates(draft: Draft) -> TemplateVerdict:
    """Mark the current template defective when a replacement from it failed like its predecessor."""
    given = draft.given
    kept = [] if given.reset else [d for d in given.previous.defective_templates if d.template_hash == given.template]
    for row in sorted(draft.rows.values(), key=lambda r: r.instance_id):
        before = row.predecessor
        if (
            kept
            or before is None
            or row.health != "Unhealthy"
            or row.diagnosis is None
            or not diagnosis.acts(row.diagnosis)
            or row.diagnosis != before.diagnosis
            or not row.template_hash
            or row.template_hash != before.template_hash
            or row.template_hash != given.template
        ):
            continue
        found = DefectiveTemplate(
            template_hash=row.template_hash,
            diagnosis=row.diagnosis,
            evidence=row.diagnosis_detail or before.evidence,
            instances=[before.instance_id, row.instance_id],
            since=format_time(given.now),
        )
        kept.append(found)
        verdict = TemplateVerdict(tuple(kept), found)
        draft.note("Warning", "TemplateDefective", verdict.message())
    current = kept[0] if kept else None
    verdict = TemplateVerdict(tuple(kept), current)
    if current is not None:
        draft.block_launches(verdict.message())
    return verdict
