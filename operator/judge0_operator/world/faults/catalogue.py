"""The world's fault catalogue: which faults exist, where they may be aimed, and what heals them.

A fault is aimed at one *target*: an instance id (``i-…``), a zone (``zone:us-east-1a``), an AMI
(``image:ami-…``: every instance launched from it, as a broken image would) or the AWS API as a
whole (``aws``). Node faults (``world/judge0/nodes.py`` ``NODE_FAULTS``) are shown by the
Judge0 simulator; EC2, SSM, zone and API faults are acted out by the world's AWS side
(``world/aws/ec2/``, ``world/aws/ssm/``, ``world/aws/front.py``).

Targets are read by ``targets.py``, parameters checked against the models of ``params.py``; the
registry of injected faults is ``registry.py``.

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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from judge0_operator.world.faults.errors import FaultError
from judge0_operator.world.faults.params import (
    AuthRejectedParams,
    AwsErrorParams,
    CapacityParams,
    ConsistencyParams,
    DiskFillingParams,
    FaultParams,
    FlappingParams,
    ImpairedParams,
    KubeConflictParams,
    KubeDownParams,
    KubeErrorParams,
    KubeWatchDelayParams,
    KubeWatchParams,
    LoadParams,
    LostResponseParams,
    NoParams,
    ScheduledEventParams,
    SlowParams,
    SpotInterruptionParams,
    SsmFailedParams,
    SsmOfflineParams,
    ThrottleParams,
)
from judge0_operator.world.faults.targets import TargetKind, target_kind
from judge0_operator.world.judge0.nodes import NODE_FAULTS

COMPOSE_SERVICES = ("server", "workers", "db", "redis")


_HOST = frozenset({"reboot", "stop"})


@dataclass(frozen=True)
class FaultSpec:
    """One kind of fault: where it may be aimed, its parameters, what it does and what heals it."""

    name: str
    targets: frozenset[str]
    params: type[FaultParams]
    effect: str
    healed_by: frozenset[str] = frozenset()

    @property
    def is_node_fault(self) -> bool:
        return self.name in NODE_FAULTS


def _spec(
    name: str, targets: str, params: type[FaultParams], effect: str, healed_by: Iterable[str] = ()
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
