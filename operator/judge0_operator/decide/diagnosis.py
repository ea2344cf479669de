"""Diagnosis: the cause an unhealthy instance's evidence names, and what each cause allows.

Pure: derived only from what the probes saw (status codes, bodies, Judge0 status and message, EC2
checks and events) — /work/shared/judge0-failures.md is the table it follows. The order of the
rules is the order of causes: a stopped or failing host explains everything above it, a wrong
token explains every 401, a full disk explains a dead database, a dead web process explains
failing routes, and only then do Redis, Postgres, the sandbox and the workers get their say.

Each diagnosis carries its *traits* (``TRAITS``): which component the restart rung restarts, whether
a restart or a reboot can help at all (a broken sandbox is the host's: neither does, and a
replacement from the same template fails the same way), whether a cleanup goes first (disk), and
whether the operator may act at all — AuthRejected and Maintenance are configuration (a condition
names the cause), QueueSaturated is load (the autoscaler's): none of them is ever remediated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from judge0_operator.api.fleet_status import SignalStatus
from judge0_operator.decide.model import InstanceObservation, ProbeResult

DiagnosisName = Literal[
    "Stopped",
    "Retiring",
    "Impaired",
    "AuthRejected",
    "DiskPressure",
    "Unreachable",
    "WebDown",
    "VersionMismatch",
    "RedisDown",
    "DatabaseDown",
    "SandboxBroken",
    "WorkersStuck",
    "Maintenance",
    "QueueSaturated",
    "Unknown",
]
Component = Literal["server", "workers", "redis", "db"]

RETIRING_EVENTS = frozenset({"instance-retirement", "instance-stop", "system-reboot", "spot-interruption"})
_STOPPED = frozenset({"stopped", "stopping"})


@dataclass(frozen=True)
class Traits:
    """What a diagnosis allows the ladder to do."""

    component: Component | None = None  # what the restart rung restarts (None: restartCommand)
    restart_helps: bool = True  # False: skip the RestartJudge0 rungs
    reboot_helps: bool = True  # False: skip the RebootInstance rungs
    cleanup_first: bool = False  # DiskPressure: remediation.cleanup before the ladder
    acts: bool = True  # False: never remediated (configuration or load); not counted as unhealthy
    configuration: bool = False  # a condition names the cause (what a human must fix)
    requeue: bool = False  # run remediation.requeueCommand after the restart


TRAITS: Mapping[DiagnosisName, Traits] = {
    "Stopped": Traits(restart_helps=False, reboot_helps=False),  # the ladder Starts it
    "Retiring": Traits(restart_helps=False, reboot_helps=False),  # replaced at once
    "Impaired": Traits(restart_helps=False),  # SSM needs a healthy OS; reboot, or replace
    "AuthRejected": Traits(acts=False, configuration=True),
    "DiskPressure": Traits(restart_helps=False, reboot_helps=False, cleanup_first=True),
    "Unreachable": Traits(restart_helps=False),  # no answer and no healthy host check: SSM will not reach it
    "WebDown": Traits(component="server"),
    "VersionMismatch": Traits(restart_helps=False, reboot_helps=False),  # another image: only a new instance
    "RedisDown": Traits(component="redis", requeue=True),
    "DatabaseDown": Traits(component="db", requeue=True),
    "SandboxBroken": Traits(restart_helps=False, reboot_helps=False),  # the host's cgroups: replace
    "WorkersStuck": Traits(component="workers", requeue=True),
    "Maintenance": Traits(acts=False, configuration=True),
    "QueueSaturated": Traits(acts=False),  # load: the autoscaler's business
    "Unknown": Traits(),  # the ladder as configured
}
DIAGNOSES: tuple[DiagnosisName, ...] = tuple(TRAITS)


@dataclass(frozen=True)
class Diagnosis:
    name: DiagnosisName
    evidence: str

    @property
    def traits(self) -> Traits:
        return TRAITS[self.name]

    def text(self) -> str:
        return f"{self.name}: {self.evidence}" if self.evidence else self.name


def traits_of(name: str | None) -> Traits:
    """The traits of a diagnosis name as status stores it (unknown or none: the plain ladder)."""
    return TRAITS.get(name, TRAITS["Unknown"]) if name else TRAITS["Unknown"]  # type: ignore[call-overload]


def acts(name: str | None) -> bool:
    return traits_of(name).acts


def diagnose(
    seen: InstanceObservation,
    signals: Mapping[str, SignalStatus],
    *,
    expected_version: str | None = None,
    fresh_after: datetime | None = None,
) -> Diagnosis | None:
    """The cause the evidence names, or None when nothing looks wrong.

    ``fresh_after``: the last action on the instance; a probe that began before it saw the node
    before the repair (a canary that failed while Redis was down) and says nothing now.
    """
    instance, checks = seen.instance, seen.ec2
    probes: dict[str, ProbeResult] = {
        s: r
        for s, r in seen.probes.items()
        if fresh_after is None or r.observed_at - timedelta(seconds=r.latency_seconds) >= fresh_after
    }
    if instance.state in _STOPPED:
        return Diagnosis("Stopped", f"instance {instance.state}")
    events = [e.code for e in (checks.events if checks else ()) if e.code in RETIRING_EVENTS]
    if events:
        return Diagnosis("Retiring", f"scheduled {', '.join(events)}")
    if checks is not None and "impaired" in (checks.instance_status, checks.system_status):
        which = "system" if checks.system_status == "impaired" else "instance"
        return Diagnosis("Impaired", f"EC2 {which} status check impaired")
    api, workers, canary = probes.get("api"), probes.get("workers"), probes.get("canary")
    rejected = next((p for p in (api, workers, canary) if p is not None and p.http_status in (401, 403)), None)
    if rejected is not None:
        return Diagnosis("AuthRejected", _auth_evidence(rejected))
    disk = signals.get("disk")
    if disk is not None and disk.bad:
        return Diagnosis("DiskPressure", disk.detail)
    host_ok = checks is not None and checks.instance_status == "ok" and checks.system_status in ("ok", "not-applicable")
    if api is not None and api.ok is False:
        if api.no_answer == "refused":
            return Diagnosis("WebDown", f"GET /about: {api.detail} (nothing listening)")
        if api.no_answer is not None:
            if host_ok:
                return Diagnosis("WebDown", f"GET /about: {api.detail}; the host's status checks pass")
            return Diagnosis("Unreachable", f"GET /about: {api.detail}; no passing host status check")
        if api.http_status is not None and api.http_status >= 500:
            return Diagnosis("WebDown", f"GET /about answered {api.http_status}")
        if api.version and expected_version and api.version != expected_version:
            return Diagnosis("VersionMismatch", api.detail)
    api_answers = api is None or api.ok is not False
    if api_answers and workers is not None and workers.http_status == 500:
        return Diagnosis("RedisDown", "GET /workers answered 500 while /about is fine" + _also_submit(canary))
    if canary is not None and canary.ok is False and canary.http_status == 500:
        where = "POST /submissions" if canary.stage == "submit" else "GET /submissions/:token"
        return Diagnosis("DatabaseDown", f"{where} answered 500 while /about and /workers are fine")
    if canary is not None and canary.judge0_status == 13:
        return Diagnosis("SandboxBroken", f"status 13 Internal Error: {canary.judge0_message or canary.detail}")
    if workers is not None and workers.ok is False:
        return Diagnosis("WorkersStuck", f"GET /workers: {workers.detail}")
    if canary is not None and canary.ok is False and canary.judge0_status in (1, 2) and canary.stage == "poll":
        state = "In Queue" if canary.judge0_status == 1 else "Processing"
        return Diagnosis("WorkersStuck", f"canary still {state}: {canary.detail}")
    if canary is not None and canary.http_status == 503:
        message = canary.judge0_message or ""
        if "queue is full" not in message:
            return Diagnosis("Maintenance", f"POST /submissions answered 503: {message}".rstrip(": "))
        return Diagnosis("QueueSaturated", "POST /submissions answered 503 queue is full")
    if canary is not None and canary.ok is None and canary.judge0_status == 1 and "busy" in canary.detail:
        return Diagnosis("QueueSaturated", canary.detail)
    bad = [
        name
        for name, signal in signals.items()
        if (signal.bad or signal.status == "Unhealthy") and _bad_now(name, probes)
    ]
    if bad:
        first = signals[bad[0]]
        return Diagnosis("Unknown", f"{bad[0]}: {first.detail}" if first.detail else bad[0])
    return None


def _bad_now(signal: str, probes: Mapping[str, ProbeResult]) -> bool:
    """The signal's latest fresh reading is bad — not bad from memory only (``[]`` from /workers
    after a Redis restart, a canary from before the last action)."""
    if signal == "ec2":
        return True
    probe = probes.get(signal)
    if probe is None or probe.ok is not False:
        return False
    api = probes.get("api")
    # A canary that got no answer while the web process answers now saw a passing outage.
    passed = signal == "canary" and probe.no_answer is not None and api is not None and api.ok is True
    return not passed


def _auth_evidence(probe: ProbeResult) -> str:
    routes = {"api": "GET /about", "workers": "GET /workers", "canary": "POST /submissions"}
    route = routes.get(probe.signal, probe.signal)
    if probe.http_status == 401:
        return f"{route} answered 401 with an empty body: the X-Auth-Token is missing or wrong (AUTHN_TOKEN)"
    return f"{route} answered 403: the operator's address is filtered (ALLOW_IP/DISALLOW_IP)"


def _also_submit(canary: ProbeResult | None) -> str:
    if canary is not None and canary.stage == "submit" and canary.http_status == 500:
        return ", and POST /submissions 500"
    return ""
