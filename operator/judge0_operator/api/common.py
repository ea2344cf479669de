"""Shared building blocks of both resources: camelCase models, int-or-percent values, conditions."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, WithJsonSchema
from pydantic.alias_generators import to_camel

PERCENT_PATTERN = r"^(100|[1-9]?[0-9])%$"

IntOrPercent = Annotated[
    Annotated[int, Strict(), Field(ge=0)] | Annotated[str, Field(pattern=PERCENT_PATTERN)],
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "minimum": 0,
            "x-kubernetes-int-or-string": True,
            "pattern": PERCENT_PATTERN,
        }
    ),
]
"""An absolute count (``2``) or a percentage of the fleet (``"25%"``), as Kubernetes' IntOrString."""


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are errors (typos are caught)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def to_wire(self) -> dict[str, Any]:
        """The object as Kubernetes stores it (camelCase, optional fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def cel_rules(*rules: tuple[str, str]) -> ConfigDict:
    """Attach CEL rules (``x-kubernetes-validations``) so the API server enforces them."""
    return ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}
    )


def resolve_int_or_percent(value: int | str, total: int, *, round_up: bool) -> int:
    """Turn ``2`` or ``"25%"`` into a count of ``total``; percentages round as Kubernetes does.

    Cluster API rounds ``maxUnhealthy`` down; Deployments round ``maxSurge`` up.
    """
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"(\d+)%", value)
    if not match:
        return int(value)
    exact = total * int(match.group(1)) / 100
    return math.ceil(exact) if round_up else math.floor(exact)


class Condition(ApiModel):
    """Exactly Kubernetes' ``metav1.Condition``, so ``kubectl wait --for=condition=Ready`` works."""

    type: str = Field(description="Type of condition in CamelCase, e.g. Ready.", max_length=316)
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase reason for the condition's last transition.", max_length=1024)
    message: str = Field(
        default="", description="Human-readable details about the transition.", max_length=32768
    )
    last_transition_time: str = Field(description="When the condition last changed status (RFC 3339).")
    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation the condition was set for."
    )
