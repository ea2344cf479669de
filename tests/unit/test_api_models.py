"""The pydantic models: examples parse, invalid specs are rejected naming the field, helpers behave."""

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from judge0_operator.api import Judge0Fleet, RecoveryPolicy
from judge0_operator.api.common import resolve_int_or_percent

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def _docs(kind):
    for path in EXAMPLES:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == kind:
                yield path.name, doc


@pytest.mark.parametrize("name,doc", list(_docs("Judge0Fleet")))
def test_example_fleets_parse(name, doc):
    fleet = Judge0Fleet.model_validate(doc)
    assert fleet.spec.instance.subnets


@pytest.mark.parametrize("name,doc", list(_docs("RecoveryPolicy")))
def test_example_policies_parse(name, doc):
    policy = RecoveryPolicy.model_validate(doc)
    assert policy.spec.remediation.ladder


def test_there_are_examples_of_each_kind():
    assert len(list(_docs("Judge0Fleet"))) >= 3
    assert len(list(_docs("RecoveryPolicy"))) >= 2


BASE_SPEC = {
    "region": "eu-west-1",
    "instance": {
        "imageId": "ami-0123456789abcdef0",
        "instanceType": "c6i.large",
        "subnets": ["subnet-0aaaaaaaaaaaaaaa1"],
    },
}


def _with(path: str, value):
    spec = yaml.safe_load(yaml.safe_dump(BASE_SPEC))
    node = spec
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    if value is _DELETE:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value
    return spec


_DELETE = object()

INVALID_FLEETS = [
    ("replicas", _with("replicas", -1)),
    ("replicas", _with("replicas", "three")),
    ("deletion_policy", _with("deletionPolicy", "Orphan")),
    ("market", _with("instance.market", "Reserved")),
    ("subnets", _with("instance.subnets", [])),
    ("subnets", _with("instance.subnets", ["sub-123"])),
    ("image_id", _with("instance.imageId", "ubuntu")),
    ("launchTemplate", _with("instance.launchTemplate", {"id": "lt-0123456789abcdef0"})),
    ("imageId or launchTemplate", _with("instance.imageId", _DELETE)),
    ("max_surge", _with("rollout.maxSurge", "150%")),
    ("max_unavailable", _with("rollout.maxUnavailable", "abc")),
    ("minReplicas", _with("scaling", {"minReplicas": 5, "maxReplicas": 2})),
    ("replicas", _with("scaling", {"minReplicas": 2, "maxReplicas": 4})),  # replicas 1 < min 2
    ("endpoint_template", _with("judge0.endpointTemplate", "ftp://x")),
    ("unknwonField", _with("unknwonField", 1)),
]


@pytest.mark.parametrize("field,spec", INVALID_FLEETS, ids=[f for f, _ in INVALID_FLEETS])
def test_invalid_fleet_specs_are_rejected_naming_the_field(field, spec):
    with pytest.raises(ValidationError) as info:
        Judge0Fleet.model_validate({"spec": spec})
    text = str(info.value)
    assert any(part in text for part in (field, field.replace("_", ""), _camel(field))), text


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def test_valid_base_spec_gets_defaults():
    fleet = Judge0Fleet.model_validate({"spec": BASE_SPEC})
    assert fleet.spec.replicas == 1
    assert fleet.spec.deletion_policy == "Delete"
    assert fleet.spec.instance.market == "OnDemand"
    assert fleet.spec.judge0.endpoint_template == "http://{private_ip}:2358"


def test_policy_defaults_are_the_documented_ladder():
    policy = RecoveryPolicy.model_validate({"spec": {}})
    ladder = [(r.action, r.attempts) for r in policy.spec.remediation.ladder]
    assert ladder == [("RestartJudge0", 2), ("RebootInstance", 1), ("ReplaceInstance", 1)]
    assert policy.spec.startup_grace_seconds == 600
    assert policy.spec.probes.canary.language_id == 71


@pytest.mark.parametrize(
    "bad",
    [
        {"remediation": {"ladder": []}},
        {"remediation": {"ladder": [{"action": "Pray"}]}},
        {"remediation": {"backoff": {"initialSeconds": 100, "maxSeconds": 10}}},
        {"safety": {"maxUnhealthy": "40"}},
        {"safety": {"zoneOutageThreshold": 0}},
        {"mode": "Audit"},
    ],
)
def test_invalid_policies_are_rejected(bad):
    with pytest.raises(ValidationError):
        RecoveryPolicy.model_validate({"spec": bad})


@pytest.mark.parametrize(
    "value,total,round_up,expected",
    [
        (2, 10, False, 2),
        ("25%", 10, True, 3),
        ("25%", 10, False, 2),
        ("100%", 7, False, 7),
        ("0%", 5, True, 0),
        ("40%", 3, False, 1),
        ("10%", 3, True, 1),
    ],
)
def test_resolve_int_or_percent(value, total, round_up, expected):
    assert resolve_int_or_percent(value, total, round_up=round_up) == expected
