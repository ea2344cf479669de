"""Services (core/v1) and EndpointSlices (discovery.k8s.io/v1): the API server's defaults and checks.

Only what an operator that publishes its own endpoints meets: a Service gets ``type: ClusterIP``,
a ``clusterIP`` from 10.96.0.0/12 (kept on updates; changing it is refused), ``sessionAffinity``,
IP family fields, ``targetPort`` = ``port``, protocol ``TCP`` and ``status.loadBalancer``; its
``spec.ports`` are required (unless ExternalName or headless) and named when there are several.
An EndpointSlice needs ``addressType`` (``IPv4``, ``IPv6``, ``FQDN``; immutable); each endpoint
1 to 100 addresses of that type; at most 1000 endpoints and 100 ports. Nothing routes packets:
the world's client side (``world/clients``) reads the slices to pick a node.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from judge0_operator.world.kube.validation import field_errors
from judge0_operator.world.kube.validation.field_errors import FieldError

if TYPE_CHECKING:
    from judge0_operator.world.kube.resources import ResourceType

ADDRESS_TYPES = ("IPv4", "IPv6", "FQDN")
_SERVICE_NET = ipaddress.ip_network("10.96.0.0/12")


def handles(rt: ResourceType) -> bool:
    return (rt.group, rt.plural) in (("", "services"), ("discovery.k8s.io", "endpointslices"))


def prepare(
    rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None, existing: Iterable[dict[str, Any]]
) -> list[FieldError]:
    """Default and check ``obj`` in place; the field errors (none: it may be stored)."""
    if rt.plural == "services":
        return _service(obj, old, existing)
    return _endpoint_slice(obj, old)


def _port_errors(ports: Any, path: str, *, need_port: bool, need_names: bool) -> list[FieldError]:
    if not isinstance(ports, list):
        return [field_errors.invalid(path, ports, "must be a list")]
    errors = []
    for index, port in enumerate(ports):
        where = f"{path}[{index}]"
        if not isinstance(port, dict):
            errors.append(field_errors.invalid(where, port, "must be an object"))
            continue
        number = port.get("port")
        if number is None and need_port:
            errors.append(field_errors.required(f"{where}.port"))
        elif number is not None and (
            isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 65535
        ):
            errors.append(field_errors.invalid(f"{where}.port", number, "must be between 0 and 65535, inclusive"))
        if port.get("protocol", "TCP") not in ("TCP", "UDP", "SCTP"):
            errors.append(field_errors.not_supported(f"{where}.protocol", port.get("protocol"), ["SCTP", "TCP", "UDP"]))
        if need_names and not port.get("name"):
            errors.append(field_errors.required(f"{where}.name"))
        port.setdefault("protocol", "TCP")
    return errors


def _service(obj: dict[str, Any], old: dict[str, Any] | None, existing: Iterable[dict[str, Any]]) -> list[FieldError]:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return [field_errors.invalid("spec", spec, "must be an object")]
    kind = spec.setdefault("type", "ClusterIP")
    if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        supported = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
        return [field_errors.not_supported("spec.type", kind, supported)]
    errors: list[FieldError] = []
    headless = spec.get("clusterIP") == "None"
    ports = spec.get("ports")
    if kind != "ExternalName" and not headless and not ports:
        errors.append(field_errors.required("spec.ports"))
    elif ports is not None:
        errors += _port_errors(
            ports, "spec.ports", need_port=True, need_names=isinstance(ports, list) and len(ports) > 1
        )
        for port in ports if isinstance(ports, list) else []:
            if isinstance(port, dict) and "port" in port:
                port.setdefault("targetPort", port["port"])
    spec.setdefault("sessionAffinity", "None")
    if kind != "ExternalName":
        old_ip = ((old or {}).get("spec") or {}).get("clusterIP")
        wanted = spec.get("clusterIP")
        if old_ip and wanted and wanted != old_ip:
            errors.append(field_errors.invalid("spec.clusterIP", wanted, "field is immutable"))
        elif old_ip:
            spec["clusterIP"] = old_ip
        elif not wanted:
            spec["clusterIP"] = _allocate(existing)
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        if spec["clusterIP"] != "None":
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    obj.setdefault("status", {"loadBalancer": {}})
    return errors


def _allocate(existing: Iterable[dict[str, Any]]) -> str:
    taken = {((s.get("spec") or {}).get("clusterIP")) for s in existing}
    for host in _SERVICE_NET.hosts():
        ip = str(host)
        if host.packed[-1] >= 10 and ip not in taken:
            return ip
    raise RuntimeError("the service network is full")


def _address_ok(address: Any, address_type: str) -> bool:
    if not isinstance(address, str) or not address:
        return False
    if address_type == "FQDN":
        return len(address) <= 253
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return parsed.version == (4 if address_type == "IPv4" else 6)


def _endpoint_slice(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    address_type = obj.get("addressType")
    if address_type is None:
        return [field_errors.required("addressType")]
    if address_type not in ADDRESS_TYPES:
        return [field_errors.not_supported("addressType", address_type, list(ADDRESS_TYPES))]
    if old is not None and old.get("addressType") != address_type:
        return [field_errors.invalid("addressType", address_type, "field is immutable")]
    errors: list[FieldError] = []
    endpoints = obj.get("endpoints")
    if endpoints is None:
        obj["endpoints"] = endpoints = []
    if not isinstance(endpoints, list):
        return [field_errors.invalid("endpoints", endpoints, "must be a list")]
    if len(endpoints) > 1000:
        errors.append(FieldError("endpoints", "Too many: must have at most 1000 items", "FieldValueTooMany"))
    for index, endpoint in enumerate(endpoints):
        where = f"endpoints[{index}]"
        if not isinstance(endpoint, dict):
            errors.append(field_errors.invalid(where, endpoint, "must be an object"))
            continue
        addresses = endpoint.get("addresses")
        if not isinstance(addresses, list) or not addresses:
            errors.append(field_errors.required(f"{where}.addresses", "must contain at least 1 address"))
            continue
        if len(addresses) > 100:
            errors.append(field_errors.invalid(f"{where}.addresses", len(addresses), "must have at most 100 items"))
        for n, address in enumerate(addresses):
            if not _address_ok(address, address_type):
                errors.append(
                    field_errors.invalid(f"{where}.addresses[{n}]", address, f"must be a valid {address_type} address")
                )
        conditions = endpoint.get("conditions")
        if conditions is not None and not (
            isinstance(conditions, dict) and all(isinstance(v, bool) for v in conditions.values())
        ):
            errors.append(
                field_errors.invalid(f"{where}.conditions", conditions, "ready, serving, terminating are booleans")
            )
    ports = obj.get("ports")
    if ports is not None:
        if isinstance(ports, list) and len(ports) > 100:
            errors.append(field_errors.invalid("ports", len(ports), "must have at most 100 items"))
        errors += _port_errors(ports, "ports", need_port=False, need_names=False)
    return errors
