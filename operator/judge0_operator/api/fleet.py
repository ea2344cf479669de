"""``Judge0Fleet``: what a platform team wants — how many Judge0 nodes, built how, where."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from judge0_operator.api.common import ApiModel, Condition, IntOrPercent
from judge0_operator.api.compact import compact_wire, restore_template_hashes
from judge0_operator.api.diagnosis import DefectiveTemplate, Predecessor
from judge0_operator.api.traffic import Topology, TrafficSpec, TrafficState, TrafficStatus

SUBNET_PATTERN = r"^subnet-[0-9a-f]{8,17}$"
AMI_PATTERN = r"^ami-[0-9a-f]{8,17}$"
SG_PATTERN = r"^sg-[0-9a-f]{8,17}$"
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-[0-9]$"
INSTANCE_TYPE_PATTERN = r"^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\.[a-z0-9]+$"
ENDPOINT_PATTERN = r"^https?://[^\s]+$"
# EC2 takes at most 16 KB of user data counted raw, before base64 (which would make it 21848 bytes).
USER_DATA_MAX_BYTES = 16384
USER_DATA_TOO_LARGE = (
    f"userData must be at most {USER_DATA_MAX_BYTES} bytes of raw UTF-8 text (EC2's 16 KB limit applies "
    "before base64 encoding): shorten it, or bake the node setup into the AMI (deploy/node/README.md)"
)


def _cel(*rules: tuple[str, str]) -> ConfigDict:
    """Attach CEL rules (``x-kubernetes-validations``) so the API server enforces them."""
    return ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}
    )


class LaunchTemplateRef(ApiModel):
    """An EC2 launch template, by id or by name."""

    model_config = _cel(
        ("has(self.id) != has(self.name)", "launchTemplate: set exactly one of id or name"),
    )

    id: str | None = Field(
        default=None, pattern=r"^lt-[0-9a-f]{8,17}$", description="Launch template id (lt-…)."
    )
    name: str | None = Field(default=None, min_length=3, max_length=128, description="Launch template name.")
    version: str = Field(
        default="$Default",
        pattern=r"^(\$Default|\$Latest|[0-9]+)$",
        description="Version number, $Default or $Latest. A pinned number makes rollouts explicit.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> LaunchTemplateRef:
        if (self.id is None) == (self.name is None):
            raise ValueError("launchTemplate: set exactly one of id or name")
        return self


class InstanceSpec(ApiModel):
    """How each Judge0 instance is launched. A change here rolls the fleet (see rollout)."""

    model_config = _cel(
        (
            "has(self.imageId) != has(self.launchTemplate)",
            "instance: set exactly one of imageId or launchTemplate",
        ),
        (
            "has(self.launchTemplate) || has(self.instanceType)",
            "instance.instanceType is required with imageId",
        ),
    )

    image_id: str | None = Field(
        default=None, pattern=AMI_PATTERN, description="AMI id (ami-…) with Judge0 installed."
    )
    launch_template: LaunchTemplateRef | None = Field(
        default=None, description="Launch from this template instead of imageId; fields set here override it."
    )
    instance_type: str | None = Field(
        default=None,
        pattern=INSTANCE_TYPE_PATTERN,
        description="EC2 instance type, e.g. c6i.large. Judge0 runs 2 workers per vCPU by default.",
    )
    fallback_instance_types: list[Annotated[str, Field(pattern=INSTANCE_TYPE_PATTERN)]] = Field(
        default_factory=list,
        max_length=10,
        description="Tried in order when instanceType has no capacity (InsufficientInstanceCapacity).",
    )
    subnets: list[Annotated[str, Field(pattern=SUBNET_PATTERN)]] = Field(
        min_length=1,
        max_length=16,
        description="Subnet ids, one per availability zone: the zones the fleet spreads over and fails over to.",
    )
    security_group_ids: list[Annotated[str, Field(pattern=SG_PATTERN)]] = Field(
        default_factory=list,
        max_length=16,
        description="Security groups; Judge0's port (2358) must be reachable.",
    )
    iam_instance_profile: str | None = Field(
        default=None,
        description="Instance profile name or ARN; it needs AmazonSSMManagedInstanceCore for restarts.",
    )
    key_name: str | None = Field(default=None, description="EC2 key pair name (optional; SSM needs none).")
    user_data: str | None = Field(
        default=None,
        max_length=USER_DATA_MAX_BYTES,  # characters: bounds the CEL rule's cost; the rule counts bytes
        description=(
            "Plain-text user data, e.g. the cloud-config deploy/node/judge0-node.yaml; sent to RunInstances "
            "base64-encoded, and a change rolls the fleet. At most 16384 bytes of raw UTF-8 text: EC2's "
            "16 KB limit applies before base64."
        ),
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"size(bytes(self)) <= {USER_DATA_MAX_BYTES}",
                    "message": USER_DATA_TOO_LARGE,
                    "messageExpression": (
                        f"'is ' + string(size(bytes(self))) + ' bytes; ' + {USER_DATA_TOO_LARGE!r}"
                    ),
                }
            ]
        },
    )
    tags: dict[str, str] = Field(
        default_factory=dict,
        description="Extra tags on every instance. Keys starting with judge0.dev/ are reserved.",
    )
    market: Literal["OnDemand", "Spot"] = Field(
        default="OnDemand", description="Spot falls back to on-demand when spot capacity is exhausted."
    )

    @field_validator("user_data")
    @classmethod
    def _user_data_fits_ec2(cls, value: str | None) -> str | None:
        size = len(value.encode()) if value is not None else 0
        if size > USER_DATA_MAX_BYTES:
            raise ValueError(f"is {size} bytes; {USER_DATA_TOO_LARGE}")
        return value

    @model_validator(mode="after")
    def _image_xor_template(self) -> InstanceSpec:
        if (self.image_id is None) == (self.launch_template is None):
            raise ValueError("instance: set exactly one of imageId or launchTemplate")
        if self.image_id is not None and self.instance_type is None:
            raise ValueError("instance.instanceType is required with imageId")
        return self


class SecretKeyRef(ApiModel):
    """A key of a Secret in the fleet's namespace."""

    name: str = Field(min_length=1, max_length=253, description="Secret name, in the fleet's namespace.")
    key: str = Field(default="token", min_length=1, description="Key within the Secret holding the token.")


class Judge0Spec(ApiModel):
    """How the operator reaches Judge0 on each instance."""

    endpoint_template: str = Field(
        default="http://{private_ip}:2358",
        pattern=ENDPOINT_PATTERN,
        description="Base URL of each node's Judge0 API. Placeholders: {private_ip}, {public_ip}, {instance_id}.",
    )
    auth_secret_ref: SecretKeyRef | None = Field(
        default=None, description="Secret with Judge0's AUTHN_TOKEN, sent as X-Auth-Token. Never logged."
    )
    expected_version: str | None = Field(
        default=None,
        pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$",
        description="If set, a node reporting another version in /about is unhealthy (e.g. 1.13.1).",
    )
    topology: Topology = Field(
        default="SelfContained",
        description=(
            "SelfContained: each node runs its own Postgres and Redis (the release's compose file), so a drain "
            "waits for that node's own queue. SharedBackend: the nodes share one Postgres/Redis, so the queue is "
            "the fleet's: a drain waits only for the grace, and no run_in_queue follows a restart (see "
            "docs/traffic.md)."
        ),
    )


class QueueScaling(ApiModel):
    """Scale on Judge0's queue, read from /workers on every healthy node."""

    target_backlog_per_worker: float = Field(
        gt=0, description="Queued submissions per available worker the fleet aims for (like an HPA target)."
    )


class ScheduleWindow(ApiModel):
    """A time window (an exam, office hours) during which the fleet keeps at least minReplicas."""

    name: str | None = Field(default=None, max_length=63, description="A label for status and Events.")
    cron: str = Field(
        min_length=9, description="When the window opens, in cron syntax (5 fields), e.g. '30 8 * * 1-5'."
    )
    duration_seconds: int = Field(ge=60, le=7 * 86400, description="How long the window stays open.")
    min_replicas: int = Field(ge=0, description="Floor on replicas while the window is open.")
    time_zone: str = Field(
        default="UTC", description="IANA time zone of the cron expression, e.g. Europe/Berlin."
    )


class ScalingSpec(ApiModel):
    """Bounds and rules for the desired replica count (spec.replicas is the base)."""

    model_config = _cel(
        ("self.minReplicas <= self.maxReplicas", "scaling: minReplicas must be <= maxReplicas")
    )

    min_replicas: int = Field(default=0, ge=0, description="Lower bound on replicas.")
    max_replicas: int = Field(default=100, ge=0, le=1000, description="Upper bound on replicas.")
    queue: QueueScaling | None = Field(default=None, description="Queue-depth autoscaling; off when unset.")
    schedules: list[ScheduleWindow] = Field(
        default_factory=list, max_length=32, description="Windows that raise the floor (exams, office hours)."
    )
    scale_down_stabilization_seconds: int = Field(
        default=300,
        ge=0,
        description="Scale down only after the lower count was recommended this long (as the HPA).",
    )

    @model_validator(mode="after")
    def _bounds(self) -> ScalingSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError("scaling: minReplicas must be <= maxReplicas")
        return self


class RolloutSpec(ApiModel):
    """How instances are replaced when the instance template changes (like an instance refresh)."""

    max_surge: IntOrPercent = Field(
        default=1,
        description="Instances above the desired count during a rollout (count or percent, rounded up).",
    )
    max_unavailable: IntOrPercent = Field(
        default=0,
        description="Instances below the desired count during a rollout (count or percent, rounded down).",
    )


class PolicyRef(ApiModel):
    """A RecoveryPolicy in the fleet's namespace."""

    name: str = Field(min_length=1, max_length=253, description="RecoveryPolicy name.")


class Judge0FleetSpec(ApiModel):
    """The desired state of a fleet of EC2 instances running Judge0."""

    model_config = _cel(
        (
            "!has(self.scaling) || (self.replicas >= self.scaling.minReplicas"
            " && self.replicas <= self.scaling.maxReplicas)",
            "replicas must be within scaling.minReplicas and scaling.maxReplicas",
        ),
        (
            "!has(self.traffic) || !has(self.traffic.targetGroupArns)"
            " || self.traffic.targetGroupArns.all(arn, arn.contains(':' + self.region + ':'))",
            "traffic.targetGroupArns must be in spec.region",
        ),
    )

    replicas: int = Field(
        default=1, ge=0, le=1000, description="Desired number of instances (the scale subresource)."
    )
    paused: bool = Field(default=False, description="Observe and report only: no launches, no remediation.")
    region: str = Field(pattern=REGION_PATTERN, description="AWS region of the fleet, e.g. eu-west-1.")
    deletion_policy: Literal["Delete", "Retain"] = Field(
        default="Delete",
        description="On fleet deletion, terminate its instances (Delete) or leave them (Retain).",
    )
    recovery_policy_ref: PolicyRef | None = Field(
        default=None, description="The RecoveryPolicy to heal by; the built-in defaults apply when unset."
    )
    instance: InstanceSpec = Field(description="How each instance is launched.")
    judge0: Judge0Spec = Field(
        default_factory=Judge0Spec, description="How to reach Judge0 on each instance."
    )
    scaling: ScalingSpec | None = Field(
        default=None, description="Autoscaling bounds, queue target and schedules."
    )
    rollout: RolloutSpec = Field(
        default_factory=RolloutSpec, description="Limits while replacing outdated instances."
    )
    traffic: TrafficSpec = Field(
        default_factory=TrafficSpec,
        description="Where clients reach the fleet: an in-cluster Service and/or ELBv2 target groups.",
    )

    @model_validator(mode="after")
    def _replicas_in_bounds(self) -> Judge0FleetSpec:
        if self.scaling and not (self.scaling.min_replicas <= self.replicas <= self.scaling.max_replicas):
            raise ValueError("replicas must be within scaling.minReplicas and scaling.maxReplicas")
        return self

    @model_validator(mode="after")
    def _target_groups_in_region(self) -> Judge0FleetSpec:
        for arn in self.traffic.target_group_arns:
            if f":{self.region}:" not in arn:
                raise ValueError(f"traffic.targetGroupArns: {arn} is not in spec.region {self.region}")
        return self


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
        """A row stored compact (``api/compact.py``) gets back its template hash."""
        if any(row.updated and not row.template_hash for row in self.instances) and self.template_hash:
            self.__dict__["instances"] = restore_template_hashes(self.instances, self.template_hash)
        return self

    def to_wire(self) -> dict[str, Any]:
        """As stored, rows compact (``api/compact.py``): detail only where something is wrong."""
        return compact_wire(super().to_wire())


class Judge0Fleet(ApiModel):
    """A fleet of EC2 instances running Judge0, kept healthy and correctly sized by the operator."""

    model_config = ConfigDict(extra="ignore")

    api_version: str = Field(default="judge0.dev/v1alpha1", description="judge0.dev/v1alpha1")
    kind: str = Field(default="Judge0Fleet", description="Judge0Fleet")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Standard object metadata.")
    spec: Judge0FleetSpec = Field(description="Desired state.")
    status: Judge0FleetStatus | None = Field(default=None, description="Observed state.")
