"""``Judge0Fleet``: what a platform team wants — how many Judge0 nodes, built how, where.

The resource and the top of its spec; each larger spec section has its own module beside this
one (``instance``, ``judge0``, ``scaling``, ``traffic``) and so does the status (``fleet_status``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from judge0_operator.api.common import ApiModel, IntOrPercent, cel_rules
from judge0_operator.api.fleet_status import Judge0FleetStatus
from judge0_operator.api.instance import InstanceSpec
from judge0_operator.api.judge0 import Judge0Spec
from judge0_operator.api.scaling import ScalingSpec
from judge0_operator.api.traffic import TrafficSpec

REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-[0-9]$"


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

    model_config = cel_rules(
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


class Judge0Fleet(ApiModel):
    """A fleet of EC2 instances running Judge0, kept healthy and correctly sized by the operator."""

    model_config = ConfigDict(extra="ignore")

    api_version: str = Field(default="judge0.dev/v1alpha1", description="judge0.dev/v1alpha1")
    kind: str = Field(default="Judge0Fleet", description="Judge0Fleet")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Standard object metadata.")
    spec: Judge0FleetSpec = Field(description="Desired state.")
    status: Judge0FleetStatus | None = Field(default=None, description="Observed state.")
