"""What a pass starts from, frozen: the spec, the policy, the observation, the previous status, now.

Also what follows from those alone and every phase may read: the mode (Enforce or DryRun),
whether decisions are made at all (not paused, EC2 fully seen), a terminal AWS error that stops
launches for this generation, and the capacity errors still remembered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from judge0_operator.api.fleet import Judge0FleetSpec
from judge0_operator.api.fleet_status import ExhaustedOffering, Judge0FleetStatus
from judge0_operator.api.policy import RecoveryPolicySpec
from judge0_operator.decide import placement, rollout
from judge0_operator.decide.controls import Controls
from judge0_operator.decide.model import FleetObservation
from judge0_operator.decide.timeutil import utc


@dataclass(frozen=True)
class PassInputs:
    """What a pass starts from, and what follows from it alone. Never changed."""

    spec: Judge0FleetSpec
    policy: RecoveryPolicySpec
    observation: FleetObservation
    previous: Judge0FleetStatus
    now: datetime  # made UTC
    fleet_uid: str
    generation: int
    fleet_name: str = ""
    controls: Controls = field(default_factory=Controls)  # a human's annotations (decide/controls.py)
    # Worked out from the above:
    template: str = field(init=False)  # the current template hash (``rollout.template_hash``)
    enforce: bool = field(init=False)  # policy mode Enforce (else DryRun)
    acting: bool = field(init=False)  # not paused and EC2 fully seen: decisions are made at all
    aws_error: dict[str, Any] | None = field(init=False)  # a terminal AWS error this generation: no launches
    exhausted: list[ExhaustedOffering] = field(init=False)  # capacity errors still remembered
    # judge0.dev/reset-circuit has a value not acted on yet: the terminal AWS error, defective
    # templates and give-ups are cleared this pass (the controller closes the region's breakers).
    reset: bool = field(init=False)

    def __post_init__(self) -> None:
        now = utc(self.now)
        error = self.previous.aws_error
        reset = self.controls.reset_circuit is not None and self.controls.reset_circuit != self.previous.circuit_reset
        if reset:
            error = None
        derived = {
            "now": now,
            "template": rollout.template_hash(self.spec.instance),
            "enforce": self.policy.mode == "Enforce",
            "acting": not self.spec.paused and self.observation.complete,
            "aws_error": error if error and error.get("generation") == self.generation else None,
            "exhausted": placement.prune_exhausted(self.previous.exhausted_offerings, now=now),
            "reset": reset,
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @property
    def can_launch(self) -> bool:
        return self.acting and self.aws_error is None
