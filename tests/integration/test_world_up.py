"""`judge0-operator world up` as a user runs it: a separate process, driven only over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from fixtures.world import ControlClient, wait_for
from judge0_operator.world.loopback import ENV_FLAG

INFO_KEYS = {
    "aws_endpoint",
    "region",
    "kubeconfig",
    "kube_api",
    "judge0_endpoint_template",
    "control_url",
    "subnets",
    "image_id",
    "security_group_id",
}


@pytest.fixture
def world_up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any]]]:
    info_file = tmp_path / "world.json"
    kubeconfig = tmp_path / "kube" / "config"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "judge0_operator.cli",
            "world",
            "up",
            "--info-file",
            str(info_file),
            "--kubeconfig",
            str(kubeconfig),
            "--speed",
            "20",
            "--seed",
            "7",
            "--manifests",
            str(tmp_path / "manifests.yaml"),
        ],
        env={**os.environ, ENV_FLAG: "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: info_file.exists() or process.poll() is not None, timeout=60, what="the info file")
        assert process.poll() is None, process.communicate()[1].decode()[-3000:]
        yield process, json.loads(info_file.read_text())
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_world_up_serves_aws_judge0_kubernetes_and_control_until_sigterm(world_up, tmp_path):
    process, info = world_up
    info_file = tmp_path / "world.json"
    assert set(info) >= INFO_KEYS
    assert Path(info["kubeconfig"]).is_file()
    assert set(info["subnets"]) == {"us-east-1a", "us-east-1b", "us-east-1c"}
    for url in (
        info["aws_endpoint"],
        info["kube_api"],
        info["control_url"],
        info["judge0_endpoint_template"],
    ):
        assert url.startswith("http://127.0.0.1:")

    ec2 = boto3.client(
        "ec2",
        endpoint_url=info["aws_endpoint"],
        region_name=info["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 2}),
    )
    instance_id = ec2.run_instances(
        ImageId=info["image_id"],
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.small",
        SubnetId=info["subnets"]["us-east-1c"],
    )["Instances"][0]["InstanceId"]
    control = ControlClient(info["control_url"])
    wait_for(lambda: control.instance(instance_id)["serving"], timeout=20, what="the node serving")
    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert described["State"]["Name"] == "running"

    about_url = info["judge0_endpoint_template"].format(instance_id=instance_id) + "/about"
    with urllib.request.urlopen(about_url, timeout=10) as resp:
        assert json.loads(resp.read())["version"] == "1.13.1"

    fault_id = control.fault(instance_id, "api-500")
    assert [f["id"] for f in control.instance(instance_id)["faults"]] == [fault_id]
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(about_url, timeout=10)
    assert excinfo.value.code == 500

    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=info["kubeconfig"]))
    names = [ns.metadata.name for ns in api.list_namespace().items]
    assert "default" in names
    custom = client.CustomObjectsApi(config.new_client_from_config(config_file=info["kubeconfig"]))
    fleets = custom.list_namespaced_custom_object("judge0.dev", "v1alpha1", "default", "judge0fleets")
    assert fleets["items"] == []  # the project's CRDs are served

    # --manifests: a policy and fleet aimed at this world, which its API accepts as they are
    # (no Secret: this world's nodes ask for no token).
    import yaml

    assert info["judge0_auth_token"] is None
    policy, fleet = yaml.safe_load_all((info_file.parent / "manifests.yaml").read_text())
    assert "authSecretRef" not in fleet["spec"]["judge0"]
    assert fleet["spec"]["judge0"]["endpointTemplate"] == info["judge0_endpoint_template"]
    assert sorted(fleet["spec"]["instance"]["subnets"]) == sorted(info["subnets"].values())
    assert fleet["spec"]["recoveryPolicyRef"]["name"] == policy["metadata"]["name"]
    custom.create_namespaced_custom_object("judge0.dev", "v1alpha1", "default", "recoverypolicies", policy)
    created = custom.create_namespaced_custom_object("judge0.dev", "v1alpha1", "default", "judge0fleets", fleet)
    assert created["spec"]["instance"]["imageId"] == info["image_id"]

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    stdout = process.stdout.read().decode() if process.stdout else ""
    assert json.loads(stdout.splitlines()[0]) == info  # the info line on stdout matches the file
