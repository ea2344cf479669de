"""moto itself: its server on 127.0.0.1 with the validations the world relies on, its in-process
EC2 backend, and the network every world starts with. moto keeps its state in process-wide
globals, so one process runs one world at a time."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

MOTO_ENV = {
    "MOTO_ENABLE_AMI_VALIDATION": "true",
    "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION": "true",
    "MOTO_ENABLE_KEYPAIR_VALIDATION": "true",
}
ACCOUNT_ID = "123456789012"  # moto's default account: what dummy credentials map to
_MOTO_SETTINGS = ("ENABLE_AMI_VALIDATION", "EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "ENABLE_KEYPAIR_VALIDATION")


class MotoServer:
    """moto's ThreadedMotoServer on 127.0.0.1 with the validations the world relies on (switched
    on while the world runs, and back to what they were when it stops)."""

    def __init__(self) -> None:
        self._server: Any = None
        self._saved: tuple[dict[str, str | None], dict[str, Any]] | None = None
        self.url = ""

    def start(self) -> str:
        from moto import settings
        from moto.server import ThreadedMotoServer

        self._saved = (
            {k: os.environ.get(k) for k in MOTO_ENV},
            {k: getattr(settings, k) for k in _MOTO_SETTINGS},
        )
        os.environ.update(MOTO_ENV)
        for name in _MOTO_SETTINGS:  # read at import: set both, for moto imported earlier
            setattr(settings, name, True)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._saved is not None:
            from moto import settings

            environ, values = self._saved
            for key, value in environ.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            for name, value in values.items():
                setattr(settings, name, value)
            self._saved = None


def ec2_backend(region: str) -> Any:
    """moto's in-process EC2 backend of the world's account and region."""
    from moto.ec2.models import ec2_backends

    return ec2_backends[ACCOUNT_ID][region]


@dataclass(frozen=True)
class Network:
    vpc_id: str
    subnets: dict[str, str]  # zone → subnet id
    security_group_id: str
    image_id: str


def seed_network(client: Any, zones: list[str]) -> Network:
    """A VPC, one /20 subnet per zone (a /24 that runs out answers HTTP 500 in moto), a security
    group for Judge0's port, and the newest x86_64 Ubuntu image in moto's catalogue."""
    vpc_id = client.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    client.create_tags(Resources=[vpc_id], Tags=[{"Key": "Name", "Value": "judge0-world"}])
    subnets = {}
    for index, zone in enumerate(zones):
        subnet = client.create_subnet(
            VpcId=vpc_id, CidrBlock=f"10.20.{index * 16}.0/20", AvailabilityZone=zone
        )
        subnets[zone] = subnet["Subnet"]["SubnetId"]
        client.create_tags(Resources=[subnets[zone]], Tags=[{"Key": "Name", "Value": f"judge0-world-{zone}"}])
    group_id = client.create_security_group(
        GroupName="judge0-world", Description="Judge0 nodes", VpcId=vpc_id
    )["GroupId"]
    client.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 2358, "ToPort": 2358, "IpRanges": [{"CidrIp": "10.20.0.0/16"}]}
        ],
    )
    images = client.describe_images(
        Filters=[{"Name": "name", "Values": ["*ubuntu*"]}, {"Name": "architecture", "Values": ["x86_64"]}]
    )["Images"]
    if not images:
        raise RuntimeError("moto's image catalogue has no x86_64 Ubuntu image")
    image = max(images, key=lambda i: (i.get("CreationDate", ""), i.get("Name", "")))
    return Network(vpc_id, subnets, group_id, image["ImageId"])
