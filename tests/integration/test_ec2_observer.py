"""Ec2Observer against the simulated world's EC2 (moto + the world's front) on loopback.

API calls are counted with botocore event hooks on the observer's own client (what goes on the
wire), and failures are injected the same way or as world faults — the observer is never patched.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from fixtures.world import ControlClient, wait_for
from judge0_operator.aws.circuit import CircuitBreakers
from judge0_operator.aws.clients import AwsClients, AwsSettings
from judge0_operator.decide.model import MANAGED_BY, TAG_FLEET_UID, TAG_MANAGED, TAG_SLOT, ProbeResult
from judge0_operator.observe.ec2 import Ec2Observer, parse_instance, parse_status
from judge0_operator.world.world import World

SESSION = boto3.session.Session()  # shared: each new session would parse the EC2 model again (~0.5 s)


def make_clients(world: World, **settings: Any) -> AwsClients:
    endpoint = world.info["aws_endpoint"]
    aws = AwsSettings(endpoint_url=endpoint, access_key_id="t", secret_access_key="t", **settings)
    return AwsClients(aws, session=SESSION)


@pytest.fixture
def clients(world: World) -> Iterator[AwsClients]:
    made = make_clients(world)
    yield made
    made.close()


def launch(ec2: Any, world: World, zone: str, tags: dict[str, str], count: int = 1) -> list[str]:
    """Launch through the test's own client (not the observer's), so setup is never counted."""
    spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    reply = ec2.run_instances(
        ImageId=world.info["image_id"],
        InstanceType="t3.small",
        MinCount=count,
        MaxCount=count,
        SubnetId=world.info["subnets"][zone],
        TagSpecifications=spec if tags else [],
    )
    return [str(i["InstanceId"]) for i in reply["Instances"]]


def owned(uid: str, slot: int) -> dict[str, str]:
    return {TAG_MANAGED: MANAGED_BY, TAG_FLEET_UID: uid, TAG_SLOT: str(slot)}


def state_of(ec2: Any, instance_id: str) -> str:
    reply = ec2.describe_instances(InstanceIds=[instance_id])
    return str(reply["Reservations"][0]["Instances"][0]["State"]["Name"])


def checks_ok(ec2: Any, instance_id: str) -> bool:
    found = ec2.describe_instance_status(InstanceIds=[instance_id])["InstanceStatuses"]
    return bool(found) and all(found[0][k]["Status"] == "ok" for k in ("InstanceStatus", "SystemStatus"))


class CallLog:
    """Every API call made by a client, with its parameters (botocore ``before-parameter-build``)."""

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("before-parameter-build.ec2", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def count(self) -> Counter[str]:
        return Counter(name for name, _ in self.calls)

    def first_pages(self, operation: str) -> int:
        return sum(1 for name, params in self.calls if name == operation and "NextToken" not in params)

    def clear(self) -> None:
        self.calls.clear()


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def ec2_error(status: int, code: str, message: str) -> AWSResponse:
    body = (
        f"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error><Code>{code}</Code>"
        f"<Message>{message}</Message></Error></Errors><RequestID>r-1</RequestID></Response>"
    ).encode()
    headers: Any = {}
    return AWSResponse("http://127.0.0.1/", status, headers, _Raw(body))


async def test_one_paginated_describe_pair_per_pass_whatever_the_number_of_fleets(
    world: World, world_ec2: Any, clients: AwsClients
) -> None:
    region, zones = world.info["region"], world.info["zones"]
    fleets = [f"fleet-uid-{n}" for n in range(5)]
    slots = [(uid, slot) for n, uid in enumerate(fleets) for slot in range(21 + n)]  # 115 reservations
    with ThreadPoolExecutor(4) as pool:  # boto3 clients are thread-safe; overlaps client-side work
        ids = list(pool.map(lambda us: launch(world_ec2, world, zones[us[1] % 3], owned(*us))[0], slots))
    launched: dict[str, set[str]] = {uid: set() for uid in fleets}
    for (uid, _), iid in zip(slots, ids, strict=True):
        launched[uid].add(iid)
    strangers = {*launch(world_ec2, world, zones[0], {}), *launch(world_ec2, world, zones[1], {"team": "x"})}
    (gone,) = launch(world_ec2, world, zones[0], owned(fleets[0], 99))
    world_ec2.terminate_instances(InstanceIds=[gone])

    observer = Ec2Observer(clients, region, cache_seconds=2.0, page_size=100)
    log = CallLog(clients.ec2(region))
    now = datetime.now(UTC)
    snapshots = await asyncio.gather(*(observer.snapshot(now) for _ in fleets))

    assert all(s is snapshots[0] for s in snapshots), "concurrent fleet passes share one snapshot"
    snapshot = snapshots[0]
    assert snapshot.complete and snapshot.error is None
    zone_of = {subnet: zone for zone, subnet in world.info["subnets"].items()}
    for uid in fleets:
        pairs = snapshot.for_fleet(uid)
        assert {i.instance_id for i, _ in pairs} == launched[uid]
        for instance, _health in pairs:
            assert instance.zone == zone_of[instance.subnet_id]
            assert instance.state in ("pending", "running")
            assert instance.slot is not None and instance.private_ip
    seen = {i.instance_id for i in snapshot.instances}
    assert not seen & strangers
    assert gone not in seen
    assert log.first_pages("DescribeInstances") == 1
    assert log.count()["DescribeInstances"] >= 2, "NextToken was followed"
    assert log.first_pages("DescribeInstanceStatus") == 1
    per_pass_with_all_fleets = log.count()

    log.clear()
    await observer.snapshot(now + timedelta(seconds=3))
    per_pass_with_one_fleet = log.count()
    assert per_pass_with_one_fleet == per_pass_with_all_fleets
    assert set(per_pass_with_one_fleet) == {"DescribeInstances", "DescribeInstanceStatus"}


async def test_snapshot_is_cached_for_cache_seconds_and_can_be_invalidated(
    world: World, world_ec2: Any, clients: AwsClients
) -> None:
    region, zones = world.info["region"], world.info["zones"]
    (first,) = launch(world_ec2, world, zones[0], owned("uid-a", 0))
    observer = Ec2Observer(clients, region, cache_seconds=2.0)
    log = CallLog(clients.ec2(region))
    now = datetime.now(UTC)

    snapshot = await observer.snapshot(now)
    calls = len(log.calls)
    (second,) = launch(world_ec2, world, zones[1], owned("uid-a", 1))
    log.clear()
    assert await observer.snapshot(now + timedelta(seconds=1.9)) is snapshot
    assert log.calls == []

    fresh = await observer.snapshot(now + timedelta(seconds=2))
    assert {i.instance_id for i, _ in fresh.for_fleet("uid-a")} == {first, second}
    assert len(log.calls) == calls

    observer.invalidate()
    assert await observer.snapshot(now + timedelta(seconds=2.1)) is not fresh


@pytest.mark.world_config(terminate_seconds=3600)  # stays shutting-down for the whole test
async def test_orphans_and_ownership_tags(world: World, world_ec2: Any, clients: AwsClients) -> None:
    zone = world.info["zones"][0]
    (known,) = launch(world_ec2, world, zone, owned("uid-known", 0))
    (orphan,) = launch(world_ec2, world, zone, owned("uid-deleted", 0))
    (no_uid,) = launch(world_ec2, world, zone, {TAG_MANAGED: MANAGED_BY})
    (uid_only,) = launch(world_ec2, world, zone, {TAG_FLEET_UID: "uid-known", TAG_SLOT: "1"})
    (wrong_manager,) = launch(world_ec2, world, zone, {TAG_MANAGED: "someone-else"})
    (leaving,) = launch(world_ec2, world, zone, owned("uid-deleted", 2))
    wait_for(lambda: state_of(world_ec2, leaving) == "running", what="leaving instance running")
    world_ec2.terminate_instances(InstanceIds=[leaving])

    snapshot = await Ec2Observer(clients, world.info["region"]).snapshot(datetime.now(UTC))

    assert {i.instance_id for i, _ in snapshot.for_fleet("uid-known")} == {known, uid_only}
    by_id = {i.instance_id: i for i in snapshot.instances}
    assert wrong_manager not in by_id
    assert by_id[leaving].state == "shutting-down", "still visible while it shuts down"
    assert {i.instance_id for i in snapshot.orphans({"uid-known"})} == {orphan, no_uid}


async def test_status_checks_and_scheduled_events(
    world: World, world_ec2: Any, world_control: ControlClient, clients: AwsClients
) -> None:
    zone = world.info["zones"][1]
    impaired, retiring, fine = launch(world_ec2, world, zone, owned("uid-s", 0), count=3)
    for iid in (impaired, retiring, fine):
        wait_for(partial(checks_ok, world_ec2, iid), what=f"{iid} running with both checks ok")
    world_control.fault(impaired, "instance-impaired")
    world_control.fault(retiring, "scheduled-retirement", notBeforeSeconds=3600)
    observer = Ec2Observer(clients, world.info["region"], cache_seconds=0)

    health = {i.instance_id: h for i, h in (await observer.snapshot(datetime.now(UTC))).for_fleet("uid-s")}

    bad, retirement, good = health[impaired], health[retiring], health[fine]
    assert bad is not None and retirement is not None and good is not None
    assert (bad.instance_status, bad.system_status) == ("impaired", "ok")
    (event,) = retirement.events
    assert event.code == "instance-retirement"
    assert event.not_before is not None and event.not_before > datetime.now(UTC)
    assert good.events == ()


async def test_fleet_observation_carries_instances_status_probes_and_zones(
    world: World, world_ec2: Any, clients: AwsClients
) -> None:
    zone = world.info["zones"][2]
    (iid,) = launch(world_ec2, world, zone, owned("uid-x", 0))
    now = datetime.now(UTC)
    snapshot = await Ec2Observer(clients, world.info["region"]).snapshot(now)
    probe = ProbeResult(signal="api", ok=True, observed_at=now)

    observation = snapshot.fleet_observation("uid-x", probes={iid: {"api": probe}}, zones={"subnet-1": "z"})

    assert observation.observed_at == now and observation.complete
    (only,) = observation.instances
    assert only.instance.instance_id == iid and only.probes == {"api": probe}
    assert observation.zones == {"subnet-1": "z"}
    assert snapshot.fleet_observation("uid-x").zones == {world.info["subnets"][zone]: zone}


async def test_failed_describe_gives_an_incomplete_snapshot_cached_like_any_other(
    world: World, world_ec2: Any, clients: AwsClients
) -> None:
    launch(world_ec2, world, world.info["zones"][0], owned("uid-a", 0))
    ec2 = clients.ec2(world.info["region"])
    sends: list[str] = []

    def deny(request: Any, **_: Any) -> Any:
        sends.append("DescribeInstances")
        return ec2_error(403, "UnauthorizedOperation", "You are not authorized to perform this operation.")

    ec2.meta.events.register("before-send.ec2.DescribeInstances", deny)
    observer = Ec2Observer(clients, world.info["region"], cache_seconds=2.0)
    now = datetime.now(UTC)

    snapshot = await observer.snapshot(now)
    assert not snapshot.complete
    assert snapshot.error is not None and "UnauthorizedOperation" in snapshot.error
    assert snapshot.for_fleet("uid-a") == ()
    assert snapshot.fleet_observation("uid-a").complete is False
    assert await observer.snapshot(now + timedelta(seconds=1)) is snapshot
    assert len(sends) == 1, "a failing API is not hammered by every fleet's pass"

    ec2.meta.events.unregister("before-send.ec2.DescribeInstances", deny)
    healed = await observer.snapshot(now + timedelta(seconds=2))
    assert healed.complete and len(healed.for_fleet("uid-a")) == 1


async def test_open_circuit_makes_no_calls(world: World) -> None:
    fast = make_clients(world, total_max_attempts=1)
    ec2 = fast.ec2(world.info["region"])
    sends: list[int] = []

    def broken(request: Any, **_: Any) -> Any:
        sends.append(1)
        return ec2_error(500, "InternalError", "An internal error has occurred")

    ec2.meta.events.register("before-send.ec2.DescribeInstances", broken)
    breakers = CircuitBreakers(failure_threshold=2, cooldown_seconds=60)
    observer = Ec2Observer(fast, world.info["region"], cache_seconds=0.0, circuit=breakers)
    now = datetime.now(UTC)

    for n in range(2):
        failed = await observer.snapshot(now + timedelta(seconds=n))
        assert not failed.complete and "InternalError" in (failed.error or "")
    assert len(sends) == 2
    refused = await observer.snapshot(now + timedelta(seconds=5))
    assert not refused.complete and "circuit open" in (refused.error or "")
    assert len(sends) == 2
    assert set(breakers.not_closed(world.info["region"])) == {(world.info["region"], "DescribeInstances")}
    fast.close()


async def test_subnet_zones_are_described_once_and_cached(world: World, clients: AwsClients) -> None:
    region, subnets = world.info["region"], world.info["subnets"]
    zones = world.info["zones"]
    observer = Ec2Observer(clients, region)
    log = CallLog(clients.ec2(region))
    wanted = [subnets[zones[0]], subnets[zones[1]], "subnet-0123456789abcdef0"]

    found = await observer.subnet_zones(wanted)
    assert found == {subnets[zones[0]]: zones[0], subnets[zones[1]]: zones[1]}
    assert log.count() == Counter({"DescribeSubnets": 1})

    log.clear()
    assert await observer.subnet_zones(wanted) == found
    assert log.calls == []


def test_parse_status_keeps_pending_events_and_drops_completed_ones() -> None:
    not_before = datetime(2030, 1, 1, tzinfo=UTC)
    health = parse_status(
        {
            "InstanceId": "i-1",
            "InstanceStatus": {"Status": "impaired"},
            "SystemStatus": {"Status": "ok"},
            "Events": [
                {"Code": "instance-retirement", "Description": "scheduled", "NotBefore": not_before},
                {"Code": "system-reboot", "Description": "[Completed] The instance is scheduled"},
                {"Code": "system-maintenance", "Description": "[Canceled] maintenance"},
            ],
        }
    )
    assert health.instance_status == "impaired" and health.system_status == "ok"
    assert [(e.code, e.not_before) for e in health.events] == [("instance-retirement", not_before)]


def test_parse_status_without_checks_is_not_applicable() -> None:
    health = parse_status({"InstanceId": "i-1", "InstanceState": {"Name": "stopped"}})
    assert (health.instance_status, health.system_status) == ("not-applicable", "not-applicable")
    assert health.events == ()


def test_parse_instance_decodes_spot_ips_and_tags() -> None:
    launched = datetime(2030, 1, 1, 12, tzinfo=UTC)
    instance = parse_instance(
        {
            "InstanceId": "i-2",
            "State": {"Name": "pending"},
            "Placement": {"AvailabilityZone": "eu-west-1b"},
            "SubnetId": "subnet-1",
            "InstanceType": "c5.large",
            "LaunchTime": launched,
            "PrivateIpAddress": "10.0.0.5",
            "InstanceLifecycle": "spot",
            "Tags": [{"Key": TAG_FLEET_UID, "Value": "u"}, {"Key": TAG_SLOT, "Value": "3"}],
        }
    )
    assert instance.market == "spot" and instance.public_ip is None and instance.private_ip == "10.0.0.5"
    assert (instance.fleet_uid, instance.slot, instance.launch_time) == ("u", "3", launched)
