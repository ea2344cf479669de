"""Manifests checked against the generated CRDs as the API server would: schema, defaults, CEL.

Every example must be accepted; every invalid manifest must be rejected with a message that
names the offending field (the CEL rules are evaluated, not trusted).
"""

from pathlib import Path

import pytest
import yaml

from judge0_operator.api.crds import fleet_crd, policy_crd
from judge0_operator.world.kube.validation.structural import check_structural
from judge0_operator.world.kube.validation.validator import validate_custom_resource

ROOT = Path(__file__).resolve().parents[2]
CRDS = {"Judge0Fleet": fleet_crd(), "RecoveryPolicy": policy_crd()}


def _example_docs():
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") in CRDS:
                yield pytest.param(doc, id=f"{path.name}:{doc['kind']}")


def test_generated_crds_are_structural():
    for kind, crd in CRDS.items():
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        assert check_structural(schema) == [], kind


@pytest.mark.parametrize("doc", list(_example_docs()))
def test_examples_validate_against_the_crd_schema(doc):
    stored, errors = validate_custom_resource(CRDS[doc["kind"]], doc)
    assert errors == []
    assert stored["spec"]  # defaulting kept the spec


def test_defaults_are_written_into_the_stored_object():
    fleet = {
        "apiVersion": "judge0.dev/v1alpha1",
        "kind": "Judge0Fleet",
        "metadata": {"name": "f", "namespace": "d"},
        "spec": {
            "region": "eu-west-1",
            "instance": {
                "imageId": "ami-0123456789abcdef0",
                "instanceType": "c6i.large",
                "subnets": ["subnet-0aaaaaaaaaaaaaaa1"],
            },
        },
    }
    stored, errors = validate_custom_resource(CRDS["Judge0Fleet"], fleet)
    assert errors == []
    spec = stored["spec"]
    assert spec["replicas"] == 1
    assert spec["deletionPolicy"] == "Delete"
    assert spec["instance"]["market"] == "OnDemand"
    assert spec["judge0"]["endpointTemplate"] == "http://{private_ip}:2358"
    assert spec["rollout"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert "launchTemplate" not in spec["instance"]  # an Optional object is not defaulted into existence

    policy = {
        "apiVersion": "judge0.dev/v1alpha1",
        "kind": "RecoveryPolicy",
        "metadata": {"name": "p", "namespace": "d"},
        "spec": {},
    }
    stored, errors = validate_custom_resource(CRDS["RecoveryPolicy"], policy)
    assert errors == []
    assert stored["spec"]["mode"] == "Enforce"
    assert [r["action"] for r in stored["spec"]["remediation"]["ladder"]] == [
        "RestartJudge0",
        "RebootInstance",
        "ReplaceInstance",
    ]
    assert stored["spec"]["probes"]["canary"]["languageId"] == 71
    assert stored["spec"]["safety"]["maxUnhealthy"] == "40%"


def _fleet(**changes):
    spec = {
        "region": "eu-west-1",
        "replicas": 2,
        "instance": {
            "imageId": "ami-0123456789abcdef0",
            "instanceType": "c6i.large",
            "subnets": ["subnet-0aaaaaaaaaaaaaaa1"],
        },
    }
    for path, value in changes.items():
        node = spec
        keys = path.split("__")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    return {
        "apiVersion": "judge0.dev/v1alpha1",
        "kind": "Judge0Fleet",
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": spec,
    }


def _policy(spec):
    return {
        "apiVersion": "judge0.dev/v1alpha1",
        "kind": "RecoveryPolicy",
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": spec,
    }


INVALID = [
    ("spec.replicas", _fleet(replicas=-1)),
    ("spec.replicas", _fleet(replicas="two")),
    ("spec.deletionPolicy", _fleet(deletionPolicy="Orphan")),
    ("spec.region", _fleet(region="Europe")),
    ("spec.instance.market", _fleet(instance__market="Reserved")),
    ("spec.instance.subnets", _fleet(instance__subnets=[])),
    ("spec.instance.subnets[1]", _fleet(instance__subnets=["subnet-0aaaaaaaaaaaaaaa1", "subnet-x"])),
    ("spec.instance.imageId", _fleet(instance__imageId="ubuntu-22.04")),
    ("spec.instance", _fleet(instance__launchTemplate={"name": "judge0"})),  # both imageId and template
    ("spec.instance", _fleet(instance__imageId=None)),  # neither
    (
        "spec.instance.launchTemplate",
        _fleet(instance__imageId=None, instance__launchTemplate={"version": "3"}),
    ),
    ("spec.rollout.maxSurge", _fleet(rollout={"maxSurge": "150%"})),
    ("spec.rollout.maxUnavailable", _fleet(rollout={"maxUnavailable": "25"})),
    ("spec.rollout.maxUnavailable", _fleet(rollout={"maxUnavailable": -1})),
    ("spec.scaling", _fleet(scaling={"minReplicas": 5, "maxReplicas": 2})),
    ("spec", _fleet(replicas=9, scaling={"minReplicas": 1, "maxReplicas": 4})),
    ("spec.judge0.endpointTemplate", _fleet(judge0={"endpointTemplate": "ftp://{private_ip}"})),
    ("spec.instance.securityGroupIds[0]", _fleet(instance__securityGroupIds=["default"])),
    ("spec.remediation.ladder", _policy({"remediation": {"ladder": []}})),
    ("spec.remediation.ladder[0].action", _policy({"remediation": {"ladder": [{"action": "Pray"}]}})),
    (
        "spec.remediation.backoff",
        _policy({"remediation": {"backoff": {"initialSeconds": 60, "maxSeconds": 5}}}),
    ),
    ("spec.safety.maxUnhealthy", _policy({"safety": {"maxUnhealthy": "forty"}})),
    ("spec.safety.zoneOutageThreshold", _policy({"safety": {"zoneOutageThreshold": 101}})),
    ("spec.mode", _policy({"mode": "Audit"})),
    ("spec.probes.api.intervalSeconds", _policy({"probes": {"api": {"intervalSeconds": 0}}})),
]


@pytest.mark.parametrize("field,doc", INVALID, ids=[f"{i}-{f}" for i, (f, _) in enumerate(INVALID)])
def test_invalid_manifests_are_rejected_naming_the_field(field, doc):
    _, errors = validate_custom_resource(CRDS[doc["kind"]], doc)
    assert errors, "accepted an invalid manifest"
    assert any(e.path == field for e in errors), [str(e) for e in errors]
    assert all(str(e).startswith(e.path) for e in errors)


def test_cel_messages_are_human():
    _, errors = validate_custom_resource(
        CRDS["Judge0Fleet"], _fleet(scaling={"minReplicas": 5, "maxReplicas": 2})
    )
    assert any("minReplicas must be <= maxReplicas" in str(e) for e in errors)
    _, errors = validate_custom_resource(CRDS["Judge0Fleet"], _fleet(instance__imageId=None))
    assert any("exactly one of imageId or launchTemplate" in str(e) for e in errors)
