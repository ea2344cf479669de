"""The report as plain text: what ``make simulate`` prints at the end (the live view prints a
rich table of the same rows).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from judge0_operator.simulate.report.build import Report
from judge0_operator.simulate.report.client_load import ClientsSection
from judge0_operator.simulate.report.step_verdicts import diagnosis_of


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}s"


def _action_text(action: Mapping[str, Any]) -> str:
    diagnosis = diagnosis_of(str(action.get("reason") or ""))
    return f"{action['action']}{f'({diagnosis})' if diagnosis else ''}@{action['t']:.0f}s"


def render_text(report: Report) -> str:
    """The report as plain text (the live view prints a rich table of the same rows)."""
    lines = [
        f"Scenario {report.scenario!r}: {report.duration_seconds:.0f}s at speed {report.speed:g}; "
        f"{'PASS' if report.ok else 'FAIL'}"
    ]
    lines.append(f"{'step':28} {'detect':>7} {'act':>7} {'recover':>8}  verdict")
    for s in report.steps:
        lines.append(
            f"{s.label[:28]:28} {_fmt(s.detect_seconds):>7} {_fmt(s.act_seconds):>7} "
            f"{_fmt(s.recover_seconds):>8}  {'ok ' if s.passed else 'BAD'} {s.verdict}"
        )
        if s.actions:
            summary = ", ".join(_action_text(a) for a in s.actions[:6])
            more = f" (+{len(s.actions) - 6})" if len(s.actions) > 6 else ""
            lines.append(f"{'':28}   actions: {summary}{more}")
    lines.append(
        f"availability: {_pct(report.availability)} (operator's status), "
        f"{_pct(report.availability_truth)} (world truth)"
    )
    lines.append(
        f"instances launched: {report.instances_launched}, instance-hours: {report.instance_hours:.3f}"
    )
    calls = ", ".join(f"{k} {v}" for k, v in report.aws_calls.items())
    lines.append(f"AWS API calls: {report.aws_calls_total} ({calls})")
    for inv in report.invariants:
        lines.append(f"invariant {inv.name}: {'held' if inv.ok else 'BROKEN'}")
        lines.extend(f"    {v}" for v in inv.violations[:10])
    if report.clients is not None:
        lines.extend(render_clients(report.clients))
    lines.extend(f"note: {n}" for n in report.notes)
    return "\n".join(lines)


def render_clients(section: ClientsSection) -> list[str]:
    """The clients section as plain-text lines."""
    if section.status != "measured":
        return [f"clients: {section.note}"]
    rejected = section.rejected
    lost = section.lost
    lines = [
        f"clients ({section.target}, {section.rate:g}/s): {section.submitted} submitted, "
        f"{section.accepted} accepted, {section.delivered} delivered"
        + (f" ({section.delivered_wrong} wrong)" if section.delivered_wrong else "")
        + f", {rejected.get('total', 0)} rejected at the front ({rejected.get('5xx', 0)} 5xx, "
        f"{rejected.get('refused', 0)} refused), {lost.get('total', 0)} lost "
        f"({lost.get('operator', 0)} to the operator's actions, {lost.get('fault', 0)} to injected faults, "
        f"{lost.get('unknown', 0)} unexplained), {section.pending} pending at the end",
        f"    delivery latency p50 {_fmt(section.latency_p50_seconds)}, p99 {_fmt(section.latency_p99_seconds)}",
    ]
    if section.note:
        lines.append(f"    note: {section.note}")
    causes: dict[tuple[str, str, str], int] = defaultdict(int)
    for loss in section.losses:
        cause = loss.get("cause") or {}
        causes[(str(cause.get("by", "unknown")), str(cause.get("action", "?")), str(cause.get("event", "")))] += 1
    for (by, action, event), n in sorted(causes.items(), key=lambda kv: -kv[1]):
        lines.append(f"    lost {n}: {by}: {action} — {event}")
    return lines
