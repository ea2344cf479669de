"""The string formats kube-openapi checks, implemented small (``jsonschema`` would pull in extra
packages for some, and words others differently); non-strings pass, ``type`` reports those.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import re
import uuid
from typing import Any

import jsonschema

FORMAT_CHECKER = jsonschema.FormatChecker(formats=())
_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w))+$|^0$")
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}([0-9A-Fa-f]{2})$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S*$")


def _string_check(name: str) -> Any:
    """Register a string-only format check (non-strings pass: ``type`` reports those)."""

    def decorate(fn: Any) -> Any:
        def check(value: object) -> bool:
            return not isinstance(value, str) or bool(fn(value))

        FORMAT_CHECKER.checks(name)(check)
        return fn

    return decorate


def _parses(fn: Any, value: str) -> bool:
    try:
        fn(value)
    except (ValueError, binascii.Error):
        return False
    return True


@_string_check("date-time")
def _is_datetime(value: str) -> bool:
    return bool(
        re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", value)
    ) and _parses(lambda v: dt.datetime.fromisoformat(v.replace("z", "Z").replace("Z", "+00:00")), value)


FORMAT_CHECKER.checks("datetime")(FORMAT_CHECKER.checkers["date-time"][0])


@_string_check("date")
def _is_date(value: str) -> bool:
    return bool(re.match(r"^\d{4}-\d{2}-\d{2}$", value)) and _parses(dt.date.fromisoformat, value)


@_string_check("byte")
def _is_base64(value: str) -> bool:
    return _parses(lambda v: base64.b64decode(v, validate=True), value)


@_string_check("uuid")
def _is_uuid(value: str) -> bool:
    return _parses(uuid.UUID, value)


@_string_check("ipv4")
def _is_ipv4(value: str) -> bool:
    return _parses(ipaddress.IPv4Address, value)


@_string_check("ipv6")
def _is_ipv6(value: str) -> bool:
    return _parses(ipaddress.IPv6Address, value)


@_string_check("cidr")
def _is_cidr(value: str) -> bool:
    return "/" in value and _parses(lambda v: ipaddress.ip_network(v, strict=False), value)


@_string_check("duration")
def _is_duration(value: str) -> bool:
    return bool(_DURATION.match(value))


@_string_check("mac")
def _is_mac(value: str) -> bool:
    return bool(_MAC.match(value))


@_string_check("hostname")
def _is_hostname(value: str) -> bool:
    return bool(_HOSTNAME.match(value))


@_string_check("email")
def _is_email(value: str) -> bool:
    return bool(_EMAIL.match(value))


@_string_check("uri")
def _is_uri(value: str) -> bool:
    return bool(_URI.match(value))
