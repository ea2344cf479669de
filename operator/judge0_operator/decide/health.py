"""Health of one instance: each signal tracked from its last transition, then one overall verdict.

A signal is *bad* as soon as an observation says so, and *Unhealthy* once it has stayed bad for
that probe's ``unhealthyAfterSeconds`` counted from the transition (Cluster API's rule), so a
blip never triggers a remediation. An inconclusive observation (``/workers`` answering ``[]``,
no probe result yet, an ``initializing`` status check) changes nothing: the signal keeps its
state, or is Unknown if it never had one. Overall: Starting while pending or within the startup
grace (unless every signal is already Healthy); Unhealthy if any signal is; Healthy if all are;
Unknown otherwise. Some facts skip the tolerances: a stopped instance, or a scheduled
retirement/stop/reboot event, is unhealthy at once, even during startup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from judge0_operator.api.fleet import Judge0FleetSpec
from judge0_operator.api.fleet_status import InstanceStatus, SignalStatus
from judge0_operator.api.policy import ProbeTiming, RecoveryPolicySpec
from judge0_operator.decide.model import SIGNALS, InstanceObservation, Signal
from judge0_operator.decide.timeutil import after, format_time, parse_time

Health = Literal["Starting", "Healthy", "Unhealthy", "Unknown"]

# Scheduled events that end the instance (or its host) soon: replace at once, as Karpenter does.
REPLACE_NOW_EVENTS = frozenset({"instance-retirement", "instance-stop", "system-reboot", "spot-interruption"})
STOPPED_STATES = frozenset({"stopped", "stopping"})
_GOOD_CHECKS = frozenset({"ok", "not-applicable"})


def thresholds(policy: RecoveryPolicySpec) -> dict[Signal, int]:
    """Enabled signals and their unhealthy-after seconds; ``ec2`` only with ec2StatusChecks."""
    probes = policy.probes
    out: dict[Signal, int] = {}
    if probes.ec2_status_checks:
        out["ec2"] = probes.ec2_unhealthy_after_seconds
    judge0: tuple[tuple[Signal, ProbeTiming], ...] = (
        ("api", probes.api),
        ("workers", probes.workers),
        ("canary", probes.canary),
    )
    for name, probe in judge0:
        if probe.enabled:
            out[name] = probe.unhealthy_after_seconds
    if probes.disk.enabled:
        out["disk"] = probes.disk.unhealthy_after_seconds
    return out


# Signals read seldom (the disk, through SSM every few minutes) that may have no reading at all
# (no SSM agent): until their first reading they do not hold an instance back from Healthy.
OPTIONAL_SIGNALS = frozenset({"disk"})


def _counts_for_health(name: str, signal: SignalStatus) -> bool:
    return not (name in OPTIONAL_SIGNALS and signal.status == "Unknown" and not signal.bad)


@dataclass(frozen=True)
class Reading:
    """One signal's latest observation: good (True), bad (False) or inconclusive (None)."""

    good: bool | None
    detail: str
    at: datetime


def read_signal(
    signal: Signal,
    seen: InstanceObservation,
    spec: Judge0FleetSpec,
    policy: RecoveryPolicySpec,
    now: datetime,
) -> Reading:
    if signal == "ec2":
        checks = seen.ec2
        if checks is None:
            return Reading(None, "no status checks yet", now)
        detail = f"instance {checks.instance_status}, system {checks.system_status}"
        if "impaired" in (checks.instance_status, checks.system_status):
            return Reading(False, detail, now)
        good = checks.instance_status in _GOOD_CHECKS and checks.system_status in _GOOD_CHECKS
        return Reading(True if good else None, detail, now)
    probe = seen.probes.get(signal)
    if probe is None:
        return Reading(None, "no result yet", now)
    at = min(probe.observed_at, now)
    if probe.ok is None:
        return Reading(None, probe.detail or "inconclusive", at)
    if not probe.ok:
        return Reading(False, probe.detail or "failed", at)
    expected = spec.judge0.expected_version
    if signal == "api" and expected and probe.version and probe.version != expected:
        return Reading(False, f"version {probe.version}, expected {expected}", at)
    minimum = policy.probes.workers.min_available
    if signal == "workers" and probe.available_workers is not None and probe.available_workers < minimum:
        return Reading(False, f"{probe.available_workers} available workers, need {minimum}", at)
    return Reading(True, probe.detail, at)


def track_signal(previous: SignalStatus | None, reading: Reading, threshold: int, now: datetime) -> SignalStatus:
    """Fold one reading into the signal's memory; ``since`` moves only on a good↔bad transition."""
    if reading.good is None:
        if previous is None:
            return SignalStatus(status="Unknown", since=format_time(now), bad=False, detail=reading.detail)
        return previous.model_copy(update={"detail": reading.detail or previous.detail})
    bad = not reading.good
    previous_since = parse_time(previous.since) if previous else None
    no_evidence_yet = previous is not None and previous.status == "Unknown" and not previous.bad
    if previous is None or previous.bad != bad or no_evidence_yet or previous_since is None:
        since = min(max(reading.at, previous_since or reading.at), now)
    else:
        since = previous_since
    if not bad:
        status: Literal["Healthy", "Unhealthy", "Unknown"] = "Healthy"
    elif (now - since).total_seconds() >= threshold:
        status = "Unhealthy"
    else:  # bad, but not for long enough: what it was (Healthy stays Healthy within tolerance)
        status = (
            "Healthy" if previous is not None and previous.status == "Healthy" and not no_evidence_yet else "Unknown"
        )
    return SignalStatus(status=status, since=format_time(since), bad=bad, detail=reading.detail)


@dataclass(frozen=True)
class Assessment:
    """One instance's health this pass, and the facts the ladder needs."""

    signals: dict[str, SignalStatus]
    health: Health
    judged: bool  # False within graceAfterAction: health carried over, no action
    stopped: bool  # stopped or stopping: Start, never an SSM restart
    replace_now: str | None  # why to skip the ladder and replace: scheduled event, system impaired
    unrecoverable: bool  # the old instance need not wait for its replacement to be healthy
    skip_restart: bool  # SSM cannot help: not running, or the instance status check is impaired
    summary: str  # why it is not healthy, for messages
    deadlines: tuple[datetime, ...]  # moments this assessment can change on its own


def assess(
    seen: InstanceObservation,
    previous: InstanceStatus | None,
    spec: Judge0FleetSpec,
    policy: RecoveryPolicySpec,
    now: datetime,
) -> Assessment:
    instance = seen.instance
    limits = thresholds(policy)
    old_signals = dict(previous.signals) if previous else {}
    if previous is not None and previous.health == "Healthy":
        # a Healthy row is stored without the probes' signals (api/compact.py): each was Healthy
        was = previous.healthy_since or format_time(now)
        for name in limits:
            if name not in old_signals and name not in OPTIONAL_SIGNALS:
                old_signals[name] = SignalStatus(status="Healthy", since=was)
    signals: dict[str, SignalStatus] = {}
    deadlines: list[datetime] = []
    for signal in SIGNALS:
        if signal not in limits:
            continue
        if signal in OPTIONAL_SIGNALS and signal not in seen.probes and signal not in old_signals:
            continue  # never read (yet): not tracked, so it holds nothing back
        reading = read_signal(signal, seen, spec, policy, now)
        tracked = track_signal(old_signals.get(signal), reading, limits[signal], now)
        signals[signal] = tracked
        since = parse_time(tracked.since)
        if reading.good is False and tracked.status != "Unhealthy" and since is not None:
            deadlines.append(after(since, limits[signal]))

    checks = seen.ec2
    events = [e.code for e in (checks.events if checks else ()) if e.code in REPLACE_NOW_EVENTS]
    ec2_unhealthy = signals.get("ec2") is not None and signals["ec2"].status == "Unhealthy"
    system_impaired = ec2_unhealthy and checks is not None and checks.system_status == "impaired"
    instance_impaired = ec2_unhealthy and checks is not None and checks.instance_status == "impaired"
    stopped = instance.state in STOPPED_STATES
    replace_now = f"scheduled {events[0]}" if events else ("system status check impaired" if system_impaired else None)

    startup_ends = after(instance.launch_time, policy.startup_grace_seconds)
    last_action_at = parse_time(previous.last_action_at) if previous else None
    grace_ends = after(last_action_at, policy.grace_after_action_seconds) if last_action_at else None
    all_healthy = all(s.status == "Healthy" for n, s in signals.items() if _counts_for_health(n, s))
    judged = True
    health: Health
    if instance.state == "pending":
        health = "Starting"
    elif stopped or events:
        health = "Unhealthy"
    elif instance.state != "running":
        health = "Unknown"
    elif now < startup_ends:
        health = "Healthy" if all_healthy else "Starting"
        deadlines.append(startup_ends)
    elif grace_ends is not None and now < grace_ends and previous is not None:
        health, judged = previous.health, False
        deadlines.append(grace_ends)
    elif any(s.status == "Unhealthy" for s in signals.values()):
        health = "Unhealthy"
    elif all_healthy:
        health = "Healthy"
    else:
        health = "Unknown"
    if health == "Starting" and grace_ends is not None and now < grace_ends:
        deadlines.append(grace_ends)

    return Assessment(
        signals=signals,
        health=health,
        judged=judged,
        stopped=stopped,
        replace_now=replace_now if health == "Unhealthy" else None,
        unrecoverable=stopped or (system_impaired and health == "Unhealthy"),
        skip_restart=instance.state != "running" or instance_impaired,
        summary=_summary(instance.state, events, signals, now),
        deadlines=tuple(deadlines),
    )


def _summary(state: str, events: list[str], signals: dict[str, SignalStatus], now: datetime) -> str:
    if state in STOPPED_STATES:
        return f"instance {state}"
    if events:
        return f"scheduled {', '.join(events)}"
    parts = []
    for name, sig in signals.items():
        if sig.status == "Unhealthy":
            since = parse_time(sig.since)
            lasting = f" for {int((now - since).total_seconds())}s" if since else ""
            parts.append(f"{name} unhealthy{lasting} ({sig.detail})" if sig.detail else f"{name} unhealthy{lasting}")
    return "; ".join(parts) or "not healthy"


def is_ready(state: str, signals: dict[str, SignalStatus], policy: RecoveryPolicySpec) -> bool:
    """Running and Judge0's API answering (readyReplicas); with the API probe off, running is enough."""
    if state != "running":
        return False
    if not policy.probes.api.enabled:
        return True
    api = signals.get("api")
    return api is not None and api.status == "Healthy" and not api.bad
