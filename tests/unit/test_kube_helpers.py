"""Pure helpers of the Kubernetes emulator: selectors, table cells, version order, the store."""

from __future__ import annotations

import pytest

from judge0_operator.world.kube.resources import version_priority
from judge0_operator.world.kube.selectors import (
    SelectorError,
    field_predicate,
    parse_field_selector,
    parse_label_selector,
)
from judge0_operator.world.kube.store.errors import ApiError
from judge0_operator.world.kube.store.kube_store import KubeStore
from judge0_operator.world.kube.store.patches import merge_patch
from judge0_operator.world.kube.tables import human_duration, jsonpath

LABELS = {"app": "judge0", "tier": "web", "shard": "3"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=judge0", True),
        ("app==judge0,tier=web", True),
        ("app=judge0,tier=db", False),
        ("tier!=db", True),
        ("tier in (web, api)", True),
        ("tier notin (web)", False),
        ("app", True),
        ("!app", False),
        ("!missing", True),
        ("shard>2", True),
        ("shard<2", False),
        ("missing!=x", True),
    ],
)
def test_label_selectors(selector: str, expected: bool) -> None:
    predicate = parse_label_selector(selector)
    assert predicate is not None
    assert predicate(LABELS) is expected


@pytest.mark.parametrize("bad", ["a b c", "x in (a", "shard>big", "=x"])
def test_unparseable_label_selectors_raise(bad: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(bad)


def test_field_selectors_compare_dotted_paths_as_strings() -> None:
    obj = {"metadata": {"name": "a", "namespace": "ns"}, "status": {"phase": "Running", "ready": True}}
    match = field_predicate(parse_field_selector("metadata.name=a,status.phase!=Pending,status.ready=true"))
    assert match is not None and match(obj)
    miss = field_predicate(parse_field_selector("metadata.namespace==other"))
    assert miss is not None and not miss(obj)


def test_jsonpath_subset() -> None:
    obj = {
        "status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]},
        "spec": {"subnets": ["s1", "s2"], "tags": {"team": "blue"}},
    }
    assert jsonpath(obj, '.status.conditions[?(@.type=="Ready")].status') == ["True"]
    assert jsonpath(obj, ".spec.subnets[1]") == ["s2"]
    assert jsonpath(obj, ".spec.subnets[*]") == ["s1", "s2"]
    assert jsonpath(obj, ".spec.tags['team']") == ["blue"]
    assert jsonpath(obj, ".spec.missing.deeper") == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (7200, "120m"),
        (3 * 3600 + 60, "3h1m"),
        (30 * 3600, "30h"),
        (3 * 86400 + 3600, "3d1h"),
        (40 * 86400, "40d"),
        (3 * 365 * 86400, "3y"),
    ],
)
def test_human_duration_matches_kubectl_ages(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_versions_sort_like_kubernetes() -> None:
    versions = ["v1alpha1", "v1", "v2beta1", "v1beta2", "v2", "foo"]
    assert sorted(versions, key=version_priority) == ["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo"]


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": {"b": 1, "c": 2}, "l": [1, 2], "k": "v"}
    assert merge_patch(target, {"a": {"b": None, "d": 3}, "l": [3], "k": None}) == {
        "a": {"c": 2, "d": 3},
        "l": [3],
    }
    assert target == {"a": {"b": 1, "c": 2}, "l": [1, 2], "k": "v"}


def test_store_history_is_bounded_and_old_resource_versions_expire() -> None:
    store = KubeStore(history_limit=10)
    configmaps = store.resolve("", "v1", "configmaps")
    first = store.create(configmaps, "default", {"metadata": {"name": "a"}, "data": {"n": "0"}})
    for i in range(1, 30):
        store.patch(configmaps, "default", "a", "application/merge-patch+json", {"data": {"n": str(i)}})
    assert store.history_length == 10
    with pytest.raises(ApiError) as err:
        store.watch(configmaps, None, resource_version=first["metadata"]["resourceVersion"])
    assert err.value.code == 410
    recent = str(store.resource_version - 3)
    watcher = store.watch(configmaps, None, resource_version=recent)
    assert [t for t, _ in watcher.initial] == ["MODIFIED"] * 3


def test_strict_namespaces_reject_objects_in_missing_namespaces() -> None:
    store = KubeStore(strict_namespaces=True)
    configmaps = store.resolve("", "v1", "configmaps")
    with pytest.raises(ApiError) as err:
        store.create(configmaps, "nowhere", {"metadata": {"name": "a"}})
    assert err.value.code == 404
    lenient = KubeStore()
    lenient.create(lenient.resolve("", "v1", "configmaps"), "somewhere", {"metadata": {"name": "a"}})
    assert lenient.get(lenient.resolve("", "v1", "namespaces"), None, "somewhere")["status"] == {
        "phase": "Active"
    }


def test_reset_removes_objects_but_keeps_crds_and_builtin_namespaces() -> None:
    store = KubeStore()
    namespaces = store.resolve("", "v1", "namespaces")
    configmaps = store.resolve("", "v1", "configmaps")
    store.create(namespaces, None, {"metadata": {"name": "team"}})
    store.create(configmaps, "team", {"metadata": {"name": "a", "finalizers": ["keep"]}})
    store.create(configmaps, "default", {"metadata": {"name": "b"}})
    watcher = store.watch(configmaps, None, resource_version=str(store.resource_version))
    crds_before = len(
        list(store.objects(store.resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions")))
    )
    store.reset()
    assert list(store.objects(configmaps)) == []
    assert sorted(o["metadata"]["name"] for o in store.objects(namespaces)) == ["default", "kube-system"]
    assert len(
        list(store.objects(store.resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions")))
    ) == (crds_before)
    assert sorted((t, o["metadata"]["name"]) for t, o in watcher.pending) == [
        ("DELETED", "a"),
        ("DELETED", "b"),
    ]
