"""Values that flow through a pass: what was observed, what to do, what came of it.

``observe/`` builds ``FleetObservation``; ``decide.plan`` turns it into ``Action``s and a new
status; ``act/`` executes actions and returns ``ActionOutcome``s, which ``decide.record_outcomes``
folds back into the status. All frozen dataclasses: cheap, hashable, easy to build in tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

# --- Ownership tags: everything the operator creates carries them -------------------------------
TAG_FLEET = "judge0.dev/fleet"  # "<namespace>/<name>"
TAG_FLEET_UID = "judge0.dev/fleet-uid"
TAG_SLOT = "judge0.dev/slot"
TAG_ATTEMPT = "judge0.dev/launch-attempt"
TAG_TEMPLATE = "judge0.dev/template-hash"
TAG_RETAINED = "judge0.dev/retained"  # deletionPolicy Retain: released, never swept as an orphan
TAG_MANAGED = "judge0.dev/managed-by"  # value "judge0-operator": the IAM conditions key on it
MANAGED_BY = "judge0-operator"

Ec2State = Literal["pending", "running", "stopping", "stopped", "shutting-down", "terminated"]
CheckStatus = Literal["ok", "impaired", "initializing", "insufficient-data", "not-applicable"]
Signal = Literal["ec2", "api", "workers", "canary", "disk"]
SIGNALS: tuple[Signal, ...] = ("ec2", "api", "workers", "canary", "disk")
NoAnswer = Literal["refused", "timeout", "error"]  # why a request got no HTTP answer
CanaryStage = Literal["submit", "poll"]  # where a canary stopped


@dataclass(frozen=True)
class ScheduledEvent:
    """An EC2 scheduled event (instance-retirement, system-maintenance, instance-stop for spot, …)."""

    code: str
    not_before: datetime | None = None
    description: str = ""


@dataclass(frozen=True)
class Ec2Instance:
    """One instance as DescribeInstances shows it, with the operator's tags decoded."""

    instance_id: str
    state: Ec2State
    zone: str
    subnet_id: str
    instance_type: str
    launch_time: datetime
    private_ip: str | None = None
    public_ip: str | None = None
    market: Literal["on-demand", "spot"] = "on-demand"
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def fleet_uid(self) -> str | None:
        return self.tags.get(TAG_FLEET_UID)

    @property
    def slot(self) -> str | None:
        return self.tags.get(TAG_SLOT)

    @property
    def launch_attempt(self) -> int:
        try:
            return int(self.tags.get(TAG_ATTEMPT, "0"))
        except ValueError:
            return 0

    @property
    def template_hash(self) -> str:
        return self.tags.get(TAG_TEMPLATE, "")


@dataclass(frozen=True)
class Ec2Health:
    """DescribeInstanceStatus for one instance."""

    instance_status: CheckStatus = "ok"
    system_status: CheckStatus = "ok"
    events: tuple[ScheduledEvent, ...] = ()


@dataclass(frozen=True)
class ProbeResult:
    """One Judge0 probe's latest completed result.

    ``ok`` is True (good), False (bad) or None (inconclusive: e.g. ``/workers`` answered ``[]``,
    or the probe has not completed yet) — None never makes a node unhealthy on its own.
    """

    signal: Signal
    ok: bool | None
    observed_at: datetime
    detail: str = ""
    latency_seconds: float = 0.0
    queue_size: int | None = None  # /workers: jobs waiting
    working: int | None = None  # /workers: workers running a job (with queue_size: what a drain waits for)
    available_workers: int | None = None  # /workers: registered workers
    saturated: bool = False  # queue full (503) seen: counts as saturation for autoscaling
    version: str | None = None  # /about
    # The evidence a diagnosis reads (decide/diagnosis.py):
    http_status: int | None = None  # the answer's status code; None: no HTTP answer (see no_answer)
    no_answer: NoAnswer | None = None
    stage: CanaryStage | None = None  # canary: the request it ended on
    judge0_status: int | None = None  # canary: the submission's status id (final, or last seen)
    judge0_message: str | None = None  # canary: its message, or the error body's text
    disk_used_percent: float | None = None  # disk: the data volume's use (df through SSM)
    disk_size_bytes: int | None = None
    database_bytes: int | None = None  # disk: GET /statistics database.size_in_bytes


@dataclass(frozen=True)
class InstanceObservation:
    """Everything observed about one instance in this pass."""

    instance: Ec2Instance
    ec2: Ec2Health | None = None  # None: no status yet (pending/stopped instances have none)
    probes: Mapping[Signal, ProbeResult] = field(default_factory=dict)


@dataclass(frozen=True)
class FleetObservation:
    """The fleet's instances (found by its uid tag, terminated ones left out) at ``observed_at``.

    ``complete`` is False when EC2 could not be described this pass: the planner then reports
    but never launches or terminates (acting on a partial view is how duplicates happen).
    """

    observed_at: datetime
    instances: tuple[InstanceObservation, ...] = ()
    complete: bool = True
    error: str | None = None
    zones: Mapping[str, str] = field(default_factory=dict)  # subnet id → zone, for the fleet's subnets
    target_groups: Mapping[str, TargetGroupHealth] = field(default_factory=dict)  # spec.traffic's, by ARN


@dataclass(frozen=True)
class TargetHealth:
    """One instance target of a target group, as DescribeTargetHealth reports it."""

    instance_id: str
    state: str  # initial | healthy | unhealthy | unused | draining | unavailable
    reason: str | None = None
    port: int | None = None


@dataclass(frozen=True)
class TargetGroupHealth:
    """Every instance target of one group at ``observed_at``; ``error`` set when it could not be read."""

    arn: str
    observed_at: datetime
    targets: Mapping[str, TargetHealth] = field(default_factory=dict)
    error: str | None = None

    @property
    def complete(self) -> bool:
        return self.error is None


# --- Actions -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Launch:
    """RunInstances for one slot; the intent is in status before the call."""

    slot: str
    attempt: int
    client_token: str
    subnet_id: str
    zone: str
    instance_type: str
    market: Literal["on-demand", "spot"]
    reason: str
    replaces: str | None = None
    kind: Literal["Launch"] = "Launch"


@dataclass(frozen=True)
class Terminate:
    instance_id: str
    reason: str
    slot: str | None = None
    kind: Literal["Terminate"] = "Terminate"


@dataclass(frozen=True)
class RestartJudge0:
    """SSM AWS-RunShellScript with the policy's restartCommand, awaiting the per-instance result.

    ``component`` is what the diagnosis named (server, workers, redis, db; None: restartCommand) and
    ``command`` its command; ``requeue`` asks for the policy's requeueCommand after it (act/aws.py).
    """

    instance_id: str
    reason: str
    command: str = ""
    slot: str | None = None
    component: str | None = None
    requeue: bool = False
    kind: Literal["RestartJudge0"] = "RestartJudge0"


@dataclass(frozen=True)
class CleanDisk:
    """SSM AWS-RunShellScript with the policy's cleanup command (DiskPressure), awaiting the result."""

    instance_id: str
    reason: str
    command: str = ""
    slot: str | None = None
    kind: Literal["CleanDisk"] = "CleanDisk"


@dataclass(frozen=True)
class Reboot:
    instance_id: str
    reason: str
    slot: str | None = None
    kind: Literal["RebootInstance"] = "RebootInstance"


@dataclass(frozen=True)
class Start:
    """StartInstances for a stopped instance (never an SSM restart: nothing runs on it)."""

    instance_id: str
    reason: str
    slot: str | None = None
    kind: Literal["Start"] = "Start"


Action = Launch | Terminate | RestartJudge0 | CleanDisk | Reboot | Start
MUTATING_KINDS = frozenset({"Launch", "Terminate", "RestartJudge0", "CleanDisk", "RebootInstance", "Start"})


@dataclass(frozen=True)
class EventNote:
    """A Kubernetes Event the controller should post (reasons are CamelCase, greppable)."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class ActionOutcome:
    """What came of one action: ``error_kind`` says how the planner must treat a failure."""

    action: Action
    ok: bool
    instance_id: str | None = None  # for a Launch: the instance it created
    zone: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_kind: Literal["terminal", "capacity", "transient", "throttled", "circuit-open"] | None = None
    detail: str = ""  # e.g. SSM per-instance status "Success"/"Failed"/"TimedOut"
