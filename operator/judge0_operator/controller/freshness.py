"""The newest fleet a pass may plan from, and status writes that may fail without harm.

A pass plans from the fleet's status: ladder attempts, launch intents, slot counters. Kopf hands
the daemon the object as its watch stream last delivered it, and a real API server can deliver
the event for the previous pass's own status write late — so that body can be *older* than what
this operator just wrote. Planning from it would re-issue a launch already confirmed, or repeat
a remediation already counted. ``StatusKeeper`` keeps what each status write returned and, per
pass, picks whichever of the two is newer by resourceVersion.

When the Kubernetes API cannot take a status write (unreachable, 5xx, 429, 409), the status the
pass decided is kept here, unwritten, and the next pass plans from it; ``write_status`` says
whether the write landed, and the caller defers every action whose intent must be recorded
first (launches, terminations) until one does. Only what needs no recorded intent runs
meanwhile (an SSM restart, a reboot). The kept status is written by the first pass after the API
is back. A crash loses only the unwritten status: no launch or termination was made on its
account, and what did run (a restart) is at worst repeated once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from judge0_operator.api.fleet_status import Judge0FleetStatus
from judge0_operator.decide.model import Action, ActionOutcome

if TYPE_CHECKING:
    from judge0_operator.controller.kube import KubeApi

log = logging.getLogger(__name__)

NEEDS_INTENT = frozenset({"Launch", "Terminate"})  # their intent is in status before the call
WRITE_ATTEMPTS = 2
RETRY_PAUSE_MAX_SECONDS = 1.0
Key = tuple[str, str]


class FleetGone(Exception):
    """The fleet's status answered 404: the object is gone, its daemon has nothing to keep."""


def resource_version(obj: Mapping[str, Any]) -> int | None:
    """The object's resourceVersion as a number (etcd revisions are), or None if it is not one."""
    value = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    return int(value) if value.isdigit() else None


@dataclass
class Kept:
    uid: str
    resource_version: int | None = None
    obj: dict[str, Any] | None = None  # the fleet as the last successful status write returned it
    unwritten: dict[str, Any] | None = None  # status decided but not yet taken by the API


@dataclass(frozen=True)
class FleetView:
    """What a pass plans from: metadata, spec and status, and where they came from."""

    metadata: dict[str, Any]
    spec: dict[str, Any]
    status: dict[str, Any]
    source: str  # "watch", "write" (our own write, newer than the watch) or "unwritten"
    stored_keys: frozenset[str] = frozenset()  # status fields the API may hold (to delete when unset)

    @property
    def generation(self) -> int:
        return int(self.metadata.get("generation") or 1)


@dataclass
class StatusKeeper:
    """Per fleet: the object our last status write returned, and any status not yet written."""

    _kept: dict[Key, Kept] = field(default_factory=dict)

    def view(self, key: Key, body: Mapping[str, Any]) -> FleetView:
        """The newer of Kopf's ``body`` and our own last write; our unwritten status wins over both."""
        watched = {
            "metadata": dict(body.get("metadata") or {}),
            "spec": dict(body.get("spec") or {}),
            "status": dict(body.get("status") or {}),
        }
        uid = str(watched["metadata"].get("uid") or "")
        kept = self._kept.get(key)
        if kept is not None and kept.uid != uid:  # deleted and created again under the same name
            del self._kept[key]
            kept = None
        chosen, source = watched, "watch"
        if kept is not None and kept.obj is not None:
            ours, theirs = kept.resource_version, resource_version(watched)
            if ours is not None and theirs is not None and ours > theirs:
                chosen, source = kept.obj, "write"
        status = dict(chosen.get("status") or {})
        stored = set(watched["status"])
        if kept is not None and kept.obj is not None:
            stored |= set(kept.obj.get("status") or {})
        if kept is not None and kept.unwritten is not None:
            status, source = dict(kept.unwritten), "unwritten"
        return FleetView(
            metadata=dict(chosen.get("metadata") or {}),
            spec=dict(chosen.get("spec") or {}),
            status=status,
            source=source,
            stored_keys=frozenset(stored | set(status)),
        )

    def written(self, key: Key, obj: Mapping[str, Any]) -> None:
        """A status write landed and returned ``obj``."""
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        self._kept[key] = Kept(uid=uid, resource_version=resource_version(obj), obj=dict(obj))

    def not_written(self, key: Key, uid: str, status: Mapping[str, Any]) -> None:
        """A status write failed: keep the status so the next pass plans from it and writes it."""
        kept = self._kept.get(key)
        if kept is None or kept.uid != uid:
            kept = self._kept[key] = Kept(uid=uid)
        kept.unwritten = dict(status)

    def pending(self, key: Key) -> bool:
        kept = self._kept.get(key)
        return kept is not None and kept.unwritten is not None

    def forget(self, key: Key) -> None:
        self._kept.pop(key, None)


INTERRUPTED = "Interrupted"


def settle_interrupted(status: Judge0FleetStatus) -> Judge0FleetStatus:
    """At the start of a pass, an action still ``Requested`` is one whose pass never heard back: it
    recorded the intent and was killed (or failed) before it could record the outcome — every pass
    that lives ends by recording one. Whether the call went out is unknown, so it counts as not
    done (``Interrupted``): the planner decides again. Terminations are idempotent, launches are
    re-issued from ``pendingLaunches`` with their token, restarts and reboots are kept by the
    ladder's own memory in the instance rows — so deciding again is always safe, while taking
    ``Requested`` for done would, for one, leave a scale-in's instances running."""
    if not any(record.outcome == "Requested" for record in status.last_actions):
        return status
    records = [
        record.model_copy(update={"outcome": INTERRUPTED}) if record.outcome == "Requested" else record
        for record in status.last_actions
    ]
    return status.model_copy(update={"last_actions": records})


def status_patch(status: Judge0FleetStatus, stored_keys: Iterable[str]) -> dict[str, Any]:
    """A merge patch that sets the new status and deletes the fields the API may hold that it lacks."""
    new = status.to_wire()
    for key in stored_keys:
        if key not in new:
            new[key] = None
    return new


def _retry_after(error: BaseException) -> float | None:
    """Seconds to wait before a second try, or None if the error is not worth one."""
    code = getattr(error, "status", None)
    if code in (409, 429) or (isinstance(code, int) and code >= 500):
        headers = getattr(error, "headers", None) or {}
        try:
            hinted = float(headers.get("Retry-After", 0.2))
        except (TypeError, ValueError):
            hinted = 0.2
        return min(max(hinted, 0.0), RETRY_PAUSE_MAX_SECONDS)
    return None


async def write_status(
    kube: KubeApi,
    keeper: StatusKeeper,
    key: Key,
    uid: str,
    status: Judge0FleetStatus,
    stored_keys: Iterable[str],
) -> bool:
    """Write the status; True if the API took it. A 409, 429 or 5xx is tried once more; any
    failure keeps the status in ``keeper`` (unwritten) and answers False."""
    namespace, name = key
    patch = status_patch(status, stored_keys)
    for attempt in range(WRITE_ATTEMPTS):
        try:
            written = await kube.patch_fleet_status(namespace, name, patch)
        except Exception as error:  # unreachable, refused, fenced: all mean "not recorded"
            if getattr(error, "status", None) == 404:
                keeper.forget(key)
                raise FleetGone(f"{namespace}/{name}") from error
            pause = _retry_after(error)
            if pause is not None and attempt + 1 < WRITE_ATTEMPTS:
                await asyncio.sleep(pause)
                continue
            log.warning("status of %s/%s not written (kept for the next pass): %s", namespace, name, _brief(error))
            keeper.not_written(key, uid, status.to_wire())
            return False
        if isinstance(written, Mapping):
            keeper.written(key, written)
        else:
            keeper.forget(key)
        return True
    return False  # pragma: no cover - the loop always returns


def _brief(error: BaseException) -> str:
    code = getattr(error, "status", None)
    reason = getattr(error, "reason", None)
    return f"HTTP {code} {reason}" if code else f"{type(error).__name__}: {error}"[:300]


def split_for_write(actions: Sequence[Action], intents_written: bool) -> tuple[list[Action], list[Action]]:
    """(run now, defer): without a written status only actions that need no intent may run."""
    if intents_written:
        return list(actions), []
    return [a for a in actions if a.kind not in NEEDS_INTENT], [a for a in actions if a.kind in NEEDS_INTENT]


def deferred_outcome(action: Action) -> ActionOutcome:
    """What a deferred action comes to: a transient failure, so a launch keeps its intent and token
    and a termination is decided again — both once the API takes the status."""
    return ActionOutcome(
        action=action,
        ok=False,
        instance_id=getattr(action, "instance_id", None),
        error_code="StatusNotWritten",
        error_message="the Kubernetes API did not take the status recording this action; deferred",
        error_kind="transient",
        detail="deferred until its intent is written",
    )
