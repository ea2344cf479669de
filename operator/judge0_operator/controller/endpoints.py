"""The fleet as an in-cluster Service: a selector-less Service and one EndpointSlice, both owned by it.

An application in the cluster reaches ``http://NAME.NAMESPACE.svc:PORT`` (PORT from the fleet's
``judge0.endpointTemplate``, 2358 by default). The Service has no selector, so Kubernetes leaves
its endpoints to us: one EndpointSlice named after the fleet (label ``kubernetes.io/service-name``)
with one endpoint per instance that has an address, and the standard conditions:

=============  =====  =======  ===========
traffic        ready  serving  terminating
=============  =====  =======  ===========
InRotation     true   true     false
Draining       false  true     true
Out            false  false    false
=============  =====  =======  ===========

Both objects carry an ownerReference to the fleet (``controller: true``, ``blockOwnerDeletion``),
so deleting the fleet deletes them (Kubernetes' garbage collector). Writes are get → create or
merge-patch, skipped while nothing changed (re-checked every ``recheck_seconds`` in case someone
deleted them); an object of that name not owned by the fleet is left alone and reported. Every
write passes the leader-election fence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import kubernetes

from judge0_operator.api import GROUP, VERSION
from judge0_operator.aws.guarded import Fence
from judge0_operator.decide.model import TAG_FLEET
from judge0_operator.decide.traffic import ServiceEndpoint as Endpoint

log = logging.getLogger(__name__)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "judge0-operator.judge0.dev"  # never endpointslice-controller.k8s.io: that one would take it over
PORT_NAME = "http"
MERGE_PATCH = "application/merge-patch+json"
CONDITIONS: dict[str, dict[str, bool]] = {
    "InRotation": {"ready": True, "serving": True, "terminating": False},
    "Draining": {"ready": False, "serving": True, "terminating": True},
    "Out": {"ready": False, "serving": False, "terminating": False},
}


@dataclass(frozen=True)
class FleetRef:
    namespace: str
    name: str
    uid: str


def owner_reference(fleet: FleetRef) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Judge0Fleet",
        "name": fleet.name,
        "uid": fleet.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _labels(fleet: FleetRef) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "judge0-operator", TAG_FLEET: fleet.name}


def service_manifest(fleet: FleetRef, port: int) -> dict[str, Any]:
    """The selector-less Service (the API server fills clusterIP, targetPort, …)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": fleet.name,
            "namespace": fleet.namespace,
            "labels": _labels(fleet),
            "ownerReferences": [owner_reference(fleet)],
        },
        "spec": {"type": "ClusterIP", "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}]},
    }


def slice_manifest(fleet: FleetRef, port: int, endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    """The fleet's one EndpointSlice; endpoints sorted so an unchanged fleet writes nothing."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": fleet.name,
            "namespace": fleet.namespace,
            "labels": {**_labels(fleet), SERVICE_NAME_LABEL: fleet.name, MANAGED_BY_LABEL: MANAGED_BY},
            "ownerReferences": [owner_reference(fleet)],
        },
        "addressType": "IPv4",
        "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [e.address],
                "conditions": dict(CONDITIONS[e.traffic]),
                **({"zone": e.zone} if e.zone else {}),
            }
            for e in sorted(endpoints, key=lambda e: (e.address, e.instance_id))
        ],
    }


def _owned_by(obj: dict[str, Any], fleet: FleetRef) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("uid") == fleet.uid for r in refs)


def _differs(desired: Any, current: Any) -> bool:
    """Does ``current`` lack anything ``desired`` says (server-filled fields are ignored)?"""
    if isinstance(desired, dict):
        if not isinstance(current, dict):
            return True
        return any(_differs(value, current.get(key)) for key, value in desired.items())
    if isinstance(desired, list):
        return (
            not isinstance(current, list)
            or len(desired) != len(current)
            or any(_differs(d, c) for d, c in zip(desired, current, strict=True))
        )
    return bool(desired != current)


@dataclass(frozen=True)
class Published:
    """What one ``publish`` did: written (created or patched), unchanged, or refused (not ours)."""

    service: str  # created | patched | unchanged | conflict
    endpoint_slice: str

    @property
    def conflict(self) -> bool:
        return "conflict" in (self.service, self.endpoint_slice)


class ServicePublisher:
    """Writes fleets' Services and EndpointSlices through the official client, in threads."""

    def __init__(
        self,
        api_client: kubernetes.client.ApiClient,
        *,
        fence: Fence | None = None,
        recheck_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._core = kubernetes.client.CoreV1Api(api_client)
        self._discovery = kubernetes.client.DiscoveryV1Api(api_client)
        self._fence = fence
        self._recheck = recheck_seconds
        self._clock = clock
        self._written: dict[tuple[str, str, str], tuple[dict[str, Any], float]] = {}

    async def publish(self, fleet: FleetRef, port: int, endpoints: Sequence[Endpoint]) -> Published:
        """Make the Service and the EndpointSlice say this; returns what was done to each."""
        service = await self._ensure("services", fleet, service_manifest(fleet, port))
        endpoint_slice = await self._ensure("endpointslices", fleet, slice_manifest(fleet, port, endpoints))
        return Published(service, endpoint_slice)

    async def unpublish(self, fleet: FleetRef) -> bool:
        """Delete the fleet's Service and EndpointSlice if they are its own; True if one was deleted."""
        deleted = False
        for kind in ("endpointslices", "services"):
            self._written.pop((kind, fleet.namespace, fleet.name), None)
            current = await asyncio.to_thread(self._read, kind, fleet)
            if current is not None and _owned_by(current, fleet):
                await asyncio.to_thread(self._guarded, f"Delete{kind}", self._delete, kind, fleet)
                deleted = True
        return deleted

    def forget(self, fleet: FleetRef) -> None:
        for kind in ("endpointslices", "services"):
            self._written.pop((kind, fleet.namespace, fleet.name), None)

    # --- internals --------------------------------------------------------------------------
    async def _ensure(self, kind: str, fleet: FleetRef, desired: dict[str, Any]) -> str:
        key = (kind, fleet.namespace, fleet.name)
        last = self._written.get(key)
        if last is not None and last[0] == desired and self._clock() - last[1] < self._recheck:
            return "unchanged"
        current = await asyncio.to_thread(self._read, kind, fleet)
        if current is None:
            await asyncio.to_thread(self._guarded, f"Create{kind}", self._create, kind, fleet, desired)
            outcome = "created"
        elif not _owned_by(current, fleet):
            log.warning("%s %s/%s exists and is not owned by the fleet: left alone", kind, fleet.namespace, fleet.name)
            self._written.pop(key, None)
            return "conflict"
        elif _differs(desired, current):
            await asyncio.to_thread(self._guarded, f"Patch{kind}", self._patch, kind, fleet, desired)
            outcome = "patched"
        else:
            outcome = "unchanged"
        self._written[key] = (desired, self._clock())
        return outcome

    def _guarded(self, operation: str, fn: Callable[..., Any], *args: Any) -> Any:
        with self._fence(operation) if self._fence is not None else contextlib.nullcontext():
            return fn(*args)

    def _read(self, kind: str, fleet: FleetRef) -> dict[str, Any] | None:
        obj: Any
        try:
            if kind == "services":
                obj = self._core.read_namespaced_service(fleet.name, fleet.namespace, _preload_content=False)
            else:
                obj = self._discovery.read_namespaced_endpoint_slice(
                    fleet.name, fleet.namespace, _preload_content=False
                )
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return None
            raise
        data: dict[str, Any] = json.loads(obj.data)
        return data

    def _create(self, kind: str, fleet: FleetRef, manifest: dict[str, Any]) -> None:
        body: Any = manifest  # the client takes a plain dict as well as its model objects
        if kind == "services":
            self._core.create_namespaced_service(fleet.namespace, body, _preload_content=False)
        else:
            self._discovery.create_namespaced_endpoint_slice(fleet.namespace, body, _preload_content=False)

    def _patch(self, kind: str, fleet: FleetRef, body: dict[str, Any]) -> None:
        # A merge patch: lists (ports, endpoints) are replaced whole, server-set fields (clusterIP) kept.
        options: dict[str, Any] = {"_preload_content": False, "_content_type": MERGE_PATCH}
        if kind == "services":
            self._core.patch_namespaced_service(fleet.name, fleet.namespace, body, **options)
        else:
            self._discovery.patch_namespaced_endpoint_slice(fleet.name, fleet.namespace, body, **options)

    def _delete(self, kind: str, fleet: FleetRef) -> None:
        try:
            if kind == "services":
                self._core.delete_namespaced_service(fleet.name, fleet.namespace, _preload_content=False)
            else:
                self._discovery.delete_namespaced_endpoint_slice(fleet.name, fleet.namespace, _preload_content=False)
        except kubernetes.client.ApiException as error:
            if error.status != 404:
                raise
