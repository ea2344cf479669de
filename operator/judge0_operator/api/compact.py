"""Compact status rows, so a fleet's status stays small as the fleet grows.

The status holds a row per instance, and a real API server refuses an object over 1.5 MiB
(etcd's request limit). A row keeps what identifies it and its state, and detail only where
something is wrong:

* a Healthy row whose probes' signals (``ec2``, ``api``, ``workers``, ``canary``) are all Healthy
  and none of its signals bad keeps no signals: each probe's was Healthy since ``healthySince``
  (the planner reads it back that way: ``decide.health``), and the disk's (an optional signal,
  read seldom) is tracked again from its next reading — a fine one holds nothing back;
* an updated row keeps no ``templateHash`` (it is the status's ``templateHash``), and a row in
  rotation since it became healthy no ``trafficSince`` (it is its ``healthySince``);
* memory still at its default (no attempts, no cleanups, launch attempt 0, updated, a signal not
  bad, …) is left out, and so are an empty ``signals`` and ``templateHash``.

The CRD's status schema carries no defaults (``api/crds.py``): the API server applies a schema's
defaults to every write, status included, and would store each left-out field again.

Read back, a row gets its ``templateHash`` and ``trafficSince`` again (``Judge0FleetStatus``); a
Healthy row's signals are the planner's to restore (a reader of raw rows, such as ``kubectl judge0
status``, uses ``stored_signal`` and ``stored_traffic_since``). Nothing a pass decides from is
lost: the planner rebuilds each row from EC2 every pass and reads only memory and unhealthy detail
from the previous status.
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
    "updated": True,
}
SIGNAL_DEFAULTS: Mapping[str, Any] = {"bad": False, "detail": ""}


def all_well(row: Mapping[str, Any]) -> bool:
    """Healthy on every probe's signal, no signal bad: nothing to say beyond "Healthy since"."""
    signals = {k: s for k, s in (row.get("signals") or {}).items() if isinstance(s, Mapping)}
    probes = [s for k, s in signals.items() if k in CORE_SIGNALS]
    return (
        row.get("health") == "Healthy"
        and bool(probes)
        and all(s.get("status") == "Healthy" for s in probes)
        and not any(s.get("bad") for s in signals.values())
    )


def _compact_signal(signal: Any) -> Any:
    if not isinstance(signal, Mapping):
        return signal
    return {k: v for k, v in signal.items() if not (k in SIGNAL_DEFAULTS and v == SIGNAL_DEFAULTS[k])}


def compact_row(row: Mapping[str, Any], template_hash: str) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if not (k in DROPPED_WHEN_DEFAULT and v == DROPPED_WHEN_DEFAULT[k])}
    signals = dict(row.get("signals") or {})
    if all_well(row):  # nothing to say beyond "Healthy since"; a disk reading is tracked again when read
        signals = {}
    if signals:
        out["signals"] = {k: _compact_signal(v) for k, v in signals.items()}
    else:
        out.pop("signals", None)
    if template_hash and out.get("updated", True) and out.get("templateHash") == template_hash:
        out.pop("templateHash")
    if out.get("traffic") == "InRotation" and out.get("trafficSince") == out.get("healthySince"):
        out.pop("trafficSince")  # in rotation since it became healthy: read back from healthySince
    return out



def compact_wire(wire: dict[str, Any]) -> dict[str, Any]:
    """``wire`` (a status as stored) with compact rows."""
    rows = wire.get("instances")
    if rows:
        template_hash = str(wire.get("templateHash") or "")
        wire["instances"] = [compact_row(row, template_hash) for row in rows]
    return wire


def _traffic_since(traffic: Any, traffic_since: Any, healthy_since: Any) -> str | None:
    """``trafficSince`` read back: a row in rotation since it became healthy is stored without it."""
    since = healthy_since if traffic_since is None and traffic == "InRotation" else traffic_since
    return str(since) if since else None


def stored_traffic_since(row: Mapping[str, Any]) -> str | None:
    """A stored (raw) row's ``trafficSince``, read back."""
    return _traffic_since(row.get("traffic"), row.get("trafficSince"), row.get("healthySince"))


def stored_signal(row: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    """A stored row's signal, read back: a probe's signal a Healthy row left out was Healthy since
    ``healthySince`` (as the planner reads it); a disk reading left out is not known here."""
    signal = (row.get("signals") or {}).get(name)
    if signal is None and name in CORE_SIGNALS and row.get("health") == "Healthy" and row.get("healthySince"):
        return {"status": "Healthy", "since": row["healthySince"]}
    return signal if isinstance(signal, Mapping) else None


def restore_rows(rows: Iterable[InstanceStatus], template_hash: str) -> list[InstanceStatus]:
    """Read back: an updated row without ``templateHash`` has the status's; a row in rotation
    without ``trafficSince`` has been since it became healthy (a row in rotation always has one)."""
    restored = []
    for row in rows:
        update: dict[str, Any] = {}
        if row.updated and not row.template_hash and template_hash:
            update["template_hash"] = template_hash
        since = _traffic_since(row.traffic, row.traffic_since, row.healthy_since)
        if since != row.traffic_since:
            update["traffic_since"] = since
        restored.append(row.model_copy(update=update) if update else row)
    return restored
