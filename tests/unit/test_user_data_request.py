"""spec.instance.userData on the wire: RunInstances carries it base64-encoded exactly once.

``run_instances_request`` hands botocore the plain text and botocore encodes it; the request is
serialized by a real boto3 EC2 client and caught in its ``before-send`` hook (nothing is sent),
so a double encoding, a lost field or a wrong charset shows here. The launch-template path too:
the fleet's user data overrides the template's. The end-to-end read-back through moto is
tests/e2e/test_e2e_user_data.py.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from judge0_operator.act.aws import run_instances_request
from judge0_operator.api.fleet import Judge0FleetSpec
from judge0_operator.decide.model import Launch

ROOT = Path(__file__).resolve().parents[2]
NODE = (ROOT / "deploy" / "node" / "judge0-node.yaml").read_text()
ACTION = Launch(
    slot="s0",
    attempt=0,
    client_token="uid-s0-0",
    subnet_id="subnet-0aaaaaaaaaaaaaaa1",
    zone="eu-west-1a",
    instance_type="c6i.large",
    market="on-demand",
    reason="ScaleUp",
)
EMPTY_ANSWER = (
    b'<RunInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><instancesSet/></RunInstancesResponse>'
)


def spec(**instance: Any) -> Judge0FleetSpec:
    base = {"subnets": ["subnet-0aaaaaaaaaaaaaaa1"], **instance}
    return Judge0FleetSpec.model_validate({"region": "eu-west-1", "instance": base})


def wire_form(request: dict[str, Any]) -> dict[str, list[str]]:
    """The RunInstances form body botocore would send for ``request``."""
    client = boto3.client(
        "ec2",
        region_name="eu-west-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bodies: list[bytes] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        bodies.append(request.body if isinstance(request.body, bytes) else request.body.encode())
        return AWSResponse(request.url, 200, {}, _Raw(EMPTY_ANSWER))

    client.meta.events.register("before-send.ec2.RunInstances", answer)
    try:
        client.run_instances(**request)
    finally:
        client.close()
    (body,) = bodies
    return parse_qs(body.decode())


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


@pytest.mark.parametrize(
    "instance",
    [
        {"imageId": "ami-0123456789abcdef0", "instanceType": "c6i.large"},
        {"launchTemplate": {"name": "judge0-node", "version": "1"}},
    ],
    ids=["image", "launch-template"],
)
@pytest.mark.parametrize("user_data", [NODE, "#!/bin/sh\necho 'größe: ok'\n"], ids=["node-cloud-config", "utf-8"])
def test_user_data_reaches_run_instances_base64_encoded_once(instance: dict[str, Any], user_data: str) -> None:
    request = run_instances_request(
        spec(**instance, userData=user_data), ACTION, fleet_uid="uid", fleet_ref="ns/f", template_hash="h"
    )
    form = wire_form(request)
    (encoded,) = form["UserData"]
    assert base64.b64decode(encoded, validate=True) == user_data.encode("utf-8")
    assert ("LaunchTemplate.LaunchTemplateName" in form) == ("launchTemplate" in instance)


def test_no_user_data_sends_none() -> None:
    request = run_instances_request(
        spec(imageId="ami-0123456789abcdef0", instanceType="c6i.large"),
        ACTION,
        fleet_uid="uid",
        fleet_ref="ns/f",
        template_hash="h",
    )
    assert "UserData" not in wire_form(request)  # a launch template's own user data stays in effect
