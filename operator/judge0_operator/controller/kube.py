"""The few Kubernetes API calls the operator makes itself (Kopf does the watching).

Status writes from a daemon and Secret reads go through the official ``kubernetes`` client,
run in a thread so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from typing import Any

import kubernetes

from judge0_operator.api import GROUP, VERSION
from judge0_operator.aws.guarded import Fence
from judge0_operator.controller.endpoints import ServicePublisher

FLEETS = "judge0fleets"
WRITE_TIMEOUT = (5.0, 15.0)  # connect, read: a status write never hangs a pass


def load_configuration(kubeconfig: str | None) -> kubernetes.client.Configuration:
    """In-cluster config first, then the kubeconfig (explicit path or $KUBECONFIG)."""
    configuration = kubernetes.client.Configuration()
    if kubeconfig:
        kubernetes.config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        try:
            kubernetes.config.load_incluster_config(client_configuration=configuration)
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config(client_configuration=configuration)
    return configuration


class KubeApi:
    """Typed helpers over the kubernetes client, with a short cache for Secrets."""

    def __init__(
        self,
        api_client: kubernetes.client.ApiClient,
        *,
        secret_ttl_seconds: float = 30.0,
        fence: Fence | None = None,
    ) -> None:
        self._fence = fence  # leader election: a status write is a mutation too
        self._custom = kubernetes.client.CustomObjectsApi(api_client)
        self._core = kubernetes.client.CoreV1Api(api_client)
        self.services = ServicePublisher(api_client, fence=fence)  # spec.traffic.service (endpoints.py)
        self._secret_ttl = secret_ttl_seconds
        self._secrets: dict[tuple[str, str, str], tuple[float, str | None]] = {}

    @classmethod
    def from_config(cls, kubeconfig: str | None, *, fence: Fence | None = None) -> KubeApi:
        """In-cluster config first, then the kubeconfig (explicit path or $KUBECONFIG)."""
        return cls(kubernetes.client.ApiClient(load_configuration(kubeconfig)), fence=fence)

    async def patch_fleet_status(self, namespace: str, name: str, status: dict[str, Any]) -> Any:
        """Merge-patch ``.status`` through the status subresource (lists are replaced whole).

        With leader election the fence is checked in the worker thread right before the request
        (a replica that lost its lease must not overwrite the new leader's intents)."""
        fence = self._fence

        def patch() -> Any:
            with fence("PatchFleetStatus") if fence is not None else contextlib.nullcontext():
                return self._custom.patch_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, FLEETS, name, {"status": status}, _request_timeout=WRITE_TIMEOUT
                )

        return await asyncio.to_thread(patch)  # the fleet as written: freshness.StatusKeeper keeps it

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """A Secret's value, cached briefly; None when the Secret or key is missing."""
        cache_key = (namespace, name, key)
        cached = self._secrets.get(cache_key)
        if cached and time.monotonic() - cached[0] < self._secret_ttl:
            return cached[1]
        try:
            secret = await asyncio.to_thread(
                self._core.read_namespaced_secret, name, namespace, _request_timeout=WRITE_TIMEOUT
            )
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                self._secrets[cache_key] = (time.monotonic(), None)
                return None
            if cached:  # the API is unwell: the value last read is still the best one
                return cached[1]
            raise
        except Exception:  # unreachable (connection refused or reset)
            if cached:
                return cached[1]
            raise
        value: str | None = None
        if secret.data and key in secret.data:
            value = base64.b64decode(secret.data[key]).decode()
        elif secret.string_data and key in secret.string_data:
            value = secret.string_data[key]
        self._secrets[cache_key] = (time.monotonic(), value)
        return value
