"""``spec.scaling``: the bounds, queue target and schedule windows the desired replica count
is worked out from (``decide/capacity.py``, ``decide/schedule.py``)."""

from __future__ import annotations

from pydantic import Field, model_validator

from judge0_operator.api.common import ApiModel, cel_rules


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

    model_config = cel_rules(
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
