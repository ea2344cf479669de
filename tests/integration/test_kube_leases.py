"""Leases on the world's Kubernetes API, over real HTTP on loopback.

The emulator serves ``coordination.k8s.io/v1`` Leases with the API server's optimistic
concurrency (an update carrying a stale ``resourceVersion`` is a 409), and leader election
(``controller/election/lease_api.py`` + the renewal thread of ``controller/election/renewal.py``) relies on exactly
that: two renewal threads in this process elect one leader, hand over on release, and a leader
that cannot renew stops acting before the other one takes the Lease.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from judge0_operator.controller.election.leadership import Leadership
from judge0_operator.controller.election.lease_api import LeaseApi, LeaseConflict
from judge0_operator.controller.election.renewal import LeaseRunner
from judge0_operator.controller.election.state_machine import LeaseElection, LeaseRecord, Timings, Write
from judge0_operator.world.kube.server import KubeEmulator

NAMESPACE = "judge0-system"
SHORT = Timings(lease_duration=1.5, renew_deadline=1.0, retry_period=0.25)


@pytest.fixture(scope="module")
def emulator() -> Iterator[KubeEmulator]:
    emu = KubeEmulator()
    emu.start_in_thread()
    yield emu
    emu.stop_in_thread()


@pytest.fixture(scope="module")
def kubeconfig(emulator: KubeEmulator, tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(emulator.write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig"))


@pytest.fixture
def coordination(kubeconfig: str) -> Iterator[client.CoordinationV1Api]:
    api = config.new_client_from_config(config_file=kubeconfig)
    yield client.CoordinationV1Api(api)
    api.close()


def lease(name: str, holder: str) -> dict:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15},
    }


def test_an_update_with_a_stale_resource_version_is_a_409(coordination: client.CoordinationV1Api) -> None:
    created = coordination.create_namespaced_lease(NAMESPACE, lease("stale", "a"))
    first_rv = created.metadata.resource_version
    body = lease("stale", "b")
    body["metadata"]["resourceVersion"] = first_rv
    updated = coordination.replace_namespaced_lease("stale", NAMESPACE, body)
    assert updated.spec.holder_identity == "b"
    assert int(updated.metadata.resource_version) > int(first_rv)

    body = lease("stale", "c")
    body["metadata"]["resourceVersion"] = first_rv  # what "a" saw, before "b" wrote
    with pytest.raises(ApiException) as stale:
        coordination.replace_namespaced_lease("stale", NAMESPACE, body)
    assert stale.value.status == 409 and "Conflict" in str(stale.value.body)
    assert coordination.read_namespaced_lease("stale", NAMESPACE).spec.holder_identity == "b"

    with pytest.raises(ApiException) as exists:
        coordination.create_namespaced_lease(NAMESPACE, lease("stale", "d"))
    assert exists.value.status == 409 and "AlreadyExists" in str(exists.value.body)


def test_lease_api_creates_renews_and_reports_conflicts(kubeconfig: str) -> None:
    api = LeaseApi.from_config(kubeconfig, NAMESPACE, "roundtrip")
    try:
        assert api.get(1.0) is None
        create = Write("acquire", None, "me", 15, 0, keep_acquire_time=False)
        created = api.write(create, 1.0)
        assert created.holder == "me" and created.lease_duration_seconds == 15 and created.transitions == 0
        assert created.acquire_time and created.acquire_time == created.renew_time
        renewed_at = datetime.fromisoformat(created.renew_time.replace("Z", "+00:00"))  # a MicroTime
        assert renewed_at.tzinfo is not None and abs((datetime.now(UTC) - renewed_at).total_seconds()) < 60

        time.sleep(0.01)
        renew = Write("renew", created.resource_version, "me", 15, 0, keep_acquire_time=True,
                      acquire_time=created.acquire_time)
        renewed = api.write(renew, 1.0)
        assert renewed.acquire_time == created.acquire_time and renewed.renew_time != created.renew_time
        assert api.get(1.0) == renewed

        with pytest.raises(LeaseConflict):
            api.write(renew, 1.0)  # the version ``renew`` carries is gone
        with pytest.raises(LeaseConflict):
            api.write(create, 1.0)  # it exists already
    finally:
        api.close()


class Breakable:
    """A LeaseApi whose requests can be made to fail (a partitioned or starved leader)."""

    def __init__(self, api: LeaseApi) -> None:
        self.api = api
        self.broken = False

    def get(self, timeout: float) -> LeaseRecord | None:
        if self.broken:
            raise ConnectionError("partitioned")
        return self.api.get(timeout)

    def write(self, step: Write, timeout: float) -> LeaseRecord:
        if self.broken:
            raise ConnectionError("partitioned")
        return self.api.write(step, timeout)


class Replica:
    def __init__(self, kubeconfig: str, name: str, identity: str) -> None:
        self.api = Breakable(LeaseApi.from_config(kubeconfig, NAMESPACE, name))
        self.leadership = Leadership(LeaseElection(identity, SHORT))
        self.lost = threading.Event()
        self.lost_reason = ""
        self.runner = LeaseRunner(self.leadership, self.api, lease_ref=name, on_lost=self._on_lost)

    def _on_lost(self, reason: str) -> None:
        self.lost_reason = reason
        self.lost.set()

    def start(self) -> Replica:
        self.runner.start()
        return self

    def close(self) -> None:
        self.runner.release()
        self.runner.join(5)
        self.api.api.close()


@pytest.fixture
def pair(kubeconfig: str, request: pytest.FixtureRequest) -> Iterator[tuple[Replica, Replica]]:
    name = request.node.name.replace("_", "-")[:60]
    replicas = (Replica(kubeconfig, name, "a").start(), Replica(kubeconfig, name, "b").start())
    yield replicas
    for replica in replicas:
        replica.close()


def first_leader(pair: tuple[Replica, Replica], timeout: float = 10.0) -> tuple[Replica, Replica]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for one, other in (pair, pair[::-1]):
            if one.leadership.became_leader.is_set():
                return one, other
        time.sleep(0.02)
    raise AssertionError("nobody acquired the lease")


def test_two_replicas_elect_exactly_one_and_a_release_hands_over(pair: tuple[Replica, Replica]) -> None:
    leader, standby = first_leader(pair)
    time.sleep(SHORT.lease_duration * 2)  # several renewals and several standby looks
    assert leader.leadership.may_act() and not standby.leadership.may_act()
    assert not standby.leadership.became_leader.is_set()
    assert standby.leadership.view()["holder"] == leader.leadership.identity

    leader.runner.release()
    assert standby.leadership.became_leader.wait(10), "the standby never took the released lease"
    assert not leader.leadership.may_act()
    leader.runner.join(5)
    assert not leader.runner.is_alive() and not leader.lost.is_set()
    assert standby.leadership.may_act()


def test_a_leader_that_cannot_renew_stops_before_the_standby_takes_over(pair: tuple[Replica, Replica]) -> None:
    leader, standby = first_leader(pair)
    verdicts: list[tuple[str, bool]] = []

    def watch() -> None:  # what the leader's fence says at the moment the standby acquires
        standby.leadership.became_leader.wait(15)
        verdicts.append(("leader may act when the standby acquired", leader.leadership.may_act()))

    watcher = threading.Thread(target=watch)
    watcher.start()
    leader.api.broken = True
    assert leader.lost.wait(10), "the leader kept going without renewals"
    assert "renew deadline" in leader.lost_reason
    assert standby.leadership.became_leader.wait(10), "the standby never took the expired lease"
    watcher.join(5)
    assert verdicts == [("leader may act when the standby acquired", False)]


def test_the_lease_names_the_holder_and_counts_transitions(
    pair: tuple[Replica, Replica], coordination: client.CoordinationV1Api, request: pytest.FixtureRequest
) -> None:
    leader, standby = first_leader(pair)
    name = request.node.name.replace("_", "-")[:60]
    before = coordination.read_namespaced_lease(name, NAMESPACE).spec
    assert before.holder_identity == leader.leadership.identity
    assert before.lease_duration_seconds == SHORT.lease_duration_seconds
    leader.runner.release()
    assert standby.leadership.became_leader.wait(10)
    after = coordination.read_namespaced_lease(name, NAMESPACE).spec
    assert after.holder_identity == standby.leadership.identity
    assert after.lease_transitions == (before.lease_transitions or 0) + 1
