"""The faults injected into a running world: each one as a record, and the thread-safe registry
every part of the world asks which faults apply to an instance, a zone, AWS or Kubernetes, and
which an event heals (the catalogue's ``healed_by``). Healed faults stay as recent history.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from judge0_operator.world.faults.catalogue import FAULT_SPECS, check_fault, validate_params
from judge0_operator.world.faults.errors import FaultNotFound
from judge0_operator.world.faults.targets import IMAGE_PREFIX, ZONE_PREFIX, TargetKind


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Fault:
    """One injected fault. Instance faults are removed when healed; all faults can be deleted."""

    id: str
    target: str
    kind: TargetKind
    name: str
    params: dict[str, Any]
    created_at: str = field(default_factory=_now_iso)
    created_mono: float = 0.0
    healed_at: str | None = None
    healed_by: str | None = None

    @property
    def zone(self) -> str | None:
        return self.target[len(ZONE_PREFIX) :] if self.kind == "zone" else None

    @property
    def image(self) -> str | None:
        return self.target[len(IMAGE_PREFIX) :] if self.kind == "image" else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "target": self.target,
            "fault": self.name,
            "params": dict(self.params),
            "createdAt": self.created_at,
        }
        if self.healed_by is not None:
            out["healedAt"] = self.healed_at
            out["healedBy"] = self.healed_by
        return out


class FaultRegistry:
    """Active faults plus the recently healed ones; safe to use from several threads."""

    HISTORY = 500

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._active: dict[str, Fault] = {}
        self._healed: list[Fault] = []

    def add(self, target: str, name: str, params: Mapping[str, Any] | None, *, now: float = 0.0) -> Fault:
        """Validate and record a fault; the caller has checked that the target exists."""
        spec, kind = check_fault(name, target)
        clean = validate_params(spec, params)
        with self._lock:
            fault = Fault(
                id=f"f-{next(self._ids):05d}",
                target=target,
                kind=kind,
                name=name,
                params=clean,
                created_mono=now,
            )
            self._active[fault.id] = fault
            return fault

    def get(self, fault_id: str) -> Fault | None:
        with self._lock:
            return self._active.get(fault_id)

    def remove(self, fault_id: str, *, reason: str = "deleted") -> Fault:
        with self._lock:
            fault = self._active.pop(fault_id, None)
            if fault is None:
                raise FaultNotFound(fault_id)
            self._retire(fault, reason)
            return fault

    def clear(self) -> list[Fault]:
        with self._lock:
            faults = list(self._active.values())
            for fault in faults:
                self._retire(fault, "deleted")
            self._active.clear()
            return faults

    def reset(self) -> None:
        with self._lock:
            self._ids = itertools.count(1)
            self._active.clear()
            self._healed.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._active.values())

    def healed(self) -> list[Fault]:
        with self._lock:
            return list(self._healed)

    def on_instance(self, instance_id: str, zone: str | None, image: str | None = None) -> list[Fault]:
        """Faults that apply to one instance: aimed at it, its zone or its AMI, oldest first."""
        zone_target = f"{ZONE_PREFIX}{zone}" if zone else None
        image_target = f"{IMAGE_PREFIX}{image}" if image else None
        with self._lock:
            return [f for f in self._active.values() if f.target in (instance_id, zone_target, image_target)]

    def find(self, name: str, instance_id: str, zone: str | None, image: str | None = None) -> Fault | None:
        """The newest active fault of this name applying to the instance (instance beats zone)."""
        found = [f for f in self.on_instance(instance_id, zone, image) if f.name == name]
        found.sort(key=lambda f: (f.kind == "instance", f.id))
        return found[-1] if found else None

    def in_zone(self, zone: str, name: str) -> list[Fault]:
        with self._lock:
            return [
                f for f in self._active.values() if f.kind == "zone" and f.zone == zone and f.name == name
            ]

    def on_aws(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._active.values() if f.kind == "aws"]

    def on_kube(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._active.values() if f.kind == "kube"]

    def heal(self, instance_id: str, event: str) -> list[Fault]:
        """Remove the instance's own faults that ``event`` heals (zone and aws faults stay)."""
        with self._lock:
            healed = [
                f
                for f in self._active.values()
                if f.target == instance_id and event in FAULT_SPECS[f.name].healed_by
            ]
            for fault in healed:
                del self._active[fault.id]
                self._retire(fault, event)
            return healed

    def drop_instance(self, instance_id: str) -> list[Fault]:
        """The instance is gone: its faults go with it."""
        with self._lock:
            gone = [f for f in self._active.values() if f.target == instance_id]
            for fault in gone:
                del self._active[fault.id]
                self._retire(fault, "instance-gone")
            return gone

    def _retire(self, fault: Fault, reason: str) -> None:
        fault.healed_at = _now_iso()
        fault.healed_by = reason
        self._healed.append(fault)
        del self._healed[: -self.HISTORY]
