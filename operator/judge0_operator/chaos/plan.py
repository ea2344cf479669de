"""Which runs a chaos run makes: the crash-point sweep and one row per fault class.

**The sweep.** For each flow, a clean run (no crash, client tokens on) counts how often the flow
hits each crash point — every mutating cloud call, every status write of the fleet and every
EndpointSlice write — from its trigger to convergence. Then the flow runs again with the
operator killed right after the nth call of each point: every launch and termination in four
modes (client tokens on and off, each with and without EC2's eventual consistency); every status
write up to the ``max_status_nth``-th (the later ones record what is already done), and the
first ``max_other_nth`` of every other kind (SSM commands, reboots, target-group registrations,
EndpointSlice writes), with tokens on, with and without eventual consistency (no launch is made
on their account, so tokens change nothing). The clean runs count as rows too.

**The fault classes.** One row per kind of misbehaviour of the real APIs (``FAULT_ROWS``), each
run against the flow where it bites, in the modes where the difference matters.

``--quick`` runs a fixed subset with no discovery, small enough for CI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from judge0_operator.chaos.flows import CRASH_FLOWS
from judge0_operator.chaos.runs import MODES, FaultStep, RunSpec

INSTANCE_CALLS = ("RunInstances", "TerminateInstances")  # what tokens and adoption guard: every call, every mode
OTHER_CLOUD_CALLS = (
    "RebootInstances",
    "StartInstances",
    "StopInstances",
    "SendCommand",
    "CreateTags",
    "RegisterTargets",
    "DeregisterTargets",
)
STATUS_WRITE = "kube:judge0fleets/status"
FLEET_WRITE = "kube:judge0fleets"  # Kopf's finalizer: only where the fleet is deleted
KUBE_WRITES = (STATUS_WRITE, "kube:endpointslices", FLEET_WRITE)
CRASH_POINTS = (*INSTANCE_CALLS, *OTHER_CLOUD_CALLS, *KUBE_WRITES)


API_DOWN_REMEDIATION = "Kubernetes API down 8 s (a node fails meanwhile: restarted anyway)"


@dataclass(frozen=True)
class FaultRow:
    row: str
    flow: str
    faults: tuple[FaultStep, ...]
    modes: tuple[str, ...] = ("tokens-on",)


def _k(fault: str, **params: object) -> FaultStep:
    return FaultStep("kube", fault, params)


FAULT_ROWS: tuple[FaultRow, ...] = (
    FaultRow(
        "EC2 eventual consistency (new hidden ≤4 s, tags ≤2 s, terminated reads running 3 s)",
        "scale-up",
        (
            FaultStep(
                "aws",
                "ec2-eventual-consistency",
                {"newHiddenSeconds": 4, "tagsLateSeconds": 2, "terminatedRunningSeconds": 3},
            ),
        ),
        ("tokens-on", "tokens-off"),
    ),
    FaultRow(
        "EC2 eventual consistency during a replacement",
        "replacement",
        (
            FaultStep(
                "aws",
                "ec2-eventual-consistency",
                {"newHiddenSeconds": 4, "tagsLateSeconds": 2, "terminatedRunningSeconds": 3},
            ),
        ),
        ("tokens-on", "tokens-off"),
    ),
    FaultRow(
        "lost RunInstances answers (2, processed, connection reset)",
        "scale-up",
        (FaultStep("aws", "lost-response", {"actions": ["RunInstances"], "count": 2}),),
        ("tokens-on", "tokens-off", "tokens-on+ec"),
    ),
    FaultRow(
        "lost TerminateInstances answers (2)",
        "scale-in",
        (FaultStep("aws", "lost-response", {"actions": ["TerminateInstances"], "count": 2}),),
    ),
    FaultRow(
        "lost SendCommand answer (held 2 s, then reset)",
        "remediation",
        (
            FaultStep(
                "aws", "lost-response", {"actions": ["SendCommand"], "count": 1, "mode": "timeout", "holdSeconds": 2}
            ),
        ),
    ),
    FaultRow("Kubernetes API down 8 s (during a scale-up)", "scale-up", (_k("kube-down", durationSeconds=8),)),
    FaultRow(
        API_DOWN_REMEDIATION,
        "remediation",
        (FaultStep("kube", "kube-down", {"durationSeconds": 8}),),
    ),
    FaultRow(
        "Kubernetes API 503 burst (half the requests, 6 s)",
        "scale-up",
        (_k("kube-error", status=503, rate=0.5, durationSeconds=6),),
    ),
    FaultRow(
        "Kubernetes API 429 with Retry-After 1 (half the requests, 6 s)",
        "scale-up",
        (_k("kube-error", status=429, rate=0.5, retryAfterSeconds=1, durationSeconds=6),),
    ),
    FaultRow("409 Conflict on status writes (5)", "scale-up", (_k("kube-status-conflict", count=5),)),
    FaultRow(
        "watch goes silent, resumes into 410 Gone",
        "scale-up",
        (
            FaultStep("kube", "kube-watch-expired", {"count": 3}, at=-0.1),
            FaultStep("kube", "kube-watch-silent", {}, at=-0.1),
        ),
    ),
    FaultRow("watch stream silent without closing", "rollout", (FaultStep("kube", "kube-watch-silent", {}, at=-0.1),)),
    FaultRow(
        "watch events 2 s late (a pass sees its own write late)",
        "replacement",
        (FaultStep("kube", "kube-watch-delay", {"delaySeconds": 2}, at=-0.1, clear_after=25),),
    ),
    FaultRow(
        "watch events 2 s late during a remediation",
        "remediation",
        (FaultStep("kube", "kube-watch-delay", {"delaySeconds": 2}, at=-0.1, clear_after=25),),
    ),
    FaultRow(
        "SSM agent offline (commands stay Pending)",
        "remediation",
        (FaultStep("instance:0", "ssm-agent-offline", {"outcome": "pending"}, at=-0.1),),
    ),
    FaultRow(
        "SSM agent offline (commands Undeliverable)",
        "remediation",
        (FaultStep("instance:0", "ssm-agent-offline", {"outcome": "undeliverable"}, at=-0.1),),
    ),
    FaultRow(
        "SendCommand throttled (70 %)",
        "remediation",
        (
            FaultStep(
                "aws", "throttle", {"actions": ["SendCommand", "GetCommandInvocation"], "rate": 0.7}, clear_after=20
            ),
        ),
    ),
)


def fault_runs(rows: Iterable[FaultRow] = FAULT_ROWS) -> list[RunSpec]:
    return [RunSpec(row.row, row.flow, mode, faults=row.faults) for row in rows for mode in row.modes]


def crash_row(flow: str, point: str) -> str:
    names = {
        STATUS_WRITE: "status write",
        FLEET_WRITE: "fleet write (finalizer)",
        "kube:endpointslices": "EndpointSlice write",
    }
    return f"crash: {flow}, after {names.get(point, point)}"


NO_LAUNCH_MODES = ("tokens-on", "tokens-on+ec")  # no launch is made on this call's account: tokens change nothing


def crash_runs(flow: str, counts: Mapping[str, int], *, max_status_nth: int, max_other_nth: int = 1) -> list[RunSpec]:
    """Every (point, n) the clean run hit: each instance launch and termination in every mode;
    each status write up to the ``max_status_nth``-th, and every other mutating call (SSM, reboot,
    target groups, EndpointSlice writes) up to the ``max_other_nth``-th, with client tokens on,
    with and without eventual consistency; the fleet's own writes (Kopf's finalizer) only where
    the fleet is deleted."""
    runs = []
    for point in CRASH_POINTS:
        if point == FLEET_WRITE and flow != "deletion":
            continue
        hit = counts.get(point, 0)
        if point in INSTANCE_CALLS:
            cap = hit
        elif point in (STATUS_WRITE, FLEET_WRITE):
            cap = max_status_nth
        else:
            cap = max_other_nth
        for nth in range(1, min(hit, cap) + 1):
            for mode in MODES if point in INSTANCE_CALLS else NO_LAUNCH_MODES:
                runs.append(RunSpec(crash_row(flow, point), flow, mode, crash=(point, nth)))
    return runs


def baseline_runs(flows: Iterable[str] = CRASH_FLOWS) -> list[RunSpec]:
    return [RunSpec(f"clean: {flow}", flow, "tokens-on") for flow in flows]


def quick_runs() -> list[RunSpec]:
    """The CI subset: one crash after a launch with tokens off, one after a status write with
    eventual consistency, a lost launch answer, the API down, late watch events."""
    by_row = {row.row: row for row in FAULT_ROWS}
    return [
        RunSpec(crash_row("scale-up", "RunInstances"), "scale-up", "tokens-off", crash=("RunInstances", 1)),
        RunSpec(
            crash_row("replacement", "kube:judge0fleets/status"),
            "replacement",
            "tokens-on+ec",
            crash=("kube:judge0fleets/status", 2),
        ),
        RunSpec(
            by_row["lost RunInstances answers (2, processed, connection reset)"].row,
            "scale-up",
            "tokens-off",
            faults=by_row["lost RunInstances answers (2, processed, connection reset)"].faults,
        ),
        RunSpec(
            by_row[API_DOWN_REMEDIATION].row,
            "remediation",
            faults=by_row[API_DOWN_REMEDIATION].faults,
        ),
        RunSpec(
            by_row["watch events 2 s late (a pass sees its own write late)"].row,
            "replacement",
            faults=by_row["watch events 2 s late (a pass sees its own write late)"].faults,
        ),
    ]
