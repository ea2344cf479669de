"""Wire formats the world speaks itself: EC2 query-protocol XML and SSM JSON, answers and errors.

Shapes follow botocore's service models (``locationName`` members, ``<item>`` list entries) so
botocore parses what the world writes exactly as it parses EC2 and SSM.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree as ET

from aiohttp import web

from judge0_operator.world.aws.timeline import iso

EC2_XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"
SSM_CONTENT_TYPE = "application/x-amz-json-1.1"
_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")


class AwsError(Exception):
    """An error answer in the service's own format (code, message, HTTP status)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class AwsCall:
    """One parsed request: which service and action, and its parameters."""

    service: str  # "ec2", "ssm" or whatever the credential scope names
    action: str
    query: Mapping[str, list[str]]  # EC2 query parameters (flattened names → values)
    payload: Mapping[str, Any]  # JSON body (SSM)

    def first(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def numbered(self, prefix: str) -> list[str]:
        """Values of ``Prefix.1``, ``Prefix.2``, … in order (EC2 list parameters)."""
        found = []
        for key, values in self.query.items():
            rest = key[len(prefix) + 1 :] if key.startswith(prefix + ".") else ""
            if rest.isdigit():
                found.append((int(rest), values[0]))
        return [v for _, v in sorted(found)]

    def filters(self) -> dict[str, list[str]]:
        """EC2 ``Filter.N.Name`` / ``Filter.N.Value.M`` → {name: [values]}."""
        out: dict[str, list[str]] = {}
        n = 1
        while (name := self.first(f"Filter.{n}.Name")) is not None:
            out.setdefault(name, []).extend(self.numbered(f"Filter.{n}.Value"))
            n += 1
        return out


def parse_call(headers: Mapping[str, str], query_string: str, body: bytes) -> AwsCall:
    """Work out service and action from headers and body without consuming the request."""
    target = headers.get("X-Amz-Target", "")
    scope = _SCOPE.search(headers.get("Authorization", ""))
    service = scope.group(1) if scope else ""
    if target:
        prefix, _, action = target.partition(".")
        if prefix == "AmazonSSM":
            service = "ssm"
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = {}
        return AwsCall(service or prefix, action, {}, payload if isinstance(payload, dict) else {})
    query = parse_qs(query_string, keep_blank_values=True)
    content_type = headers.get("Content-Type", "")
    if body and "x-www-form-urlencoded" in content_type:
        for key, values in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items():
            query.setdefault(key, []).extend(values)
    action = (query.get("Action") or [""])[0]
    return AwsCall(service or ("ec2" if action else "unknown"), action, query, {})


def request_id() -> str:
    return str(uuid.uuid4())


def ec2_error(code: str, message: str, status: int = 400) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
        f"<Code>{_esc(code)}</Code><Message>{_esc(message)}</Message>"
        f"</Error></Errors><RequestID>{request_id()}</RequestID></Response>"
    )
    return web.Response(status=status, body=body.encode(), content_type="text/xml", charset="UTF-8")


def ssm_error(code: str, message: str, status: int = 400) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps({"__type": code, "message": message}).encode(),
        headers={"Content-Type": SSM_CONTENT_TYPE, "x-amzn-RequestId": request_id()},
    )


def error_response(service: str, err: AwsError) -> web.Response:
    if service == "ssm":
        return ssm_error(err.code, err.message, err.status)
    return ec2_error(err.code, err.message, err.status)


def ssm_response(payload: Mapping[str, Any]) -> web.Response:
    return web.Response(
        body=json.dumps(payload, default=_json_default).encode(),
        headers={"Content-Type": SSM_CONTENT_TYPE, "x-amzn-RequestId": request_id()},
    )


def ec2_response(action: str, members: Mapping[str, Any]) -> web.Response:
    """``<ActionResponse xmlns=…><requestId/>members…</ActionResponse>``; lists become ``<item>``s."""
    root = ET.Element(f"{action}Response", xmlns=EC2_XMLNS)
    ET.SubElement(root, "requestId").text = request_id()
    for key, value in members.items():
        _to_xml(root, key, value)
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")
    return web.Response(body=body, content_type="text/xml", charset="UTF-8")


def error_code_of(status: int, body: bytes) -> str | None:
    """The error code in an EC2 XML or SSM JSON error body (None for a success)."""
    if status < 400:
        return None
    match = re.search(rb"<Code>([^<]+)</Code>", body)
    if match:
        return match.group(1).decode()
    try:
        code = json.loads(body).get("__type", "")
        return str(code).rsplit("#", 1)[-1] or f"HTTP{status}"
    except (ValueError, AttributeError):
        return f"HTTP{status}"


def _to_xml(parent: ET.Element, key: str, value: Any) -> None:
    if value is None:
        return
    element = ET.SubElement(parent, key)
    if isinstance(value, Mapping):
        for k, v in value.items():
            _to_xml(element, k, v)
    elif isinstance(value, list | tuple):
        for item in value:
            _to_xml(element, "item", item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif isinstance(value, datetime):
        element.text = iso(value)
    else:
        element.text = str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
