"""``Judge0Fleet.status``: what the operator observed and did, and the planner's memory — the
per-instance rows, launch intents, scaling and actions. Rebuilt from the world on every pass."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from judge0_operator.api.common import ApiModel, Condition
from judge0_operator.api.compact import compact_wire, restore_rows
from judge0_operator.api.diagnosis import DefectiveTemplate, Predecessor
from judge0_operator.api.traffic import TrafficState, TrafficStatus


class SignalStatus(ApiModel):
    """One health signal of one instance, with when it last changed (thresholds count from there)."""

    status: Literal["Healthy", "Unhealthy", "Unknown"] = Field(
        description="Healthy, Unhealthy (bad for longer than the probe's unhealthyAfterSeconds) or Unknown."
    )
    since: str = Field(
        description="When the underlying observation last changed between good and bad (RFC 3339)."
    )
    bad: bool = Field(
        default=False, description="The latest observation was bad (Unhealthy once bad long enough)."
    )
    detail: str = Field(
        default="", description="The probe's last observation, e.g. 'status 13: Internal Error'."
    )


class DrainState(ApiModel):
    """A node out of rotation, waiting for its own work to finish before an interrupting action."""

    reason: str = Field(description="The action waiting for the drain, e.g. 'ScaleDown: desired 3'.")
    started_at: str = Field(description="When the node left rotation for this drain (RFC 3339).")
    deadline: str = Field(description="The action goes ahead then at the latest: the timeout or a hard deadline.")
    hard_deadline: str | None = Field(
        default=None, description="A deadline the operator does not set: a spot notice, an event's NotBefore."
    )
    idle_since: str | None = Field(
        default=None, description="First seen with nothing queued and nothing running (the grace counts from it)."
    )
    queued: int | None = Field(default=None, description="Submissions waiting on the node, as last seen.")
    running: int | None = Field(default=None, description="Submissions running on the node, as last seen.")


class InstanceStatus(ApiModel):
    """A row of the per-instance table, and the planner's memory of that instance."""

    instance_id: str = Field(description="EC2 instance id.")
    slot: str = Field(description="The fleet slot this instance fills (stable across replacements).")
    zone: str = Field(default="", description="Availability zone.")
    state: str = Field(default="", description="EC2 state: pending, running, stopped, …")
    instance_type: str = Field(default="", description="EC2 instance type.")
    market: str = Field(default="", description="on-demand or spot.")
    launched_at: str | None = Field(default=None, description="EC2 launch time (RFC 3339).")
    template_hash: str = Field(default="", description="Hash of the instance template it was launched from.")
    launch_attempt: int = Field(
        default=0, description="Launch attempt of this instance in its slot (from its tag)."
    )
    updated: bool = Field(default=True, description="Launched from the current instance template.")
    health: Literal["Starting", "Healthy", "Unhealthy", "Unknown"] = Field(
        default="Unknown", description="Overall."
    )
    signals: dict[str, SignalStatus] = Field(default_factory=dict, description="Health per signal.")
    healthy_since: str | None = Field(default=None, description="Healthy on every signal since (RFC 3339).")
    attempts: int = Field(
        default=0, description="Remediation attempts since the instance was last healthy long enough."
    )
    rung: int = Field(default=0, description="Index of the ladder rung the next attempt uses.")
    rung_attempts: int = Field(default=0, description="Attempts made on the current rung.")
    last_action: str | None = Field(default=None, description="The last remediation action taken on it.")
    last_action_at: str | None = Field(default=None, description="When (RFC 3339).")
    action_deadline: str | None = Field(
        default=None,
        description="The last action has until then to work: its rung's timeout, at least the grace.",
    )
    next_action_at: str | None = Field(
        default=None, description="Backoff: no new attempt before this (RFC 3339)."
    )
    replaced_by: str | None = Field(default=None, description="Slot attempt launched to replace it, if any.")
    gave_up: bool = Field(default=False, description="maxRetries reached: left for a human.")
    cleanups: int = Field(default=0, description="Disk cleanups tried since the instance was last healthy long enough.")
    diagnosis: str | None = Field(
        default=None, description="The cause the probes' evidence names: RedisDown, SandboxBroken, … (README)."
    )
    diagnosis_detail: str = Field(default="", description="The evidence, e.g. the isolate message.")
    do_not_disrupt: bool = Field(
        default=False, description="Held by a human (annotation or tag): never remediated, scaled in or rolled."
    )
    handled_request: str | None = Field(default=None, description="The remediate tag already acted on.")
    predecessor: Predecessor | None = Field(
        default=None, description="The instance this one replaced, until it proves healthy."
    )
    traffic: TrafficState = Field(
        default="Out",
        description="InRotation (registered and ready: clients reach it), Draining (leaving before an action) or Out.",
    )
    traffic_since: str | None = Field(default=None, description="When traffic last changed (RFC 3339).")
    drain: DrainState | None = Field(default=None, description="The drain under way, while Draining.")


class LaunchIntent(ApiModel):
    """A launch recorded before RunInstances is called, so a crash never launches a slot twice."""

    slot: str = Field(description="Slot to fill.")
    attempt: int = Field(description="Launch attempt for this slot; part of the ClientToken.")
    client_token: str = Field(
        description="Deterministic RunInstances ClientToken (fleet uid, slot, attempt)."
    )
    subnet_id: str = Field(description="Subnet (and so zone) launched into.")
    zone: str = Field(default="", description="Availability zone of the subnet.")
    instance_type: str = Field(default="", description="Instance type requested.")
    market: str = Field(default="on-demand", description="on-demand or spot.")
    reason: str = Field(default="", description="Why: ScaleUp, Replace <id>, Rollout, …")
    replaces: str | None = Field(default=None, description="Instance this launch replaces.")
    predecessor: Predecessor | None = Field(
        default=None, description="A remediation's replacement: the replaced instance's diagnosis and template."
    )
    requested_at: str = Field(description="When the intent was recorded (RFC 3339).")
    instance_id: str | None = Field(default=None, description="Set once the instance is seen.")


class ExhaustedOffering(ApiModel):
    """An (instance type, zone, market) that answered a capacity error; skipped until expiry."""

    instance_type: str = Field(description="Instance type.")
    zone: str = Field(description="Availability zone.")
    market: str = Field(default="on-demand", description="on-demand or spot.")
    until: str = Field(description="Skipped until (RFC 3339).")


class ScalingStatus(ApiModel):
    """Why the desired count is what it is."""

    desired_replicas: int = Field(description="Desired count after every rule.")
    reason: str = Field(
        default="Spec", description="The rule that won: Spec, Schedule <name>, QueueBacklog, Min, Max."
    )
    backlog_per_worker: float | None = Field(
        default=None, description="Fleet-wide queued ÷ available workers."
    )
    recommendations: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Recent queue recommendations {time, replicas} (stabilisation window).",
    )
    active_window: str | None = Field(default=None, description="Schedule window open now.")
    next_window_at: str | None = Field(
        default=None, description="When the next schedule window opens (RFC 3339)."
    )


class ActionRecord(ApiModel):
    """One action the operator took (or, in DryRun, would have taken)."""

    time: str = Field(description="When (RFC 3339).")
    instance_id: str | None = Field(default=None, description="Instance acted on, if any.")
    slot: str | None = Field(default=None, description="Slot concerned, if any.")
    action: str = Field(
        description="Launch, Terminate, Start, RestartJudge0, RebootInstance, ReplaceInstance, …"
    )
    reason: str = Field(default="", description="Why.")
    outcome: str = Field(default="", description="Succeeded, Failed: <AWS error>, DryRun, Skipped, …")


class Judge0FleetStatus(ApiModel):
    """What the operator observed and did; rebuilt from the world on every pass."""

    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )

    observed_generation: int | None = Field(default=None, description="The generation this status is for.")
    replicas: int = Field(default=0, description="Instances that exist (not terminated).")
    desired_replicas: int | None = Field(default=None, description="Desired count after scaling rules.")
    ready_replicas: int = Field(default=0, description="Instances running with Judge0's API answering.")
    healthy_replicas: int = Field(default=0, description="Instances healthy on every signal.")
    in_rotation_replicas: int = Field(
        default=0, description="Instances in rotation: registered in every target group and ready in the Service."
    )
    draining_replicas: int = Field(default=0, description="Instances out of rotation, finishing their work.")
    traffic: TrafficStatus | None = Field(default=None, description="Where the fleet is published (spec.traffic).")
    updated_replicas: int = Field(default=0, description="Instances matching the current template.")
    outdated_replicas: int = Field(default=0, description="Instances on an older template (to be rolled).")
    template_hash: str = Field(default="", description="Hash of the current instance template.")
    selector: str = Field(default="", description="Label selector string, for the scale subresource.")
    conditions: list[Condition] = Field(default_factory=list, description="Ready, Available, Progressing, …")
    instances: list[InstanceStatus] = Field(default_factory=list, description="One row per instance.")
    last_actions: list[ActionRecord] = Field(
        default_factory=list, description="The most recent actions, newest last."
    )
    pending_launches: list[LaunchIntent] = Field(
        default_factory=list, description="Launches recorded before the call (crash-safe idempotency)."
    )
    exhausted_offerings: list[ExhaustedOffering] = Field(
        default_factory=list, description="Capacity-error (type, zone) pairs being skipped for now."
    )
    zones_out: list[str] = Field(default_factory=list, description="Zones treated as out (outage detected).")
    zones_out_since: dict[str, str] = Field(
        default_factory=dict, description="When each zone in zonesOut was marked out (RFC 3339)."
    )
    scaling: ScalingStatus | None = Field(default=None, description="Desired count and why.")
    next_slot: int = Field(default=0, description="Next slot number to allocate.")
    slot_attempts: dict[str, int] = Field(
        default_factory=dict,
        description="Highest launch attempt issued per slot, so a retried launch never reuses a failed ClientToken.",
    )
    aws_error: dict[str, Any] | None = Field(
        default=None,
        description="Terminal AWS error blocking launches until the spec changes {code, message, generation}.",
    )
    defective_templates: list[DefectiveTemplate] = Field(
        default_factory=list,
        description="Templates whose replacement failed like the instance it replaced: no launches from them.",
    )
    handled_requests: list[str] = Field(
        default_factory=list, description="judge0.dev/remediate entries already acted on."
    )
    circuit_reset: str | None = Field(default=None, description="The judge0.dev/reset-circuit value last acted on.")
    held_back: list[str] = Field(
        default_factory=list,
        description="Instances held by judge0.dev/do-not-disrupt that a disruption spared: '<id>: <what>'.",
    )
    last_pass_at: str | None = Field(default=None, description="When the last reconcile pass ran.")
    next_check_at: str | None = Field(default=None, description="When the operator looks next.")

    @model_validator(mode="after")
    def _restore_compact_rows(self) -> Judge0FleetStatus:
        """A row stored compact (``api/compact.py``) gets back its template hash and traffic time."""
        if self.instances:
            self.__dict__["instances"] = restore_rows(self.instances, self.template_hash)
        return self

    def to_wire(self) -> dict[str, Any]:
        """As stored, rows compact (``api/compact.py``): detail only where something is wrong."""
        return compact_wire(super().to_wire())
