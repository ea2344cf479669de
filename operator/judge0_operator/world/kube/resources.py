"""The resource kinds the emulated API server knows, and its discovery documents.

Built-in kinds are the few a Kopf operator touches (namespaces, secrets, configmaps, events,
pods, leases, CRDs) and the Services and EndpointSlices a fleet is published with; every served
version of a registered CRD adds one more, with its short names, categories and
``status``/``scale`` subresources.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from judge0_operator.world.kube.validation.validator import CustomResourceValidator

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = ("get", "patch", "update")


@dataclass
class ResourceType:
    """One (group, version, plural) the server serves."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    list_kind: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status: bool = False  # has a ``/status`` subresource
    scale: Mapping[str, str] | None = None  # the CRD's ``subresources.scale`` paths
    custom: bool = (
        False  # a custom resource: generation tracking, schema validation, PUT needs a resourceVersion
    )
    validator: CustomResourceValidator | None = field(default=None, repr=False)
    selectable_fields: tuple[str, ...] = ()
    printer_columns: tuple[Mapping[str, Any], ...] = ()  # the CRD's additionalPrinterColumns (kubectl tables)
    crd_name: str | None = None

    def __post_init__(self) -> None:
        self.singular = self.singular or self.kind.lower()
        self.list_kind = self.list_kind or f"{self.kind}List"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> tuple[str, str]:
        """Objects are shared by all versions of one group/plural (no conversion: same fields)."""
        return (self.group, self.plural)

    @property
    def qualified_resource(self) -> str:
        """``judge0fleets.judge0.dev`` or ``configmaps``: how error messages name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def discovery_entries(self) -> list[dict[str, Any]]:
        entry: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(ALL_VERBS),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if self.categories:
            entry["categories"] = list(self.categories)
        entries = [entry]
        if self.status:
            entries.append(
                {
                    "name": f"{self.plural}/status",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": list(SUBRESOURCE_VERBS),
                }
            )
        if self.scale is not None:
            entries.append(
                {
                    "name": f"{self.plural}/scale",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": list(SUBRESOURCE_VERBS),
                }
            )
        return entries


BUILTIN_TYPES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "Namespace", False, short_names=("ns",), status=True),
    ResourceType("", "v1", "secrets", "Secret", True),
    ResourceType("", "v1", "configmaps", "ConfigMap", True, short_names=("cm",)),
    ResourceType("", "v1", "events", "Event", True, short_names=("ev",)),
    ResourceType("", "v1", "pods", "Pod", True, short_names=("po",), categories=("all",), status=True),
    ResourceType("", "v1", "services", "Service", True, short_names=("svc",), categories=("all",), status=True),
    ResourceType("events.k8s.io", "v1", "events", "Event", True, short_names=("ev",)),
    ResourceType("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        short_names=("crd", "crds"),
        categories=("api-extensions",),
        status=True,
    ),
)


def _peering_crd(plural: str, kind: str, scope: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.kopf.dev"},
        "spec": {
            "group": "kopf.dev",
            "scope": scope,
            "names": {"plural": plural, "singular": plural[:-1], "kind": kind},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                            "properties": {
                                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                            },
                        }
                    },
                }
            ],
        },
    }


#: Kopf's peering CRDs (``kopf.dev/v1``), installed in every emulated cluster as in Kopf's docs.
KOPF_PEERING_CRDS: tuple[dict[str, Any], ...] = (
    _peering_crd("clusterkopfpeerings", "ClusterKopfPeering", "Cluster"),
    _peering_crd("kopfpeerings", "KopfPeering", "Namespaced"),
)


def crd_resource_types(crd: Mapping[str, Any]) -> list[ResourceType]:
    """One ResourceType per served version of the CRD."""
    spec = crd["spec"]
    names = spec["names"]
    validator = CustomResourceValidator(crd)
    types = []
    for ver in spec.get("versions", []):
        if not ver.get("served", True):
            continue
        subresources = ver.get("subresources") or {}
        types.append(
            ResourceType(
                group=spec["group"],
                version=ver["name"],
                plural=names["plural"],
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular", ""),
                list_kind=names.get("listKind", ""),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                status="status" in subresources,
                scale=subresources.get("scale"),
                custom=True,
                validator=validator,
                selectable_fields=tuple(f["jsonPath"].lstrip(".") for f in ver.get("selectableFields") or ()),
                printer_columns=tuple(ver.get("additionalPrinterColumns") or ()),
                crd_name=crd["metadata"]["name"],
            )
        )
    return types


_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Kubernetes' version order as a sort key, preferred first: v2, v1, v1beta1, v1alpha1, then others."""
    m = _VERSION.match(version)
    if not m:
        return (3, 0, 0, version)
    major, stage, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    return ({None: 0, "beta": 1, "alpha": 2}[stage], -major, -minor, version)


def api_group_document(group: str, versions: Iterable[str]) -> dict[str, Any]:
    ordered = sorted(set(versions), key=version_priority)
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in ordered]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": entries,
        "preferredVersion": entries[0],
    }


def api_resource_list(group_version: str, types: Iterable[ResourceType]) -> dict[str, Any]:
    resources = [entry for t in types for entry in t.discovery_entries()]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }
