"""The world's fault catalogue: which faults exist, where they may be aimed, and what heals them.

A fault is aimed at one *target*: an instance id (``i-…``), a zone (``zone:us-east-1a``), an AMI
(``image:ami-…``: every instance launched from it, as a broken image would) or the AWS API as a
whole (``aws``). Node faults (``world/judge0/nodes.py`` ``NODE_FAULTS``) are shown by the
Judge0 simulator; EC2, SSM, zone and API faults are acted out by the world's AWS side
(``world/aws/instances.py``, ``world/aws/ssm.py``, ``world/aws/front.py``).

Healing mirrors what the operator's remediation really does on a host:

* ``restart:<service>`` — an SSM command ran ``docker compose restart [services]`` (all four
  services when none are named): ``server`` fixes the web process, ``workers`` the workers and a
  stuck queue, ``redis`` Redis (and drops the queue), ``db`` Postgres.
* ``reboot`` — RebootInstances finished: every process and OS-level fault is gone, but a broken
  sandbox (cgroup v2 configured on disk) and failing hardware (``system-impaired``) stay.
* ``stop`` — the instance reached ``stopped``: it leaves its host, so hardware faults and
  scheduled events go too; the disk (and so ``sandbox-broken``) comes back on start.
* ``start`` — StartInstances (heals only ``instance-stopped``).
* ``cleanup`` — an SSM script purged old submissions and/or pruned Docker images: it frees the old
  part of ``disk-filling`` (``world/aws/disk.py``); the fault goes once nothing is left above normal.

Nothing heals ``sandbox-broken``, ``maintenance``, ``load`` or the SSM faults but replacement
(a new instance) or removing the fault. Faults aimed at a zone or at ``aws`` are never healed by
an action on one instance: they model trouble outside the host, and stay until deleted; so do
faults aimed at an AMI (a replacement from the same image fails the same way).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from judge0_operator.world.judge0.nodes import NODE_FAULTS

TargetKind = Literal["instance", "zone", "image", "aws", "kube"]
ZONE_PREFIX = "zone:"
IMAGE_PREFIX = "image:"  # every instance launched from that AMI (a broken image, e.g. a cgroup v2 host)
AWS_TARGET = "aws"
KUBE_TARGET = "kube"  # the Kubernetes API (world/kube/faults.py)
COMPOSE_SERVICES = ("server", "workers", "db", "redis")


class FaultError(ValueError):
    """A fault request the world refuses (unknown fault or target, wrong target kind, bad params)."""


class FaultNotFound(KeyError):
    """No active fault has this id."""


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(_Params):
    pass


class SlowParams(_Params):
    delaySeconds: float = Field(2.0, gt=0, le=600)


class FlappingParams(_Params):
    periodSeconds: float = Field(10.0, gt=0, le=3600)


class LoadParams(_Params):
    jobsPerSecond: float = Field(gt=0, le=10_000)


class ImpairedParams(_Params):
    nodeReachable: bool = False  # True: EC2 reports the check impaired but Judge0 still answers


class ScheduledEventParams(_Params):
    notBeforeSeconds: float = Field(600.0, ge=0)  # world seconds from now (divided by speed)


class SpotInterruptionParams(_Params):
    noticeSeconds: float = Field(120.0, ge=0)  # EC2 gives two minutes' notice


class DiskFillingParams(_Params):
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


class AuthRejectedParams(_Params):
    status: Literal[401, 403] = 401  # 401: AUTHN_TOKEN changed; 403: ALLOW_IP/DISALLOW_IP


class SsmFailedParams(_Params):
    exitCode: int = Field(1, ge=1, le=255)
    message: str = "failed to run commands: exit status 1"


class CapacityParams(_Params):
    instanceTypes: list[str] | None = None  # None: every type
    market: Literal["spot", "on-demand", "any"] = "any"


class ThrottleParams(_Params):
    rate: float = Field(1.0, ge=0, le=1)
    actions: list[str] | None = None  # None: every action


class AwsErrorParams(_Params):
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


class _Timed(_Params):
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


_HOST = frozenset({"reboot", "stop"})


@dataclass(frozen=True)
class FaultSpec:
    """One kind of fault: where it may be aimed, its parameters, what it does and what heals it."""

    name: str
    targets: frozenset[str]
    params: type[_Params]
    effect: str
    healed_by: frozenset[str] = frozenset()

    @property
    def is_node_fault(self) -> bool:
        return self.name in NODE_FAULTS


def _spec(
    name: str, targets: str, params: type[_Params], effect: str, healed_by: Iterable[str] = ()
) -> FaultSpec:
    return FaultSpec(name, frozenset(targets.split()), params, effect, frozenset(healed_by))


_NODE = "instance zone image"
FAULT_SPECS: dict[str, FaultSpec] = {
    s.name: s
    for s in [
        _spec(
            "judge0-down",
            _NODE,
            NoParams,
            "the Judge0 web process refuses connections",
            {"restart:server", *_HOST},
        ),
        _spec(
            "judge0-slow",
            _NODE,
            SlowParams,
            "every Judge0 answer is delayed by delaySeconds",
            {"restart:server", *_HOST},
        ),
        _spec(
            "api-500", _NODE, NoParams, "every Judge0 API endpoint answers 500", {"restart:server", *_HOST}
        ),
        _spec(
            "workers-dead",
            _NODE,
            NoParams,
            "workers take no jobs; the queue grows",
            {"restart:workers", *_HOST},
        ),
        _spec(
            "sandbox-broken",
            _NODE,
            NoParams,
            "every run ends in status 13 (cgroup v2 host); only replacement fixes it",
        ),
        _spec(
            "queue-full",
            _NODE,
            NoParams,
            "POST /submissions answers 503 queue is full",
            {"restart:workers", "restart:redis", *_HOST},
        ),
        _spec(
            "redis-down",
            _NODE,
            NoParams,
            "/workers and POST /submissions answer 500",
            {"restart:redis", *_HOST},
        ),
        _spec(
            "db-down",
            _NODE,
            NoParams,
            "/languages, /statistics and submission reads answer 500",
            {"restart:db", *_HOST},
        ),
        _spec(
            "maintenance",
            _NODE,
            NoParams,
            "POST /submissions answers 503 (maintenance mode is configuration)",
        ),
        _spec(
            "flapping", _NODE, FlappingParams, "the web process alternates down/up every periodSeconds", _HOST
        ),
        _spec("load", _NODE, LoadParams, "background submissions arrive at jobsPerSecond (outside traffic)"),
        _spec(
            "disk-filling",
            "instance zone",
            DiskFillingParams,
            "the data volume fills (df through SSM shows it; /statistics grows); at 100% Postgres stops;"
            " a cleanup (purge old submissions, docker image prune) frees the old part",
            {"cleanup"},
        ),
        _spec(
            "auth-rejected",
            _NODE,
            AuthRejectedParams,
            "every filtered route answers 401 (the node's AUTHN_TOKEN changed) or 403 (IP filter), empty body",
        ),
        _spec(
            "instance-impaired",
            "instance zone",
            ImpairedParams,
            "instance status check impaired (reachability failed); node unreachable unless nodeReachable",
            _HOST,
        ),
        _spec(
            "system-impaired",
            "instance zone",
            ImpairedParams,
            "system status check impaired (host hardware); node unreachable unless nodeReachable",
            {"stop"},
        ),
        _spec(
            "instance-stopped",
            "instance",
            NoParams,
            "the instance stops unexpectedly (stopping → stopped, Server.InternalError)",
            {"start"},
        ),
        _spec(
            "instance-terminated",
            "instance",
            NoParams,
            "the instance terminates unexpectedly (shutting-down → terminated)",
        ),
        _spec(
            "scheduled-retirement",
            "instance",
            ScheduledEventParams,
            "instance-retirement event with NotBefore; AWS stops the instance at NotBefore",
            {"stop"},
        ),
        _spec(
            "system-maintenance",
            "instance",
            ScheduledEventParams,
            "system-maintenance event with NotBefore; the host is unreachable for reboot_seconds then",
            {"stop"},
        ),
        _spec(
            "spot-interruption",
            "instance",
            SpotInterruptionParams,
            "spot interruption notice (event instance-stop); terminated after noticeSeconds",
        ),
        _spec("ssm-failed", "instance zone", SsmFailedParams, "SSM commands end Failed with exitCode"),
        _spec("ssm-timeout", "instance zone", NoParams, "SSM commands end TimedOut"),
        _spec(
            "capacity-error",
            "zone",
            CapacityParams,
            "RunInstances/StartInstances into the zone answer InsufficientInstanceCapacity (HTTP 500)",
        ),
        _spec(
            "zone-outage",
            "zone",
            NoParams,
            "no launches or starts in the zone; every instance there impaired and unreachable",
        ),
        _spec(
            "throttle",
            "aws",
            ThrottleParams,
            "a seeded fraction `rate` of calls answer RequestLimitExceeded (EC2) / ThrottlingException (SSM)",
        ),
        _spec("aws-error", "aws", AwsErrorParams, "a seeded fraction `rate` of calls answer the given error"),
        _spec(
            "ec2-eventual-consistency",
            "aws",
            ConsistencyParams,
            "new instances missing from DescribeInstances/Status for 0..newHiddenSeconds, their tags "
            "0..tagsLateSeconds later; terminated ones read running for terminatedRunningSeconds",
        ),
        _spec(
            "lost-response",
            "aws",
            LostResponseParams,
            "mutating calls are processed but their answer is lost (connection reset, or held then reset)",
        ),
        _spec(
            "ssm-agent-offline",
            "instance zone",
            SsmOfflineParams,
            "SSM agent offline: invocations stay Pending until the delivery timeout, or end Undeliverable",
            _HOST,
        ),
        _spec("kube-down", "kube", KubeDownParams, "the Kubernetes API refuses every connection"),
        _spec(
            "kube-error",
            "kube",
            KubeErrorParams,
            "a seeded fraction `rate` of requests answer 5xx or 429 with Retry-After",
        ),
        _spec("kube-status-conflict", "kube", KubeConflictParams, "status writes answer 409 Conflict"),
        _spec(
            "kube-watch-expired",
            "kube",
            KubeWatchParams,
            "a watch resumed from a resourceVersion answers 410 Gone (ERROR event)",
        ),
        _spec(
            "kube-watch-silent",
            "kube",
            KubeWatchParams,
            "watch streams open now go silent (no events, no bookmarks) without closing",
        ),
        _spec(
            "kube-watch-delay",
            "kube",
            KubeWatchDelayParams,
            "watch events arrive delaySeconds after the write",
        ),
    ]
}
assert set(NODE_FAULTS) <= set(FAULT_SPECS), "every node fault needs a spec"


def target_kind(target: str) -> TargetKind:
    """Classify a target string; raises FaultError for a string that is none of the three kinds."""
    if target == AWS_TARGET:
        return "aws"
    if target == KUBE_TARGET:
        return "kube"
    if target.startswith(ZONE_PREFIX) and len(target) > len(ZONE_PREFIX):
        return "zone"
    if target.startswith(IMAGE_PREFIX + "ami-") and len(target) > len(IMAGE_PREFIX) + 4:
        return "image"
    if target.startswith("i-") and len(target) > 2:
        return "instance"
    raise FaultError(
        f"unknown target {target!r}: use an instance id (i-…), 'zone:<zone>', 'image:<ami-…>', 'aws' or 'kube'"
    )


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Fault:
    """One injected fault. Instance faults are removed when healed; all faults can be deleted."""

    id: str
    target: str
    kind: TargetKind
    name: str
    params: dict[str, Any]
    created_at: str = field(default_factory=_now_iso)
    created_mono: float = 0.0
    healed_at: str | None = None
    healed_by: str | None = None

    @property
    def zone(self) -> str | None:
        return self.target[len(ZONE_PREFIX) :] if self.kind == "zone" else None

    @property
    def image(self) -> str | None:
        return self.target[len(IMAGE_PREFIX) :] if self.kind == "image" else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "target": self.target,
            "fault": self.name,
            "params": dict(self.params),
            "createdAt": self.created_at,
        }
        if self.healed_by is not None:
            out["healedAt"] = self.healed_at
            out["healedBy"] = self.healed_by
        return out


def check_fault(name: str, target: str) -> tuple[FaultSpec, TargetKind]:
    """The fault's spec and the target's kind, or FaultError: unknown fault or target, wrong kind."""
    spec = FAULT_SPECS.get(name)
    if spec is None:
        raise FaultError(f"unknown fault {name!r}; known faults: {', '.join(sorted(FAULT_SPECS))}")
    kind = target_kind(target)
    if kind not in spec.targets:
        valid = ", ".join(sorted(spec.targets))
        raise FaultError(f"fault {name!r} cannot target {kind} {target!r}; valid targets: {valid}")
    return spec, kind


def validate_params(spec: FaultSpec, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check and complete a fault's params (defaults filled in) or raise FaultError with the reason."""
    if params is not None and not isinstance(params, Mapping):
        raise FaultError("params must be an object")
    try:
        model = spec.params.model_validate(dict(params or {}))
    except ValidationError as exc:
        problems = "; ".join(
            f"params.{'.'.join(str(p) for p in err['loc']) or '?'}: {err['msg']}" for err in exc.errors()
        )
        raise FaultError(f"bad params for {spec.name}: {problems}") from None
    return model.model_dump()


class FaultRegistry:
    """Active faults plus the recently healed ones; safe to use from several threads."""

    HISTORY = 500

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._active: dict[str, Fault] = {}
        self._healed: list[Fault] = []

    def add(self, target: str, name: str, params: Mapping[str, Any] | None, *, now: float = 0.0) -> Fault:
        """Validate and record a fault; the caller has checked that the target exists."""
        spec, kind = check_fault(name, target)
        clean = validate_params(spec, params)
        with self._lock:
            fault = Fault(
                id=f"f-{next(self._ids):05d}",
                target=target,
                kind=kind,
                name=name,
                params=clean,
                created_mono=now,
            )
            self._active[fault.id] = fault
            return fault

    def get(self, fault_id: str) -> Fault | None:
        with self._lock:
            return self._active.get(fault_id)

    def remove(self, fault_id: str, *, reason: str = "deleted") -> Fault:
        with self._lock:
            fault = self._active.pop(fault_id, None)
            if fault is None:
                raise FaultNotFound(fault_id)
            self._retire(fault, reason)
            return fault

    def clear(self) -> list[Fault]:
        with self._lock:
            faults = list(self._active.values())
            for fault in faults:
                self._retire(fault, "deleted")
            self._active.clear()
            return faults

    def reset(self) -> None:
        with self._lock:
            self._ids = itertools.count(1)
            self._active.clear()
            self._healed.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._active.values())

    def healed(self) -> list[Fault]:
        with self._lock:
            return list(self._healed)

    def on_instance(self, instance_id: str, zone: str | None, image: str | None = None) -> list[Fault]:
        """Faults that apply to one instance: aimed at it, its zone or its AMI, oldest first."""
        zone_target = f"{ZONE_PREFIX}{zone}" if zone else None
        image_target = f"{IMAGE_PREFIX}{image}" if image else None
        with self._lock:
            return [f for f in self._active.values() if f.target in (instance_id, zone_target, image_target)]

    def find(self, name: str, instance_id: str, zone: str | None, image: str | None = None) -> Fault | None:
        """The newest active fault of this name applying to the instance (instance beats zone)."""
        found = [f for f in self.on_instance(instance_id, zone, image) if f.name == name]
        found.sort(key=lambda f: (f.kind == "instance", f.id))
        return found[-1] if found else None

    def in_zone(self, zone: str, name: str) -> list[Fault]:
        with self._lock:
            return [
                f for f in self._active.values() if f.kind == "zone" and f.zone == zone and f.name == name
            ]

    def on_aws(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._active.values() if f.kind == "aws"]

    def on_kube(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._active.values() if f.kind == "kube"]

    def heal(self, instance_id: str, event: str) -> list[Fault]:
        """Remove the instance's own faults that ``event`` heals (zone and aws faults stay)."""
        with self._lock:
            healed = [
                f
                for f in self._active.values()
                if f.target == instance_id and event in FAULT_SPECS[f.name].healed_by
            ]
            for fault in healed:
                del self._active[fault.id]
                self._retire(fault, event)
            return healed

    def drop_instance(self, instance_id: str) -> list[Fault]:
        """The instance is gone: its faults go with it."""
        with self._lock:
            gone = [f for f in self._active.values() if f.target == instance_id]
            for fault in gone:
                del self._active[fault.id]
                self._retire(fault, "instance-gone")
            return gone

    def _retire(self, fault: Fault, reason: str) -> None:
        fault.healed_at = _now_iso()
        fault.healed_by = reason
        self._healed.append(fault)
        del self._healed[: -self.HISTORY]


def fault_table() -> list[dict[str, Any]]:
    """The catalogue as data (for docs, the control API and tests)."""
    return [
        {
            "fault": s.name,
            "targets": sorted(s.targets),
            "effect": s.effect,
            "healedBy": sorted(s.healed_by),
            "params": s.params.model_json_schema().get("properties", {}),
        }
        for s in FAULT_SPECS.values()
    ]
