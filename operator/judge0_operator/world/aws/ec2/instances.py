"""The world's EC2 instances: the timed lifecycle (``lifecycle.py``) wired into moto and
into the fault registry.

moto makes every state change instant and every status check ``ok``. ``Ec2Model`` takes over
the instance state of moto's in-process backend objects (moto runs in this process): it wraps
the backend's ``run/start/stop/reboot/terminate_instances`` *on the one backend object* of the
world's account and region (no class-level patching) and swaps each instance's ``_state`` for
the timed state machine; faults aimed at an instance start their one-shot effects here
(stop, terminate, scheduled events). DescribeInstanceStatus is answered in
``status.py``, the world's ``GET /instances`` in ``views.py``.

Threads: wrappers run in moto's request threads (the AWS front lets one request into moto at a
time); the ticker, control API and node lookups run on the world's event loop. ``self.lock``
guards the records and the timeline; Judge0 hooks are queued and run by the world on its loop.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.instances import InstanceState, StateReason

from judge0_operator.world.aws.ec2 import views as instance_views
from judge0_operator.world.aws.ec2.lifecycle import InstanceLifecycle
from judge0_operator.world.aws.ec2.record import InstanceRecord, ScheduledEvent
from judge0_operator.world.faults.errors import FaultError
from judge0_operator.world.faults.registry import Fault

_WRAPPED = ("run_instances", "start_instances", "stop_instances", "terminate_instances", "reboot_instances")


def _incorrect_state(instance_id: str, verb: str) -> EC2ClientError:
    return EC2ClientError(
        "IncorrectInstanceState",
        f"The instance '{instance_id}' is not in a state from which it can be {verb}.",
    )


class Ec2Model(InstanceLifecycle):
    """Owns instance timing and fault effects for one moto EC2 backend (one account, one region)."""

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

    # ---- views for the world --------------------------------------------------------------------
    def view(self) -> list[dict[str, Any]]:
        """Every instance the world holds, for ``GET /instances``."""
        return instance_views.view(self)
