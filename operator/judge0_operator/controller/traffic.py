"""The controller's side of rotation and drain (decisions are in ``decide/traffic.py`` and ``drain.py``).

In a pass: ``observe`` reads the target groups of ``spec.traffic`` (one DescribeTargetHealth per
group, shared) into the observation; ``apply`` carries out the plan's rotation changes *before*
the actions — DeregisterTargets, the EndpointSlice rewritten (Draining/Out endpoints not ready),
RegisterTargets — so a node leaves rotation before it is restarted or terminated; ``requeue_events``
reports what a RestartJudge0 left behind; ``report`` sets the rotation metrics. On deletion,
``release`` deregisters the fleet's instances (its Service goes with it: ownerReferences).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

import kubernetes
import urllib3

from judge0_operator import metrics
from judge0_operator.api.fleet import Judge0FleetSpec
from judge0_operator.api.fleet_status import Judge0FleetStatus
from judge0_operator.api.traffic import TrafficStatus
from judge0_operator.controller.endpoints import FleetRef
from judge0_operator.controller.runtime import Runtime
from judge0_operator.decide.drain_gate import DrainEnd
from judge0_operator.decide.model import ActionOutcome, EventNote, FleetObservation, RestartJudge0
from judge0_operator.decide.traffic import TrafficPlan

log = logging.getLogger(__name__)


def draining(previous: Judge0FleetStatus) -> set[str]:
    """Instances draining after the last pass: the prober reads their /workers every second."""
    return {row.instance_id for row in previous.instances if row.traffic == "Draining"}


async def observe(
    runtime: Runtime, spec: Judge0FleetSpec, observation: FleetObservation, now: datetime
) -> FleetObservation:
    """The observation with the target health of the fleet's target groups."""
    arns = spec.traffic.target_group_arns
    if not arns:
        return observation
    groups = await runtime.aws.target_health(spec.region).describe(arns, now)
    return dataclasses.replace(observation, target_groups=groups)


# An API error, or no answer at all (a control-plane upgrade resets connections): either way the
# Service waits for the next pass, and the rest of the pass — an SSM restart — still runs.
KUBE_UNAVAILABLE = (kubernetes.client.ApiException, urllib3.exceptions.HTTPError, OSError)


def _reason(error: BaseException) -> str:
    return str(getattr(error, "reason", None) or type(error).__name__)


async def apply(
    runtime: Runtime, fleet: FleetRef, spec: Judge0FleetSpec, traffic: TrafficPlan
) -> tuple[list[EventNote], str | None]:
    """Carry out the rotation changes; Events for failures, and the Service now published (if any).

    Deregistering and the EndpointSlice come first and are awaited: the actions that follow may
    disrupt the nodes that just left. A failure is reported and retried next pass (the planner
    recomputes the changes from what it observes)."""
    if not traffic.acting:
        return [], None
    events: list[EventNote] = []
    region = spec.region
    targets = runtime.aws.targets(region)
    changed: list[str] = []
    leaving = [targets.deregister(arn, ids) for arn, ids in traffic.deregistering.items()]
    outcomes = [change for batch in await asyncio.gather(*leaving) for change in batch]
    published: str | None = None
    if traffic.port is not None:
        try:
            result = await runtime.kube.services.publish(fleet, traffic.port, traffic.endpoints)
        except KUBE_UNAVAILABLE as error:  # refused, or unreachable: the pass goes on, retried next pass
            events.append(EventNote("Warning", "ServicePublishFailed", f"Service {fleet.name}: {_reason(error)}"))
        else:
            if result.conflict:
                events.append(
                    EventNote(
                        "Warning",
                        "ServiceConflict",
                        f"a Service or EndpointSlice {fleet.name} exists and is not this fleet's: left alone",
                    )
                )
            else:
                published = f"{fleet.name}.{fleet.namespace}.svc:{traffic.port}"
    elif traffic.unpublish:
        try:
            if await runtime.kube.services.unpublish(fleet):
                note = f"spec.traffic.service is off: {fleet.name} deleted"
                events.append(EventNote("Normal", "ServiceDeleted", note))
        except KUBE_UNAVAILABLE as error:
            events.append(EventNote("Warning", "ServicePublishFailed", f"Service {fleet.name}: {_reason(error)}"))
    entering = [targets.register(arn, ids) for arn, ids in traffic.registering.items()]
    outcomes += [change for batch in await asyncio.gather(*entering) for change in batch]
    for change in outcomes:
        changed.append(change.target_group_arn)
        if not change.ok:
            events.append(EventNote("Warning", f"{change.operation}Failed", change.detail))
    if changed:
        runtime.aws.target_health(region).invalidate(changed)  # the next pass must see what was just done
    return events, published


def with_service(status: Judge0FleetStatus, published: str | None, spec: Judge0FleetSpec) -> Judge0FleetStatus:
    """``status.traffic.service``: what was published this pass, or what the last pass published."""
    service = spec.traffic.service
    if status.traffic is None or service is None or not service.enabled or published is None:
        return status
    traffic: TrafficStatus = status.traffic.model_copy(update={"service": published})
    return status.model_copy(update={"traffic": traffic})


def requeue_events(
    outcomes: Iterable[ActionOutcome], observation: FleetObservation, spec: Judge0FleetSpec, requeue_command: str
) -> list[EventNote]:
    """``SubmissionsRequeued`` after each RestartJudge0 that re-enqueued what Judge0 left In Queue.

    rake judge0:run_in_queue prints no count: the figures are the node's last /workers before the
    restart — queued (left In Queue, now re-enqueued) and running (killed mid-job: status 2)."""
    if spec.judge0.topology != "SelfContained" or not requeue_command:
        return []
    probes = {seen.instance.instance_id: seen.probes.get("workers") for seen in observation.instances}
    notes = []
    for outcome in outcomes:
        action = outcome.action
        if not (isinstance(action, RestartJudge0) and action.requeue and outcome.ok):
            continue
        workers = probes.get(action.instance_id)
        queued = workers.queue_size if workers is not None else None
        running = workers.working if workers is not None else None
        seen = (
            f"{queued} queued and {running} running when it was restarted (its last /workers)"
            if queued is not None and running is not None
            else "its queue was unknown when it was restarted"
        )
        lost = f"; the {running} running were killed mid-job (status 2: cannot be re-run)" if running else ""
        notes.append(
            EventNote(
                "Normal",
                "SubmissionsRequeued",
                f"{action.instance_id}: re-enqueued what Judge0 left In Queue (rake judge0:run_in_queue): {seen}{lost}",
            )
        )
    return notes


def report(namespace: str, name: str, status: Judge0FleetStatus, drain_ends: Sequence[DrainEnd]) -> None:
    """The rotation gauge, and each drain that ended: its duration, and time-outs counted."""
    metrics.FLEET_IN_ROTATION.labels(namespace, name).set(status.in_rotation_replicas)
    for end in drain_ends:
        if end.outcome == "not-needed":
            continue
        metrics.DRAIN_SECONDS.labels(namespace, name, end.outcome).observe(end.seconds)
        if end.outcome in ("timed-out", "deadline"):
            metrics.DRAIN_TIMEOUTS.labels(namespace, name).inc()


async def release(runtime: Runtime, spec: Judge0FleetSpec, instance_ids: Sequence[str]) -> None:
    """A deleted fleet's instances leave its target groups (before they are terminated or retained)."""
    if not instance_ids:
        return
    targets = runtime.aws.targets(spec.region)
    for arn in spec.traffic.target_group_arns:
        for change in await targets.deregister(arn, instance_ids):
            if not change.ok:
                log.warning("%s", change.detail)
