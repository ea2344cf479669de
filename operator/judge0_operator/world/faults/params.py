"""Every fault's parameters as a strict pydantic model: what a request may set, with its defaults
and bounds, so a bad request is refused when the fault is added, never half-applied later."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FaultParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(FaultParams):
    pass


class SlowParams(FaultParams):
    delaySeconds: float = Field(2.0, gt=0, le=600)


class FlappingParams(FaultParams):
    periodSeconds: float = Field(10.0, gt=0, le=3600)


class LoadParams(FaultParams):
    jobsPerSecond: float = Field(gt=0, le=10_000)


class ImpairedParams(FaultParams):
    nodeReachable: bool = False  # True: EC2 reports the check impaired but Judge0 still answers


class ScheduledEventParams(FaultParams):
    notBeforeSeconds: float = Field(600.0, ge=0)  # world seconds from now (divided by speed)


class SpotInterruptionParams(FaultParams):
    noticeSeconds: float = Field(120.0, ge=0)  # EC2 gives two minutes' notice


class DiskFillingParams(FaultParams):
    """The data volume (world/aws/disk.py): filled to usedPercent at injection, growing by
    growthPercentPerMinute (world minutes); the cleanup frees what is old: submissions older than any
    retention (purged) and dangling Docker images (pruned). At 100% Postgres stops (db-down)."""

    usedPercent: float = Field(92.0, gt=0, le=100)
    oldSubmissionsPercent: float = Field(25.0, ge=0, le=100)
    danglingImagesPercent: float = Field(10.0, ge=0, le=100)
    growthPercentPerMinute: float = Field(0.0, ge=0, le=100)

    @model_validator(mode="after")
    def _freeable(self) -> DiskFillingParams:
        if self.oldSubmissionsPercent + self.danglingImagesPercent > self.usedPercent:
            raise ValueError("oldSubmissionsPercent + danglingImagesPercent cannot exceed usedPercent")
        return self


class AuthRejectedParams(FaultParams):
    status: Literal[401, 403] = 401  # 401: AUTHN_TOKEN changed; 403: ALLOW_IP/DISALLOW_IP


class SsmFailedParams(FaultParams):
    exitCode: int = Field(1, ge=1, le=255)
    message: str = "failed to run commands: exit status 1"


class CapacityParams(FaultParams):
    instanceTypes: list[str] | None = None  # None: every type
    market: Literal["spot", "on-demand", "any"] = "any"


class ThrottleParams(FaultParams):
    rate: float = Field(1.0, ge=0, le=1)
    actions: list[str] | None = None  # None: every action


class AwsErrorParams(FaultParams):
    code: str = "InternalError"
    message: str = "An internal error has occurred"
    status: int = Field(500, ge=400, le=599)
    rate: float = Field(1.0, ge=0, le=1)
    actions: list[str] | None = None


# ---- faults of the APIs themselves (world/aws/chaos.py, world/kube/faults.py) ----------------------
# Each may carry durationSeconds: the world deletes it then (world seconds, divided by speed).
MUTATING_ACTIONS = (
    "RunInstances",
    "TerminateInstances",
    "StartInstances",
    "StopInstances",
    "RebootInstances",
    "CreateTags",
    "DeleteTags",
    "SendCommand",
    "RegisterTargets",
    "DeregisterTargets",
)


class _Timed(FaultParams):
    durationSeconds: float | None = Field(None, gt=0, le=86_400)


class ConsistencyParams(_Timed):
    newHiddenSeconds: float = Field(5.0, ge=0, le=600)  # a new instance is missing for 0..N s
    tagsLateSeconds: float = Field(3.0, ge=0, le=600)  # then its tags, 0..N s more
    terminatedRunningSeconds: float = Field(3.0, ge=0, le=600)  # a terminated one still reads running


class LostResponseParams(_Timed):
    actions: list[str] | None = None  # None: MUTATING_ACTIONS
    rate: float = Field(1.0, ge=0, le=1)
    count: int | None = Field(None, ge=1, le=100_000)  # then the fault retires itself
    mode: Literal["reset", "timeout"] = "reset"
    holdSeconds: float = Field(30.0, gt=0, le=3600)  # timeout: how long the answer is held first


class SsmOfflineParams(_Timed):
    outcome: Literal["pending", "undeliverable"] = "pending"


class KubeDownParams(_Timed):
    pass


class KubeErrorParams(_Timed):
    status: Literal[429, 500, 502, 503, 504] = 503
    rate: float = Field(1.0, ge=0, le=1)
    count: int | None = Field(None, ge=1, le=100_000)
    retryAfterSeconds: int = Field(1, ge=0, le=600)
    methods: list[str] | None = None  # None: every method
    resources: list[str] | None = None  # e.g. ["judge0fleets/status", "secrets"]; None: every resource


class KubeConflictParams(_Timed):
    rate: float = Field(1.0, ge=0, le=1)
    count: int | None = Field(None, ge=1, le=100_000)
    resources: list[str] | None = None  # None: every status subresource


class KubeWatchParams(_Timed):
    count: int | None = Field(None, ge=1, le=100_000)
    resources: list[str] | None = None  # e.g. ["judge0fleets"]; None: every watched resource


class KubeWatchDelayParams(_Timed):
    delaySeconds: float = Field(2.0, gt=0, le=600)
    resources: list[str] | None = None
