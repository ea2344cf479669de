"""What must hold over the whole run, whatever the steps: no duplicate launch, no leaked
instance, no remediation while the safety stop is on. Each broken one fails the run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from judge0_operator.simulate.report.step_timings import is_remediation
from judge0_operator.simulate.samples import ActionSeen, Sample


@dataclass
class InvariantResult:
    name: str
    ok: bool
    description: str
    violations: list[str] = field(default_factory=list)


def check_duplicate_launches(
    samples: Sequence[Sample], fleet_uid: str | None, sustained: int = 2
) -> InvariantResult:
    """No two live instances for one (slot, launch attempt); never more live instances than the
    desired count + maxSurge + replacements in flight, for ``sustained`` samples in a row (status
    trails the world by up to a pass, so a single sample can show a launch before its intent)."""
    violations: list[str] = []
    seen: set[str] = set()
    streak = 0
    recent_desired: list[int] = []
    for s in samples:
        live = [w for w in s.fleet_world(fleet_uid) if w.live]
        groups: dict[tuple[str | None, str | None], list[str]] = defaultdict(list)
        for w in live:
            groups[(w.slot, w.attempt)].append(w.instance_id)
        for (slot, attempt), ids in groups.items():
            if len(ids) > 1:
                msg = f"slot {slot} attempt {attempt}: {len(ids)} live instances {sorted(ids)}"
                if msg not in seen:
                    seen.add(msg)
                    violations.append(msg)
        recent_desired = [*recent_desired[-19:], s.desired]
        replacing = sum(1 for r in s.instances if r.replaced_by or r.health != "Healthy" or not r.updated)
        bound = max(recent_desired) + s.max_surge + replacing
        streak = streak + 1 if len(live) > bound else 0
        if streak == sustained:
            violations.append(
                f"{len(live)} live instances > desired {max(recent_desired)} + maxSurge "
                f"{s.max_surge} + {replacing} in replacement"
            )
    return InvariantResult(
        "no-duplicate-launch",
        not violations,
        "one live instance per (slot, attempt); live ≤ desired + maxSurge + replacements",
        violations,
    )


def check_leaks(final: Sample | None, fleet_uid: str | None) -> InvariantResult:
    """After the settle period: every live instance in the world is in the fleet's status."""
    violations = []
    if final is not None:
        known = {r.instance_id for r in final.instances}
        for w in final.world:
            if w.live and w.instance_id not in known:
                owner = "this fleet" if w.fleet_uid == fleet_uid else f"fleet-uid {w.fleet_uid}"
                violations.append(
                    f"{w.instance_id} ({w.state}, {owner}, slot {w.slot}) is not in the fleet status"
                )
    return InvariantResult(
        "no-leaked-instance",
        not violations,
        "after settling, no live instance the fleet does not account for",
        violations,
    )


def safety_stop_intervals(samples: Sequence[Sample], end: float) -> list[tuple[float, float]]:
    """When RemediationAllowed was False, from the conditions' own transition times."""
    intervals: list[tuple[float, float]] = []
    open_at: float | None = None
    for s in samples:
        c = s.condition("RemediationAllowed")
        if c is None:
            continue
        if c.status == "False" and open_at is None:
            open_at = c.since if c.since is not None else s.t
        elif c.status != "False" and open_at is not None:
            intervals.append((open_at, c.since if c.since is not None else s.t))
            open_at = None
    if open_at is not None:
        intervals.append((open_at, end))
    return intervals


def check_safety_stop(
    samples: Sequence[Sample], actions: Sequence[ActionSeen], end: float
) -> InvariantResult:
    violations = []
    for start, stop in safety_stop_intervals(samples, end):
        for a in actions:
            if start < a.t < stop and is_remediation(a):
                violations.append(
                    f"{a.action} on {a.instance_id or a.slot} at {a.t:.1f} while "
                    f"RemediationAllowed=False ({start:.1f} to {stop:.1f})"
                )
    return InvariantResult(
        "no-remediation-during-safety-stop",
        not violations,
        "no restart, reboot, start, replace or terminate while RemediationAllowed=False",
        violations,
    )
