"""``metav1.Condition`` bookkeeping: lastTransitionTime kept while the status holds, an Event when it flips.

Condition types the planner owns, in the order status lists them, and their reasons:

============================  =========================================================================
``Ready``                     True ``AllHealthy`` · False ``Unhealthy``, ``WaitingForInstances``,
                              ``LaunchBlocked`` (a terminal AWS error stops launches)
``Available``                 True ``MinimumHealthy`` · False ``BelowMinimumHealthy``
                              (healthy ≥ desired - rollout.maxUnavailable)
``Progressing``               True ``Remediating``, ``Replacing``, ``Launching``, ``ScalingDown``,
                              ``RollingOut``, ``Rebalancing`` · False ``Stable``, ``Paused``,
                              ``RolloutStalled``, ``LaunchBlocked``, ``RemediationRestricted``
``Degraded``                  True ``TemplateDefective``, ``GaveUp``, ``InstancesUnhealthy``, ``ZoneOutage``
                              · False ``AsExpected``
``RemediationAllowed``        True ``WithinLimits``, ``DryRun`` · False ``TooManyUnhealthy``, ``Paused``
``CloudAPIReady``             True ``Reachable`` · False ``Throttled``, ``CircuitOpen``, ``AccessDenied``,
                              ``InvalidAMI``, ``InvalidParameter``, ``Unavailable``, or the AWS error code
``Configured``                True ``AsExpected`` · False ``AuthRejected``, ``Maintenance`` (a node's
                              configuration, never remediated), ``ControlNotUnderstood`` (an annotation)
============================  =========================================================================

Every status change posts an Event whose reason is the type followed by the new status
(``ReadyTrue``, ``ReadyFalse``, ``DegradedTrue``, ``RemediationAllowedFalse``, …): Warning when
the new status is the bad one, Normal otherwise. A condition appearing for the first time posts
an Event only when it starts out bad, so creating a fleet is not six Events of good news.
Condition types set by others (the controller) are kept as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from judge0_operator.api.common import Condition
from judge0_operator.decide.model import EventNote
from judge0_operator.decide.timeutil import format_time

ConditionStatus = Literal["True", "False", "Unknown"]

READY = "Ready"
AVAILABLE = "Available"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
REMEDIATION_ALLOWED = "RemediationAllowed"
CLOUD_API_READY = "CloudAPIReady"
CONFIGURED = "Configured"
ORDER: tuple[str, ...] = (READY, AVAILABLE, PROGRESSING, DEGRADED, REMEDIATION_ALLOWED, CLOUD_API_READY, CONFIGURED)

# The status that is bad news for each type (Warning Event); Progressing has none.
BAD_NEWS: dict[str, ConditionStatus] = {
    READY: "False",
    AVAILABLE: "False",
    DEGRADED: "True",
    REMEDIATION_ALLOWED: "False",
    CLOUD_API_READY: "False",
    CONFIGURED: "False",
}


@dataclass(frozen=True)
class Desired:
    """What a condition should say now (lastTransitionTime is worked out by ``merge``)."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""


def find(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def merge(
    previous: Sequence[Condition], desired: Sequence[Desired], *, now: datetime, generation: int
) -> tuple[list[Condition], list[EventNote]]:
    """The new condition list and the Events for status changes.

    lastTransitionTime moves only when the status changes; reason and message follow the latest
    pass. Types in ``desired`` come first in ``ORDER``; other types from ``previous`` are kept.
    """
    wanted = {d.type: d for d in desired}
    conditions: list[Condition] = []
    events: list[EventNote] = []
    rank = {t: i for i, t in enumerate(ORDER)}
    for want in sorted(desired, key=lambda d: (rank.get(d.type, len(ORDER)), d.type)):
        old = find(previous, want.type)
        unchanged = old is not None and old.status == want.status
        conditions.append(
            Condition(
                type=want.type,
                status=want.status,
                reason=want.reason,
                message=want.message,
                last_transition_time=old.last_transition_time if unchanged and old else format_time(now),
                observed_generation=generation,
            )
        )
        bad = BAD_NEWS.get(want.type) == want.status
        if (old is not None and not unchanged) or (old is None and bad):
            events.append(
                EventNote(
                    "Warning" if bad else "Normal",
                    f"{want.type}{want.status}",
                    f"{want.type} is {want.status} ({want.reason})" + (f": {want.message}" if want.message else ""),
                )
            )
    conditions.extend(c for c in previous if c.type not in wanted)
    return conditions, events


def set_one(
    previous: Sequence[Condition], desired: Desired, *, now: datetime, generation: int
) -> tuple[list[Condition], list[EventNote]]:
    """Update a single condition in place of its old self, keeping every other one unchanged."""
    merged, events = merge([c for c in previous if c.type == desired.type], [desired], now=now, generation=generation)
    out = [merged[0] if c.type == desired.type else c for c in previous]
    if find(previous, desired.type) is None:
        out.append(merged[0])
    return out, events
