"""Bad input, property-based: every invalid fleet spec is refused with 422 naming the field, and
no spec the API server accepts can crash a pass.

Manifests go through the emulated API server's store with the project's generated CRDs
(in-process; the same validation, defaulting and CEL rules ``kubectl apply`` meets), then —
when accepted — through what a pass does with them: the operator's model, and the planner with
an observation that includes semantic trouble (subnets the region does not know, instances in
every state, some without tags).
"""

from __future__ import annotations

import copy
import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from judge0_operator.api.common import PERCENT_PATTERN
from judge0_operator.api.fleet import REGION_PATTERN, Judge0Fleet
from judge0_operator.api.fleet_status import Judge0FleetStatus
from judge0_operator.api.instance import AMI_PATTERN, INSTANCE_TYPE_PATTERN, SUBNET_PATTERN
from judge0_operator.api.judge0 import ENDPOINT_PATTERN
from judge0_operator.api.policy import RecoveryPolicySpec
from judge0_operator.decide.model import (
    TAG_ATTEMPT,
    TAG_FLEET_UID,
    TAG_SLOT,
    Ec2Health,
    Ec2Instance,
    FleetObservation,
    InstanceObservation,
)
from judge0_operator.decide.plan import plan
from judge0_operator.world.config import load_crds
from judge0_operator.world.kube.server import KubeEmulator
from judge0_operator.world.kube.store.errors import ApiError

UID = "0b7c5a3e-1111-4222-8333-944445555666"
NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
KNOWN_SUBNETS = {"subnet-0aaaaaaaaaaaaaaa1": "us-east-1a", "subnet-0bbbbbbbbbbbbbbb2": "us-east-1b"}
FOREIGN_SUBNET = "subnet-0fffffffffffffff9"  # exists in another region: the observer never finds it
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=24)


@pytest.fixture(scope="module")
def api() -> KubeEmulator:
    return KubeEmulator(load_crds())  # not served: its store, in-process


def base() -> dict[str, Any]:
    return {
        "apiVersion": "judge0.dev/v1alpha1",
        "kind": "Judge0Fleet",
        "metadata": {"name": "f", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "region": "us-east-1",
            "recoveryPolicyRef": {"name": "p"},
            "instance": {
                "imageId": "ami-0123456789abcdef0",
                "instanceType": "t3.small",
                "subnets": list(KNOWN_SUBNETS),
                "securityGroupIds": ["sg-0123456789abcdef0"],
            },
            "judge0": {"endpointTemplate": "http://{private_ip}:2358"},
        },
    }


def put(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set ``spec.a.b`` / ``spec.a[0]`` in ``doc``."""
    node: Any = doc
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    for part, following in itertools.pairwise(parts):
        node = (
            node[int(part[1:-1])]
            if part.startswith("[")
            else node.setdefault(part, {} if not following.startswith("[") else [None])
        )
    last = parts[-1]
    if last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value


def not_matching(pattern: str) -> st.SearchStrategy[str]:
    return TEXT.filter(lambda s: re.search(pattern, s) is None)


def not_in(*allowed: str) -> st.SearchStrategy[str]:
    return TEXT.filter(lambda s: s not in allowed)


NOT_AN_INT = st.one_of(
    TEXT, st.booleans(), st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f))
)
# (field as the API server names it, invalid values for it)
INVALID: list[tuple[str, st.SearchStrategy[Any]]] = [
    ("spec.replicas", st.one_of(st.integers(max_value=-1), NOT_AN_INT)),
    ("spec.region", not_matching(REGION_PATTERN)),
    ("spec.paused", st.one_of(st.integers(), TEXT)),
    ("spec.deletionPolicy", not_in("Delete", "Retain")),
    ("spec.instance.instanceType", not_matching(INSTANCE_TYPE_PATTERN)),
    ("spec.instance.imageId", not_matching(AMI_PATTERN)),
    ("spec.instance.subnets[0]", not_matching(SUBNET_PATTERN)),
    ("spec.instance.market", not_in("OnDemand", "Spot")),
    ("spec.judge0.endpointTemplate", not_matching(ENDPOINT_PATTERN)),
    ("spec.judge0.expectedVersion", not_matching(r"^[0-9]+\.[0-9]+\.[0-9]+$")),
    (
        "spec.rollout.maxSurge",
        st.one_of(st.integers(max_value=-1), not_matching(PERCENT_PATTERN).filter(lambda s: not s.isdigit())),
    ),
    ("spec.instance.tags.team", st.one_of(st.integers(), st.booleans(), st.lists(TEXT, max_size=2))),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(range(len(INVALID))), data=st.data())
def test_every_invalid_spec_is_refused_with_422_naming_the_field(
    api: KubeEmulator, case: int, data: st.DataObject
) -> None:
    field, values = INVALID[case]
    value = data.draw(values, label=field)
    manifest = base()
    put(manifest, field, value)
    with pytest.raises(ApiError) as refused:
        api.create_object(manifest)
    status = refused.value.status()
    assert status["code"] == 422, status
    fields = [c.get("field") for c in (status.get("details") or {}).get("causes") or []]
    assert field in fields, (field, value, status["message"])


def _manifest_strategy() -> st.SearchStrategy[dict[str, Any]]:
    size = st.integers(min_value=0, max_value=12)
    int_or_percent = st.one_of(st.integers(min_value=0, max_value=4), st.sampled_from(["0%", "25%", "50%", "100%"]))
    schedule = st.fixed_dictionaries(
        {
            "cron": st.sampled_from(["*/5 * * * *", "30 8 * * 1-5", "0 0 1 1 *"]),
            "durationSeconds": st.integers(min_value=60, max_value=86_400),
            "minReplicas": st.integers(min_value=0, max_value=6),
        }
    )
    scaling = st.one_of(
        st.none(),
        st.fixed_dictionaries(
            {"minReplicas": st.integers(0, 3), "maxReplicas": st.integers(3, 20)},
            optional={
                "queue": st.fixed_dictionaries({"targetBacklogPerWorker": st.floats(0.5, 20)}),
                "schedules": st.lists(schedule, max_size=2),
                "scaleDownStabilizationSeconds": st.integers(0, 600),
            },
        ),
    )
    return st.fixed_dictionaries(
        {
            "replicas": size,
            "paused": st.booleans(),
            "deletionPolicy": st.sampled_from(["Delete", "Retain"]),
            "subnets": st.lists(st.sampled_from([*KNOWN_SUBNETS, FOREIGN_SUBNET]), min_size=1, max_size=3, unique=True),
            "instanceType": st.sampled_from(["t3.small", "c5.large", "m5.xlarge"]),
            "fallbacks": st.lists(st.sampled_from(["t3.medium", "c5.xlarge"]), max_size=2, unique=True),
            "market": st.sampled_from(["OnDemand", "Spot"]),
            "maxSurge": int_or_percent,
            "maxUnavailable": int_or_percent,
            "scaling": scaling,
            "tags": st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), TEXT, max_size=3),
        }
    )


def _observation(spec_subnets: list[str], rows: list[tuple[str, str, int, bool]]) -> FleetObservation:
    instances = []
    for index, (state, subnet, attempt, tagged) in enumerate(rows):
        tags = {TAG_FLEET_UID: UID}
        if tagged:
            tags.update({TAG_SLOT: f"s{index % 4}", TAG_ATTEMPT: str(attempt)})
        instances.append(
            InstanceObservation(
                instance=Ec2Instance(
                    instance_id=f"i-{index:017x}",
                    state=state,  # type: ignore[arg-type]
                    zone=KNOWN_SUBNETS.get(subnet, ""),
                    subnet_id=subnet,
                    instance_type="t3.small",
                    launch_time=NOW - timedelta(minutes=index + 1),
                    tags=tags,
                ),
                ec2=Ec2Health() if state == "running" else None,
            )
        )
    zones = {s: KNOWN_SUBNETS[s] for s in spec_subnets if s in KNOWN_SUBNETS}
    return FleetObservation(observed_at=NOW, instances=tuple(instances), zones=zones)


ROWS = st.lists(
    st.tuples(
        st.sampled_from(["pending", "running", "stopping", "stopped", "shutting-down", "terminated"]),
        st.sampled_from([*KNOWN_SUBNETS, FOREIGN_SUBNET]),
        st.integers(0, 2),
        st.booleans(),
    ),
    max_size=6,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(choice=_manifest_strategy(), rows=ROWS)
def test_no_spec_the_api_accepts_crashes_a_pass(api: KubeEmulator, choice: dict[str, Any], rows: list[Any]) -> None:
    manifest = base()
    spec = manifest["spec"]
    spec.update(replicas=choice["replicas"], paused=choice["paused"], deletionPolicy=choice["deletionPolicy"])
    spec["instance"].update(
        subnets=choice["subnets"],
        instanceType=choice["instanceType"],
        fallbackInstanceTypes=choice["fallbacks"],
        market=choice["market"],
        tags=choice["tags"],
    )
    spec["rollout"] = {"maxSurge": choice["maxSurge"], "maxUnavailable": choice["maxUnavailable"]}
    if choice["scaling"] is not None:
        spec["scaling"] = choice["scaling"]
    try:
        stored = api.create_object(manifest)
    except ApiError as refused:
        assert refused.code == 422, refused.status()  # refusing is fine; a 500 is not
        assume(False)
        return
    api.delete_object("judge0.dev", "v1alpha1", "judge0fleets", "default", "f")
    # what a pass does with the object: the operator's model must take what the API server took
    fleet = Judge0Fleet.model_validate({"spec": copy.deepcopy(stored["spec"]), "metadata": stored["metadata"]})
    observation = _observation(list(fleet.spec.instance.subnets), rows)
    first = plan(
        fleet.spec,
        RecoveryPolicySpec(),
        observation,
        Judge0FleetStatus(),
        NOW,
        fleet_uid=UID,
        generation=1,
        fleet_name="f",
    )
    again = plan(
        fleet.spec,
        RecoveryPolicySpec(),
        observation,
        first.status,
        NOW + timedelta(seconds=5),
        fleet_uid=UID,
        generation=1,
        fleet_name="f",
    )
    assert again.status.desired_replicas is not None
    if fleet.spec.paused:
        assert not first.actions and not again.actions
    known = [s for s in fleet.spec.instance.subnets if s in KNOWN_SUBNETS]
    for action in (*first.actions, *again.actions):  # never into a subnet the region does not have
        if action.kind == "Launch" and known:
            assert action.subnet_id in KNOWN_SUBNETS, action
