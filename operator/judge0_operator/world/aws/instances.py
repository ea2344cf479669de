"""Instance lifecycle the world adds to moto: timing, status checks, scheduled events, fault effects.

moto makes every state change instant and every status check ``ok``. This model takes over the
instance state of moto's in-process backend objects (moto runs in this process): it wraps the
backend's ``run/start/stop/reboot/terminate_instances`` *on the one backend object* of the
world's account and region (no class-level patching), swaps each instance's ``_state`` for the
timed state machine below, and answers ``DescribeInstanceStatus`` itself (with filters and
pagination, which moto lacks). Timed steps run on the world's ``Timeline``.

    RunInstances      pending ──boot_seconds──► running ──judge0_start_seconds──► node serving
    StopInstances     stopping ──stop_seconds──► stopped        (pending/terminated: IncorrectInstanceState)
    StartInstances    pending ──boot_seconds──► running         (stopping/terminated: IncorrectInstanceState)
    RebootInstances   host unreachable reboot_seconds, then judge0_start_seconds (running only)
    TerminateInstances shutting-down ──terminate_seconds──► terminated ──terminated_visible_seconds──► gone

Threads: wrappers run in moto's request threads (the AWS front lets one request into moto at a
time); the ticker, control API and node lookups run on the world's event loop. ``self.lock``
guards the records and the timeline; Judge0 hooks are queued and run by the world on its loop.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any, Protocol

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.instances import InstanceState, StateReason

from judge0_operator.world.aws import disk as disk_model
from judge0_operator.world.aws.timeline import Timeline, iso
from judge0_operator.world.aws.wire import AwsCall, AwsError
from judge0_operator.world.faults import Fault, FaultError, FaultRegistry
from judge0_operator.world.judge0.nodes import NODE_FAULTS, NodeView

STATE_CODES = {
    "pending": 0,
    "running": 16,
    "shutting-down": 32,
    "terminated": 48,
    "stopping": 64,
    "stopped": 80,
}
CALL_HISTORY = 200
GONE_KEPT = 10_000
_WRAPPED = ("run_instances", "start_instances", "stop_instances", "terminate_instances", "reboot_instances")


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


#: Causes that are calls someone made through the AWS API (in a simulation: the operator).
API_CAUSES = ("StartInstances", "StopInstances", "RebootInstances", "TerminateInstances", "SendCommand")


def origin_of(cause: str) -> dict[str, str]:
    """Who made a node event happen: ``{"by": "operator" | "fault", "action": cause}``. Everything
    arriving through the AWS API is the operator's doing; the rest was injected (a fault)."""
    return {"by": "operator" if cause.split(" ", 1)[0] in API_CAUSES else "fault", "action": cause}


def _incorrect_state(instance_id: str, verb: str) -> EC2ClientError:
    return EC2ClientError(
        "IncorrectInstanceState",
        f"The instance '{instance_id}' is not in a state from which it can be {verb}.",
    )


class Ec2Model:
    """Owns instance timing and fault effects for one moto EC2 backend (one account, one region)."""

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

    # ---- wiring -------------------------------------------------------------------------------
    def attach(self, backend: Any) -> None:
        """Wrap the instance actions of this one backend object (moto's responses call these)."""
        self.backend = backend
        original_run = backend.run_instances
        original_terminate = backend.terminate_instances

        def run_instances(*args: Any, **kwargs: Any) -> Any:
            reservation = original_run(*args, **kwargs)
            with self.lock:
                for instance in reservation.instances:
                    self._launch(instance, reservation.id, kwargs.get("client_token"))
            return reservation

        def start_instances(instance_ids: list[str]) -> list[tuple[Any, InstanceState]]:
            instances = backend.get_multi_instances_by_id(instance_ids)
            with self.lock:
                for instance in instances:
                    if instance.state in ("stopping", "shutting-down", "terminated"):
                        raise _incorrect_state(instance.id, "started")
                result = []
                for instance in instances:
                    result.append((instance, copy.copy(instance.instance_state)))
                    if instance.state == "stopped":
                        for nic in instance.nics.values():
                            nic.start()
                        instance._reason = ""
                        instance.state_reason = StateReason()
                        self._start(self.records[instance.id])
                return result

        def stop_instances(instance_ids: list[str]) -> list[tuple[Any, InstanceState]]:
            instances = backend.get_multi_instances_by_id(instance_ids)
            with self.lock:
                for instance in instances:
                    if instance.state in ("pending", "shutting-down", "terminated"):
                        raise _incorrect_state(instance.id, "stopped")
                    if instance.disable_api_stop:
                        raise EC2ClientError(
                            "OperationNotPermitted",
                            f"The instance '{instance.id}' may not be stopped. Modify its "
                            "'disableApiStop' instance attribute and try again.",
                        )
                result = []
                for instance in instances:
                    result.append((instance, copy.copy(instance.instance_state)))
                    if instance.state == "running":
                        self._stop(
                            self.records[instance.id],
                            "Client.UserInitiatedShutdown",
                            "User initiated shutdown",
                            cause="StopInstances",
                        )
                return result

        def terminate_instances(instance_ids: list[str]) -> list[tuple[Any, InstanceState]]:
            instances = backend.get_multi_instances_by_id(instance_ids) if instance_ids else []
            with self.lock:
                live = [i.id for i in instances if i.state not in ("shutting-down", "terminated")]
                previous = {i.id: copy.copy(i.instance_state) for i in instances}
                if live or not instance_ids:
                    original_terminate(live or instance_ids)
                for instance_id in live:
                    self._terminating(self.records[instance_id], cause="TerminateInstances")
                return [(i, previous[i.id]) for i in instances]

        def reboot_instances(instance_ids: list[str]) -> list[Any]:
            instances = backend.get_multi_instances_by_id(instance_ids)
            with self.lock:
                for instance in instances:
                    if instance.state != "running":
                        raise _incorrect_state(instance.id, "rebooted")
                for instance in instances:
                    self._reboot(self.records[instance.id], cause="RebootInstances")
                return instances

        backend.run_instances = run_instances
        backend.start_instances = start_instances
        backend.stop_instances = stop_instances
        backend.terminate_instances = terminate_instances
        backend.reboot_instances = reboot_instances

    def detach(self) -> None:
        """Give the backend its own instance actions back (the world is stopping)."""
        if self.backend is not None:
            for name in _WRAPPED:
                vars(self.backend).pop(name, None)

    def drain_hooks(self) -> list[tuple[Any, ...]]:
        """Judge0 hooks queued by state changes: (hook name, instance id, *args), oldest first."""
        with self.lock:
            hooks, self._hooks = self._hooks, []
            return hooks

    def advance(self) -> None:
        with self.lock:
            self.timeline.advance()

    def reset(self) -> None:
        """Forget every instance (moto's reservations too); keeps VPC, subnets and images."""
        with self.lock:
            for instance_id in self.records:
                self._hooks.append(("forget_node", instance_id))
            self.records.clear()
            self.gone.clear()
            self.timeline.clear()
            if self.backend is not None:
                self.backend.reservations.clear()

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
        self.gone.append(self.gone_view(record))
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

    # ---- faults ---------------------------------------------------------------------------------
    def check_target(self, kind: str, target: str, fault_name: str, zones: list[str]) -> None:
        """Raise FaultError unless the target exists (and suits the fault)."""
        if kind == "zone":
            zone = target.split(":", 1)[1]
            if zone not in zones:
                raise FaultError(f"unknown zone {zone!r}; the world's zones: {', '.join(zones)}")
        elif kind == "instance":
            with self.lock:
                record = self.records.get(target)
            if record is None:
                raise FaultError(f"unknown instance {target!r}")
            if fault_name == "spot-interruption" and record.market != "spot":
                raise FaultError(f"spot-interruption needs a spot instance; {target} is on-demand")

    def fault_added(self, fault: Fault) -> None:
        """Start a fault's one-shot effects (the rest is read off the registry when asked)."""
        with self.lock:
            record = self.records.get(fault.target)
            if record is None:
                return
            now = self.timeline.now()
            record.history.append(
                {"at": self._stamp(now), "state": record.state, "cause": f"fault {fault.name}"}
            )
            if fault.name == "instance-stopped" and record.state in ("pending", "running"):
                self._stop(
                    record, "Server.InternalError", "Internal error", cause=f"fault instance-stopped ({fault.id})"
                )
            elif fault.name == "instance-terminated" and record.state not in ("shutting-down", "terminated"):
                self._terminate_now(
                    record, "Server.InternalError", "Internal error", f"fault instance-terminated ({fault.id})"
                )
            elif fault.name in ("scheduled-retirement", "system-maintenance", "spot-interruption"):
                self._schedule_event(record, fault)

    def fault_removed(self, fault: Fault) -> None:
        with self.lock:
            record = self.records.get(fault.target)
            if record is not None:
                record.events = [e for e in record.events if e.completed or e.fault_id != fault.id]

    def _terminate_now(self, record: InstanceRecord, code: str, message: str, cause: str) -> None:
        record.moto.terminate()  # moto's side effects (network interfaces, volumes)
        record.moto.state_reason = StateReason(f"{code}: {message}", code)
        self._terminating(record, cause)

    def _schedule_event(self, record: InstanceRecord, fault: Fault) -> None:
        seconds = float(fault.params.get("notBeforeSeconds", fault.params.get("noticeSeconds", 0.0)))
        due = self.timeline.now() + self.timeline.scaled(seconds)
        code, description = {
            "scheduled-retirement": ("instance-retirement", "The instance is running on degraded hardware"),
            "system-maintenance": ("system-maintenance", "Scheduled system maintenance"),
            "spot-interruption": (
                "instance-stop",
                "Spot Instance interruption notice: the instance will be terminated at "
                "NotBefore (simulated; EC2 sends this through instance metadata and "
                "EventBridge)",
            ),
        }[fault.name]
        not_before = self.timeline.wall(due)
        not_after = (
            not_before + timedelta(seconds=self.timeline.scaled(7200))
            if fault.name == "system-maintenance"
            else None
        )
        event = ScheduledEvent(
            f"instance-event-{next(self._event_ids):017x}", code, description, not_before, fault.id, not_after
        )
        record.events.append(event)

        def happen() -> None:
            if self.faults.get(fault.id) is None or self.records.get(record.instance_id) is not record:
                return
            if fault.name == "scheduled-retirement":
                if record.state in ("pending", "running"):
                    self._stop(
                        record,
                        "Server.ScheduledStop",
                        "Stopped due to scheduled retirement",
                        cause=f"scheduled retirement ({fault.id})",
                    )
            elif fault.name == "system-maintenance":
                if record.state == "running":
                    self._reboot(record, cause=f"system maintenance ({fault.id})")
                event.completed = True
                self.faults.remove(fault.id, reason="maintenance-completed")
            elif record.state not in ("shutting-down", "terminated"):
                self._terminate_now(
                    record,
                    "Server.SpotInstanceTermination",
                    "Spot instance termination",
                    f"spot interruption ({fault.id})",
                )

        self.timeline.after(seconds, happen)

    # ---- what observers see -------------------------------------------------------------------
    def _zone_out(self, record: InstanceRecord) -> bool:
        return bool(self.faults.in_zone(record.zone, "zone-outage"))

    def _impaired(self, record: InstanceRecord, name: str) -> Fault | None:
        return self.faults.find(name, record.instance_id, record.zone)

    def reachable(self, record: InstanceRecord, now: float) -> bool:
        """The host answers (SSM can deliver): running, not rebooting, no outage or impairment."""
        if record.state != "running" or now < record.down_until or self._zone_out(record):
            return False
        for name in ("instance-impaired", "system-impaired"):
            fault = self._impaired(record, name)
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

    def _check(self, record: InstanceRecord, name: str, now: float) -> dict[str, Any]:
        if record.state != "running":
            return {"status": "not-applicable"}
        fault = self._impaired(record, name)
        outage = self.faults.in_zone(record.zone, "zone-outage")
        if fault is not None or outage:
            started = max(f.created_mono for f in ([fault] if fault else []) + outage)
            since = self.timeline.wall(max(started, record.running_since or started))
            return {
                "status": "impaired",
                "details": [{"name": "reachability", "status": "failed", "impairedSince": since}],
            }
        if now < record.checks_ok_at:
            return {"status": "initializing", "details": [{"name": "reachability", "status": "initializing"}]}
        return {"status": "ok", "details": [{"name": "reachability", "status": "passed"}]}

    def _status_item(self, record: InstanceRecord, now: float) -> dict[str, Any]:
        return {
            "instanceId": record.instance_id,
            "availabilityZone": record.zone,
            "instanceState": {"code": STATE_CODES[record.state], "name": record.state},
            "systemStatus": self._check(record, "system-impaired", now),
            "instanceStatus": self._check(record, "instance-impaired", now),
            "eventsSet": [e.to_wire() for e in record.events] or None,
        }

    def describe_instance_status(self, call: AwsCall) -> dict[str, Any]:
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
        now = self.timeline.now()
        with self.lock:
            if ids:
                missing = [i for i in ids if i not in self.records]
                if missing:
                    raise AwsError(
                        "InvalidInstanceID.NotFound",
                        f"The instance ID{'s' if len(missing) > 1 else ''} "
                        f"'{', '.join(missing)}' do{'' if len(missing) > 1 else 'es'} not exist",
                    )
                records = [self.records[i] for i in dict.fromkeys(ids)]
            else:
                records = list(self.records.values())
            items = [self._status_item(r, now) for r in records if include_all or r.state == "running"]
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

    # ---- views for the world --------------------------------------------------------------------
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

    def gone_view(self, record: InstanceRecord) -> dict[str, Any]:
        """What is kept of an instance after EC2 stopped listing it (``GET /instances?gone=true``)."""
        return {
            "id": record.instance_id,
            "state": record.state,
            "zone": record.zone,
            "subnet": record.subnet_id,
            "instanceType": record.instance_type,
            "market": record.market,
            "launchTime": iso(record.launch_time),
            "tags": self.tags_of(record),
            "calls": list(record.calls),
            "history": list(record.history),
            "gone": True,
        }

    def view(self) -> list[dict[str, Any]]:
        """Every instance the world holds, for ``GET /instances``."""
        with self.lock:
            now = self.timeline.now()
            out = []
            for record in self.records.values():
                node = self.node(record.instance_id)
                out.append(
                    {
                        "id": record.instance_id,
                        "state": record.state,
                        "zone": record.zone,
                        "subnet": record.subnet_id,
                        "instanceType": record.instance_type,
                        "market": record.market,
                        "launchTime": iso(record.launch_time),
                        "privateIp": getattr(record.moto, "private_ip", None),
                        "tags": self.tags_of(record),
                        "booted": record.state == "running" and now >= record.checks_ok_at,
                        "reachable": self.reachable(record, now),
                        "serving": bool(node and node.serving),
                        "faults": [
                            f.to_dict()
                            for f in self.faults.on_instance(record.instance_id, record.zone, record.image_id)
                        ],
                        "imageId": record.image_id,
                        "diskUsedPercent": round(self.disk(record).used_percent, 1),
                        "events": [_event_json(e) for e in record.events],
                        "calls": list(record.calls),
                        "history": list(record.history),
                    }
                )
            return out

    def launch_zone(self, call: AwsCall, region: str) -> str | None:
        """The zone a RunInstances call lands in, worked out the way moto places it."""
        subnet_id = call.first("SubnetId") or call.first("NetworkInterface.1.SubnetId")
        if subnet_id:
            try:
                return str(self.backend.get_subnet(subnet_id).availability_zone)
            except Exception:  # unknown subnet: moto answers the proper error itself
                return None
        return call.first("Placement.AvailabilityZone") or f"{region}a"

    def launch_template_data(self, call: AwsCall) -> dict[str, Any]:
        template_id = call.first("LaunchTemplate.LaunchTemplateId")
        template_name = call.first("LaunchTemplate.LaunchTemplateName")
        if not (template_id or template_name):
            return {}
        try:
            arg = {"LaunchTemplateId": template_id} if template_id else {"LaunchTemplateName": template_name}
            version = call.first("LaunchTemplate.Version")
            if version:
                arg["Version"] = version
            return dict(self.backend._get_template_from_args(arg).data)
        except Exception:
            return {}


def _event_json(event: ScheduledEvent) -> dict[str, Any]:
    wire = event.to_wire()
    return {
        "id": wire["instanceEventId"],
        "code": wire["code"],
        "description": wire["description"],
        "notBefore": iso(event.not_before),
        "completed": event.completed,
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
