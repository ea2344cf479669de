"""``spec.instance``: how each Judge0 instance is launched (AMI or launch template, types, subnets,
user data). The spec's largest section, and the one whose change rolls the fleet."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from judge0_operator.api.common import ApiModel, cel_rules

SUBNET_PATTERN = r"^subnet-[0-9a-f]{8,17}$"
AMI_PATTERN = r"^ami-[0-9a-f]{8,17}$"
SG_PATTERN = r"^sg-[0-9a-f]{8,17}$"
INSTANCE_TYPE_PATTERN = r"^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\.[a-z0-9]+$"
# EC2 takes at most 16 KB of user data counted raw, before base64 (which would make it 21848 bytes).
USER_DATA_MAX_BYTES = 16384
USER_DATA_TOO_LARGE = (
    f"userData must be at most {USER_DATA_MAX_BYTES} bytes of raw UTF-8 text (EC2's 16 KB limit applies "
    "before base64 encoding): shorten it, or bake the node setup into the AMI (deploy/node/README.md)"
)


class LaunchTemplateRef(ApiModel):
    """An EC2 launch template, by id or by name."""

    model_config = cel_rules(
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

    model_config = cel_rules(
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
