"""Serving, not only running: how a fleet is published to clients and how a node leaves rotation.

``spec.traffic`` publishes the fleet's instances — as a selector-less Service with an
EndpointSlice named after the fleet, and/or as instance targets of ELBv2 target groups. An
instance is *in rotation* only while it is Healthy on every enabled probe and not being drained.
The policy's ``drain`` bounds how long a node that can still run code is given to finish its
work (and clients to fetch their results) before the operator disrupts it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from judge0_operator.api.common import ApiModel

TARGET_GROUP_ARN_PATTERN = (
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}$"
)
TARGET_GROUP_ARN_MAX = 200

TrafficState = Literal["InRotation", "Draining", "Out"]
Topology = Literal["SelfContained", "SharedBackend"]


class ServiceTraffic(ApiModel):
    """An in-cluster Service (no selector) and an EndpointSlice, named after the fleet and owned by it."""

    enabled: bool = Field(
        default=True,
        description=(
            "Publish the Service NAME.NAMESPACE.svc with one endpoint per instance (its private IP; the port "
            "of judge0.endpointTemplate); deleting the fleet deletes both (ownerReferences)."
        ),
    )


class TrafficSpec(ApiModel):
    """Where clients reach the fleet. Both are optional and both may be on."""

    service: ServiceTraffic | None = Field(
        default=None, description="Publish an in-cluster Service and EndpointSlice; off when unset."
    )
    target_group_arns: list[
        Annotated[str, Field(pattern=TARGET_GROUP_ARN_PATTERN, max_length=TARGET_GROUP_ARN_MAX)]
    ] = Field(
        default_factory=list,
        max_length=5,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description=(
            "ELBv2 target groups (target type instance, in spec.region) the instances in rotation are "
            "registered in. Each must carry the tag judge0.dev/managed-by=judge0-operator: the IAM policy "
            "allows RegisterTargets/DeregisterTargets only there."
        ),
    )


class DrainPolicy(ApiModel):
    """Before disrupting a node that can still run code: out of rotation, then wait for its work."""

    timeout_seconds: int = Field(
        default=300,
        ge=0,
        le=3600,
        description=(
            "Longest wait for a node's queue and running jobs to finish (like ELB's deregistration delay); then "
            "the action goes ahead (Event DrainTimedOut). A hard deadline (a spot notice, an event's NotBefore) "
            "ends it sooner."
        ),
    )
    grace_seconds: int = Field(
        default=10,
        ge=0,
        le=600,
        description="Once the node is idle, how long clients get to fetch finished results before the action.",
    )


class TargetGroupStatus(ApiModel):
    """One target group of spec.traffic as the last pass saw it."""

    arn: str = Field(description="Target group ARN.")
    registered: int = Field(default=0, description="The fleet's instances registered (not draining).")
    healthy: int = Field(default=0, description="Of those, healthy by the load balancer's own health check.")
    error: str | None = Field(default=None, description="Why its target health could not be read.")


class TrafficStatus(ApiModel):
    """Where the fleet is published."""

    service: str | None = Field(
        default=None, description="The Service published (NAME.NAMESPACE.svc:PORT), while spec.traffic.service is on."
    )
    target_groups: list[TargetGroupStatus] = Field(default_factory=list, description="Per target group.")
