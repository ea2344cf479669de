"""One pass for one fleet: observe → decide → act → report. The decisions are all in ``decide``.

Order matters for crash safety: the planner records each launch intent (slot, attempt, client
token) in the status it returns, and that status is written *before* any AWS call is made.
A crash after the write and before the call is harmless: the next pass re-issues the same
token; a crash after the call is harmless too: the instance carries the slot tag and is adopted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import kopf
from pydantic import ValidationError

from judge0_operator import metrics
from judge0_operator.api.fleet import Judge0Fleet, Judge0FleetSpec
from judge0_operator.api.fleet_status import Judge0FleetStatus
from judge0_operator.api.policy import RecoveryPolicySpec
from judge0_operator.controller import diagnosis as findings
from judge0_operator.controller import traffic as rotation
from judge0_operator.controller.endpoints import FleetRef
from judge0_operator.controller.freshness import deferred_outcome, settle_interrupted, split_for_write, write_status
from judge0_operator.controller.runtime import Runtime, utcnow
from judge0_operator.controller.spec_problems import apply_problems
from judge0_operator.decide.model import (
    Action,
    ActionOutcome,
    EventNote,
    FleetObservation,
)
from judge0_operator.decide.plan import plan, record_outcomes
from judge0_operator.decide.rollout import template_hash
from judge0_operator.telemetry.fleet import TELEMETRY

ACTION_CONCURRENCY = 8
UNWRITTEN_RETRY_SECONDS = 2.0


def fleet_ref(body: kopf.Body) -> str:
    return f"{body.meta.namespace}/{body.meta.name}"


def resolve_policy(
    spec: Judge0FleetSpec, namespace: str, policy_index: Mapping[Any, Any]
) -> tuple[RecoveryPolicySpec, str | None]:
    """The referenced policy, or the built-in defaults; the second value explains a problem."""
    if spec.recovery_policy_ref is None:
        return RecoveryPolicySpec(), None
    key = (namespace, spec.recovery_policy_ref.name)
    found = list(policy_index.get(key, []))
    if not found:
        return (
            RecoveryPolicySpec(),
            f"RecoveryPolicy {spec.recovery_policy_ref.name!r} not found in {namespace}",
        )
    try:
        return RecoveryPolicySpec.model_validate(found[0]), None
    except ValidationError as error:
        return RecoveryPolicySpec(), f"RecoveryPolicy {spec.recovery_policy_ref.name!r} is invalid: {error}"


async def observe_fleet(
    runtime: Runtime,
    spec: Judge0FleetSpec,
    policy: RecoveryPolicySpec,
    uid: str,
    token: str | None,
    now: datetime,
    draining: Collection[str] = (),
) -> FleetObservation:
    """EC2 from the region's shared snapshot; Judge0 probes for the fleet's running instances;
    the target health of its target groups (shared too)."""
    observer = runtime.observer(spec.region)
    snapshot = await observer.snapshot(now)
    zones = await observer.subnet_zones(spec.instance.subnets)
    instances = [instance for instance, _ in snapshot.for_fleet(uid)]
    probes = await runtime.prober.probe_fleet(instances, spec.judge0, policy.probes, token, now, draining=draining)
    probes = findings.with_disk(runtime, spec.region, uid, instances, policy, probes, now)
    return await rotation.observe(runtime, spec, snapshot.fleet_observation(uid, probes=probes, zones=zones), now)


async def reconcile_fleet(
    runtime: Runtime, body: kopf.Body, policy_index: Mapping[Any, Any], logger: logging.Logger
) -> datetime:
    """Run one pass; returns when the planner next needs to look."""
    started = time.perf_counter()
    now = utcnow()
    namespace, name, uid = body.meta.namespace or "", body.meta.name or "", body.meta.uid or ""
    key = (namespace, name)
    runtime.track_fleet(body)
    # Kopf's body may predate our own last status write (watch events lag): plan from the newer.
    view = runtime.statuses.view(key, body)
    generation = view.generation
    fleet = Judge0Fleet.model_validate({"spec": view.spec, "metadata": view.metadata})
    spec = fleet.spec
    policy, policy_problem = resolve_policy(spec, namespace, policy_index)
    if policy_problem:
        spec = spec.model_copy(update={"paused": True})  # observe and report; never heal by guesswork
    token = await _auth_token(runtime, spec, namespace, logger)
    ref = spec.judge0.auth_secret_ref
    missing_secret = (ref.name, ref.key, namespace) if ref is not None and token is None else None
    if missing_secret:
        spec = spec.model_copy(update={"paused": True})  # token-less probes fail everywhere: no healing on them
    previous = settle_interrupted(Judge0FleetStatus.model_validate(view.status))

    observation = await observe_fleet(runtime, spec, policy, uid, token, now, rotation.draining(previous))
    decision = plan(
        spec,
        policy,
        observation,
        previous,
        now,
        fleet_uid=uid,
        generation=generation,
        fleet_name=name,
        controls=findings.controls_of(view.metadata),
    )
    status = decision.status
    findings.reset_breakers(runtime, spec.region, previous, status)
    if policy_problem:
        status = _with_policy_problem(status, policy_problem, now, generation)
    events: list[EventNote] = list(decision.events)
    status, events = apply_problems(  # semantic problems as conditions naming the cause (spec_problems.py)
        status,
        previous,
        events,
        region=spec.region,
        unknown_subnets=runtime.observer(spec.region).unknown_subnets(spec.instance.subnets),
        missing_secret=missing_secret if not policy_problem else None,
        now=now,
        generation=generation,
    )

    # Write the intents before acting: this is what makes launches crash-safe. If the API does not
    # take them, launches and terminations wait; what needs no intent (an SSM restart) still runs.
    written = True
    if decision.actions:
        written = await write_status(runtime.kube, runtime.statuses, key, uid, status, view.stored_keys)
    runnable, deferred = split_for_write(decision.actions, written)
    # Out of rotation before anything disrupts it: deregister and rewrite the EndpointSlice first.
    traffic_events, published = await rotation.apply(runtime, FleetRef(namespace, name, uid), spec, decision.traffic)
    events.extend(traffic_events)
    status = rotation.with_service(status, published, spec)
    outcomes = await _execute(runtime, runnable, spec, policy, uid, f"{namespace}/{name}")
    events.extend(rotation.requeue_events(outcomes, observation, spec, _requeue_command(spec, policy)))
    if any(o.action.kind in ("Launch", "Terminate") for o in outcomes):
        runtime.observer(spec.region).invalidate()  # the next pass must see what was just done
    if outcomes or deferred:
        status, notes = record_outcomes(
            status, [*outcomes, *(deferred_outcome(a) for a in deferred)], utcnow(), generation=generation
        )
        events.extend(notes)
        events.extend(_action_events(outcomes))
    if deferred:
        logger.warning("%d launch/terminate action(s) deferred: their intent is not written yet", len(deferred))
    await write_status(runtime.kube, runtime.statuses, key, uid, status, view.stored_keys)

    for note in events:
        kopf.event(body, type=note.type, reason=note.reason, message=note.message)
    _observe_metrics(namespace, name, status, outcomes, time.perf_counter() - started)
    rotation.report(namespace, name, status, decision.drain_ends)
    TELEMETRY.observe_pass(namespace, name, previous, status, now)  # recovery figures, conditions
    for gone in {i.instance_id for i in previous.instances} - {
        o.instance.instance_id for o in observation.instances
    }:
        runtime.prober.forget(gone)
    if runtime.statuses.pending(key):  # the API did not take the status: try again soon
        return min(decision.next_check_at, utcnow() + timedelta(seconds=UNWRITTEN_RETRY_SECONDS))
    return decision.next_check_at


async def _auth_token(
    runtime: Runtime, spec: Judge0FleetSpec, namespace: str, logger: logging.Logger
) -> str | None:
    ref = spec.judge0.auth_secret_ref
    if ref is None:
        return None
    value = await runtime.kube.secret_value(namespace, ref.name, ref.key)
    if value is None:
        logger.warning("Secret %s (key %s) not found: probing without a token", ref.name, ref.key)
    return value


async def _execute(
    runtime: Runtime,
    actions: Sequence[Action],
    spec: Judge0FleetSpec,
    policy: RecoveryPolicySpec,
    uid: str,
    ref: str,
) -> list[ActionOutcome]:
    if not actions:
        return []
    actuator = runtime.actuator(spec.region)
    limit = asyncio.Semaphore(ACTION_CONCURRENCY)
    current_hash = template_hash(spec.instance)
    ladder_timeout = {rung.action: rung.timeout_seconds for rung in policy.remediation.ladder}

    async def run(action: Action) -> ActionOutcome:
        async with limit:
            return await actuator.execute(
                action,
                spec=spec,
                fleet_uid=uid,
                fleet_ref=ref,
                template_hash=current_hash,
                restart_command=policy.remediation.restart_command,
                requeue_command=_requeue_command(spec, policy),
                ssm_timeout_seconds=float(min(ladder_timeout.get("RestartJudge0", 120), 120)),
                cleanup_timeout_seconds=float(min(policy.remediation.cleanup.timeout_seconds, 300)),
            )

    return list(await asyncio.gather(*(run(action) for action in actions)))


def _requeue_command(spec: Judge0FleetSpec, policy: RecoveryPolicySpec) -> str:
    """What follows a RestartJudge0: run_in_queue, except where the queue is shared (and survives)."""
    return policy.remediation.requeue_command if spec.judge0.topology == "SelfContained" else ""


def _action_events(outcomes: Sequence[ActionOutcome]) -> list[EventNote]:
    notes = []
    for outcome in outcomes:
        action = outcome.action
        target = outcome.instance_id or getattr(action, "instance_id", None) or ""
        slot = f" (slot {action.slot})" if action.slot else ""
        if outcome.ok:
            notes.append(
                EventNote("Normal", action.kind, f"{action.kind} {target}{slot}: {action.reason}".strip())
            )
        else:
            error = f"{outcome.error_code}: {outcome.error_message}" if outcome.error_code else outcome.detail
            notes.append(
                EventNote(
                    "Warning", f"{action.kind}Failed", f"{action.kind} {target}{slot} failed: {error}".strip()
                )
            )
    return notes


def _with_policy_problem(
    status: Judge0FleetStatus, problem: str, now: datetime, generation: int
) -> Judge0FleetStatus:
    from judge0_operator.api.common import Condition

    conditions = [c for c in status.conditions if c.type != "RemediationAllowed"]
    old = next((c for c in status.conditions if c.type == "RemediationAllowed"), None)
    since = (
        old.last_transition_time if old and old.status == "False" and old.reason == "PolicyNotFound" else None
    )
    conditions.append(
        Condition(
            type="RemediationAllowed",
            status="False",
            reason="PolicyNotFound",
            message=f"{problem}; observing and reporting only",
            last_transition_time=since or now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            observed_generation=generation,
        )
    )
    return status.model_copy(update={"conditions": conditions})


def _observe_metrics(
    namespace: str, name: str, status: Judge0FleetStatus, outcomes: Sequence[ActionOutcome], seconds: float
) -> None:
    metrics.set_fleet_replicas(
        namespace,
        name,
        desired=status.desired_replicas or 0,
        ready=status.ready_replicas,
        healthy=status.healthy_replicas,
        unhealthy=sum(1 for i in status.instances if i.health == "Unhealthy"),
    )
    metrics.RECONCILE_DURATION.observe(seconds)
    findings.set_metrics(namespace, name, status)


async def delete_fleet(runtime: Runtime, body: kopf.Body, logger: logging.Logger) -> int:
    """Honour deletionPolicy; returns how many instances are still shutting down (0 = done)."""
    spec = dict(body.spec)
    region = spec.get("region", "")
    policy = spec.get("deletionPolicy", "Delete")
    uid = body.meta.uid or ""
    observer = runtime.observer(region)
    observer.invalidate()  # decide on a fresh view, not a cached one
    snapshot = await observer.snapshot(utcnow())
    live = [i for i, _ in snapshot.for_fleet(uid) if i.state not in ("shutting-down", "terminated")]
    try:  # out of its target groups first (its Service and EndpointSlice go with it: ownerReferences)
        await rotation.release(runtime, Judge0FleetSpec.model_validate(spec), [i.instance_id for i in live])
    except ValidationError:
        logger.warning("the fleet's spec does not parse: its instances are not deregistered")
    if policy == "Retain":
        ids = [i.instance_id for i in live]
        if ids:
            await runtime.actuator(region).mark_retained(ids)
        kopf.event(
            body,
            type="Normal",
            reason="InstancesRetained",
            message=f"deletionPolicy Retain: left {len(ids)} instance(s) running: {', '.join(ids)}",
        )
        return 0
    if not live:
        kopf.event(body, type="Normal", reason="InstancesTerminated", message="all instances terminated")
        return 0
    await runtime.actuator(region).terminate_many([i.instance_id for i in live])
    logger.info("terminating %d instance(s) before removing the finalizer", len(live))
    return len(live)
