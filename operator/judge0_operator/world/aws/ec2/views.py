"""The world's own views of its instances (the control API's ``GET /instances``, live and gone):
everything the world knows about each one, beyond what EC2 would answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from judge0_operator.world.aws.ec2.record import InstanceRecord, ScheduledEvent
from judge0_operator.world.aws.timeline import iso

if TYPE_CHECKING:  # types only: the lifecycle imports this module (for gone_view)
    from judge0_operator.world.aws.ec2.lifecycle import InstanceLifecycle


def view(ec2: InstanceLifecycle) -> list[dict[str, Any]]:
    """Every instance the world holds, for ``GET /instances``."""
    with ec2.lock:
        now = ec2.timeline.now()
        out = []
        for record in ec2.records.values():
            node = ec2.node(record.instance_id)
            out.append(
                {
                    **_identity(record),
                    "privateIp": getattr(record.moto, "private_ip", None),
                    "tags": ec2.tags_of(record),
                    "booted": record.state == "running" and now >= record.checks_ok_at,
                    "reachable": ec2.reachable(record, now),
                    "serving": bool(node and node.serving),
                    "faults": [
                        f.to_dict()
                        for f in ec2.faults.on_instance(record.instance_id, record.zone, record.image_id)
                    ],
                    "imageId": record.image_id,
                    "diskUsedPercent": round(ec2.disk(record).used_percent, 1),
                    "events": [_event_json(e) for e in record.events],
                    "calls": list(record.calls),
                    "history": list(record.history),
                }
            )
        return out


def gone_view(ec2: InstanceLifecycle, record: InstanceRecord) -> dict[str, Any]:
    """What is kept of an instance after EC2 stopped listing it (``GET /instances?gone=true``)."""
    return {
        **_identity(record),
        "tags": ec2.tags_of(record),
        "calls": list(record.calls),
        "history": list(record.history),
        "gone": True,
    }


def _identity(record: InstanceRecord) -> dict[str, Any]:
    """What both views open with: which instance, where, what kind, since when."""
    return {
        "id": record.instance_id,
        "state": record.state,
        "zone": record.zone,
        "subnet": record.subnet_id,
        "instanceType": record.instance_type,
        "market": record.market,
        "launchTime": iso(record.launch_time),
    }


def _event_json(event: ScheduledEvent) -> dict[str, Any]:
    wire = event.to_wire()
    return {
        "id": wire["instanceEventId"],
        "code": wire["code"],
        "description": wire["description"],
        "notBefore": iso(event.not_before),
        "completed": event.completed,
    }
