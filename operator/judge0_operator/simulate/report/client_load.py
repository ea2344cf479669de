"""The report's clients section, read from the world's ``/clients`` summary: what simulated
students saw through the fleet's published front. Not part of ``ok``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ClientsSection:
    """The student load's outcome (``status``: measured, not-published or off)."""

    status: str
    note: str = ""
    target: str | None = None
    rate: float = 0.0
    submitted: int = 0
    accepted: int = 0
    delivered: int = 0
    delivered_wrong: int = 0
    rejected: Mapping[str, Any] = field(default_factory=dict)
    lost: Mapping[str, int] = field(default_factory=dict)
    pending: int = 0
    skipped: int = 0
    latency_p50_seconds: float | None = None
    latency_p99_seconds: float | None = None
    losses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def lost_to_operator(self) -> int:
        return int(self.lost.get("operator", 0))


def clients_section(
    summary: Mapping[str, Any] | None, *, target: str | None, rate: float, unpublished_reason: str = ""
) -> ClientsSection:
    """The report's clients section from the world's ``/clients`` summary (None: no load ran)."""
    if target is None:
        return ClientsSection("not-published", note=unpublished_reason or "no client load: fleet not published")
    if summary is None:
        return ClientsSection("off", note="client load switched off", target=target, rate=rate)
    latency = summary.get("latencySeconds") or {}
    note = "" if summary.get("frontHadTargets") else "the front never had a target in service"
    return ClientsSection(
        "measured",
        note=note,
        target=target,
        rate=float(summary.get("rate", rate)),
        submitted=int(summary.get("submitted", 0)),
        accepted=int(summary.get("accepted", 0)),
        delivered=int(summary.get("delivered", 0)),
        delivered_wrong=int(summary.get("deliveredWrong", 0)),
        rejected=dict(summary.get("rejected") or {}),
        lost=dict(summary.get("lost") or {}),
        pending=int(summary.get("pending", 0)),
        skipped=int(summary.get("skipped", 0)),
        latency_p50_seconds=latency.get("p50"),
        latency_p99_seconds=latency.get("p99"),
        losses=[dict(loss) for loss in summary.get("losses") or []],
    )
