"""DescribeInstanceStatus as EC2 answers it and moto does not: timed ``initializing`` checks,
``impaired`` ones under faults, scheduled events, filters and ``MaxResults``/``NextToken`` pages.
The AWS front answers the call from here, never from moto."""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

from judge0_operator.world.aws.ec2.instances import Ec2Model
from judge0_operator.world.aws.ec2.record import STATE_CODES, InstanceRecord
from judge0_operator.world.aws.wire import AwsCall, AwsError


def describe_instance_status(ec2: Ec2Model, call: AwsCall) -> dict[str, Any]:
    """DescribeInstanceStatus as EC2 answers it: ids, IncludeAllInstances, filters, pages."""
    ids = call.numbered("InstanceId")
    include_all = (call.first("IncludeAllInstances", "false") or "").lower() == "true"
    max_results = call.first("MaxResults")
    token = call.first("NextToken")
    if ids and max_results is not None:
        raise AwsError(
            "InvalidParameterCombination",
            "The parameter instancesSet cannot be used with the parameter maxResults",
        )
    page = 1000
    if max_results is not None:
        if not max_results.isdigit() or not 5 <= int(max_results) <= 1000:
            raise AwsError(
                "InvalidParameterValue",
                f"Value ( {max_results} ) for parameter maxResults is invalid. "
                "Expecting a value between 5 and 1000.",
            )
        page = int(max_results)
    predicates = [_status_filter(name, values) for name, values in call.filters().items()]
    now = ec2.timeline.now()
    with ec2.lock:
        if ids:
            missing = [i for i in ids if i not in ec2.records]
            if missing:
                raise AwsError(
                    "InvalidInstanceID.NotFound",
                    f"The instance ID{'s' if len(missing) > 1 else ''} "
                    f"'{', '.join(missing)}' do{'' if len(missing) > 1 else 'es'} not exist",
                )
            records = [ec2.records[i] for i in dict.fromkeys(ids)]
        else:
            records = list(ec2.records.values())
        items = [_status_item(ec2, r, now) for r in records if include_all or r.state == "running"]
    items = [item for item in items if all(p(item) for p in predicates)]
    start = 0
    if token:
        if not token.isdigit() or int(token) > len(items):
            raise AwsError("InvalidPaginationToken", f"Invalid pagination token: {token}")
        start = int(token)
    if ids:
        return {"instanceStatusSet": items}
    chunk = items[start : start + page]
    next_token = str(start + page) if start + page < len(items) else None
    return {"instanceStatusSet": chunk, "nextToken": next_token}


def _check(ec2: Ec2Model, record: InstanceRecord, name: str, now: float) -> dict[str, Any]:
    if record.state != "running":
        return {"status": "not-applicable"}
    fault = ec2.impaired(record, name)
    outage = ec2.faults.in_zone(record.zone, "zone-outage")
    if fault is not None or outage:
        started = max(f.created_mono for f in ([fault] if fault else []) + outage)
        since = ec2.timeline.wall(max(started, record.running_since or started))
        return {
            "status": "impaired",
            "details": [{"name": "reachability", "status": "failed", "impairedSince": since}],
        }
    if now < record.checks_ok_at:
        return {"status": "initializing", "details": [{"name": "reachability", "status": "initializing"}]}
    return {"status": "ok", "details": [{"name": "reachability", "status": "passed"}]}


def _status_item(ec2: Ec2Model, record: InstanceRecord, now: float) -> dict[str, Any]:
    return {
        "instanceId": record.instance_id,
        "availabilityZone": record.zone,
        "instanceState": {"code": STATE_CODES[record.state], "name": record.state},
        "systemStatus": _check(ec2, record, "system-impaired", now),
        "instanceStatus": _check(ec2, record, "instance-impaired", now),
        "eventsSet": [e.to_wire() for e in record.events] or None,
    }


_FILTER_PATHS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "availability-zone": lambda i: [i["availabilityZone"]],
    "instance-state-name": lambda i: [i["instanceState"]["name"]],
    "instance-state-code": lambda i: [str(i["instanceState"]["code"])],
    "instance-status.status": lambda i: [i["instanceStatus"]["status"]],
    "system-status.status": lambda i: [i["systemStatus"]["status"]],
    "instance-status.reachability": lambda i: [d["status"] for d in i["instanceStatus"].get("details", [])],
    "system-status.reachability": lambda i: [d["status"] for d in i["systemStatus"].get("details", [])],
    "event.code": lambda i: [e["code"] for e in i["eventsSet"] or []],
    "event.description": lambda i: [e["description"] for e in i["eventsSet"] or []],
    "event.instance-event-id": lambda i: [e["instanceEventId"] for e in i["eventsSet"] or []],
}


def _status_filter(name: str, values: list[str]) -> Callable[[dict[str, Any]], bool]:
    path = _FILTER_PATHS.get(name)
    if path is None:
        raise AwsError("InvalidParameterValue", f"The filter '{name}' is invalid")
    return lambda item: any(fnmatchcase(have, want) for have in path(item) for want in values)
