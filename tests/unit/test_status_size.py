"""Bounded status: at 1000 instances the fleet's status takes under a quarter of what the API
server stores (etcd's 1.5 MiB), written through the emulator that enforces that limit; compact
rows (api/compact.py) plan exactly as full ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from judge0_operator.api.diagnosis import DiskProbe
from judge0_operator.api.fleet import Judge0FleetSpec
from judge0_operator.api.fleet_status import InstanceStatus, Judge0FleetStatus
from judge0_operator.api.policy import RecoveryPolicySpec
from judge0_operator.decide.model import (
    MANAGED_BY,
    TAG_ATTEMPT,
    TAG_FLEET,
    TAG_FLEET_UID,
    TAG_MANAGED,
    TAG_SLOT,
    TAG_TEMPLATE,
    Ec2Health,
    Ec2Instance,
    FleetObservation,
    InstanceObservation,
    ProbeResult,
)
from judge0_operator.decide.plan import plan
from judge0_operator.decide.rollout import template_hash
from judge0_operator.observe.disk import DfReading, merge, reading_result
from judge0_operator.world.config import load_crds
from judge0_operator.world.kube.server import KubeEmulator
from judge0_operator.world.kube.store.core import MAX_OBJECT_BYTES

UID = "0b7c5a3e-1111-4222-8333-944445555666"
NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
SUBNETS = {
    "subnet-0aaaaaaaaaaaaaaa1": "us-east-1a",
    "subnet-0bbbbbbbbbbbbbbb2": "us-east-1b",
    "subnet-0ccccccccccccccc3": "us-east-1c",
}
QUARTER = MAX_OBJECT_BYTES // 4
FLEET: dict = {
    "apiVersion": "judge0.dev/v1alpha1",
    "kind": "Judge0Fleet",
    "metadata": {"name": "big", "namespace": "default"},
    "spec": {
        "replicas": 1000,
        "region": "us-east-1",
        "recoveryPolicyRef": {"name": "p"},
        "instance": {
            "imageId": "ami-0123456789abcdef0",
            "instanceType": "c5.large",
            "subnets": list(SUBNETS),
            "securityGroupIds": ["sg-0123456789abcdef0"],
        },
        "judge0": {"endpointTemplate": "http://{private_ip}:2358"},
        "traffic": {"service": {}},
    },
}
DISK = DiskProbe()


def observation(
    spec: Judge0FleetSpec, n: int, now: datetime, failing: frozenset[int] = frozenset()
) -> FleetObservation:
    digest = template_hash(spec.instance)
    found = []
    for i in range(n):
        subnet = list(SUBNETS)[i % 3]
        instance = Ec2Instance(
            instance_id=f"i-{i:017x}",
            state="running",
            zone=SUBNETS[subnet],
            subnet_id=subnet,
            instance_type="c5.large",
            launch_time=NOW - timedelta(hours=1),
            private_ip=f"10.20.{i // 250}.{i % 250}",
            tags={
                TAG_FLEET_UID: UID,
                TAG_SLOT: f"s{i}",
                TAG_ATTEMPT: "0",
                TAG_TEMPLATE: digest,
                TAG_MANAGED: MANAGED_BY,
                TAG_FLEET: "default/big",
            },
        )
        probes = {
            s: ProbeResult(
                signal=s,  # type: ignore[arg-type]
                ok=not (i in failing and s == "api"),
                observed_at=now,
                detail="connection refused" if i in failing and s == "api" else "ok",
                queue_size=0,
                available_workers=2,
            )
            for s in ("api", "workers", "canary")
        }
        # the disk probe's reading, as the observer builds it (a measurement the row keeps)
        df = reading_result(DfReading(size_bytes=30 * 2**30, used_bytes=7 * 2**30 + i * 2**20), DISK, now)
        probes["disk"] = merge(df, 12_345_678, DISK, now)  # type: ignore[assignment]
        found.append(InstanceObservation(instance=instance, ec2=Ec2Health(), probes=probes))
    return FleetObservation(observed_at=now, instances=tuple(found), zones=dict(SUBNETS))


def passes(n: int, failing: frozenset[int] = frozenset(), count: int = 3) -> dict:
    """The status a fleet of ``n`` writes after ``count`` passes, each planned from the last one's wire form."""
    spec = Judge0FleetSpec.model_validate({**FLEET["spec"], "replicas": n})
    previous = Judge0FleetStatus()
    wire: dict = {}
    for k in range(count):
        now = NOW + timedelta(seconds=10 * k)
        bad = failing if k == count - 1 else frozenset()
        done = plan(
            spec,
            RecoveryPolicySpec(),
            observation(spec, n, now, bad),
            previous,
            now,
            fleet_uid=UID,
            generation=1,
            fleet_name="big",
        )
        wire = done.status.to_wire()
        previous = Judge0FleetStatus.model_validate(wire)
    return wire


@pytest.mark.parametrize("failing", [0, 50], ids=["all-healthy", "5%-failing"])
def test_1000_instances_fit_in_a_quarter_of_the_limit_through_the_emulator(failing: int) -> None:
    status = passes(1000, frozenset(range(0, 1000, 1000 // failing)) if failing else frozenset())
    assert len(status["instances"]) == 1000
    api = KubeEmulator(load_crds())  # the emulator refuses an object over MAX_OBJECT_BYTES
    api.create_object(FLEET)
    written = api.patch_object(
        "judge0.dev", "v1alpha1", "judge0fleets", "default", "big", {"status": status}, subresource="status"
    )
    assert len(written["status"]["instances"]) == 1000
    # the object as stored: the API server's defaulting (status included) and metadata counted
    stored = api.get_object("judge0.dev", "v1alpha1", "judge0fleets", "default", "big")
    size = len(json.dumps(stored, separators=(",", ":")))
    assert size < QUARTER, f"{size} bytes at 1000 instances as stored; a quarter of the limit is {QUARTER}"


def test_only_what_is_wrong_keeps_its_detail() -> None:
    status = passes(30, frozenset({4}))
    rows = {r["instanceId"]: r for r in status["instances"]}
    sick, well = rows[f"i-{4:017x}"], rows[f"i-{5:017x}"]
    assert sick["signals"]["api"]["bad"] is True and "connection refused" in sick["signals"]["api"]["detail"]
    assert "signals" not in well and "detail" in sick["signals"]["disk"]
    assert "templateHash" not in well and "attempts" not in well and "trafficSince" not in well
    assert well["health"] == "Healthy" and well["healthySince"] and well["traffic"] == "InRotation"


def test_a_compact_row_plans_exactly_as_the_full_one() -> None:
    """A blip within tolerance keeps a Healthy row Healthy whether its signals were stored or not."""
    spec = Judge0FleetSpec.model_validate({**FLEET["spec"], "replicas": 6})
    policy = RecoveryPolicySpec()
    first = plan(
        spec, policy, observation(spec, 6, NOW), Judge0FleetStatus(), NOW, fleet_uid=UID, generation=1, fleet_name="big"
    )
    settled = plan(
        spec,
        policy,
        observation(spec, 6, NOW + timedelta(seconds=10)),
        Judge0FleetStatus.model_validate(first.status.to_wire()),
        NOW + timedelta(seconds=10),
        fleet_uid=UID,
        generation=1,
        fleet_name="big",
    )
    full = settled.status
    compact = Judge0FleetStatus.model_validate(full.to_wire())
    assert all(not r.signals for r in compact.instances), "stored without signals"
    later = NOW + timedelta(seconds=20)
    blip = observation(spec, 6, later, frozenset({2}))
    from_full = plan(spec, policy, blip, full, later, fleet_uid=UID, generation=1, fleet_name="big")
    from_compact = plan(spec, policy, blip, compact, later, fleet_uid=UID, generation=1, fleet_name="big")
    assert from_full.actions == from_compact.actions
    assert [r.health for r in from_full.status.instances] == [r.health for r in from_compact.status.instances]
    assert [{k: (s.status, s.bad) for k, s in r.signals.items()} for r in from_full.status.instances] == [
        {k: (s.status, s.bad) for k, s in r.signals.items()} for r in from_compact.status.instances
    ]


def test_the_wire_drops_defaults_and_the_template_hash_and_reads_back_the_same() -> None:
    sick = InstanceStatus(instance_id="i-1", slot="s0", health="Unhealthy", rung=2, template_hash="abc", updated=False)
    well = InstanceStatus(instance_id="i-2", slot="s1", health="Unhealthy", template_hash="new", updated=True)
    since = "2025-06-02T09:30:00Z"
    rotating = InstanceStatus(
        instance_id="i-3", slot="s2", health="Healthy", healthy_since=since, traffic="InRotation", traffic_since=since
    )
    later = rotating.model_copy(update={"instance_id": "i-4", "slot": "s3", "traffic_since": "2025-06-02T09:31:00Z"})
    status = Judge0FleetStatus(template_hash="new", instances=[sick, well, rotating, later])
    rows = status.to_wire()["instances"]
    assert rows[0]["templateHash"] == "abc" and rows[0]["rung"] == 2 and "attempts" not in rows[0]
    assert "templateHash" not in rows[1] and "rung" not in rows[1]
    assert "trafficSince" not in rows[2] and rows[3]["trafficSince"] == "2025-06-02T09:31:00Z"
    assert Judge0FleetStatus.model_validate(status.to_wire()) == status
