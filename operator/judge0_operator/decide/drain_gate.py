"""The drain gate of one pass: which interruptions may go now, and which nodes are held to drain.

``drain.check`` is the rule for one node; the gate applies it to every interrupting action the
pass decides (``Draft.terminate`` and ``Draft.act`` ask it), keeps the nodes held this pass, when
to look at them again, and the drains that ended (for metrics). Events: ``Draining``,
``Drained`` (Normal), ``DrainTimedOut`` (Warning).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from judge0_operator.api.fleet_status import DrainState, InstanceStatus
from judge0_operator.decide import drain
from judge0_operator.decide.inputs import PassInputs

Note = Callable[[Literal["Normal", "Warning"], str, str], None]


@dataclass(frozen=True)
class DrainEnd:
    """A drain that ended this pass (the metrics' drain duration and time-outs)."""

    instance_id: str
    outcome: drain.Outcome
    seconds: float
    queued: int | None = None
    running: int | None = None


class DrainGate:
    """Held drains and ended drains of one pass; ``may_interrupt`` is the only way in."""

    def __init__(self, given: PassInputs) -> None:
        self.given = given
        self.draining: dict[str, DrainState] = {}  # held this pass: instance id -> its drain
        self.ends: list[DrainEnd] = []
        self.checks: list[datetime] = []
        self.works = drain.works(given.observation)
        self._seen = {s.instance.instance_id: s for s in given.observation.instances}

    def may_interrupt(self, row: InstanceStatus, reason: str, *, note: Note) -> bool:
        """True if an interrupting action on ``row`` may go now; else the node is held, draining
        (``drain.check``). DryRun decides as if every node were drained."""
        given = self.given
        if not given.enforce:
            return True
        if row.instance_id in self.draining:
            return False
        verdict = drain.check(
            row,
            reason,
            policy=given.policy,
            topology=given.spec.judge0.topology,
            work=self.works.get(row.instance_id),
            hard=drain.hard_deadline(self._seen.get(row.instance_id)),
            now=given.now,
            traffic_controlled=drain.controls_traffic(given.spec),
        )
        state = verdict.state
        if not verdict.ready:
            assert state is not None
            self.draining[row.instance_id] = state
            if verdict.next_check is not None:
                self.checks.append(verdict.next_check)
            if row.drain is None:
                note(
                    "Normal",
                    "Draining",
                    f"{row.instance_id} (slot {row.slot or 'none'}) leaves rotation and drains before {reason}: "
                    f"waiting until nothing is queued or running, then {given.policy.drain.grace_seconds}s, "
                    f"until {state.deadline} at the latest",
                )
            return False
        if row.drain is not None or verdict.outcome in ("drained", "timed-out", "deadline"):
            held = state or row.drain
            took = drain.seconds(held, given.now)
            queued, running = (held.queued, held.running) if held else (None, None)
            assert verdict.outcome is not None
            self.ends.append(DrainEnd(row.instance_id, verdict.outcome, took, queued, running))
            if verdict.outcome in ("timed-out", "deadline"):
                limit = (
                    f"its hard deadline {held.hard_deadline} (a scheduled event)"
                    if verdict.outcome == "deadline" and held is not None
                    else f"drain.timeoutSeconds {given.policy.drain.timeout_seconds}"
                )
                note(
                    "Warning",
                    "DrainTimedOut",
                    f"{row.instance_id} still had {verdict.why} after {took:.0f}s ({limit}): going ahead with {reason}",
                )
            else:
                note("Normal", "Drained", f"{row.instance_id} drained in {took:.0f}s ({verdict.why}): {reason}")
        return True
