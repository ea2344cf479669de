"""The traffic I/O against the simulated world on loopback: ELBv2 target health and target changes,
and the fleet's Service and EndpointSlice in the world's Kubernetes API.

Nothing here is patched: the world's ELBv2 runs its own health checks against the Judge0 nodes,
keeps deregistered targets ``draining``, and its Kubernetes API garbage-collects by ownerReference.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import kubernetes
import pytest

from fixtures.world import wait_for
from judge0_operator.act.elbv2 import TargetsActuator
from judge0_operator.aws.budget import ApiBudget
from judge0_operator.aws.circuit import CircuitBreakers
from judge0_operator.aws.clients import AwsClients, AwsSettings
from judge0_operator.controller.endpoints import (
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    Endpoint,
    FleetRef,
    ServicePublisher,
)
from judge0_operator.controller.kube import load_configuration
from judge0_operator.observe.elbv2 import TargetHealthObserver
from judge0_operator.world.world import World

SESSION = boto3.session.Session()
NAMESPACE = "traffic-io"


@pytest.fixture
def clients(world: World) -> Iterator[AwsClients]:
    made = AwsClients(
        AwsSettings(endpoint_url=world.info["aws_endpoint"], access_key_id="t", secret_access_key="t"),
        session=SESSION,
    )
    yield made
    made.close()


def _run_instances(world: World, world_ec2: Any, count: int) -> list[str]:
    subnet = next(iter(world.info["subnets"].values()))
    reply = world_ec2.run_instances(
        ImageId=world.info["image_id"], InstanceType="t3.small", MinCount=count, MaxCount=count, SubnetId=subnet
    )
    ids = [i["InstanceId"] for i in reply["Instances"]]

    def running() -> bool:
        found = world_ec2.describe_instances(InstanceIds=ids)["Reservations"]
        return all(i["State"]["Name"] == "running" for r in found for i in r["Instances"])

    wait_for(running, timeout=20, what="instances running")
    return ids


def _now() -> datetime:
    return datetime.now(UTC)


# --- ELBv2 ---------------------------------------------------------------------------------------

def test_registered_targets_turn_healthy_and_one_call_serves_every_target(
    world: World, world_thread: Any, world_ec2: Any, clients: AwsClients
) -> None:
    group = world_thread.run(world.create_target_group("judge0-io", deregistration_delay_seconds=30))
    arn = group["TargetGroupArn"]
    ids = _run_instances(world, world_ec2, 3)
    region = world.info["region"]
    actuator = TargetsActuator(clients, region, circuit=CircuitBreakers(), budget=ApiBudget())
    observer = TargetHealthObserver(clients, region, cache_seconds=0.0, circuit=CircuitBreakers(), budget=ApiBudget())

    [change] = asyncio.run(actuator.register(arn, ids))
    assert change.ok, change.detail
    assert change.instance_ids == tuple(ids)

    def states() -> dict[str, str]:
        seen = asyncio.run(observer.describe([arn], _now()))[arn]
        assert seen.complete, seen.error
        return {i: t.state for i, t in seen.targets.items()}

    assert set(states()) == set(ids)
    wait_for(lambda: set(states().values()) == {"healthy"}, timeout=20, what="targets healthy")

    world.reset_calls()
    states()
    assert world.calls()["by_action"].get("DescribeTargetHealth") == 1  # one call for all 3 targets

    [gone] = asyncio.run(actuator.deregister(arn, ids[:1]))
    assert gone.ok
    assert states()[ids[0]] == "draining"  # the deregistration delay, then forgotten


def test_a_snapshot_is_shared_while_fresh_and_refreshed_after_invalidate(
    world: World, world_thread: Any, clients: AwsClients
) -> None:
    arn = world_thread.run(world.create_target_group("judge0-cache"))["TargetGroupArn"]
    observer = TargetHealthObserver(clients, world.info["region"], cache_seconds=60.0)
    now = _now()
    world.reset_calls()

    async def two_fleets_at_once() -> None:
        await asyncio.gather(observer.describe([arn], now), observer.describe([arn, arn], now))

    asyncio.run(two_fleets_at_once())
    asyncio.run(observer.describe([arn], now + timedelta(seconds=1)))
    assert world.calls()["by_action"].get("DescribeTargetHealth") == 1
    observer.invalidate([arn])
    asyncio.run(observer.describe([arn], now + timedelta(seconds=2)))
    assert world.calls()["by_action"].get("DescribeTargetHealth") == 2


def test_an_unknown_target_group_is_an_incomplete_snapshot_and_a_terminal_change(
    world: World, world_ec2: Any, clients: AwsClients
) -> None:
    region = world.info["region"]
    missing = f"arn:aws:elasticloadbalancing:{region}:123456789012:targetgroup/nope/0123456789abcdef"
    seen = asyncio.run(TargetHealthObserver(clients, region).describe([missing], _now()))[missing]
    assert not seen.complete and "TargetGroupNotFound" in (seen.error or "")
    [change] = asyncio.run(TargetsActuator(clients, region).register(missing, ["i-0123456789abcdef0"]))
    assert not change.ok
    assert (change.error_code, change.error_kind) == ("TargetGroupNotFound", "terminal")


# --- Service and EndpointSlice -------------------------------------------------------------------

@pytest.fixture
def kube(world: World) -> Iterator[kubernetes.client.ApiClient]:
    api = kubernetes.client.ApiClient(load_configuration(str(world.info["kubeconfig"])))
    core = kubernetes.client.CoreV1Api(api)
    try:
        core.read_namespace(NAMESPACE)
    except kubernetes.client.ApiException:
        core.create_namespace({"metadata": {"name": NAMESPACE}})
    yield api
    api.close()


def _fleet(api: kubernetes.client.ApiClient, world: World, name: str) -> FleetRef:
    body = {
        "apiVersion": "judge0.dev/v1alpha1",
        "kind": "Judge0Fleet",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "region": world.info["region"],
            "replicas": 0,
            "instance": {
                "imageId": world.info["image_id"],
                "instanceType": "t3.small",
                "subnets": list(world.info["subnets"].values()),
            },
        },
    }
    created = kubernetes.client.CustomObjectsApi(api).create_namespaced_custom_object(
        "judge0.dev", "v1alpha1", NAMESPACE, "judge0fleets", body
    )
    return FleetRef(NAMESPACE, name, created["metadata"]["uid"])


def _endpoints() -> list[Endpoint]:
    return [
        Endpoint("i-0000000000000000a", "10.0.1.10", "eu-west-1a", "InRotation"),
        Endpoint("i-0000000000000000b", "10.0.2.11", "eu-west-1b", "Draining"),
        Endpoint("i-0000000000000000c", "10.0.3.12", "eu-west-1c", "Out"),
    ]


def test_the_service_and_its_slice_are_published_owned_and_collected_with_the_fleet(
    world: World, kube: kubernetes.client.ApiClient
) -> None:
    fleet = _fleet(kube, world, f"pub-{uuid.uuid4().hex[:6]}")
    publisher = ServicePublisher(kube)
    done = asyncio.run(publisher.publish(fleet, 2358, _endpoints()))
    assert (done.service, done.endpoint_slice) == ("created", "created")

    core, discovery = kubernetes.client.CoreV1Api(kube), kubernetes.client.DiscoveryV1Api(kube)
    service = core.read_namespaced_service(fleet.name, NAMESPACE)
    assert service.spec.selector is None and service.spec.cluster_ip
    assert [(p.name, p.port) for p in service.spec.ports] == [("http", 2358)]
    endpoint_slice = discovery.read_namespaced_endpoint_slice(fleet.name, NAMESPACE)
    assert endpoint_slice.metadata.labels[SERVICE_NAME_LABEL] == fleet.name
    assert endpoint_slice.metadata.labels[MANAGED_BY_LABEL] != "endpointslice-controller.k8s.io"
    for obj in (service, endpoint_slice):
        [owner] = obj.metadata.owner_references
        assert (owner.kind, owner.name, owner.uid, owner.controller) == ("Judge0Fleet", fleet.name, fleet.uid, True)
    conditions = {e.addresses[0]: e.conditions for e in endpoint_slice.endpoints}
    assert (conditions["10.0.1.10"].ready, conditions["10.0.1.10"].serving) == (True, True)
    assert (conditions["10.0.2.11"].ready, conditions["10.0.2.11"].serving, conditions["10.0.2.11"].terminating) == (
        False,
        True,
        True,
    )
    assert (conditions["10.0.3.12"].ready, conditions["10.0.3.12"].serving) == (False, False)

    again = asyncio.run(publisher.publish(fleet, 2358, _endpoints()))
    assert (again.service, again.endpoint_slice) == ("unchanged", "unchanged")
    fewer = asyncio.run(publisher.publish(fleet, 2358, _endpoints()[:1]))
    assert (fewer.service, fewer.endpoint_slice) == ("unchanged", "patched")
    assert len(discovery.read_namespaced_endpoint_slice(fleet.name, NAMESPACE).endpoints) == 1

    kubernetes.client.CustomObjectsApi(kube).delete_namespaced_custom_object(
        "judge0.dev", "v1alpha1", NAMESPACE, "judge0fleets", fleet.name
    )

    def collected() -> bool:
        names = {s.metadata.name for s in core.list_namespaced_service(NAMESPACE).items}
        slices = {s.metadata.name for s in discovery.list_namespaced_endpoint_slice(NAMESPACE).items}
        return fleet.name not in names and fleet.name not in slices

    wait_for(collected, timeout=10, what="Service and EndpointSlice garbage-collected")


def test_a_service_of_that_name_not_owned_by_the_fleet_is_left_alone(
    world: World, kube: kubernetes.client.ApiClient
) -> None:
    fleet = _fleet(kube, world, f"taken-{uuid.uuid4().hex[:6]}")
    core = kubernetes.client.CoreV1Api(kube)
    core.create_namespaced_service(
        NAMESPACE, {"metadata": {"name": fleet.name}, "spec": {"ports": [{"port": 80}]}}
    )
    done = asyncio.run(ServicePublisher(kube).publish(fleet, 2358, _endpoints()))
    assert done.conflict and done.service == "conflict"
    assert [p.port for p in core.read_namespaced_service(fleet.name, NAMESPACE).spec.ports] == [80]
    assert not asyncio.run(ServicePublisher(kube).unpublish(FleetRef(NAMESPACE, fleet.name, "other-uid")))


def test_unpublish_deletes_the_fleets_own_objects(world: World, kube: kubernetes.client.ApiClient) -> None:
    fleet = _fleet(kube, world, f"off-{uuid.uuid4().hex[:6]}")
    publisher = ServicePublisher(kube)
    asyncio.run(publisher.publish(fleet, 2358, _endpoints()))
    assert asyncio.run(publisher.unpublish(fleet))
    core = kubernetes.client.CoreV1Api(kube)
    assert fleet.name not in {s.metadata.name for s in core.list_namespaced_service(NAMESPACE).items}
    assert not asyncio.run(publisher.unpublish(fleet))  # nothing left to delete


# --- submissions left behind ----------------------------------------------------------------------

def test_a_restart_re_enqueues_what_judge0_left_in_queue(world: World, world_ec2: Any, clients: AwsClients) -> None:
    """Workers dead, 5 submissions queued: restarting the workers drops Judge0's queue (Redis keeps
    nothing) but not its rows; the requeue command run after the restart gets all 5 processed."""
    from fixtures.world import ControlClient
    from judge0_operator.act.aws import AwsActuator
    from judge0_operator.api.fleet import Judge0FleetSpec
    from judge0_operator.api.policy import DEFAULT_REQUEUE_COMMAND
    from judge0_operator.decide.model import RestartJudge0

    control = ControlClient(world.info["control_url"])
    [iid] = _run_instances(world, world_ec2, 1)
    wait_for(lambda: control.instance(iid).get("serving"), timeout=20, what="Judge0 serving")
    control.fault(iid, "workers-dead")
    node = world.info["judge0_endpoint_template"].format(instance_id=iid)
    tokens = [_submit(node, f"print({n})") for n in range(5)]
    assert control.instance(iid)["judge0"]["queue_size"] == 5
    spec = Judge0FleetSpec.model_validate(
        {"region": world.info["region"], "instance": {"imageId": world.info["image_id"], "instanceType": "t3.small",
                                                      "subnets": list(world.info["subnets"].values())}}
    )
    actuator = AwsActuator(clients, world.info["region"], circuit=CircuitBreakers(), budget=ApiBudget(),
                           ssm_poll_seconds=0.05)
    restart = "cd /opt/judge0 && docker compose restart workers"
    outcome = asyncio.run(
        actuator.execute(
            RestartJudge0(instance_id=iid, reason="workers stuck", command=restart, requeue=True),
            spec=spec, fleet_uid="uid", fleet_ref="ns/f", template_hash="h", restart_command=restart,
            ssm_timeout_seconds=10, requeue_command=DEFAULT_REQUEUE_COMMAND,
        )
    )
    assert outcome.ok, outcome.detail
    [sent] = [c for c in control.instance(iid)["calls"] if c["action"] == "SendCommand"]
    assert sent["commands"] == [f"{restart} && {DEFAULT_REQUEUE_COMMAND}"]
    wait_for(lambda: {_status(node, t) for t in tokens} == {3}, timeout=20, what="all 5 Accepted after the requeue")


def _submit(node: str, source: str) -> str:
    request = urllib.request.Request(
        f"{node}/submissions", data=json.dumps({"source_code": source, "language_id": 71}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return str(json.loads(reply.read())["token"])


def _status(node: str, token: str) -> int | None:
    """The submission's status id; None while the node does not answer (Judge0 restarting)."""
    try:
        with urllib.request.urlopen(f"{node}/submissions/{token}", timeout=10) as reply:
            return int(json.loads(reply.read())["status"]["id"])
    except (OSError, http.client.HTTPException):
        return None
