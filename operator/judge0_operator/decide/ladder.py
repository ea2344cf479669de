"""The escalation ladder for one instance: which action next, when, and when to give up.

Memory per instance (``InstanceStatus``): ``attempts`` in total, ``rung`` (the rung the next
attempt uses) and ``rungAttempts`` on it, ``actionDeadline`` (the last action's rung timeout,
at least ``graceAfterActionSeconds``: until then it is still taking effect) and ``nextActionAt``
(the deadline plus a backoff of initial x multiplier^(attempts-1), capped, ± jitter).

Jitter is derived from a hash of (fleet uid, instance id, attempt), not from a random source,
so the same inputs always give the same plan. A stopped instance gets ``Start`` (never an SSM
restart) and, if it is still stopped once that Start had its time, a replacement. A scheduled
retirement, an impaired *system* check, or a zone outage skips the ladder and replaces at once;
an impaired *instance* check skips the SSM rungs (SSM needs a healthy OS).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from judge0_operator.api.fleet_status import InstanceStatus
from judge0_operator.api.policy import Backoff, RecoveryPolicySpec
from judge0_operator.decide.diagnosis import Diagnosis
from judge0_operator.decide.health import Assessment, Health
from judge0_operator.decide.timeutil import after, format_time, parse_time

START_TIMEOUT_SECONDS = 300  # EC2 starts an instance in a minute or two
DEFAULT_REPLACE_TIMEOUT_SECONDS = 900  # a forced replacement when the ladder has no ReplaceInstance rung

StepAction = Literal["RestartJudge0", "RebootInstance", "ReplaceInstance", "Start", "CleanDisk"]


@dataclass(frozen=True)
class Step:
    """The next remediation for an instance."""

    action: StepAction
    why: str
    rung: int | None = None  # the ladder rung used; None for Start and forced replacements
    counts: bool = True  # False: re-launching a replacement whose launch failed (not a new attempt)
    terminate_old_now: bool = False  # the old instance is beyond use: do not wait for the new one
    requested: bool = False  # a human asked (judge0.dev/remediate): recorded, but not an attempt


@dataclass(frozen=True)
class GiveUp:
    """maxRetries or the last rung reached: left for a human."""

    why: str


def jitter_fraction(fleet_uid: str, instance_id: str, attempt: int) -> float:
    """A stable pseudo-random number in [-1, 1] for this (fleet, instance, attempt)."""
    digest = hashlib.sha256(f"{fleet_uid}/{instance_id}/{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / float(2**64 - 1) * 2.0 - 1.0


def backoff_seconds(backoff: Backoff, attempts: int, *, fleet_uid: str, instance_id: str) -> float:
    """Wait after the ``attempts``-th attempt: initial x multiplier^(attempts-1), capped at max, ± jitter."""
    if attempts <= 0:
        return 0.0
    exponent = min(attempts - 1, 64)  # the cap applies long before; keeps the float finite
    base = min(backoff.initial_seconds * backoff.multiplier**exponent, float(backoff.max_seconds))
    return max(0.0, base * (1.0 + backoff.jitter * jitter_fraction(fleet_uid, instance_id, attempts)))


def step_timeout(step: Step, policy: RecoveryPolicySpec) -> int:
    """How long one try is given to work before it is judged failed."""
    ladder = policy.remediation.ladder
    if step.rung is not None:
        return ladder[step.rung].timeout_seconds
    if step.action == "Start":
        return START_TIMEOUT_SECONDS
    if step.action == "CleanDisk":
        return policy.remediation.cleanup.timeout_seconds
    rung = next((r for r in ladder if r.action == step.action), None)
    return rung.timeout_seconds if rung else DEFAULT_REPLACE_TIMEOUT_SECONDS


def choose_step(
    row: InstanceStatus,
    assessment: Assessment,
    policy: RecoveryPolicySpec,
    now: datetime,
    *,
    zone_out: bool = False,
    replacement_lost: bool = False,
    diagnosis: Diagnosis | None = None,
) -> Step | GiveUp | None:
    """The next action for an Unhealthy instance, a decision to give up, or None (wait).

    The diagnosis (``decide/diagnosis.py``) targets the repair: causes the operator never acts on
    get no step; a disk under pressure is cleaned first; rungs that cannot help the cause (a
    restart for a broken sandbox, a reboot for a full disk) are skipped.
    """
    if row.gave_up:
        return None
    traits = diagnosis.traits if diagnosis is not None else None
    if traits is not None and not traits.acts:
        return None  # configuration or load: a condition names it, the autoscaler handles load
    named = f"{diagnosis.name}: " if diagnosis is not None else ""
    unrecoverable = assessment.unrecoverable
    if replacement_lost:
        return Step(
            "ReplaceInstance",
            f"{named}replacement lost: launching it again",
            counts=False,
            terminate_old_now=unrecoverable,
        )
    if zone_out:
        return Step(
            "ReplaceInstance", f"{named}zone {row.zone} is out: failing over", terminate_old_now=unrecoverable
        )
    if assessment.replace_now:
        return Step("ReplaceInstance", f"{named}{assessment.replace_now}", terminate_old_now=unrecoverable)
    if row.state == "stopping":
        return None
    next_at = parse_time(row.next_action_at)
    if next_at is not None and now < next_at:
        return None
    remediation = policy.remediation
    if row.attempts >= remediation.max_retries:
        return GiveUp(f"{row.attempts} attempts made (maxRetries {remediation.max_retries})")
    if assessment.stopped:
        launched, started = parse_time(row.launched_at), parse_time(row.last_action_at)
        if row.last_action == "Start" and (launched is None or started is None or launched <= started):
            return Step("ReplaceInstance", f"{named}still stopped after Start", terminate_old_now=True)
        return Step("Start", f"{named}instance stopped")
    why = f"{named}{assessment.summary}"
    cleanup = remediation.cleanup
    if traits is not None and traits.cleanup_first and cleanup.enabled and row.cleanups < cleanup.attempts:
        return Step("CleanDisk", why)
    rung = row.rung
    ladder = remediation.ladder
    skip_restart = assessment.skip_restart or (traits is not None and not traits.restart_helps)
    skip_reboot = traits is not None and not traits.reboot_helps
    while rung < len(ladder) and (
        (skip_restart and ladder[rung].action == "RestartJudge0")
        or (skip_reboot and ladder[rung].action == "RebootInstance")
    ):
        rung += 1
    if rung >= len(ladder):
        if rung > row.rung and diagnosis is not None:
            return GiveUp(f"no rung left that can help {diagnosis.name} ({row.attempts} attempts)")
        return GiveUp(f"every rung of the ladder tried ({row.attempts} attempts)")
    action = ladder[rung].action
    return Step(action, why, rung=rung, terminate_old_now=action == "ReplaceInstance" and unrecoverable)


def record_attempt(
    row: InstanceStatus, step: Step, policy: RecoveryPolicySpec, now: datetime, *, fleet_uid: str
) -> InstanceStatus:
    """The instance's memory once ``step`` is taken: attempt counted, rung advanced, deadlines set.

    A human's request is recorded (last action, deadlines) but is not an attempt of the ladder."""
    if not step.counts:
        return row
    wait = max(step_timeout(step, policy), policy.grace_after_action_seconds)
    if step.requested:
        return row.model_copy(
            update={
                "last_action": step.action,
                "last_action_at": format_time(now),
                "action_deadline": format_time(after(now, wait)),
                "next_action_at": format_time(after(now, wait)),
            }
        )
    attempts = row.attempts + 1
    rung, rung_attempts = row.rung, row.rung_attempts
    if step.rung is not None:
        rung_attempts = (rung_attempts if step.rung == rung else 0) + 1
        rung = step.rung
        if rung_attempts >= policy.remediation.ladder[rung].attempts:
            rung, rung_attempts = rung + 1, 0
    pause = backoff_seconds(policy.remediation.backoff, attempts, fleet_uid=fleet_uid, instance_id=row.instance_id)
    return row.model_copy(
        update={
            "attempts": attempts,
            "rung": rung,
            "rung_attempts": rung_attempts,
            "cleanups": row.cleanups + (step.action == "CleanDisk"),
            "last_action": step.action,
            "last_action_at": format_time(now),
            "action_deadline": format_time(after(now, wait)),
            "next_action_at": format_time(after(now, wait + pause)),
        }
    )


def settle(row: InstanceStatus, health: Health, policy: RecoveryPolicySpec, now: datetime) -> InstanceStatus:
    """Track ``healthySince``; ``healthyPeriodSeconds`` of health resets attempts (KCP minHealthyPeriod)."""
    if health != "Healthy":
        return row.model_copy(update={"healthy_since": None}) if row.healthy_since else row
    since = parse_time(row.healthy_since) or now
    update: dict[str, object] = {"healthy_since": format_time(since)}
    if row.cleanups:  # the disk is fine again: the next pressure starts with a cleanup again
        update["cleanups"] = 0
    needs_reset = row.attempts or row.rung or row.rung_attempts or row.gave_up or row.next_action_at
    if needs_reset and (now - since).total_seconds() >= policy.remediation.healthy_period_seconds:
        update.update(
            attempts=0,
            rung=0,
            rung_attempts=0,
            gave_up=False,
            next_action_at=None,
            action_deadline=None,
            replaced_by=None,
        )
    return row.model_copy(update=update)


def reset_deadline(row: InstanceStatus, policy: RecoveryPolicySpec) -> datetime | None:
    """When the healthy period will reset this instance's attempts (for next_check_at)."""
    since = parse_time(row.healthy_since)
    if since is None or not (row.attempts or row.rung or row.rung_attempts or row.gave_up or row.next_action_at):
        return None
    return after(since, policy.remediation.healthy_period_seconds)
