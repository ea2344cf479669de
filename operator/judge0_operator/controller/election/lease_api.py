"""The three Lease requests leader election makes: GET, create, update (with ``resourceVersion``).

Blocking, for the renewal thread, on an ``ApiClient`` of its own (its own connection pool, so the
event loop's requests never queue in front of a renewal). Every request carries a total timeout
shorter than the retry period, and urllib3's retries are off: the state machine does the retrying.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import kubernetes

from judge0_operator.controller.election.state_machine import LeaseRecord, Write
from judge0_operator.controller.kube import load_configuration


class LeaseConflict(Exception):
    """409: the Lease changed since it was read (or already exists)."""


class LeaseApi:
    """One Lease, by namespace and name."""

    def __init__(self, api_client: kubernetes.client.ApiClient, namespace: str, name: str) -> None:
        # Raw JSON in and out (``_preload_content=False``): no model round trip of the MicroTimes.
        self._api: Any = kubernetes.client.CoordinationV1Api(api_client)
        self._api_client = api_client
        self.namespace = namespace
        self.name = name

    @classmethod
    def from_config(cls, kubeconfig: str | None, namespace: str, name: str) -> LeaseApi:
        configuration = load_configuration(kubeconfig)
        configuration.retries = False  # one attempt per request; timeouts bound each one
        return cls(kubernetes.client.ApiClient(configuration), namespace, name)

    def close(self) -> None:
        self._api_client.close()

    def get(self, timeout: float) -> LeaseRecord | None:
        """The Lease, or None when it does not exist."""
        try:
            response = self._api.read_namespaced_lease(
                self.name, self.namespace, _preload_content=False, _request_timeout=timeout
            )
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return None
            raise
        return record_of(json.loads(response.data))

    def write(self, step: Write, timeout: float, *, wall_now: datetime | None = None) -> LeaseRecord:
        """Create or update as the step says; ``LeaseConflict`` on 409."""
        body = lease_body(self.namespace, self.name, step, wall_now or datetime.now(UTC))
        try:
            if step.resource_version is None:
                response = self._api.create_namespaced_lease(
                    self.namespace, body, _preload_content=False, _request_timeout=timeout
                )
            else:
                response = self._api.replace_namespaced_lease(
                    self.name, self.namespace, body, _preload_content=False, _request_timeout=timeout
                )
        except kubernetes.client.ApiException as error:
            if error.status == 409:
                raise LeaseConflict(str(error.reason)) from None
            raise
        return record_of(json.loads(response.data))


def micro_time(moment: datetime) -> str:
    """Kubernetes MicroTime: RFC 3339 with microseconds, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_body(namespace: str, name: str, step: Write, wall_now: datetime) -> dict[str, Any]:
    """The whole Lease the step writes (an update replaces it, guarded by ``resourceVersion``)."""
    now = micro_time(wall_now)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if step.resource_version is not None:
        metadata["resourceVersion"] = step.resource_version
    spec: dict[str, Any] = {
        "holderIdentity": step.holder,
        "leaseDurationSeconds": step.lease_duration_seconds,
        "leaseTransitions": step.transitions,
        "acquireTime": step.acquire_time if step.keep_acquire_time and step.acquire_time else now,
        "renewTime": now,
    }
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}


def record_of(lease: dict[str, Any]) -> LeaseRecord:
    spec = lease.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    return LeaseRecord(
        resource_version=str((lease.get("metadata") or {}).get("resourceVersion") or ""),
        holder=str(spec.get("holderIdentity") or ""),
        lease_duration_seconds=int(duration) if duration else None,
        transitions=int(spec.get("leaseTransitions") or 0),
        acquire_time=spec.get("acquireTime"),
        renew_time=spec.get("renewTime"),
    )
