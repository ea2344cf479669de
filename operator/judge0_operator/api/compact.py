"""Compact status rows, so a fleet's status stays small as the fleet grows.

The status holds a row per instance, and a real API server refuses an object over 1.5 MiB
(etcd's request limit). A row keeps what identifies it and its state, and detail only where
something is wrong:

* a Healthy row whose every signal is Healthy (none bad) keeps none of the probes' signals
  (``ec2``, ``api``, ``workers``, ``canary``): each was Healthy since ``healthySince`` (the planner
  reads it back that way: ``decide.health``); a measurement (the ``disk`` signal) stays;
* an updated row keeps no ``templateHash`` (it is the status's ``templateHash``);
* memory still at its default (no attempts, no cleanups, launch attempt 0, …) is left out, and
  so are an empty ``signals`` and ``templateHash``.

Read back, a row gets its ``templateHash`` again (``Judge0FleetStatus``); a Healthy row's signals
are the planner's to restore. Nothing a pass decides from is lost: the planner rebuilds each row
from EC2 every pass and reads only memory and unhealthy detail from the previous status.
``make bench`` prints the size at 100, 500 and 1000 instances; ``tests/unit/test_status_size.py``
keeps 1000 under a quarter of the limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from judge0_operator.api.fleet_status import InstanceStatus

CORE_SIGNALS = frozenset({"ec2", "api", "workers", "canary"})  # always tracked; "disk" is a measurement
DROPPED_WHEN_DEFAULT: Mapping[str, Any] = {
    "launchAttempt": 0,
    "attempts": 0,
    "rung": 0,
    "rungAttempts": 0,
    "gaveUp": False,
    "cleanups": 0,
    "diagnosisDetail": "",
    "doNotDisrupt": False,
    "templateHash": "",
    "signals": {},
}


def all_well(row: Mapping[str, Any]) -> bool:
    """Healthy on every signal, none of them bad: nothing to say beyond "Healthy since"."""
    signals = row.get("signals") or {}
    return (
        row.get("health") == "Healthy"
        and bool(signals)
        and all(isinstance(s, Mapping) and s.get("status") == "Healthy" and not s.get("bad") for s in signals.values())
    )


def compact_row(row: Mapping[str, Any], template_hash: str) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if not (k in DROPPED_WHEN_DEFAULT and v == DROPPED_WHEN_DEFAULT[k])}
    if all_well(row):  # the probes' own signals go; a measurement (the disk's) stays
        kept = {k: v for k, v in (row.get("signals") or {}).items() if k not in CORE_SIGNALS}
        if kept:
            out["signals"] = kept
        else:
            out.pop("signals", None)
    if template_hash and out.get("updated", True) and out.get("templateHash") == template_hash:
        out.pop("templateHash")
    return out


def compact_wire(wire: dict[str, Any]) -> dict[str, Any]:
    """``wire`` (a status as stored) with compact rows."""
    rows = wire.get("instances")
    if rows:
        template_hash = str(wire.get("templateHash") or "")
        wire["instances"] = [compact_row(row, template_hash) for row in rows]
    return wire


def restore_template_hashes(rows: Iterable[InstanceStatus], template_hash: str) -> list[InstanceStatus]:
    """Read back: an updated row without ``templateHash`` has the status's."""
    return [
        row.model_copy(update={"template_hash": template_hash}) if row.updated and not row.template_hash else row
        for row in rows
    ]
