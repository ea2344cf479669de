"""Thin async clients for the two APIs a simulation drives: Kubernetes (the official client, in a
thread, since the emulated API server shares this event loop) and the world's control API."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp
import kubernetes

GROUP, VERSION = "judge0.dev", "v1alpha1"
PLURALS = {"Judge0Fleet": "judge0fleets", "RecoveryPolicy": "recoverypolicies"}


class ControlError(RuntimeError):
    """The world's control API refused a request (its message says why)."""


class ControlClient:
    """``POST /faults``, ``GET /instances`` … on the world's control URL."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url.rstrip("/")
        self.session = session

    async def _call(self, method: str, path: str, body: Any = None, *, ok_missing: bool = False) -> Any:
        async with self.session.request(
            method, self.url + path, json=body, timeout=aiohttp.ClientTimeout(total=15)
        ) as resp:
            data = await resp.json(content_type=None) if resp.content_length != 0 else None
            if resp.status == 404 and ok_missing:
                return None
            if resp.status >= 400:
                message = data.get("error") or data.get("message") if isinstance(data, dict) else data
                raise ControlError(f"{method} {path}: HTTP {resp.status}: {message}")
            return data

    async def add_fault(
        self, target: str, fault: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", "/faults", {"target": target, "fault": fault, "params": dict(params or {})}
        )
        return result

    async def remove_fault(self, fault_id: str) -> bool:
        """False when the fault was already gone (healed by an action, or its instance vanished)."""
        return await self._call("DELETE", f"/faults/{fault_id}", ok_missing=True) is not None

    async def faults(self) -> dict[str, list[dict[str, Any]]]:
        result: dict[str, list[dict[str, Any]]] = await self._call("GET", "/faults")
        return result

    async def instances(self) -> list[dict[str, Any]]:
        return list((await self._call("GET", "/instances")).get("instances", []))

    async def calls(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/calls")
        return result

    async def reset_calls(self) -> None:
        await self._call("POST", "/calls/reset")

    async def create_target_group(self, name: str, **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/elbv2/target-groups", {"name": name, **options})
        return result

    async def start_clients(self, target: str, rate: float) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/clients/load", {"target": target, "rate": rate})
        return result

    async def stop_clients(self, drain_seconds: float) -> dict[str, Any] | None:
        """Stop the student load; its summary once in-flight work had ``drain_seconds`` to finish."""
        async with self.session.post(
            self.url + "/clients/stop",
            json={"drainSeconds": drain_seconds},
            timeout=aiohttp.ClientTimeout(total=drain_seconds + 30),
        ) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                raise ControlError(f"POST /clients/stop: HTTP {resp.status}: {data}")
            return data if isinstance(data, dict) else None

    async def load(self, target: str, jobs: int) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/load", {"target": target, "jobs": jobs})
        return result


class KubeClient:
    """The few Kubernetes calls a simulation makes, through the official ``kubernetes`` client."""

    def __init__(self, kubeconfig: str) -> None:
        # Typed as Any: the client's own annotations promise objects where it returns plain dicts.
        self.api_client: Any = kubernetes.config.new_client_from_config(config_file=kubeconfig)
        self.custom: Any = kubernetes.client.CustomObjectsApi(self.api_client)
        self.core: Any = kubernetes.client.CoreV1Api(self.api_client)

    def close(self) -> None:
        self.api_client.close()

    async def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Create the object, or replace its spec (and data) if it exists."""
        return await asyncio.to_thread(self._apply, dict(manifest))

    def _apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        kind = manifest["kind"]
        meta = manifest["metadata"]
        namespace = meta.get("namespace", "default")
        try:
            if kind == "Secret":
                return self.api_client.sanitize_for_serialization(
                    self.core.create_namespaced_secret(namespace, manifest)
                )  # type: ignore[no-any-return]
            created: dict[str, Any] = self.custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURALS[kind], manifest
            )
            return created
        except kubernetes.client.ApiException as error:
            if error.status != 409:
                raise
        if kind == "Secret":
            return self.api_client.sanitize_for_serialization(  # type: ignore[no-any-return]
                self.core.patch_namespaced_secret(
                    meta["name"], namespace, {"stringData": manifest["stringData"]}
                )
            )
        patched: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURALS[kind], meta["name"], {"spec": manifest["spec"]}
        )
        return patched

    async def fleet(self, namespace: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await asyncio.to_thread(
            self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, "judge0fleets", name
        )
        return result

    async def patch_fleet_spec(
        self, namespace: str, name: str, spec_patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        result: dict[str, Any] = await asyncio.to_thread(
            self.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "judge0fleets",
            name,
            {"spec": dict(spec_patch)},
        )
        return result

    async def delete_fleet(self, namespace: str, name: str) -> None:
        await asyncio.to_thread(
            self.custom.delete_namespaced_custom_object, GROUP, VERSION, namespace, "judge0fleets", name
        )

    async def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """Core v1 Events about the fleet (the ones Kopf posts), as plain dicts."""

        def list_events() -> list[dict[str, Any]]:
            found = self.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
            items: list[dict[str, Any]] = self.api_client.sanitize_for_serialization(found).get("items", [])
            return items

        return await asyncio.to_thread(list_events)
