"""The chaos table: one row per fault class or crash point, summed over its runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from judge0_operator.chaos.runs import RunResult


@dataclass
class Row:
    label: str
    runs: int = 0
    converged: int = 0
    max_seconds: float | None = None
    duplicates: int = 0
    extra_launches: int = 0
    leaks: int = 0
    safety: int = 0
    secrets: int = 0
    lost_submissions: int | None = None
    restarts: int = 0
    crash_points: set[tuple[str, int]] = field(default_factory=set)
    crashes_fired: int = 0
    modes: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        lost = bool(self.lost_submissions)
        return self.converged == self.runs and not (
            self.duplicates or self.leaks or self.safety or self.secrets or lost
        )

    @property
    def seconds_text(self) -> str:
        return f"{self.max_seconds:.1f}" if self.max_seconds is not None else "—"

    @property
    def lost_text(self) -> str:
        """— where no client load ran (deletion takes its work with it)."""
        return str(self.lost_submissions) if self.lost_submissions is not None else "—"

    def add(self, result: RunResult) -> None:
        self.runs += 1
        self.modes.add(result.spec.mode)
        if result.converged:
            self.converged += 1
            seconds = result.seconds or 0.0
            self.max_seconds = seconds if self.max_seconds is None else max(self.max_seconds, seconds)
        self.duplicates += len(result.duplicates)
        self.extra_launches += result.extra_launches
        self.leaks += len(result.leaks)
        self.safety += len(result.safety)
        self.secrets += len(result.secrets)
        if result.lost_submissions is not None:
            self.lost_submissions = (self.lost_submissions or 0) + result.lost_submissions
        self.restarts += result.restarts
        if result.spec.crash is not None:
            self.crash_points.add(result.spec.crash)
            self.crashes_fired += bool(result.crash_fired)

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.label,
            "ok": self.ok,
            "runs": self.runs,
            "converged": self.converged,
            "maxSecondsToConverge": round(self.max_seconds, 1) if self.max_seconds is not None else None,
            "duplicates": self.duplicates,
            "extraLaunchesCleanedUp": self.extra_launches,
            "leaks": self.leaks,
            "remediationDuringSafetyStop": self.safety,
            "secretSeen": self.secrets,
            "lostSubmissions": self.lost_submissions,
            "operatorRestarts": self.restarts,
            "crashPoints": sorted(f"{p}#{n}" for p, n in self.crash_points),
            "crashesFired": self.crashes_fired,
            "modes": sorted(self.modes),
        }


def rows(results: Sequence[RunResult]) -> list[Row]:
    by_label: dict[str, Row] = {}
    for result in results:
        by_label.setdefault(result.spec.row, Row(result.spec.row)).add(result)
    return list(by_label.values())


def crash_points_swept(results: Sequence[RunResult]) -> int:
    """Distinct (flow, point, n) the sweep killed the operator at (each in every mode)."""
    return len({(r.spec.flow, *r.spec.crash) for r in results if r.spec.crash is not None and r.crash_fired})


def render(table: Sequence[Row], results: Sequence[RunResult], *, elapsed: float, lost_note: str) -> str:
    header = (
        f"{'fault or crash point':<58} {'runs':>4} {'conv':>4} {'max s':>6} {'dup':>3} {'extra':>5} "
        f"{'leak':>4} {'lost':>4} {'rest':>4}  ok"
    )
    lines = [header, "-" * len(header)]
    for row in table:
        label = row.label if len(row.label) <= 58 else row.label[:57] + "…"
        lines.append(
            f"{label:<58} {row.runs:>4} {row.converged:>4} {row.seconds_text:>6} {row.duplicates:>3} "
            f"{row.extra_launches:>5} {row.leaks:>4} {row.lost_text:>4} {row.restarts:>4}  {'yes' if row.ok else 'NO'}"
        )
    failed = [r for r in results if not r.ok]
    lines += [
        "-" * len(header),
        f"{len(results)} runs, {crash_points_swept(results)} crash points swept "
        f"(each in {', '.join(sorted({r.spec.mode for r in results if r.spec.crash}) or ['-'])}), "
        f"{sum(1 for r in results if r.converged)} converged, {len(failed)} failed, {elapsed:.0f} s",
        "columns: conv = converged to Ready at the desired size (or deleted); max s = slowest time to "
        "converge from the trigger; dup = duplicates alive and visible longer than one pass; extra = "
        "second launches of one (slot, attempt) the world made (client tokens off, lost answers) and "
        "the operator cleaned up; leak = instances tagged for the fleet, alive, not in its status; "
        f"lost = submissions lost to operator actions ({lost_note}); rest = operator restarts (crashes)",
    ]
    for result in failed:
        why = (
            result.notes + result.duplicates + result.leaks + result.safety + [f"secret in {s}" for s in result.secrets]
        )
        lines.append(f"  FAILED {result.spec.row} [{result.spec.mode}]: {'; '.join(why) or 'see the JSON report'}")
    return "\n".join(lines)


def render_markdown(table: Sequence[Row], results: Sequence[RunResult], *, elapsed: float, machine: str) -> str:
    """The table as Markdown (``--markdown FILE``), as the README shows it."""
    lines = [
        "| fault or crash point | modes | runs | converged | max s | duplicates | extra, cleaned up | leaks "
        "| lost submissions | restarts |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in table:
        nths = sorted({n for _, n in row.crash_points})
        label = row.label + (f" (#{nths[0]} to #{nths[-1]})" if len(nths) > 1 else "")
        cells = [
            label.replace("|", "\\|"),
            ", ".join(sorted(row.modes)),
            str(row.runs),
            str(row.converged),
            row.seconds_text,
            str(row.duplicates),
            str(row.extra_launches),
            str(row.leaks),
            row.lost_text,
            str(row.restarts),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    failed = sum(1 for r in results if not r.ok)
    lines += [
        "",
        f"{len(results)} runs, {crash_points_swept(results)} crash points swept, "
        f"{sum(1 for r in results if r.converged)} converged, {failed} failed, {elapsed / 60:.0f} min on {machine}.",
    ]
    return "\n".join(lines) + "\n"
