"""``RecoveryPolicy``: how the operator judges health and heals — probes, ladder, safety limits."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from judge0_operator.api.common import ApiModel, IntOrPercent
from judge0_operator.api.diagnosis import Cleanup, ComponentCommands, DiskProbe
from judge0_operator.api.traffic import DrainPolicy

RemediationAction = Literal["RestartJudge0", "RebootInstance", "ReplaceInstance"]
DEFAULT_RESTART_COMMAND = (
    "cd /opt/judge0 && (docker compose restart server workers || docker-compose restart server workers)"
)
# Judge0's documented way to re-run what a restart left "In Queue" (CHANGELOG 1.12.0); rake prints no count.
DEFAULT_REQUEUE_COMMAND = (
    "cd /opt/judge0 && (docker compose exec -T server rake judge0:run_in_queue"
    " || docker-compose exec -T server rake judge0:run_in_queue)"
)


class ProbeTiming(ApiModel):
    """When a probe runs and how long a bad result must last before it counts."""

    enabled: bool = Field(default=True, description="Run this probe.")
    interval_seconds: int = Field(default=10, ge=1, le=3600, description="How often the probe runs.")
    timeout_seconds: int = Field(default=3, ge=1, le=600, description="Per-request timeout.")
    unhealthy_after_seconds: int = Field(
        default=30,
        ge=0,
        le=86400,
        description="The signal must stay bad this long, counted from its last transition, to be Unhealthy.",
    )


class ApiProbe(ProbeTiming):
    """GET on the API (default /about): proves the web process answers. Blind to workers and sandbox."""

    path: str = Field(default="/about", pattern=r"^/[^\s]*$", description="Path probed, e.g. /about.")


class WorkersProbe(ProbeTiming):
    """GET /workers: proves Redis is up and workers are registered; '[]' counts as unknown, not down."""

    interval_seconds: int = Field(default=15, ge=1, le=3600, description="How often the probe runs.")
    unhealthy_after_seconds: int = Field(default=60, ge=0, le=86400, description="See ProbeTiming.")
    min_available: int = Field(default=1, ge=0, description="Fewer available workers than this is unhealthy.")


class CanaryProbe(ProbeTiming):
    """A real submission without wait, polled until done: proves workers pick jobs up and the sandbox runs code."""

    interval_seconds: int = Field(default=60, ge=5, le=86400, description="How often a canary is submitted.")
    timeout_seconds: int = Field(
        default=20, ge=1, le=600, description="How long to poll before the canary fails."
    )
    unhealthy_after_seconds: int = Field(default=120, ge=0, le=86400, description="See ProbeTiming.")
    language_id: int = Field(default=71, ge=1, description="Judge0 language id (71 is Python 3.8.1).")
    source_code: str = Field(default="print(42)", min_length=1, description="Program the canary runs.")
    stdin: str = Field(default="", description="Standard input for the canary.")
    expected_stdout: str = Field(default="42\n", description="Exact standard output the canary must produce.")


class Probes(ApiModel):
    """The health signals. EC2 status checks, API, workers and a canary each prove something different."""

    ec2_status_checks: bool = Field(
        default=True, description="Use EC2 instance/system status checks and events."
    )
    ec2_unhealthy_after_seconds: int = Field(
        default=120,
        ge=0,
        le=86400,
        description="How long a status check must stay impaired (Karpenter: 120 s).",
    )
    api: ApiProbe = Field(default_factory=ApiProbe, description="Judge0 API liveness.")
    workers: WorkersProbe = Field(default_factory=WorkersProbe, description="Judge0 workers and queue.")
    canary: CanaryProbe = Field(default_factory=CanaryProbe, description="End-to-end code execution.")
    disk: DiskProbe = Field(default_factory=DiskProbe, description="Data volume (SSM df) and database size.")


class LadderRung(ApiModel):
    """One step of the escalation ladder."""

    action: RemediationAction = Field(description="RestartJudge0 (SSM), RebootInstance or ReplaceInstance.")
    attempts: int = Field(default=1, ge=1, le=10, description="Tries on this rung before escalating.")
    timeout_seconds: int = Field(
        default=300,
        ge=10,
        le=7200,
        description="How long to wait for recovery after one try before the next.",
    )


class Backoff(ApiModel):
    """Wait between attempts: initial x multiplier^n, capped, with ± jitter."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.maxSeconds >= self.initialSeconds",
                    "message": "backoff: maxSeconds must be >= initialSeconds",
                }
            ]
        }
    )

    initial_seconds: int = Field(default=30, ge=0, description="Wait before the second attempt.")
    max_seconds: int = Field(default=600, ge=0, description="Upper bound on the wait.")
    multiplier: float = Field(default=2.0, ge=1.0, le=10.0, description="Growth factor per attempt.")
    jitter: float = Field(default=0.2, ge=0.0, le=1.0, description="Fraction of random spread (0.2 = ±20%).")

    @model_validator(mode="after")
    def _bounds(self) -> Backoff:
        if self.max_seconds < self.initial_seconds:
            raise ValueError("backoff: maxSeconds must be >= initialSeconds")
        return self


def _default_ladder() -> list[LadderRung]:
    return [
        LadderRung(action="RestartJudge0", attempts=2, timeout_seconds=120),
        LadderRung(action="RebootInstance", attempts=1, timeout_seconds=300),
        LadderRung(action="ReplaceInstance", attempts=1, timeout_seconds=900),
    ]


class Remediation(ApiModel):
    """The escalation ladder and how hard to try."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "size(self.ladder) > 0", "message": "remediation.ladder must have at least one rung"}
            ]
        }
    )

    ladder: list[LadderRung] = Field(
        default_factory=_default_ladder,
        json_schema_extra={"default": [rung.to_wire() for rung in _default_ladder()]},
        min_length=1,
        max_length=10,
        description="Ordered rungs, e.g. RestartJudge0 x2 -> RebootInstance x1 -> ReplaceInstance.",
    )
    restart_command: str = Field(
        default=DEFAULT_RESTART_COMMAND, min_length=1, description="Shell run through SSM for RestartJudge0."
    )
    requeue_command: str = Field(
        default=DEFAULT_REQUEUE_COMMAND,
        description=(
            "Run right after restartCommand, in the same SSM command, to re-enqueue the submissions Judge0 left "
            "In Queue (its queue is lost on a restart). Empty: none. Skipped for judge0.topology SharedBackend."
        ),
    )
    component_commands: ComponentCommands = Field(
        default_factory=ComponentCommands,
        description="The restart rung's command per diagnosed component (server, workers, redis, db).",
    )
    cleanup: Cleanup = Field(default_factory=Cleanup, description="What DiskPressure runs before the ladder.")
    backoff: Backoff = Field(default_factory=Backoff, description="Wait between attempts.")
    max_retries: int = Field(
        default=6,
        ge=0,
        le=100,
        description="Attempts per instance before it is left for a human (condition, Event).",
    )
    healthy_period_seconds: int = Field(
        default=3600,
        ge=0,
        description="An instance healthy this long has its attempt count reset (KCP minHealthyPeriod).",
    )


class Safety(ApiModel):
    """Limits that stop a remediation storm."""

    max_unhealthy: IntOrPercent = Field(
        default="40%",
        description="Above this many unhealthy instances (count, or percent rounded down) all remediation stops.",
    )
    max_in_flight: IntOrPercent = Field(
        default=1, description="Concurrent remediations (count, or percent rounded up, at least 1)."
    )
    zone_outage_threshold: int = Field(
        default=60,
        ge=1,
        le=100,
        description="Percent of a zone's instances unhealthy at once that marks the zone out: capacity fails over.",
    )


class RecoveryPolicySpec(ApiModel):
    """How fleets that reference this policy are judged and healed."""

    mode: Literal["Enforce", "DryRun"] = Field(
        default="Enforce",
        description="DryRun records the actions it would take as Events and status, and does nothing.",
    )
    probes: Probes = Field(default_factory=Probes, description="Health signals.")
    startup_grace_seconds: int = Field(
        default=600, ge=0, description="New instances are not judged for this long (CAPI nodeStartupTimeout)."
    )
    grace_after_action_seconds: int = Field(
        default=120, ge=0, description="An instance just acted on is not judged again for this long."
    )
    remediation: Remediation = Field(default_factory=Remediation, description="Escalation ladder.")
    safety: Safety = Field(default_factory=Safety, description="Storm prevention.")
    drain: DrainPolicy = Field(
        default_factory=DrainPolicy,
        description="How long a node that can still run code gets to finish its work before it is disrupted.",
    )


class RecoveryPolicy(ApiModel):
    """How to judge a Judge0 node's health and heal it, shared by any number of fleets."""

    model_config = ConfigDict(extra="ignore")

    api_version: str = Field(default="judge0.dev/v1alpha1", description="judge0.dev/v1alpha1")
    kind: str = Field(default="RecoveryPolicy", description="RecoveryPolicy")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Standard object metadata.")
    spec: RecoveryPolicySpec = Field(default_factory=RecoveryPolicySpec, description="The policy.")
