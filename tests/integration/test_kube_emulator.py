"""The simulated Kubernetes API server, driven over real HTTP on loopback.

Clients: the official ``kubernetes`` client (through the kubeconfig the emulator writes),
raw aiohttp for what that client hides (status codes, streams), kubectl when installed,
and a real ``kopf run`` subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from judge0_operator.world.kube.server import KubeEmulator

GROUP, VERSION, PLURAL = "test.judge0.dev", "v1", "widgets"

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {
            "plural": PLURAL,
            "singular": "widget",
            "kind": "Widget",
            "shortNames": ["wdg"],
            "categories": ["judge0"],
        },
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "string", "jsonPath": ".spec.size"},
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {
                        "name": "Ready",
                        "type": "string",
                        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
                    },
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
                "subresources": {
                    "status": {},
                    "scale": {
                        "specReplicasPath": ".spec.replicas",
                        "statusReplicasPath": ".status.replicas",
                        "labelSelectorPath": ".status.selector",
                    },
                },
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.minReplicas <= self.replicas",
                                        "message": "replicas below minReplicas",
                                        "fieldPath": ".replicas",
                                    },
                                ],
                                "properties": {
                                    "size": {"type": "string", "enum": ["small", "large"]},
                                    "replicas": {"type": "integer", "minimum": 0, "default": 1},
                                    "minReplicas": {"type": "integer", "minimum": 0, "default": 0},
                                    "zones": {
                                        "type": "array",
                                        "items": {"type": "string", "pattern": "^zone-[a-z]$"},
                                    },
                                },
                            },
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


def widget(name: str, **spec: Any) -> dict[str, Any]:
    labels = spec.pop("labels", None)
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "metadata": meta,
        "spec": {"size": "small", **spec},
    }


@pytest.fixture
def emulator() -> Iterator[KubeEmulator]:
    emu = KubeEmulator([WIDGET_CRD])
    emu.start_in_thread()
    yield emu
    emu.stop_in_thread()


@pytest.fixture
def api_client(emulator: KubeEmulator, tmp_path: Path) -> Iterator[client.ApiClient]:
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    api = config.new_client_from_config(config_file=str(kubeconfig))
    yield api
    api.close()


@pytest.fixture
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


def create_widget(
    custom: client.CustomObjectsApi, name: str, namespace: str = "default", **spec: Any
) -> dict:
    return custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, widget(name, **spec))


def get_widget(custom: client.CustomObjectsApi, name: str) -> dict:
    return custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, name)


def status_body(exc: ApiException) -> dict[str, Any]:
    return json.loads(exc.body)


def widgets_url(emulator: KubeEmulator, namespace: str = "default") -> str:
    return f"{emulator.url}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"


# ----------------------------------------------------------------------------- metadata


def test_create_answers_201_with_server_side_metadata_and_defaults(custom: client.CustomObjectsApi) -> None:
    data, code, _ = custom.create_namespaced_custom_object_with_http_info(
        GROUP, VERSION, "default", PLURAL, widget("w1")
    )
    assert code == 201
    meta = data["metadata"]
    uuid.UUID(meta["uid"])
    assert meta["resourceVersion"].isdigit()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert meta["generation"] == 1
    stored = get_widget(custom, "w1")
    assert stored["spec"] == {"size": "small", "replicas": 1, "minReplicas": 0}  # defaults visible on read
    assert stored["metadata"]["uid"] == meta["uid"]


def test_uids_are_distinct_and_resource_version_is_a_global_counter(
    custom: client.CustomObjectsApi, core: client.CoreV1Api
) -> None:
    a = create_widget(custom, "a")
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}, "data": {"k": "v"}})
    b = create_widget(custom, "b")
    rvs = [
        int(a["metadata"]["resourceVersion"]),
        int(cm.metadata.resource_version),
        int(b["metadata"]["resourceVersion"]),
    ]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3
    assert a["metadata"]["uid"] != b["metadata"]["uid"]
    patched = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "a", {"spec": {"replicas": 2}}
    )
    assert int(patched["metadata"]["resourceVersion"]) > rvs[-1]
    same = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "a", {"spec": {"replicas": 2}}
    )
    assert (
        same["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]
    )  # no-op: no new version


def test_generation_moves_only_on_spec_changes(custom: client.CustomObjectsApi) -> None:
    create_widget(custom, "g")
    labelled = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "g", {"metadata": {"labels": {"x": "y"}}}
    )
    assert labelled["metadata"]["generation"] == 1
    status = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, "g", {"status": {"phase": "Ready"}}
    )
    assert status["metadata"]["generation"] == 1
    changed = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "g", {"spec": {"size": "large"}}
    )
    assert changed["metadata"]["generation"] == 2


def test_stale_put_is_409_conflict(custom: client.CustomObjectsApi) -> None:
    create_widget(custom, "p")
    first = get_widget(custom, "p")
    first["spec"]["size"] = "large"
    custom.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "p", first)
    first["spec"]["replicas"] = 3  # still carries the old resourceVersion
    with pytest.raises(ApiException) as err:
        custom.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "p", first)
    assert err.value.status == 409
    assert status_body(err.value)["reason"] == "Conflict"
    assert get_widget(custom, "p")["spec"]["replicas"] == 1


def test_put_of_a_custom_resource_without_resource_version_is_422(custom: client.CustomObjectsApi) -> None:
    create_widget(custom, "nv")
    body = widget("nv", replicas=2)
    with pytest.raises(ApiException) as err:
        custom.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "nv", body)
    assert err.value.status == 422


def test_create_of_an_existing_name_is_409_already_exists(custom: client.CustomObjectsApi) -> None:
    create_widget(custom, "dup")
    with pytest.raises(ApiException) as err:
        create_widget(custom, "dup")
    assert err.value.status == 409
    assert status_body(err.value)["reason"] == "AlreadyExists"


def test_generate_name_gives_distinct_names(core: client.CoreV1Api) -> None:
    names = {
        core.create_namespaced_event(
            "default",
            {"metadata": {"generateName": "kopf-event-"}, "involvedObject": {"name": "x"}, "message": "m"},
        ).metadata.name
        for _ in range(20)
    }
    assert len(names) == 20
    assert all(n.startswith("kopf-event-") and len(n) == len("kopf-event-") + 5 for n in names)


# ----------------------------------------------------------------------------- patches and validation


async def test_failed_json_patch_test_op_is_422(emulator: KubeEmulator) -> None:
    emulator.create_object(widget("jp"))
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "999999"},
        {"op": "add", "path": "/metadata/finalizers", "value": ["f"]},
    ]
    async with aiohttp.ClientSession() as session:
        async with session.patch(
            f"{widgets_url(emulator)}/jp",
            data=json.dumps(ops),
            headers={"Content-Type": "application/json-patch+json"},
        ) as rsp:
            assert rsp.status == 422
            assert (await rsp.json())["kind"] == "Status"
        current = emulator.get_object(GROUP, VERSION, PLURAL, "default", "jp")
        assert current is not None
        ops[0]["value"] = current["metadata"]["resourceVersion"]
        async with session.patch(
            f"{widgets_url(emulator)}/jp",
            data=json.dumps(ops),
            headers={"Content-Type": "application/json-patch+json"},
        ) as rsp:
            assert rsp.status == 200
            assert (await rsp.json())["metadata"]["finalizers"] == ["f"]


def test_schema_violations_are_422_with_field_paths(custom: client.CustomObjectsApi) -> None:
    bad = widget("bad", replicas=-1, zones=["zone-a", "eu-1"])
    bad["spec"]["size"] = "huge"
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, bad)
    assert err.value.status == 422
    status = status_body(err.value)
    assert status["reason"] == "Invalid"
    fields = {c["field"] for c in status["details"]["causes"]}
    assert {"spec.replicas", "spec.size", "spec.zones[1]"} <= fields
    assert status["message"].startswith('Widget.test.judge0.dev "bad" is invalid: [')
    assert (
        "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"
        in (status["message"])
    )
    with pytest.raises(ApiException):
        get_widget(custom, "bad")


def test_cel_rule_rejects_with_its_message_on_create_and_patch(custom: client.CustomObjectsApi) -> None:
    with pytest.raises(ApiException) as err:
        create_widget(custom, "cel", replicas=1, minReplicas=3)
    causes = status_body(err.value)["details"]["causes"]
    assert causes == [
        {
            "reason": "FieldValueInvalid",
            "field": "spec.replicas",
            "message": 'Invalid value: "object": replicas below minReplicas',
        }
    ]
    create_widget(custom, "cel", replicas=2, minReplicas=1)
    with pytest.raises(ApiException) as err:
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, "cel", {"spec": {"replicas": 0}}
        )
    assert err.value.status == 422


async def test_unknown_fields_are_pruned_with_a_warning_or_rejected_when_strict(
    emulator: KubeEmulator,
) -> None:
    body = widget("pr")
    body["spec"]["colour"] = "red"
    async with aiohttp.ClientSession() as session:
        async with session.post(widgets_url(emulator), json=body) as rsp:
            assert rsp.status == 201
            assert "colour" not in (await rsp.json())["spec"]
            assert 'unknown field \\"spec.colour\\"' in rsp.headers.get("Warning", "")
        body["metadata"]["name"] = "pr2"
        async with session.post(
            widgets_url(emulator), json=body, params={"fieldValidation": "Strict"}
        ) as rsp:
            assert rsp.status == 400
    assert emulator.get_object(GROUP, VERSION, PLURAL, "default", "pr2") is None


async def test_dry_run_validates_without_storing(emulator: KubeEmulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(widgets_url(emulator), json=widget("dry"), params={"dryRun": "All"}) as rsp:
            assert rsp.status == 201
            assert (await rsp.json())["spec"]["replicas"] == 1
        async with session.post(
            widgets_url(emulator), json=widget("dry", replicas=-5), params={"dryRun": "All"}
        ) as rsp:
            assert rsp.status == 422
    assert emulator.get_object(GROUP, VERSION, PLURAL, "default", "dry") is None


async def test_strategic_merge_patch_is_applied_as_a_merge_patch(emulator: KubeEmulator) -> None:
    emulator.create_object(widget("smp", zones=["zone-a", "zone-b"]))
    async with aiohttp.ClientSession() as session:
        async with session.patch(
            f"{widgets_url(emulator)}/smp",
            data=json.dumps({"spec": {"zones": ["zone-c"]}}),
            headers={"Content-Type": "application/strategic-merge-patch+json"},
        ) as rsp:
            assert rsp.status == 200
            assert (await rsp.json())["spec"]["zones"] == ["zone-c"]
        async with session.patch(
            f"{widgets_url(emulator)}/smp", data="{}", headers={"Content-Type": "text/plain"}
        ) as rsp:
            assert rsp.status == 415


# ----------------------------------------------------------------------------- finalizers, status, scale


def test_finalizers_keep_the_object_until_they_are_removed(custom: client.CustomObjectsApi) -> None:
    body = widget("fin")
    body["metadata"]["finalizers"] = ["test.judge0.dev/cleanup"]
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
    deleted = custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "fin")
    assert deleted["metadata"]["deletionTimestamp"]
    still = get_widget(custom, "fin")
    assert still["metadata"]["deletionTimestamp"] == deleted["metadata"]["deletionTimestamp"]
    with pytest.raises(ApiException) as err:  # no new finalizers on an object being deleted
        custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            "default",
            PLURAL,
            "fin",
            {"metadata": {"finalizers": ["test.judge0.dev/cleanup", "another"]}},
        )
    assert err.value.status == 422
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "fin", {"metadata": {"finalizers": None}}
    )
    with pytest.raises(ApiException) as err:
        get_widget(custom, "fin")
    assert err.value.status == 404


def test_status_subresource_is_isolated_from_the_main_resource(custom: client.CustomObjectsApi) -> None:
    created = custom.create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, {**widget("st"), "status": {"phase": "Injected"}}
    )
    assert "status" not in created  # status cannot be set on create
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "st", {"status": {"phase": "Main"}}
    )
    assert "status" not in get_widget(custom, "st")
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, "st", {"status": {"phase": "Ready"}, "spec": {"size": "large"}}
    )
    stored = get_widget(custom, "st")
    assert stored["status"] == {"phase": "Ready"}
    assert stored["spec"]["size"] == "small"
    assert stored["metadata"]["generation"] == 1


def test_scale_subresource_reads_and_writes_the_declared_paths(custom: client.CustomObjectsApi) -> None:
    create_widget(custom, "sc", replicas=2)
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, "sc", {"status": {"replicas": 1, "selector": "app=sc"}}
    )
    scale = custom.get_namespaced_custom_object_scale(GROUP, VERSION, "default", PLURAL, "sc")
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 1, "selector": "app=sc"}
    patched = custom.patch_namespaced_custom_object_scale(
        GROUP, VERSION, "default", PLURAL, "sc", {"spec": {"replicas": 5}}
    )
    assert patched["spec"]["replicas"] == 5
    stored = get_widget(custom, "sc")
    assert stored["spec"]["replicas"] == 5
    assert stored["metadata"]["generation"] == 2
    with pytest.raises(ApiException) as err:
        custom.patch_namespaced_custom_object_scale(
            GROUP, VERSION, "default", PLURAL, "sc", {"spec": {"replicas": -2}}
        )
    assert err.value.status == 422


# ----------------------------------------------------------------------------- lists


def test_label_and_field_selectors_on_list(custom: client.CustomObjectsApi) -> None:
    create_widget(custom, "l1", labels={"tier": "web", "env": "prod"})
    create_widget(custom, "l2", labels={"tier": "db", "env": "prod"})
    create_widget(custom, "l3", labels={"tier": "web"})

    def names(**kwargs: Any) -> list[str]:
        items = custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, **kwargs)["items"]
        return [i["metadata"]["name"] for i in items]

    assert names() == ["l1", "l2", "l3"]
    assert names(label_selector="tier=web") == ["l1", "l3"]
    assert names(label_selector="tier=web,env=prod") == ["l1"]
    assert names(label_selector="tier!=web") == ["l2"]
    assert names(label_selector="tier in (db, cache)") == ["l2"]
    assert names(label_selector="tier notin (db)") == ["l1", "l3"]
    assert names(label_selector="env") == ["l1", "l2"]
    assert names(label_selector="!env") == ["l3"]
    assert names(field_selector="metadata.name=l2") == ["l2"]
    assert names(field_selector="metadata.name!=l2") == ["l1", "l3"]
    with pytest.raises(ApiException) as err:
        names(field_selector="spec.size=small")  # not a selectable field of this CRD
    assert err.value.status == 400


def test_limit_and_continue_page_through_a_list(custom: client.CustomObjectsApi) -> None:
    for i in range(5):
        create_widget(custom, f"page-{i}")
    first = custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, limit=2)
    assert [i["metadata"]["name"] for i in first["items"]] == ["page-0", "page-1"]
    assert first["metadata"]["remainingItemCount"] == 3
    seen = [i["metadata"]["name"] for i in first["items"]]
    token = first["metadata"]["continue"]
    while token:
        page = custom.list_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, limit=2, _continue=token
        )
        seen += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
    assert seen == [f"page-{i}" for i in range(5)]


def test_delete_collection_honours_the_label_selector(custom: client.CustomObjectsApi) -> None:
    create_widget(custom, "d1", labels={"batch": "x"})
    create_widget(custom, "d2", labels={"batch": "x"})
    create_widget(custom, "d3", labels={"batch": "y"})
    custom.delete_collection_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, label_selector="batch=x"
    )
    left = custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)["items"]
    assert [i["metadata"]["name"] for i in left] == ["d3"]


def test_namespaces_are_listed_created_and_deleted_with_their_contents(
    core: client.CoreV1Api, custom: client.CustomObjectsApi
) -> None:
    assert {"default", "kube-system"} <= {n.metadata.name for n in core.list_namespace().items}
    core.create_namespace({"metadata": {"name": "team-a"}})
    create_widget(custom, "in-a", namespace="team-a")
    core.create_namespaced_secret("team-a", {"metadata": {"name": "s"}, "stringData": {"token": "abc"}})
    assert core.read_namespaced_secret("s", "team-a").data == {"token": "YWJj"}
    core.delete_namespace("team-a")
    with pytest.raises(ApiException) as err:
        core.read_namespace("team-a")
    assert err.value.status == 404
    assert custom.list_namespaced_custom_object(GROUP, VERSION, "team-a", PLURAL)["items"] == []


# ----------------------------------------------------------------------------- watch


async def read_events(url: str, params: dict[str, str], until: int, timeout: float = 5.0) -> list[dict]:
    """Read up to ``until`` events from a watch stream (or until it ends)."""
    events: list[dict] = []
    async with aiohttp.ClientSession() as session, session.get(url, params=params) as rsp:
        assert rsp.status == 200
        async with asyncio.timeout(timeout):
            async for line in rsp.content:
                if line.strip():
                    events.append(json.loads(line))
                if len(events) >= until:
                    break
    return events


async def test_watch_without_resource_version_starts_with_current_objects(emulator: KubeEmulator) -> None:
    emulator.create_object(widget("w-a"))
    emulator.create_object(widget("w-b"))
    task = asyncio.create_task(read_events(widgets_url(emulator), {"watch": "true"}, until=3))
    await asyncio.sleep(0.2)
    emulator.patch_object(GROUP, VERSION, PLURAL, "default", "w-a", {"spec": {"replicas": 4}})
    events = await task
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "w-a"),
        ("ADDED", "w-b"),
        ("MODIFIED", "w-a"),
    ]
    assert events[2]["object"]["spec"]["replicas"] == 4


async def test_watch_from_a_resource_version_replays_only_later_events(emulator: KubeEmulator) -> None:
    emulator.create_object(widget("r-a"))
    mark = emulator.create_object(widget("r-b"))["metadata"]["resourceVersion"]
    emulator.patch_object(GROUP, VERSION, PLURAL, "default", "r-a", {"spec": {"replicas": 2}})
    emulator.delete_object(GROUP, VERSION, PLURAL, "default", "r-b")
    events = await read_events(widgets_url(emulator), {"watch": "true", "resourceVersion": mark}, until=2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("MODIFIED", "r-a"),
        ("DELETED", "r-b"),
    ]
    assert all(int(e["object"]["metadata"]["resourceVersion"]) > int(mark) for e in events)


async def test_watch_applies_the_label_selector_to_transitions(emulator: KubeEmulator) -> None:
    params = {"watch": "true", "labelSelector": "team=blue", "resourceVersion": "1"}
    task = asyncio.create_task(read_events(widgets_url(emulator), params, until=3))
    await asyncio.sleep(0.2)
    emulator.create_object(widget("blue", labels={"team": "blue"}))
    emulator.create_object(widget("red", labels={"team": "red"}))
    emulator.patch_object(
        GROUP, VERSION, PLURAL, "default", "red", {"metadata": {"labels": {"team": "blue"}}}
    )
    emulator.patch_object(
        GROUP, VERSION, PLURAL, "default", "blue", {"metadata": {"labels": {"team": "green"}}}
    )
    events = await task
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "blue"),
        ("ADDED", "red"),
        ("DELETED", "blue"),
    ]


def test_watch_with_the_kubernetes_client_and_a_label_selector(
    emulator: KubeEmulator, custom: client.CustomObjectsApi
) -> None:
    create_widget(custom, "kw-1", labels={"pick": "yes"})
    create_widget(custom, "kw-2", labels={"pick": "no"})
    stream = watch.Watch().stream(
        custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        "default",
        PLURAL,
        label_selector="pick=yes",
        timeout_seconds=1,
    )
    seen = [(e["type"], e["object"]["metadata"]["name"]) for e in stream]
    assert seen == [("ADDED", "kw-1")]


async def test_watch_with_send_initial_events_ends_the_initial_list_with_a_bookmark(
    emulator: KubeEmulator,
) -> None:
    emulator.create_object(widget("i-a"))
    emulator.create_object(widget("i-b"))
    params = {
        "watch": "true",
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true",
    }
    events = await read_events(widgets_url(emulator), params, until=3)
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
    assert events[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_watch_ends_at_timeout_with_a_bookmark(emulator: KubeEmulator) -> None:
    emulator.create_object(widget("bm"))
    params = {"watch": "true", "resourceVersion": "1", "timeoutSeconds": "1", "allowWatchBookmarks": "true"}
    started = time.monotonic()
    events = await read_events(widgets_url(emulator), params, until=100)
    assert time.monotonic() - started < 4
    assert events[0]["type"] == "ADDED"
    assert events[-1]["type"] == "BOOKMARK"
    assert events[-1]["object"]["metadata"]["resourceVersion"] == str(emulator.store.resource_version)


def test_watch_from_a_resource_version_older_than_the_history_is_410(tmp_path: Path) -> None:
    emu = KubeEmulator([WIDGET_CRD], history_limit=5)
    emu.start_in_thread()
    try:
        first = emu.create_object(widget("old"))["metadata"]["resourceVersion"]
        for i in range(10):
            emu.patch_object(GROUP, VERSION, PLURAL, "default", "old", {"spec": {"replicas": i + 2}})
        assert emu.history_length == 5
        api = config.new_client_from_config(config_file=str(emu.write_kubeconfig(tmp_path / "kc")))
        custom = client.CustomObjectsApi(api)
        with pytest.raises(ApiException) as err:
            for _ in watch.Watch().stream(
                custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                "default",
                PLURAL,
                resource_version=first,
                timeout_seconds=1,
            ):
                pass
        assert err.value.status == 410
        recent = emu.get_object(GROUP, VERSION, PLURAL, "default", "old")
        assert recent is not None
        resumed = list(
            watch.Watch().stream(
                custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                "default",
                PLURAL,
                resource_version=str(int(recent["metadata"]["resourceVersion"]) - 2),
                timeout_seconds=1,
            )
        )
        assert [e["type"] for e in resumed] == ["MODIFIED", "MODIFIED"]
        api.close()
    finally:
        emu.stop_in_thread()


# ----------------------------------------------------------------------------- discovery and CRDs


async def test_discovery_lists_builtins_peering_and_registered_crds(emulator: KubeEmulator) -> None:
    async with aiohttp.ClientSession() as session:

        async def get(path: str) -> dict:
            async with session.get(emulator.url + path) as rsp:
                assert rsp.status == 200, path
                return await rsp.json()

        assert (await get("/version"))["major"] == "1"
        assert (await get("/api"))["versions"] == ["v1"]
        core = {r["name"] for r in (await get("/api/v1"))["resources"]}
        assert {"namespaces", "secrets", "configmaps", "events", "pods"} <= core
        groups = {g["name"]: g for g in (await get("/apis"))["groups"]}
        assert {"events.k8s.io", "coordination.k8s.io", "apiextensions.k8s.io", "kopf.dev", GROUP} <= set(
            groups
        )
        assert groups[GROUP]["preferredVersion"]["version"] == VERSION
        assert (await get(f"/apis/{GROUP}"))["name"] == GROUP
        peering = {r["name"]: r for r in (await get("/apis/kopf.dev/v1"))["resources"]}
        assert not peering["clusterkopfpeerings"]["namespaced"] and peering["kopfpeerings"]["namespaced"]
        resources = {r["name"]: r for r in (await get(f"/apis/{GROUP}/{VERSION}"))["resources"]}
        main = resources[PLURAL]
        assert main["kind"] == "Widget" and main["shortNames"] == ["wdg"] and main["categories"] == ["judge0"]
        assert {"list", "watch", "patch", "get", "create", "update", "delete", "deletecollection"} <= set(
            main["verbs"]
        )
        assert resources[f"{PLURAL}/status"]["verbs"] == ["get", "patch", "update"]
        assert resources[f"{PLURAL}/scale"]["kind"] == "Scale"
        async with session.get(f"{emulator.url}/apis/nope.dev/v1/things") as rsp:
            assert rsp.status == 404
            assert (await rsp.json())["reason"] == "NotFound"


def test_posting_a_crd_registers_its_resource_and_deleting_removes_it(api_client: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(api_client)
    custom = client.CustomObjectsApi(api_client)
    crd = json.loads(json.dumps(WIDGET_CRD).replace(GROUP, "other.judge0.dev").replace('"wdg"', '"owdg"'))
    crd["spec"]["scope"] = "Cluster"
    with pytest.raises(ApiException) as err:
        custom.list_cluster_custom_object("other.judge0.dev", VERSION, PLURAL)
    assert err.value.status == 404
    created = ext.create_custom_resource_definition(crd)
    assert {c.type for c in created.status.conditions} == {"Established", "NamesAccepted"}
    obj = custom.create_cluster_custom_object(
        "other.judge0.dev", VERSION, PLURAL, {**widget("c1"), "apiVersion": f"other.judge0.dev/{VERSION}"}
    )
    assert "namespace" not in obj["metadata"]
    ext.delete_custom_resource_definition(crd["metadata"]["name"])
    with pytest.raises(ApiException) as err:
        custom.list_cluster_custom_object("other.judge0.dev", VERSION, PLURAL)
    assert err.value.status == 404


def test_a_non_structural_crd_is_rejected_with_422(api_client: client.ApiClient) -> None:
    crd = json.loads(json.dumps(WIDGET_CRD).replace(GROUP, "bad.judge0.dev"))
    del crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["size"][
        "type"
    ]
    with pytest.raises(ApiException) as err:
        client.ApiextensionsV1Api(api_client).create_custom_resource_definition(crd)
    assert err.value.status == 422
    assert "properties[size].type: Required value" in status_body(err.value)["message"]


async def test_tables_for_kubectl_use_the_printer_columns(emulator: KubeEmulator) -> None:
    emulator.create_object(widget("t1", replicas=3))
    emulator.patch_object(
        GROUP,
        VERSION,
        PLURAL,
        "default",
        "t1",
        {
            "status": {
                "conditions": [{"type": "Available", "status": "False"}, {"type": "Ready", "status": "True"}]
            }
        },
        subresource="status",
    )
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    async with aiohttp.ClientSession() as session:
        async with session.get(widgets_url(emulator), headers={"Accept": accept}) as rsp:
            table = await rsp.json()
        async with session.get(widgets_url(emulator)) as rsp:
            plain = await rsp.json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Size", "Replicas", "Ready", "Age"]
    assert table["rows"][0]["cells"][:4] == ["t1", "small", 3, "True"]
    assert re.fullmatch(r"\d+s", table["rows"][0]["cells"][4])
    assert plain["kind"] == "WidgetList"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kubectl_apply_get_and_explain_through_the_written_kubeconfig(
    emulator: KubeEmulator, tmp_path: Path
) -> None:
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=60)

    manifest = tmp_path / "widget.yaml"
    manifest.write_text(yaml.safe_dump(widget("k1", replicas=2)))
    applied = kubectl("apply", "-f", str(manifest))  # default --validate=strict needs the OpenAPI v3
    assert applied.returncode == 0, applied.stderr
    stored = emulator.get_object(GROUP, VERSION, PLURAL, "default", "k1")
    assert stored is not None and stored["spec"]["replicas"] == 2
    table = kubectl("get", "wdg")
    assert table.returncode == 0, table.stderr
    assert table.stdout.split("\n")[0].split() == ["NAME", "SIZE", "REPLICAS", "READY", "AGE"]
    assert table.stdout.split("\n")[1].split()[:3] == ["k1", "small", "2"]
    bad = widget("k2")
    bad["spec"]["colour"] = "red"
    manifest.write_text(yaml.safe_dump(bad))
    rejected = kubectl("apply", "-f", str(manifest))
    assert rejected.returncode != 0 and 'unknown field "spec.colour"' in rejected.stderr
    explained = kubectl("explain", "wdg.spec")
    assert explained.returncode == 0, explained.stderr
    assert "minReplicas" in explained.stdout


# ----------------------------------------------------------------------------- cost


async def test_cost_stays_flat_and_history_stays_bounded() -> None:
    emu = KubeEmulator([WIDGET_CRD], history_limit=300)
    await emu.start()
    try:
        latencies: list[float] = []
        url = f"{emu.url}/api/v1/namespaces/default/configmaps"
        async with aiohttp.ClientSession() as session:
            for i in range(2000):
                started = time.perf_counter()
                if i % 4 == 0:
                    async with session.post(
                        url, json={"metadata": {"name": f"cm-{i}"}, "data": {"i": str(i)}}
                    ) as r:
                        assert r.status == 201
                elif i % 4 == 1:
                    async with session.patch(
                        f"{url}/cm-{i - 1}",
                        json={"data": {"j": "1"}},
                        headers={"Content-Type": "application/merge-patch+json"},
                    ) as r:
                        assert r.status == 200
                elif i % 4 == 2:
                    async with session.get(f"{url}/cm-{i - 2}") as r:
                        assert r.status == 200
                else:
                    async with session.delete(f"{url}/cm-{i - 3}") as r:
                        assert r.status == 200
                latencies.append(time.perf_counter() - started)
                assert emu.history_length <= 300
        first, last = latencies[:200], latencies[-200:]
        print(
            f"\nkube emulator mean latency: first 200 {1000 * sum(first) / 200:.2f} ms, "
            f"last 200 {1000 * sum(last) / 200:.2f} ms"
        )
        assert emu.history_length == 300
        assert emu.store.watcher_count() == 0
    finally:
        await emu.stop()


# ----------------------------------------------------------------------------- Kopf


KOPF_OPERATOR = """
from judge0_operator.world.loopback import install_guard_if_requested

install_guard_if_requested()

import kopf


@kopf.on.create("{group}", "{version}", "{plural}")
def created(body, name, spec, patch, **_):
    kopf.info(body, reason="Seen", message=f"seen {{name}}")
    patch.status["seenBy"] = name
    patch.status["seenSize"] = spec["size"]


@kopf.on.delete("{group}", "{version}", "{plural}")
def deleted(**_):
    pass
"""


def test_kopf_run_handles_objects_against_the_emulator(emulator: KubeEmulator, tmp_path: Path) -> None:
    operator_file = tmp_path / "tiny_operator.py"
    operator_file.write_text(KOPF_OPERATOR.format(group=GROUP, version=VERSION, plural=PLURAL))
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "JUDGE0_OPERATOR_LOOPBACK_ONLY": "1"}
    log_path = tmp_path / "kopf.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kopf",
                "run",
                "--standalone",
                "--all-namespaces",
                "--verbose",
                str(operator_file),
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 30

        def wait_for(predicate: Any, what: str) -> None:
            while time.monotonic() < deadline:
                if predicate():
                    return
                assert proc.poll() is None, f"kopf exited early:\n{log_path.read_text()[-3000:]}"
                time.sleep(0.1)
            pytest.fail(f"timed out waiting for {what}:\n{log_path.read_text()[-3000:]}")

        wait_for(lambda: "Starting the watch-stream for widgets" in log_path.read_text(), "kopf to watch")
        emulator.create_object(widget("alpha"))
        emulator.create_object(widget("beta", size="large"))

        def statuses() -> dict[str, dict]:
            return {
                o["metadata"]["name"]: o for o in emulator.list_objects(GROUP, VERSION, PLURAL, "default")
            }

        wait_for(lambda: all(o.get("status", {}).get("seenBy") for o in statuses().values()), "both statuses")
        objs = statuses()
        assert objs["alpha"]["status"]["seenBy"] == "alpha" and objs["alpha"]["status"]["seenSize"] == "small"
        assert objs["beta"]["status"]["seenBy"] == "beta" and objs["beta"]["status"]["seenSize"] == "large"
        for obj in objs.values():
            assert obj["metadata"]["finalizers"], "Kopf adds its finalizer"
        wait_for(lambda: len(emulator.list_objects("", "v1", "events", "default")) >= 2, "Kopf's Events")
        events = emulator.list_objects("", "v1", "events", "default")
        assert len({e["metadata"]["name"] for e in events}) == len(events)  # generateName'd, no collisions

        emulator.delete_object(GROUP, VERSION, PLURAL, "default", "alpha")
        emulator.delete_object(GROUP, VERSION, PLURAL, "default", "beta")
        wait_for(lambda: not statuses(), "Kopf to remove its finalizers")
        log = log_path.read_text()
        assert "Traceback" not in log
        assert "Removing the finalizer" in log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
