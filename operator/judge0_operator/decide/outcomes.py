"""Fold what came of the actions back into status (``record_outcomes``), and name AWS trouble.

Per action kind:

- Launch ok: the pending intent gets its instance id (the next pass resolves it once seen).
- Launch capacity error: the (type, zone, market) is remembered as exhausted and the intent is
  dropped, so the next pass picks another target with the next attempt number.
- Launch terminal error (bad AMI, access denied, invalid parameter): ``status.awsError`` is set
  for this generation, which stops launches until the spec changes; the intent is dropped.
- Launch transient, throttled or circuit-open: the intent stays, same token: re-issued next pass.
- RestartJudge0, RebootInstance, Start failed (including an SSM time-out): a failed attempt;
  the next one may come after the backoff instead of waiting out the rung's timeout.
- Terminate of an instance already gone: success.

The controller posts an Event per outcome (``<Kind>`` / ``<Kind>Failed``); this module adds
``CapacityExhausted`` (Warning) and the ``CloudAPIReady`` condition change for terminal errors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from judge0_operator.api.fleet_status import ActionRecord, InstanceStatus, Judge0FleetStatus
from judge0_operator.decide import placement
from judge0_operator.decide.conditions import CLOUD_API_READY, Desired, set_one
from judge0_operator.decide.model import Action, ActionOutcome, EventNote, Launch, Terminate
from judge0_operator.decide.timeutil import after, format_time, parse_time, utc

_ACCESS_DENIED = frozenset(
    {
        "UnauthorizedOperation",
        "AccessDenied",
        "AccessDeniedException",
        "AuthFailure",
        "OptInRequired",
        "Blocked",
        "UnrecognizedClientException",
    }
)
_INVALID_PREFIXES = (
    "InvalidParameter",
    "InvalidSubnet",
    "InvalidGroup",
    "InvalidKeyPair",
    "InvalidLaunchTemplate",
    "InvalidUserData",
    "InvalidInstanceType",
    "InvalidIamInstanceProfile",
    "MissingParameter",
    "IdempotentParameterMismatch",
    "Unsupported",
    "InvalidBlockDeviceMapping",
)


def cloud_reason(code: str | None) -> str:
    """A condition reason (CamelCase) for an AWS error code."""
    code = code or ""
    if code.startswith("InvalidAMIID"):
        return "InvalidAMI"
    if code in _ACCESS_DENIED or code.startswith("AccessDenied"):
        return "AccessDenied"
    if code.startswith(_INVALID_PREFIXES):
        return "InvalidParameter"
    if code in ("RequestLimitExceeded", "Throttling", "ThrottlingException"):
        return "Throttled"
    cleaned = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", code) if part)
    return cleaned if cleaned[:1].isalpha() else "CloudAPIError"


def classify_error(text: str | None) -> str:
    """A condition reason for the observer's error text (Throttled, CircuitOpen, AccessDenied, …)."""
    lowered = (text or "").lower()
    if "throttl" in lowered or "requestlimitexceeded" in lowered or "rate exceeded" in lowered:
        return "Throttled"
    if "circuit" in lowered:
        return "CircuitOpen"
    if any(word.lower() in lowered for word in ("AccessDenied", "Unauthorized", "AuthFailure")):
        return "AccessDenied"
    return "Unavailable"


def outcome_text(outcome: ActionOutcome) -> str:
    if outcome.ok or _already_gone(outcome):
        return "Succeeded"
    if outcome.error_code:
        return f"Failed: {outcome.error_code}: {outcome.error_message or outcome.detail}".rstrip(": ")
    return f"Failed: {outcome.detail or outcome.error_message or outcome.error_kind or 'error'}"


def _already_gone(outcome: ActionOutcome) -> bool:
    return isinstance(outcome.action, Terminate) and "NotFound" in (outcome.error_code or "")


def _target(action: Action) -> str | None:
    return None if isinstance(action, Launch) else action.instance_id


def _update_record(records: list[ActionRecord], outcome: ActionOutcome) -> None:
    """Set the outcome of the latest matching "Requested" record."""
    action = outcome.action
    for index in range(len(records) - 1, -1, -1):
        record = records[index]
        if (
            record.outcome == "Requested"
            and record.action == action.kind
            and record.slot == action.slot
            and record.instance_id == _target(action)
        ):
            update: dict[str, object] = {"outcome": outcome_text(outcome)}
            if isinstance(action, Launch) and outcome.instance_id:
                update["instance_id"] = outcome.instance_id
            records[index] = record.model_copy(update=update)
            return


def _failed_attempt(row: InstanceStatus, now: datetime) -> InstanceStatus:
    """The attempt failed outright: the next one may come after its backoff, counted from now."""
    deadline, next_at = parse_time(row.action_deadline), parse_time(row.next_action_at)
    pause = max(0.0, (next_at - deadline).total_seconds()) if deadline and next_at else 0.0
    return row.model_copy(
        update={"action_deadline": format_time(now), "next_action_at": format_time(after(now, pause))}
    )


def record_outcomes(
    status: Judge0FleetStatus, outcomes: Sequence[ActionOutcome], now: datetime, *, generation: int
) -> tuple[Judge0FleetStatus, tuple[EventNote, ...]]:
    """The status once ``outcomes`` are known, and the Events they call for. Pure."""
    now = utc(now)
    records = list(status.last_actions)
    rows = {row.instance_id: row for row in status.instances}
    intents = list(status.pending_launches)
    exhausted = list(status.exhausted_offerings)
    aws_error = status.aws_error
    conditions = list(status.conditions)
    events: list[EventNote] = []
    for outcome in outcomes:
        action = outcome.action
        _update_record(records, outcome)
        if isinstance(action, Launch):
            match = next(
                (i for i, it in enumerate(intents) if (it.slot, it.attempt) == (action.slot, action.attempt)),
                None,
            )
            if outcome.ok:
                if match is not None:
                    update: dict[str, object] = {"instance_id": outcome.instance_id}
                    if outcome.zone:
                        update["zone"] = outcome.zone
                    intents[match] = intents[match].model_copy(update=update)
            elif outcome.error_kind == "capacity":
                exhausted = placement.mark_exhausted(
                    exhausted,
                    instance_type=action.instance_type,
                    zone=action.zone,
                    market=action.market,
                    now=now,
                )
                if match is not None:
                    del intents[match]
                events.append(
                    EventNote(
                        "Warning",
                        "CapacityExhausted",
                        f"no {action.market} capacity for {action.instance_type or 'the template type'} in "
                        f"{action.zone or action.subnet_id} (slot {action.slot}): trying another offering",
                    )
                )
            elif outcome.error_kind == "terminal":
                if match is not None:
                    del intents[match]
                code = outcome.error_code or "Error"
                message = outcome.error_message or outcome.detail
                aws_error = {"code": code, "message": message, "generation": generation}
                conditions, notes = set_one(
                    conditions,
                    Desired(
                        CLOUD_API_READY,
                        "False",
                        cloud_reason(code),
                        f"{code}: {message} (launches stopped until the spec changes)",
                    ),
                    now=now,
                    generation=generation,
                )
                events.extend(notes)
            # transient, throttled, circuit-open: the intent stays; the same token is re-issued
        elif not isinstance(action, Terminate) and not outcome.ok:
            row = rows.get(action.instance_id)
            if row is not None and row.last_action == action.kind:
                rows[action.instance_id] = _failed_attempt(row, now)
    new = status.model_copy(
        update={
            "last_actions": records,
            "instances": [rows[row.instance_id] for row in status.instances],
            "pending_launches": intents,
            "exhausted_offerings": exhausted,
            "aws_error": aws_error,
            "conditions": conditions,
        }
    )
    return new, tuple(events)
