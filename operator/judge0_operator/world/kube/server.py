"""A small Kubernetes API server on loopback, with the semantics Kopf and kubectl rely on.

Written on aiohttp rather than on kmock 0.8's ``KubernetesEmulator``, which breaks Kopf
(no uid/resourceVersion/generation, 500 on failed patch tests, no generateName, a request
log re-filtered on every request; see ``/work/shared/kube-emulator-notes.md``).

What it serves, as kube-apiserver does: discovery (``/version``, ``/api``, ``/apis``...);
core namespaces/secrets/configmaps/events/pods, events.k8s.io events, coordination leases,
CRDs (POSTing one registers its kinds), Kopf's peering CRDs, and every registered custom
resource with ``/status`` and ``/scale``; CRUD with uid, a global resourceVersion,
generation, finalizers, 409 on stale writes, merge/JSON patches (failed ``test`` → 422),
schema validation/defaulting/pruning (``validation``) with 422 field errors; list and watch
with label/field selectors, ``limit``/``continue``, bookmarks and 410 for a resourceVersion
older than the bounded history.

Deliberate simplifications: no authn/authz, no admission webhooks, no conversion between
versions of a CRD (all versions share the stored fields), strategic-merge and server-side
apply patches are applied as merge patches, and core/v1 and events.k8s.io/v1 Events are stored
separately. Garbage collection by ownerReferences (background, foreground, orphan) happens
in-process right after the write that makes it due (``gc.py``); Services get a ClusterIP and
EndpointSlices are checked as the API server checks them (``network.py``). The state and its
semantics are the store's (``store/``), the HTTP handling is ``http_api.py``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from aiohttp import web

from judge0_operator.world.kube.http_api import KubeHttpApi
from judge0_operator.world.kube.resources import KOPF_PEERING_CRDS
from judge0_operator.world.kube.store.core import Obj
from judge0_operator.world.kube.store.errors import ApiError
from judge0_operator.world.kube.store.kube_store import KubeStore
from judge0_operator.world.kube.store.patches import MERGE_PATCH
from judge0_operator.world.serve import serve_on_loopback

if TYPE_CHECKING:
    from judge0_operator.world.kube.faults import KubeChaos

T = TypeVar("T")


class KubeEmulator(KubeHttpApi):
    """The simulated Kubernetes API server.

    Use ``await start()`` inside a running event loop, or ``start_in_thread()`` to serve from
    a background thread (handy with the synchronous ``kubernetes`` client). The in-process
    helpers (``get_object`` ...) work from either side.
    """

    def __init__(
        self,
        crds: Iterable[Mapping[str, Any]] = (),
        *,
        history_limit: int = 1000,
        strict_namespaces: bool = False,
        bookmark_interval: float = 30.0,
        watch_timeout: float = 1800.0,
    ) -> None:
        self.store = KubeStore(history_limit=history_limit, strict_namespaces=strict_namespaces)
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._thread: threading.Thread | None = None
        self.chaos: KubeChaos | None = None  # faults.KubeChaos.attach sets it
        for crd in (*KOPF_PEERING_CRDS, *crds):
            self.register_crd(crd)

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the emulator is not started")
        return self._url

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (loopback only; port 0 = ephemeral) and return the base URL."""
        app = web.Application(client_max_size=3 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner, self._url = await serve_on_loopback(
            app, host, port, what="the emulator", handler_cancellation=True, shutdown_timeout=1.0
        )
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.current_thread()
        return self._url

    async def stop(self) -> None:
        """Close every watch stream and the server."""
        self.store.close_watchers()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Run the server on its own event loop in a daemon thread; returns the base URL."""
        started = threading.Event()
        result: dict[str, Any] = {}

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                result["url"] = loop.run_until_complete(self.start(host, port))
            except BaseException as exc:  # report start-up failures to the caller
                result["error"] = exc
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="kube-emulator", daemon=True)
        self._thread.start()
        started.wait()
        if "error" in result:
            raise result["error"]
        return str(result["url"])

    def stop_in_thread(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """A kubeconfig for kopf, the ``kubernetes`` client and kubectl (plain HTTP, dummy token)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kube-emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "kube-emulator", "user": {"token": "kube-emulator-token"}}],
            "contexts": [
                {
                    "name": "kube-emulator",
                    "context": {"cluster": "kube-emulator", "user": "kube-emulator", "namespace": namespace},
                }
            ],
            "current-context": "kube-emulator",
            "preferences": {},
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    # ------------------------------------------------------------------ in-process helpers

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop when called from another thread (the store is single-threaded)."""
        loop = self._loop
        if loop is None or not loop.is_running() or threading.current_thread() is self._loop_thread:
            return fn()

        async def wrapper() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), loop).result(timeout=30)

    def register_crd(self, crd: Mapping[str, Any]) -> None:
        """Install (or replace) a CRD, exactly as POST/PUT of the CRD object would."""
        crd_type = self.store.resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions")

        def register() -> None:
            name = crd["metadata"]["name"]
            try:
                old = self.store.get(crd_type, None, name)
            except ApiError:
                self.store.create(crd_type, None, dict(crd))
                return
            body = {
                **crd,
                "metadata": {**crd["metadata"], "resourceVersion": old["metadata"]["resourceVersion"]},
            }
            self.store.update(crd_type, None, name, body)

        self._call(register)

    def get_object(
        self, group: str, version: str, plural: str, namespace: str | None, name: str
    ) -> Obj | None:
        """A deep copy of the stored object, or None."""

        def get() -> Obj | None:
            rt = self.store.resolve(group, version, plural)
            try:
                return self._out(rt, self.store.get(rt, namespace, name), copy_=True)
            except ApiError:
                return None

        return self._call(get)

    def list_objects(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
    ) -> list[Obj]:
        def list_() -> list[Obj]:
            rt = self.store.resolve(group, version, plural)
            items = self.store.list_collection(rt, namespace, label_selector=label_selector)["items"]
            return [self._out(rt, obj, copy_=True) for obj in items]

        return self._call(list_)

    def create_object(self, obj: Mapping[str, Any]) -> Obj:
        """Create from a manifest (``apiVersion``/``kind`` pick the resource); raises ``ApiError``."""

        def create() -> Obj:
            rt = self.store.type_for(obj["apiVersion"], obj["kind"])
            namespace = obj.get("metadata", {}).get("namespace") or ("default" if rt.namespaced else None)
            return self._out(rt, self.store.create(rt, namespace, dict(obj)), copy_=True)

        return self._call(create)

    def patch_object(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any],
        *,
        subresource: str | None = None,
    ) -> Obj:
        """Merge-patch an object (or its ``status`` subresource); raises ``ApiError``."""

        def patch_() -> Obj:
            rt = self.store.resolve(group, version, plural)
            result = self.store.patch(rt, namespace, name, MERGE_PATCH, dict(patch), subresource=subresource)
            return self._out(rt, result, copy_=True)

        return self._call(patch_)

    def delete_object(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str | None,
        name: str,
        *,
        propagation_policy: str | None = None,
    ) -> Obj:
        options = {"propagationPolicy": propagation_policy} if propagation_policy else None

        def delete() -> Obj:
            rt = self.store.resolve(group, version, plural)
            return self._out(rt, self.store.delete(rt, namespace, name, options)[0], copy_=True)

        return self._call(delete)

    def reset(self) -> None:
        """Delete every object except CRDs and the built-in namespaces (finalizers ignored)."""
        self._call(self.store.reset)

    @property
    def history_length(self) -> int:
        """Watch events held for resuming watches (never more than ``history_limit``)."""
        return self.store.history_length
