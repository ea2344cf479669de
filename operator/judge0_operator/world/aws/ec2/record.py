"""The world's side of one EC2 instance (moto keeps the rest), shared by the lifecycle, the
DescribeInstanceStatus answer and the views, so none of them has to import another for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

STATE_CODES = {
    "pending": 0,
    "running": 16,
    "shutting-down": 32,
    "terminated": 48,
    "stopping": 64,
    "stopped": 80,
}


@dataclass
class ScheduledEvent:
    """An EC2 scheduled event shown in DescribeInstanceStatus ``Events``."""

    event_id: str
    code: str
    description: str
    not_before: datetime
    fault_id: str
    not_after: datetime | None = None
    completed: bool = False

    def to_wire(self) -> dict[str, Any]:
        prefix = "[Completed] " if self.completed else ""
        return {
            "instanceEventId": self.event_id,
            "code": self.code,
            "description": prefix + self.description,
            "notBefore": self.not_before,
            "notAfter": self.not_after,
        }


@dataclass
class InstanceRecord:
    """The world's side of one instance: timing, history and calls (moto keeps the rest)."""

    instance_id: str
    reservation_id: str
    moto: Any
    zone: str
    subnet_id: str | None
    instance_type: str
    market: str
    launch_time: datetime
    image_id: str = ""  # faults aimed at image:<ami> apply
    state: str = "pending"
    gen: int = 0  # bumped on every state change, so timers scheduled for an older state do nothing
    running_since: float | None = None
    serving_at: float = float("inf")  # node may serve from here on (if nothing else stops it)
    checks_ok_at: float = float("inf")  # status checks leave "initializing"
    down_until: float = 0.0  # host unreachable (reboot, maintenance)
    restart_until: float = 0.0  # Judge0 restarting after docker compose restart
    events: list[ScheduledEvent] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
