"""The timed instance lifecycle the world puts in place of moto's instant one, and what the host
looks like at any moment (reachable, serving, its node faults, its data volume).

moto makes every state change instant. Here each instance's ``_state`` follows the timed state
machine below; timed steps run on the world's ``Timeline``. ``Ec2Model`` (``instances.py``)
wires it into moto's backend and the fault registry.

    RunInstances      pending ──boot_seconds──► running ──judge0_start_seconds──► node serving
    StopInstances     stopping ──stop_seconds──► stopped        (pending/terminated: IncorrectInstanceState)
    StartInstances    pending ──boot_seconds──► running         (stopping/terminated: IncorrectInstanceState)
    RebootInstances   host unreachable reboot_seconds, then judge0_start_seconds (running only)
    TerminateInstances shutting-down ──terminate_seconds──► terminated ──terminated_visible_seconds──► gone

``self.lock`` guards the records and the timeline; Judge0 hooks are queued and run by the world
on its loop.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from moto.ec2.models.instances import InstanceState, StateReason

from judge0_operator.world.aws import disk as disk_model
from judge0_operator.world.aws.ec2.record import STATE_CODES, InstanceRecord
from judge0_operator.world.aws.ec2.views import gone_view
from judge0_operator.world.aws.timeline import Timeline, iso
from judge0_operator.world.faults.registry import Fault, FaultRegistry
from judge0_operator.world.judge0.nodes import NODE_FAULTS, NodeView

CALL_HISTORY = 200
GONE_KEPT = 10_000


class Durations(Protocol):
    """World seconds for each timed step (``WorldConfig`` satisfies this)."""

    boot_seconds: float
    judge0_start_seconds: float
    reboot_seconds: float
    stop_seconds: float
    terminate_seconds: float
    restart_seconds: float
    ssm_command_seconds: float
    terminated_visible_seconds: float


#: Causes that are calls someone made through the AWS API (in a simulation: the operator).
API_CAUSES = ("StartInstances", "StopInstances", "RebootInstances", "TerminateInstances", "SendCommand")


def origin_of(cause: str) -> dict[str, str]:
    """Who made a node event happen: ``{"by": "operator" | "fault", "action": cause}``. Everything
    arriving through the AWS API is the operator's doing; the rest was injected (a fault)."""
    return {"by": "operator" if cause.split(" ", 1)[0] in API_CAUSES else "fault", "action": cause}


class InstanceLifecycle:
    """Instance timing, history, calls and the host's state for one moto EC2 backend (one account,
    one region)."""

    def __init__(self, durations: Durations, faults: FaultRegistry, timeline: Timeline) -> None:
        self.durations = durations
        self.faults = faults
        self.timeline = timeline
        self.lock = threading.RLock()
        self.records: dict[str, InstanceRecord] = {}
        self.gone: deque[dict[str, Any]] = deque(maxlen=GONE_KEPT)  # vanished instances, for ledgers
        self.backend: Any = None
        self._hooks: list[tuple[Any, ...]] = []  # (hook name, instance id, *arguments)
        self._event_ids = itertools.count(1)

    # ---- state machine ----------------------------------------------------------------------
    def _launch(self, instance: Any, reservation_id: str, client_token: str | None) -> None:
        market = "spot" if getattr(instance, "lifecycle", None) == "spot" else "on-demand"
        record = InstanceRecord(
            instance_id=instance.id,
            reservation_id=reservation_id,
            moto=instance,
            zone=instance.placement.zone,
            subnet_id=instance.subnet_id,
            instance_type=instance.instance_type,
            market=market,
            launch_time=self.timeline.wall(self.timeline.now()),
            image_id=str(getattr(instance, "image_id", "") or ""),
        )
        self.records[instance.id] = record
        call: dict[str, Any] = {"action": "RunInstances", "outcome": "ok"}
        if client_token and client_token != "ABCDE":  # moto's placeholder when no token was sent
            call["clientToken"] = client_token
        self.record_call(instance.id, **call)
        self._start(record, cause="RunInstances")

    def _stamp(self, instant: float | None = None) -> str:
        return iso(self.timeline.wall(self.timeline.now() if instant is None else instant))

    def _set_state(self, record: InstanceRecord, name: str, cause: str) -> int:
        record.moto._state = InstanceState(name, STATE_CODES[name])
        record.state = name
        record.gen += 1
        record.history.append({"at": self._stamp(), "state": name, "cause": cause})
        del record.history[:-CALL_HISTORY]
        return record.gen

    def _later(self, record: InstanceRecord, world_seconds: float, step: Callable[[], None]) -> None:
        """Run ``step`` later unless the instance has changed state since."""
        gen = record.gen

        def guarded() -> None:
            if record.gen == gen and self.records.get(record.instance_id) is record:
                step()

        self.timeline.after(world_seconds, guarded)

    def _start(self, record: InstanceRecord, cause: str = "StartInstances") -> None:
        self._set_state(record, "pending", cause)
        if cause == "StartInstances":
            self._heal(record, "start")
        self._later(record, self.durations.boot_seconds, lambda: self._became_running(record))

    def _became_running(self, record: InstanceRecord) -> None:
        self._set_state(record, "running", "boot finished")
        now = self.timeline.now()
        record.running_since = now
        record.down_until = record.restart_until = 0.0
        record.serving_at = record.checks_ok_at = now + self.timeline.scaled(
            self.durations.judge0_start_seconds
        )

    def _stop(self, record: InstanceRecord, reason_code: str, reason_message: str, cause: str) -> None:
        instance = record.moto
        for nic in instance.nics.values():
            nic.stop()
        stamp = self.timeline.wall(self.timeline.now())
        instance._reason = f"{reason_message} ({stamp:%Y-%m-%d %H:%M:%S} UTC)"
        instance.state_reason = StateReason(f"{reason_code}: {reason_message}", reason_code)
        self._set_state(record, "stopping", cause)
        self._hooks.append(("kill_node", record.instance_id, origin_of(cause)))
        record.running_since = None
        record.serving_at = record.checks_ok_at = float("inf")
        self._later(record, self.durations.stop_seconds, lambda: self._became_stopped(record))

    def _became_stopped(self, record: InstanceRecord) -> None:
        self._set_state(record, "stopped", "stop finished")
        self._heal(record, "stop")

    def _terminating(self, record: InstanceRecord, cause: str) -> None:
        self._set_state(record, "shutting-down", cause)
        self._hooks.append(("kill_node", record.instance_id, origin_of(cause), True))
        record.running_since = None
        record.serving_at = record.checks_ok_at = float("inf")
        self._later(record, self.durations.terminate_seconds, lambda: self._became_terminated(record))

    def _became_terminated(self, record: InstanceRecord) -> None:
        self._set_state(record, "terminated", "termination finished")
        self._later(record, self.durations.terminated_visible_seconds, lambda: self._vanish(record))

    def _vanish(self, record: InstanceRecord) -> None:
        """EC2 stops listing a terminated instance after a while (about an hour; here scaled)."""
        self.gone.append(gone_view(self, record))
        self.records.pop(record.instance_id, None)
        reservation = self.backend.reservations.get(record.reservation_id)
        if reservation is not None:
            remaining = [i for i in reservation.instances if i is not record.moto]
            if remaining:
                reservation.instances = remaining
            else:
                self.backend.reservations.pop(record.reservation_id, None)
        self.faults.drop_instance(record.instance_id)
        self._hooks.append(("forget_node", record.instance_id))

    def _reboot(self, record: InstanceRecord, cause: str) -> None:
        now = self.timeline.now()
        self._hooks.append(("kill_node", record.instance_id, origin_of(cause)))
        record.down_until = now + self.timeline.scaled(self.durations.reboot_seconds)
        record.serving_at = max(
            record.serving_at, record.down_until + self.timeline.scaled(self.durations.judge0_start_seconds)
        )
        record.history.append({"at": self._stamp(now), "state": "running", "cause": cause})
        self._later(record, self.durations.reboot_seconds, lambda: self._rebooted(record))

    def _rebooted(self, record: InstanceRecord) -> None:
        self._heal(record, "reboot")

    def restart_judge0(
        self, instance_id: str, services: frozenset[str], *, then_run_in_queue: bool = False
    ) -> None:
        """``docker compose restart``: Judge0 down for restart_seconds, then the services' faults heal
        (and, when the same script ran it afterwards, ``rake judge0:run_in_queue``)."""
        with self.lock:
            record = self.records.get(instance_id)
            if record is None or record.state != "running":
                return
            now = self.timeline.now()
            record.restart_until = now + self.timeline.scaled(self.durations.restart_seconds)
            record.history.append(
                {
                    "at": self._stamp(now),
                    "state": record.state,
                    "cause": f"docker compose restart {' '.join(sorted(services))}",
                }
            )

            def restarted() -> None:
                origin: dict[str, Any] = origin_of(f"SendCommand docker compose restart {' '.join(sorted(services))}")
                node = self.node(record.instance_id)
                origin["faultsActive"] = sorted(node.faults) if node is not None else []  # before healing
                for service in sorted(services):
                    self._heal(record, f"restart:{service}")
                self._hooks.append(("restart_services", record.instance_id, services, origin))
                if then_run_in_queue:
                    self._hooks.append(("run_in_queue", record.instance_id))

            self._later(record, self.durations.restart_seconds, restarted)

    def run_in_queue(self, instance_id: str) -> None:
        """``rake judge0:run_in_queue`` ran on the instance: the Judge0 simulator re-enqueues status 1."""
        with self.lock:
            record = self.records.get(instance_id)
            if record is None or record.state != "running":
                return
            record.history.append({"at": self._stamp(), "state": record.state, "cause": "rake judge0:run_in_queue"})
            self._hooks.append(("run_in_queue", instance_id))

    def _heal(self, record: InstanceRecord, event: str) -> list[Fault]:
        healed = self.faults.heal(record.instance_id, event)
        if healed:
            ids = {f.id for f in healed}
            record.events = [e for e in record.events if e.completed or e.fault_id not in ids]
            record.history.append(
                {
                    "at": self._stamp(),
                    "state": record.state,
                    "cause": f"{event} healed {', '.join(f.name for f in healed)}",
                }
            )
        return healed

    # ---- what observers see -------------------------------------------------------------------
    def _zone_out(self, record: InstanceRecord) -> bool:
        return bool(self.faults.in_zone(record.zone, "zone-outage"))

    def impaired(self, record: InstanceRecord, name: str) -> Fault | None:
        """The active fault of this name (instance- or system-impaired) on the instance or its zone."""
        return self.faults.find(name, record.instance_id, record.zone)

    def reachable(self, record: InstanceRecord, now: float) -> bool:
        """The host answers (SSM can deliver): running, not rebooting, no outage or impairment."""
        if record.state != "running" or now < record.down_until or self._zone_out(record):
            return False
        for name in ("instance-impaired", "system-impaired"):
            fault = self.impaired(record, name)
            if fault is not None and not fault.params.get("nodeReachable"):
                return False
        return True

    def node(self, instance_id: str) -> NodeView | None:
        with self.lock:
            record = self.records.get(instance_id)
            if record is None:
                return None
            now = self.timeline.now()
            serving = self.reachable(record, now) and now >= record.serving_at and now >= record.restart_until
            faults: dict[str, dict[str, Any]] = {}
            for fault in sorted(
                self.faults.on_instance(instance_id, record.zone, record.image_id),
                key=lambda f: f.kind == "instance",
            ):
                if fault.name in NODE_FAULTS:
                    faults[fault.name] = dict(fault.params)
            if self.disk(record).full:  # Postgres cannot write: the node goes down with no warning
                faults.setdefault("db-down", {"cause": "disk full"})
            return NodeView(serving=serving, faults=faults)

    def node_has(self, record: InstanceRecord, fault_name: str) -> bool:
        """The node shows this node fault now (aimed at it, its zone or its AMI, or derived)."""
        view = self.node(record.instance_id)
        return view is not None and fault_name in view.faults

    # ---- the data volume (world/aws/disk.py) ------------------------------------------------------
    def disk(self, record: InstanceRecord) -> disk_model.DiskUsage:
        fault = self.faults.find("disk-filling", record.instance_id, record.zone)
        return disk_model.usage(fault, self.timeline.now(), self.timeline.speed)

    def cleanup(self, instance_id: str, kinds: frozenset[str]) -> str:
        """A cleanup script ran: free what it cleans; returns what the script would print."""
        with self.lock:
            record = self.records.get(instance_id)
            fault = self.faults.find("disk-filling", instance_id, record.zone if record else None)
            if record is None or fault is None or fault.target != instance_id or not kinds:
                return "nothing to clean\n"
            now = self.timeline.now()
            freed, gone = disk_model.clean(fault, kinds, now, self.timeline.speed)
            cause = f"cleanup ({', '.join(sorted(kinds))}) freed {freed:.0f}% of the disk"
            record.history.append({"at": self._stamp(now), "state": record.state, "cause": cause})
            if gone:
                self.faults.remove(fault.id, reason="cleanup")
            return f"{cause}\n"

    # ---- call records ---------------------------------------------------------------------------
    def record_call(self, instance_id: str, action: str, outcome: str, **extra: Any) -> dict[str, Any] | None:
        with self.lock:
            record = self.records.get(instance_id)
            if record is None:
                return None
            entry = {"at": self._stamp(), "action": action, "outcome": outcome, **extra}
            record.calls.append(entry)
            del record.calls[:-CALL_HISTORY]
            return entry

    def tags_of(self, record: InstanceRecord) -> dict[str, str]:
        tags = getattr(self.backend, "tags", {}).get(record.instance_id)
        return dict(tags) if tags else {}
