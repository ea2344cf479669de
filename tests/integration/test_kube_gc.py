"""Garbage collection by ownerReferences in the emulated API server, and the Service and
EndpointSlice kinds a fleet is published with — through the official ``kubernetes`` client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from judge0_operator.world.kube.server import KubeEmulator

GROUP, VERSION, PLURAL = "test.judge0.dev", "v1", "owners"
OWNER_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "owner", "kind": "Owner"},
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[KubeEmulator]:
    emu = KubeEmulator([OWNER_CRD])
    emu.start_in_thread()
    yield emu
    emu.stop_in_thread()


@pytest.fixture(scope="module")
def api(emulator: KubeEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[client.ApiClient]:
    kubeconfig = emulator.write_kubeconfig(Path(tmp_path_factory.mktemp("kube")) / "kubeconfig")
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    yield api_client
    api_client.close()


@pytest.fixture
def custom(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def discovery(api: client.ApiClient) -> client.DiscoveryV1Api:
    return client.DiscoveryV1Api(api)


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def owner(custom: client.CustomObjectsApi, finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name("owner")}
    if finalizers:
        meta["finalizers"] = finalizers
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Owner", "metadata": meta}
    return dict(custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body))


def ref(obj: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        **extra,
    }


def config_map(core: client.CoreV1Api, *owners: dict[str, Any], finalizers: list[str] | None = None) -> str:
    meta: dict[str, Any] = {"name": name("cm"), "ownerReferences": list(owners)}
    if finalizers:
        meta["finalizers"] = finalizers
    core.create_namespaced_config_map("default", {"metadata": meta, "data": {"k": "v"}})
    return str(meta["name"])


def exists(core: client.CoreV1Api, cm: str) -> dict[str, Any] | None:
    try:
        return dict(core.api_client.sanitize_for_serialization(core.read_namespaced_config_map(cm, "default")))
    except ApiException as exc:
        assert exc.status == 404
        return None


def delete_owner(custom: client.CustomObjectsApi, obj: dict[str, Any], policy: str | None = None) -> None:
    body = client.V1DeleteOptions(propagation_policy=policy) if policy else None
    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, obj["metadata"]["name"], body=body)


def get_owner(custom: client.CustomObjectsApi, obj: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return dict(custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, obj["metadata"]["name"]))
    except ApiException as exc:
        assert exc.status == 404
        return None


def test_background_deletion_removes_dependents_whose_owners_are_all_gone(custom, core):
    first, second = owner(custom), owner(custom)
    only_first = config_map(core, ref(first))
    both = config_map(core, ref(first), ref(second))
    delete_owner(custom, first)
    assert exists(core, only_first) is None
    survivor = exists(core, both)
    assert survivor is not None
    assert [r["uid"] for r in survivor["metadata"]["ownerReferences"]] == [second["metadata"]["uid"]]
    delete_owner(custom, second)
    assert exists(core, both) is None


def test_dependents_wait_for_an_owner_held_by_a_finalizer(custom, core):
    held = owner(custom, finalizers=["example.com/hold"])
    cm = config_map(core, ref(held))
    delete_owner(custom, held)
    assert exists(core, cm) is not None  # the owner is only Terminating
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, held["metadata"]["name"], {"metadata": {"finalizers": None}}
    )
    assert get_owner(custom, held) is None
    assert exists(core, cm) is None


def test_deletion_cascades_down_a_chain(custom, core):
    top = owner(custom)
    middle_name = config_map(core, ref(top))
    middle = exists(core, middle_name)
    assert middle is not None
    bottom = config_map(
        core, {"apiVersion": "v1", "kind": "ConfigMap", "name": middle_name, "uid": middle["metadata"]["uid"]}
    )
    delete_owner(custom, top)
    assert exists(core, middle_name) is None and exists(core, bottom) is None


def test_foreground_keeps_the_owner_until_blocking_dependents_are_gone(custom, core):
    parent = owner(custom)
    blocking = config_map(core, ref(parent, blockOwnerDeletion=True), finalizers=["example.com/hold"])
    free = config_map(core, ref(parent))
    delete_owner(custom, parent, "Foreground")
    seen = get_owner(custom, parent)
    assert seen is not None and "foregroundDeletion" in seen["metadata"]["finalizers"]
    assert seen["metadata"].get("deletionTimestamp")
    assert exists(core, free) is None
    held = exists(core, blocking)
    assert held is not None and held["metadata"].get("deletionTimestamp")
    core.patch_namespaced_config_map(blocking, "default", {"metadata": {"finalizers": None}})
    assert exists(core, blocking) is None
    assert get_owner(custom, parent) is None


def test_foreground_without_dependents_deletes_at_once(custom):
    lonely = owner(custom)
    delete_owner(custom, lonely, "Foreground")
    assert get_owner(custom, lonely) is None


def test_orphan_keeps_dependents_and_drops_the_reference(custom, core):
    parent = owner(custom)
    cm = config_map(core, ref(parent, controller=True))
    delete_owner(custom, parent, "Orphan")
    assert get_owner(custom, parent) is None
    kept = exists(core, cm)
    assert kept is not None and not kept["metadata"].get("ownerReferences")


def test_a_dependent_of_an_owner_that_does_not_exist_is_collected(custom, core):
    real = owner(custom)
    stale = {**ref(real), "uid": str(uuid.uuid4())}  # same name, another uid: another owner
    assert exists(core, config_map(core, stale)) is None
    unknown_kind = {"apiVersion": "example.com/v1", "kind": "Nothing", "name": "x", "uid": str(uuid.uuid4())}
    assert exists(core, config_map(core, unknown_kind)) is not None  # cannot be resolved: left alone


def test_owner_references_are_validated(custom, core):
    parent = owner(custom)
    for bad in ([{**ref(parent), "uid": ""}], [ref(parent, controller=True), ref(parent, controller=True)]):
        with pytest.raises(ApiException) as invalid:
            core.create_namespaced_config_map("default", {"metadata": {"name": name("cm"), "ownerReferences": bad}})
        assert invalid.value.status == 422


def test_unsupported_propagation_policy_is_refused(custom):
    parent = owner(custom)
    with pytest.raises(ApiException) as refused:
        delete_owner(custom, parent, "Sideways")
    assert refused.value.status == 422


def test_service_and_endpoint_slice_owned_by_a_fleet_go_with_it(custom, core, discovery):
    fleet = owner(custom)
    service = core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": fleet["metadata"]["name"], "ownerReferences": [ref(fleet)]},
            "spec": {"ports": [{"port": 2358, "protocol": "TCP"}]},
        },
    )
    assert service.spec.cluster_ip.startswith("10.") and service.spec.type == "ClusterIP"
    assert service.spec.ports[0].target_port == 2358
    slice_body = {
        "metadata": {
            "name": fleet["metadata"]["name"],
            "labels": {"kubernetes.io/service-name": fleet["metadata"]["name"]},
            "ownerReferences": [ref(fleet)],
        },
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": ["10.20.0.5"], "conditions": {"ready": True, "serving": True, "terminating": False}},
            {"addresses": ["10.20.0.6"], "conditions": {"ready": False, "serving": True, "terminating": True}},
        ],
        "ports": [{"name": "http", "port": 2358, "protocol": "TCP"}],
    }
    created = discovery.create_namespaced_endpoint_slice("default", slice_body)
    assert [e.conditions.ready for e in created.endpoints] == [True, False]
    listed = discovery.list_namespaced_endpoint_slice(
        "default", label_selector=f"kubernetes.io/service-name={fleet['metadata']['name']}"
    )
    assert [s.metadata.name for s in listed.items] == [fleet["metadata"]["name"]]

    delete_owner(custom, fleet)
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_service(fleet["metadata"]["name"], "default")
    assert gone.value.status == 404
    assert (
        discovery.list_namespaced_endpoint_slice(
            "default", label_selector=f"kubernetes.io/service-name={fleet['metadata']['name']}"
        ).items
        == []
    )


def post_raw(emulator: KubeEmulator, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST without the client's own validation (it refuses a slice without addressType itself)."""
    request = urllib.request.Request(
        emulator.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(json.loads(resp.read()))
    except urllib.error.HTTPError as err:
        return err.code, dict(json.loads(err.read()))


def test_endpoint_slices_and_services_are_checked(emulator, core, discovery):
    slices = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
    status, body = post_raw(emulator, slices, {"metadata": {"name": name("s")}, "endpoints": []})
    assert status == 422 and "addressType" in body["message"]
    status, body = post_raw(
        emulator,
        slices,
        {"metadata": {"name": name("s")}, "addressType": "IPv4", "endpoints": [{"addresses": ["not-an-ip"]}]},
    )
    assert status == 422 and "endpoints[0].addresses[0]" in body["message"]
    status, body = post_raw(emulator, "/api/v1/namespaces/default/services", {"metadata": {"name": name("v")}})
    assert status == 422 and "spec.ports" in body["message"]
    good = name("s")
    discovery.create_namespaced_endpoint_slice(
        "default", {"metadata": {"name": good}, "addressType": "IPv4", "endpoints": []}
    )
    with pytest.raises(ApiException) as immutable:
        discovery.patch_namespaced_endpoint_slice(good, "default", {"addressType": "IPv6"})
    assert immutable.value.status == 422
