"""The fleet's user data end to end: what ``spec.instance.userData`` says is what the instances get.

The fleet is ``examples/fleet-node-bootstrap.yaml``, whose userData is deploy/node/judge0-node.yaml,
fitted to the world. Each instance's user data is read back from EC2 (moto, through the world) with
``DescribeInstanceAttribute userData`` and must equal the fleet's text byte for byte; changing it
rolls the fleet onto instances carrying the new text. Over EC2's 16 KB the API server refuses
the fleet with a 422 naming the field.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from e2e_support import E2E, is_ready

from judge0_operator.api.instance import USER_DATA_MAX_BYTES

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fleet-node-bootstrap.yaml"


def example_user_data() -> str:
    for doc in yaml.safe_load_all(EXAMPLE.read_text()):
        if doc and doc.get("kind") == "Judge0Fleet":
            return str(doc["spec"]["instance"]["userData"])
    raise AssertionError(f"no Judge0Fleet in {EXAMPLE}")


def user_data_of(e2e: E2E, instance_id: str) -> str:
    answer = e2e.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    return base64.b64decode(answer["UserData"]["Value"]).decode()


def test_instances_carry_exactly_the_fleets_user_data_and_a_change_rolls_them(e2e: E2E) -> None:
    user_data = example_user_data()
    assert user_data.startswith("#cloud-config\n") and (ROOT / "deploy/node/judge0-node.yaml").read_text() == user_data
    fleet, old_ids = e2e.ready_fleet(replicas=1, instance={"userData": user_data})
    assert [user_data_of(e2e, iid) for iid in old_ids] == [user_data]
    old_hash = fleet["status"]["templateHash"]

    changed = user_data.replace(
        "JUDGE0_TOKEN_SOURCE=ssm:/judge0/auth-token", "JUDGE0_TOKEN_SOURCE=secretsmanager:judge0/auth-token-é"
    )
    assert changed != user_data
    e2e.patch_fleet_spec("fleet", {"instance": {"userData": changed}})

    def rolled(fleet: dict[str, Any]) -> bool:
        status = fleet["status"]
        ids = {row["instanceId"] for row in status.get("instances", [])}
        return is_ready(fleet) and status.get("updatedReplicas") == 1 and len(ids) == 1 and not ids & set(old_ids)

    fleet = e2e.wait_fleet(rolled, timeout=45, what="the user data change rolled onto a new instance")
    assert fleet["status"]["templateHash"] != old_hash
    (new_id,) = [row["instanceId"] for row in fleet["status"]["instances"]]
    assert user_data_of(e2e, new_id) == changed  # non-ASCII too: UTF-8 in, UTF-8 back
    assert [i["id"] for i in e2e.instances()] == [new_id]


def test_user_data_over_ec2s_16_kb_is_refused_with_a_422_naming_the_field(e2e: E2E) -> None:
    manifest = e2e.fleet_manifest("too-big", replicas=1)
    # Two-byte characters: within maxLength (which counts characters), over EC2's 16384 bytes of raw user data.
    text = "#cloud-config\n# " + "é" * 8185
    assert len(text) <= USER_DATA_MAX_BYTES < len(text.encode())
    manifest["spec"]["instance"]["userData"] = text
    with pytest.raises(kubernetes.client.ApiException) as raised:
        e2e.create_raw(manifest)
    assert raised.value.status == 422
    assert "spec.instance.userData" in str(raised.value.body) and "16384 bytes" in str(raised.value.body)
    assert e2e.fleet_or_none("too-big") is None
