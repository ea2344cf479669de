"""End-to-end helpers: the ``E2E`` object each test drives, the fast policy, status readers.

Fixtures live in ``conftest.py``. The world is the module's ``WorldThread``
(``tests/fixtures/world.py``) sped up to ``E2E_SPEED`` (a boot takes 1 s); the operator is
``judge0-operator run`` as a child process (``simulate.operator_process.OperatorProcess``),
started on the world's event loop. ``E2E`` applies manifests in the test's namespace, reads
fleets and Events, waits on a fleet's status (a failure dumps the status, the Events, the
world's instances and calls and the operator's log tail), reads and breaks the world, and
crashes, freezes or restarts the operator. ``FAST_POLICY`` judges a node within a few seconds
and walks the ladder within a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from fixtures.world import ControlClient, boto_client

if TYPE_CHECKING:
    from judge0_operator.simulate.clients import KubeClient
    from judge0_operator.simulate.operator_process import OperatorProcess
    from judge0_operator.world.thread import WorldThread

T = TypeVar("T")
GROUP, VERSION = "judge0.dev", "v1alpha1"
E2E_SPEED = 20.0
INSTANCE_TYPE = "t3.small"
LIVE_STATES = frozenset({"pending", "running", "stopping", "stopped"})
DELETE_TIMEOUT = 30.0

# Judged within seconds (probes every second, 2 s of bad), ladder walked within a minute.
FAST_POLICY: dict[str, Any] = {
    "mode": "Enforce",
    "startupGraceSeconds": 5,
    "graceAfterActionSeconds": 3,
    "probes": {
        "ec2UnhealthyAfterSeconds": 2,
        "api": {"intervalSeconds": 1, "timeoutSeconds": 1, "unhealthyAfterSeconds": 2},
        "workers": {"intervalSeconds": 1, "timeoutSeconds": 1, "unhealthyAfterSeconds": 2},
        "canary": {"intervalSeconds": 5, "timeoutSeconds": 5, "unhealthyAfterSeconds": 5},
        "disk": {"enabled": False},  # its SSM df would show among an instance's calls; test_e2e_diagnosis turns it on
    },
    "remediation": {
        "ladder": [
            {"action": "RestartJudge0", "attempts": 2, "timeoutSeconds": 10},
            {"action": "RebootInstance", "attempts": 1, "timeoutSeconds": 15},
            {"action": "ReplaceInstance", "attempts": 1, "timeoutSeconds": 30},
        ],
        "backoff": {"initialSeconds": 1, "maxSeconds": 5, "multiplier": 2, "jitter": 0.2},
        "healthyPeriodSeconds": 30,
    },
    "safety": {"maxUnhealthy": "40%", "maxInFlight": 1, "zoneOutageThreshold": 60},
}


def merged(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``base`` with ``overlay`` merged in (mappings merge, everything else replaces)."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def condition(fleet: Mapping[str, Any], type_: str) -> dict[str, Any]:
    """The fleet's condition of that type, or {} when absent."""
    for item in (fleet.get("status") or {}).get("conditions") or []:
        if item.get("type") == type_:
            return dict(item)
    return {}


def is_ready(fleet: Mapping[str, Any]) -> bool:
    """What ``kubectl wait --for=condition=Ready`` waits for, for the current generation."""
    ready = condition(fleet, "Ready")
    return ready.get("status") == "True" and ready.get("observedGeneration") == fleet["metadata"].get("generation")


def actions(fleet: Mapping[str, Any], kind: str | None = None, instance: str | None = None) -> list[dict[str, Any]]:
    """``status.lastActions`` filtered by action kind and/or instance id."""
    found = []
    for record in (fleet.get("status") or {}).get("lastActions") or []:
        if kind is not None and record.get("action") != kind:
            continue
        if instance is not None and record.get("instanceId") != instance:
            continue
        found.append(dict(record))
    return found


class _AllHealthy(dict[str, Any]):
    """The signals of a compact row (``api/compact.py``): a Healthy row stores only its measurements
    (the disk); each probe's signal it leaves out is Healthy."""

    def __init__(self, since: str | None, stored: dict[str, Any]) -> None:
        super().__init__(stored)
        self.since = since

    def __missing__(self, name: str) -> dict[str, Any]:
        return {"status": "Healthy", "since": self.since, "bad": False, "detail": ""}


def row(fleet: Mapping[str, Any], instance_id: str) -> dict[str, Any]:
    """The ``status.instances`` row of one instance, or {} (a compact Healthy row with its signals)."""
    for item in (fleet.get("status") or {}).get("instances") or []:
        if item.get("instanceId") == instance_id:
            found = dict(item)
            if found.get("health") == "Healthy":
                found["signals"] = _AllHealthy(found.get("healthySince"), found.get("signals") or {})
            return found
    return {}


class OperatorHandle:
    """The operator subprocess, driven from the test thread on the world's event loop."""

    def __init__(self, world: WorldThread, log_path: Path) -> None:
        from judge0_operator.simulate.operator_process import OperatorProcess

        self.world = world
        self.process: OperatorProcess = OperatorProcess(world.world.info, log_path)

    @property
    def alive(self) -> bool:
        return self.process.alive

    def start(self) -> None:
        self.world.run(self.process.start())

    def kill(self) -> None:
        """SIGKILL: a crash, no cleanup."""
        self.world.run(self.process.kill())
        self.world.run(self.process.stop())  # closes the log file handle; the process is gone already

    def restart(self) -> None:
        if self.alive:
            self.world.run(self.process.stop())
        self.start()

    def stop(self) -> None:
        self.world.run(self.process.stop())

    def pause(self) -> None:
        """SIGSTOP: freeze the operator so several faults land before its next look (one pass sees all)."""
        if self.process.pid is not None and self.alive:
            os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process.pid is not None and self.alive:
            os.kill(self.process.pid, signal.SIGCONT)

    def tail(self, lines: int = 60) -> str:
        return self.process.tail(lines)


class E2E:
    """What a test does to the world, the API server and the operator (one namespace per test)."""

    def __init__(self, world: WorldThread, kube: KubeClient, operator: OperatorHandle, namespace: str) -> None:
        self.world = world
        self.info: dict[str, Any] = dict(world.world.info)
        self.kube = kube
        self.operator = operator
        self.namespace = namespace
        self.control = ControlClient(self.info["control_url"])
        self.ec2 = boto_client(world.world, "ec2", attempts=5)
        self.zones: list[str] = sorted(self.info["subnets"])
        self._secret_done = False
        self.seen: dict[str, dict[str, Any]] = {}

    # --- manifests ----------------------------------------------------------------------------
    def apply_policy(self, name: str = "policy", **overrides: Any) -> dict[str, Any]:
        """Create (or replace the spec of) a RecoveryPolicy: ``FAST_POLICY`` with ``overrides``."""
        from judge0_operator.simulate.manifests import fit_policy

        manifest = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "RecoveryPolicy",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": merged(FAST_POLICY, overrides),
        }
        return self._apply(fit_policy(manifest, fast=False))

    def fleet_manifest(
        self,
        name: str = "fleet",
        *,
        replicas: int = 3,
        policy: str = "policy",
        **spec_overrides: Any,
    ) -> dict[str, Any]:
        """A fleet fitted to the world (its AMI, subnets, security group, endpoints), validated."""
        from judge0_operator.simulate.manifests import fit_fleet

        manifest = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Judge0Fleet",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "replicas": replicas,
                "instance": {"instanceType": INSTANCE_TYPE},
                "rollout": {"maxSurge": 1, "maxUnavailable": 0},
            },
        }
        fitted = fit_fleet(manifest, self.info, policy_name=policy, default_shape=False)
        fitted["spec"] = merged(fitted["spec"], spec_overrides)
        return fitted

    def apply_fleet(
        self, name: str = "fleet", *, replicas: int = 3, policy: str = "policy", **spec: Any
    ) -> dict[str, Any]:
        self._ensure_secret()
        return self._apply(self.fleet_manifest(name, replicas=replicas, policy=policy, **spec))

    def create_raw(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """POST a custom object as given (no fitting, no validation here)."""
        plural = "judge0fleets" if manifest["kind"] == "Judge0Fleet" else "recoverypolicies"
        created: dict[str, Any] = self.kube.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, dict(manifest)
        )
        return created

    def _ensure_secret(self) -> None:
        from judge0_operator.simulate.manifests import secret

        if not self._secret_done:
            token = self.info.get("judge0_auth_token") or "e2e-token"
            self._apply(secret(token, self.namespace))
            self._secret_done = True

    def _apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return asyncio.run(self.kube.apply(manifest))

    def patch_fleet_spec(self, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self.kube.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "judge0fleets", name, {"spec": dict(spec)}
        )
        return patched

    def patch_policy_spec(self, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self.kube.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "recoverypolicies", name, {"spec": dict(spec)}
        )
        return patched

    def delete_policy(self, name: str = "policy") -> None:
        self.kube.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, "recoverypolicies", name)

    def delete_fleet(self, name: str = "fleet") -> None:
        self.kube.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, "judge0fleets", name)

    # --- reading ------------------------------------------------------------------------------
    def fleet(self, name: str = "fleet") -> dict[str, Any]:
        found: dict[str, Any] = self.kube.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "judge0fleets", name
        )
        return found

    def fleet_or_none(self, name: str = "fleet") -> dict[str, Any] | None:
        import kubernetes

        try:
            return self.fleet(name)
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return None
            raise

    def fleets(self) -> list[dict[str, Any]]:
        listed = self.kube.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, "judge0fleets")
        return list(listed.get("items", []))

    def events(self, name: str = "fleet") -> list[dict[str, Any]]:
        """Core v1 Events about the fleet (any order)."""
        found = self.kube.core.list_namespaced_event(self.namespace, field_selector=f"involvedObject.name={name}")
        items: list[dict[str, Any]] = self.kube.api_client.sanitize_for_serialization(found).get("items", [])
        return items

    def event_reasons(self, name: str = "fleet") -> list[str]:
        return [str(e.get("reason")) for e in self.events(name)]

    def instances(self, name: str | None = "fleet", *, live: bool = True) -> list[dict[str, Any]]:
        """World instances tagged for this namespace's fleet ``name`` (any fleet of it if None)."""
        prefix = f"{self.namespace}/{name}" if name else f"{self.namespace}/"
        out = []
        for item in self.control.get("/instances")["instances"]:
            owner = item.get("tags", {}).get("judge0.dev/fleet", "")
            if (owner == prefix if name else owner.startswith(prefix)) and (not live or item["state"] in LIVE_STATES):
                out.append(item)
        return out

    def sample(self) -> list[dict[str, Any]]:
        """Read the world's instances of this namespace, remembering every one ever seen in ``seen``."""
        items = self.instances(None, live=False)
        for item in items:
            self.seen[item["id"]] = item
        return items

    def ready_fleet(
        self, name: str = "fleet", *, replicas: int = 3, policy: Mapping[str, Any] | None = None, **spec: Any
    ) -> tuple[dict[str, Any], list[str]]:
        """Apply a policy (``FAST_POLICY`` + ``policy``) and a fleet, wait until Ready; (fleet, instance ids)."""
        self.apply_policy(**dict(policy or {}))
        self.apply_fleet(name, replicas=replicas, **spec)
        fleet = self.wait_ready(name)
        ids = sorted(i["instanceId"] for i in fleet["status"]["instances"])
        return fleet, ids

    def calls(self) -> dict[str, int]:
        return dict(self.control.get("/calls")["by_action"])

    def reset_calls(self) -> None:
        status, body = self.control.post("/calls/reset")
        assert status == 200, body

    def fault(self, target: str, fault: str, **params: Any) -> str:
        return self.control.fault(target, fault, **params)

    def remove_fault(self, fault_id: str) -> None:
        self.control.delete(f"/faults/{fault_id}")

    def clear_faults(self) -> None:
        status, body = self.control.delete("/faults")
        assert status == 200, body

    def healed(self) -> list[dict[str, Any]]:
        return list(self.control.get("/faults")["healed"])

    # --- waiting ------------------------------------------------------------------------------
    def wait_fleet(
        self,
        predicate: Callable[[dict[str, Any]], object],
        *,
        name: str = "fleet",
        timeout: float = 30.0,
        what: str = "",
        interval: float = 0.25,
        sample_world: bool = False,
    ) -> dict[str, Any]:
        """Poll the fleet until ``predicate(fleet)`` is truthy and return that fleet; on timeout fail
        with a dump of everything. ``sample_world`` also records the world's instances each poll."""
        deadline = time.monotonic() + timeout
        while True:
            if sample_world:
                self.sample()
            fleet = self.fleet_or_none(name)
            if fleet is not None and predicate(fleet):
                return fleet
            if time.monotonic() > deadline:
                pytest.fail(self.report(f"timed out after {timeout:g}s waiting for {what or predicate!r}", name))
            time.sleep(interval)

    def wait_ready(self, name: str = "fleet", timeout: float = 30.0, *, sample_world: bool = False) -> dict[str, Any]:
        """``kubectl wait --for=condition=Ready`` and every desired instance healthy."""

        def ready(fleet: dict[str, Any]) -> bool:
            status = fleet.get("status") or {}
            desired = status.get("desiredReplicas")
            whole = desired is not None and status.get("healthyReplicas") == desired == status.get("replicas")
            return is_ready(fleet) and whole

        return self.wait_fleet(ready, name=name, timeout=timeout, what=f"fleet {name} Ready", sample_world=sample_world)

    def wait(self, probe: Callable[[], T], *, timeout: float = 30.0, what: str = "", name: str = "fleet") -> T:
        """Poll any probe; on timeout fail with the same dump as ``wait_fleet``."""
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(self.report(f"timed out after {timeout:g}s waiting for {what or probe!r}", name))
            time.sleep(0.25)

    def report(self, headline: str, name: str = "fleet") -> str:
        """Status, the operator's log tail and the world's instances: what a failure needs."""
        parts = [headline]
        try:
            fleet = self.fleet_or_none(name)
            parts.append(f"--- fleet {self.namespace}/{name} status ---\n{_describe_status(fleet)}")
        except Exception as error:
            parts.append(f"(fleet unreadable: {error})")
        try:
            parts.append(
                "--- events ---\n"
                + "\n".join(f"{e.get('type')} {e.get('reason')}: {e.get('message')}" for e in self.events(name)[-25:])
            )
        except Exception as error:
            parts.append(f"(events unreadable: {error})")
        try:
            parts.append(
                "--- world instances ---\n" + "\n".join(_describe_instance(i) for i in self.instances(None, live=False))
            )
            parts.append(f"--- world faults ---\n{json.dumps(self.control.get('/faults')['faults'])}")
            parts.append(f"--- AWS calls ---\n{json.dumps(self.calls(), sort_keys=True)}")
        except Exception as error:
            parts.append(f"(world unreadable: {error})")
        parts.append(f"--- operator log (alive: {self.operator.alive}) ---\n{self.operator.tail(60)}")
        return "\n".join(parts)

    # --- the operator -------------------------------------------------------------------------
    def kill_operator(self) -> None:
        self.operator.kill()

    def restart_operator(self) -> None:
        self.operator.restart()

    # --- cleanup ------------------------------------------------------------------------------
    def terminate(self, instance_ids: list[str]) -> None:
        if instance_ids:
            self.ec2.terminate_instances(InstanceIds=instance_ids)

    def cleanup(self) -> list[str]:
        """Delete this namespace's fleets and policies, clear faults, terminate leftovers; problems found.

        Each fleet is paused first and its instances terminated here, so the operator's finalizer
        finds nothing left to wait for (its own Delete path is what ``test_deleting_*`` checks).
        """
        problems: list[str] = []
        if not self.operator.alive:
            self.operator.start()
        self.operator.resume()
        self.clear_faults()
        names = [f["metadata"]["name"] for f in self.fleets()]
        for name in names:
            with contextlib.suppress(Exception):
                self.patch_fleet_spec(name, {"paused": True})
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not all(self._paused(name) for name in names):
            time.sleep(0.1)
        self.terminate([i["id"] for i in self.instances(None)])
        for name in names:
            try:
                self.delete_fleet(name)
            except Exception as error:
                problems.append(f"delete {name}: {error}")
        deadline = time.monotonic() + DELETE_TIMEOUT
        while self.fleets() and time.monotonic() < deadline:
            time.sleep(0.1)
        for fleet in self.fleets():  # the finalizer never came off: force it, and say so
            name = fleet["metadata"]["name"]
            problems.append(f"fleet {name} still present {DELETE_TIMEOUT:g}s after deletion:\n{self.report('', name)}")
            self.kube.custom.patch_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "judge0fleets", name, {"metadata": {"finalizers": []}}
            )
        for policy in self.kube.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "recoverypolicies"
        ).get("items", []):
            self.delete_policy(policy["metadata"]["name"])
        self.terminate([i["id"] for i in self.instances(None)])  # retained ones, and any launched meanwhile
        return problems

    def _paused(self, name: str) -> bool:
        fleet = self.fleet_or_none(name)
        if fleet is None or fleet["metadata"].get("deletionTimestamp"):
            return True
        progressing = condition(fleet, "Progressing")
        return progressing.get("reason") == "Paused" and progressing.get("observedGeneration") == fleet["metadata"].get(
            "generation"
        )


def _describe_status(fleet: Mapping[str, Any] | None) -> str:
    if fleet is None:
        return "(no such fleet)"
    status = fleet.get("status") or {}
    lines = [
        f"generation {fleet['metadata'].get('generation')} observed {status.get('observedGeneration')} "
        f"replicas {status.get('replicas')} desired {status.get('desiredReplicas')} "
        f"ready {status.get('readyReplicas')} "
        f"healthy {status.get('healthyReplicas')} updated {status.get('updatedReplicas')} "
        f"outdated {status.get('outdatedReplicas')} zonesOut {status.get('zonesOut')} scaling {status.get('scaling')}"
    ]
    for item in status.get("conditions") or []:
        lines.append(f"  {item.get('type')}={item.get('status')} {item.get('reason')}: {item.get('message')}")
    for item in status.get("instances") or []:
        signals = ",".join(
            f"{k}:{v.get('status')}{'!' if v.get('bad') else ''}" for k, v in (item.get("signals") or {}).items()
        )
        lines.append(
            f"  {item.get('instanceId')} {item.get('slot')} {item.get('zone')} {item.get('state')} "
            f"{item.get('instanceType')}/{item.get('market')} {item.get('health')} [{signals}] "
            f"attempts {item.get('attempts')} last {item.get('lastAction')} replacedBy {item.get('replacedBy')}"
        )
    for item in status.get("pendingLaunches") or []:
        lines.append(f"  pending {item}")
    if status.get("awsError"):
        lines.append(f"  awsError {status['awsError']}")
    for item in status.get("lastActions") or []:
        lines.append(
            f"  {item.get('time')} {item.get('action')} {item.get('instanceId')} {item.get('slot')} "
            f"{item.get('outcome')}: {item.get('reason')}"
        )
    return "\n".join(lines)


def _describe_instance(item: Mapping[str, Any]) -> str:
    tags = item.get("tags") or {}
    calls = [c.get("action") if isinstance(c, dict) else c for c in item.get("calls") or []]
    return (
        f"  {item['id']} {item['state']} {item['zone']} {item.get('instanceType')}/{item.get('market')} "
        f"slot {tags.get('judge0.dev/slot')}#{tags.get('judge0.dev/launch-attempt')} serving {item.get('serving')} "
        f"faults {[f.get('fault') for f in item.get('faults') or []]} calls {calls}"
    )
