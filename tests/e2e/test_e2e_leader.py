"""High availability end to end: two real ``judge0-operator run --leader-election`` processes.

Short timings (lease 3 s, renew deadline 2 s, retry 0.5 s) passed as flags. The world attributes
every AWS call to the replica that made it (the operator ends its User-Agent with
``replica/<identity>``; ``GET /calls`` → ``by_agent``), so the tests count calls per replica:

- SIGKILL the leader → the standby takes the Lease within lease duration + retry period (plus
  slack for a loaded 2-core machine) and heals a fault injected after the kill;
- SIGSTOP the leader → the standby takes over and heals; when the frozen one resumes (into a
  world that needs action) it exits without a single mutating call;
- SIGTERM the leader during a rolling update (the replacement already standing by) → it releases
  the Lease, a standby takes it within about a retry period, and a client's submissions to a
  node all complete across the handover.

One world, one fleet and one set of replicas serve the whole module (the tests run in order and
each starts by waiting for a Ready fleet with one leader and the others standing by).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import E2E, is_ready, row

from judge0_operator.aws.guarded import is_mutating

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

LEASE, RENEW, RETRY = 3.0, 2.0, 0.5
LEASE_NAMESPACE, LEASE_NAME = "default", "judge0-operator-e2e"
SLACK = 4.0  # scheduling on a busy 2-core machine: Kopf's start, the world's threads, the test's polls
NAMESPACE = "e2e-leader"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str, timeout: float = 2.0) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


class Replica:
    """One operator process with leader election on, its health server on a port of its own."""

    def __init__(self, world: Any, name: str, log_dir: Path) -> None:
        from judge0_operator.simulate.operator_process import OperatorProcess

        self.world = world
        self.name = name
        self.port = free_port()
        self.process = OperatorProcess(
            world.world.info,
            log_dir / f"operator-{name}.log",
            extra_args=[
                "--leader-election",
                f"--lease-namespace={LEASE_NAMESPACE}",
                f"--lease-name={LEASE_NAME}",
                f"--lease-duration={LEASE:g}",
                f"--renew-deadline={RENEW:g}",
                f"--retry-period={RETRY:g}",
                f"--liveness=http://127.0.0.1:{self.port}/healthz",
            ],
            extra_env={"POD_NAME": f"op-{name}"},
        )
        self.identity = ""
        self.frozen = False

    def start(self) -> None:
        self.world.run(self.process.start())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            view = self.view()
            if view:
                self.identity = view["identity"]
                return
            assert self.alive, self.tail()
            time.sleep(0.1)
        raise AssertionError(f"replica {self.name} never answered /readyz:\n{self.tail()}")

    def view(self) -> dict[str, Any] | None:
        try:
            status, body = get_json(f"http://127.0.0.1:{self.port}/readyz")
        except OSError:
            return None
        return body if status == 200 else None

    @property
    def alive(self) -> bool:
        return self.process.alive

    @property
    def returncode(self) -> int | None:
        return self.process.proc.returncode if self.process.proc else None

    def signal(self, signum: int) -> None:
        assert self.process.pid is not None
        os.kill(self.process.pid, signum)
        self.frozen = signum == signal.SIGSTOP or (self.frozen and signum != signal.SIGCONT)

    def wait_exit(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.alive, f"replica {self.name} still running:\n{self.tail()}"
        self.world.run(self.process.stop())  # reaps it and closes the log
        assert self.returncode is not None
        return self.returncode

    def stop(self) -> None:
        if self.frozen and self.alive:
            self.signal(signal.SIGCONT)
        self.world.run(self.process.stop())

    def tail(self, lines: int = 30) -> str:
        return self.process.tail(lines)


class Replicas:
    """The module's replicas; quacks like ``e2e_support.OperatorHandle`` for ``E2E``."""

    def __init__(self, world: Any, log_dir: Path) -> None:
        self.world = world
        self.log_dir = log_dir
        self.members: dict[str, Replica] = {}
        self._serial = 0

    def add(self) -> Replica:
        self._serial += 1
        replica = Replica(self.world, chr(ord("a") + self._serial - 1), self.log_dir)
        replica.start()
        self.members[replica.name] = replica
        return replica

    def live(self) -> list[Replica]:
        return [r for r in self.members.values() if r.alive]

    # --- what E2E expects of its operator handle ---
    @property
    def alive(self) -> bool:
        return bool(self.live())

    def start(self) -> None:
        """Keep two replicas running (dead ones are dropped: a restart is a new pod)."""
        self.members = {k: r for k, r in self.members.items() if r.alive}
        while len(self.members) < 2:
            self.add()

    def resume(self) -> None:
        for replica in self.live():
            if replica.frozen:
                replica.signal(signal.SIGCONT)

    def stop(self) -> None:
        for replica in list(self.members.values()):
            replica.stop()

    def tail(self, lines: int = 60) -> str:
        return "\n".join(
            f"--- replica {r.name} ({r.identity}) ---\n{r.tail(lines // 2)}" for r in self.members.values()
        )


def lease_holder(e2e: E2E) -> str:
    import kubernetes

    api = kubernetes.client.CoordinationV1Api(e2e.kube.api_client)
    try:
        found = api.read_namespaced_lease(LEASE_NAME, LEASE_NAMESPACE)
    except kubernetes.client.ApiException as error:
        if error.status == 404:
            return ""
        raise
    return str(found.spec.holder_identity or "")


def lease_transitions(e2e: E2E) -> int:
    import kubernetes

    api = kubernetes.client.CoordinationV1Api(e2e.kube.api_client)
    return int(api.read_namespaced_lease(LEASE_NAME, LEASE_NAMESPACE).spec.lease_transitions or 0)


def calls_of(e2e: E2E, replica: Replica) -> dict[str, int]:
    return dict(e2e.control.get("/calls")["by_agent"].get(f"replica/{replica.identity}", {}))


def mutating(calls: dict[str, int]) -> dict[str, int]:
    return {action: n for action, n in calls.items() if is_mutating(action) and n}


def healed_by(e2e: E2E, fault_id: str) -> str | None:
    for fault in e2e.healed():
        if fault["id"] == fault_id:
            return str(fault.get("healedBy") or "deleted")
    return None


@pytest.fixture(scope="module")
def replicas(e2e_world: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    group = Replicas(e2e_world, tmp_path_factory.mktemp("operators"))
    group.start()
    yield group
    group.stop()


@pytest.fixture(scope="module")
def ha(e2e_world: Any, e2e_kube: Any, replicas: Replicas) -> Iterator[tuple[E2E, list[str]]]:
    """The module's helper and its Ready fleet of three (created once, cleaned up at the end)."""
    helper = E2E(e2e_world, e2e_kube, replicas, NAMESPACE)  # type: ignore[arg-type]
    helper.clear_faults()
    _, ids = helper.ready_fleet(replicas=3)
    yield helper, ids
    problems = helper.cleanup()
    if problems:
        pytest.fail("cleanup: " + "\n".join(problems), pytrace=False)


def roles(e2e: E2E, replicas: Replicas, timeout: float = 30.0) -> tuple[Replica, list[Replica]]:
    """Wait for a Ready fleet, a leader among the live replicas and every other one standing by."""
    replicas.start()
    e2e.clear_faults()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = lease_holder(e2e)
        live = replicas.live()
        leaders = [r for r in live if r.identity == holder]
        views = {r.name: r.view() for r in live}
        standing_by = all(
            (views[r.name] or {}).get("state") == "standing by" for r in live if r.identity != holder
        )
        if leaders and standing_by:
            e2e.wait_ready(timeout=max(1.0, deadline - time.monotonic()))
            return leaders[0], [r for r in live if r.identity != holder]
        time.sleep(0.1)
    pytest.fail(e2e.report("no leader with the others standing by"))


def wait_holder(e2e: E2E, wanted: set[str], timeout: float) -> tuple[str, float]:
    """Until the Lease names one of ``wanted``; (holder, seconds waited)."""
    started = time.monotonic()
    holder = e2e.wait(lambda: (lease_holder(e2e) in wanted) and lease_holder(e2e), timeout=timeout,
                      what=f"the lease held by one of {sorted(wanted)}")
    return str(holder), time.monotonic() - started


def heal(e2e: E2E, instance_id: str, fault: str = "judge0-down") -> str:
    """Inject a fault and wait until the world says a Judge0 restart healed it; the fault's id."""
    fault_id = e2e.fault(instance_id, fault)
    e2e.wait(lambda: healed_by(e2e, fault_id), timeout=40, what=f"{fault} on {instance_id} healed")
    assert str(healed_by(e2e, fault_id)).startswith("restart")
    e2e.wait_fleet(lambda f: is_ready(f) and row(f, instance_id).get("health") == "Healthy", timeout=30,
                   what=f"{instance_id} healthy again")
    return fault_id


def test_a_killed_leader_is_replaced_within_lease_duration_and_the_standby_heals(
    ha: tuple[E2E, list[str]], replicas: Replicas
) -> None:
    e2e, ids = ha
    leader, standbys = roles(e2e, replicas)
    standby = standbys[0]
    assert calls_of(e2e, standby) == {}, "a standby makes no AWS call at all"
    assert calls_of(e2e, leader), "the leader observes EC2 (its calls carry its identity)"
    status, health = get_json(f"http://127.0.0.1:{standby.port}/healthz")
    assert status == 200 and health["state"] == "standing by"  # live and ready while standing by

    leader.signal(signal.SIGKILL)
    _, took = wait_holder(e2e, {standby.identity}, timeout=LEASE + RETRY + SLACK)
    print(f"SIGKILL takeover: {took:.2f}s (lease {LEASE:g}s + retry {RETRY:g}s)")
    assert leader.wait_exit(5) == -signal.SIGKILL

    heal(e2e, ids[0])
    assert mutating(calls_of(e2e, standby)).get("SendCommand"), "the new leader restarted Judge0"
    assert standby.view()["state"] == "leading"


def test_a_frozen_leader_resumes_without_a_single_mutating_call(
    ha: tuple[E2E, list[str]], replicas: Replicas
) -> None:
    e2e, ids = ha
    leader, standbys = roles(e2e, replicas)
    before = mutating(calls_of(e2e, leader))

    leader.signal(signal.SIGSTOP)
    holder, took = wait_holder(e2e, {r.identity for r in standbys}, timeout=LEASE + RETRY + SLACK)
    print(f"SIGSTOP takeover: {took:.2f}s")
    heal(e2e, ids[1])  # the new leader acts while the old one is frozen

    second = e2e.fault(ids[2], "judge0-down")  # and the world needs action the moment it resumes
    leader.signal(signal.SIGCONT)
    code = leader.wait_exit(10)
    assert code == 1, f"the resumed replica should exit on its lost lease, got {code}:\n{leader.tail()}"
    assert "lost the lease" in leader.tail(200)
    e2e.wait(lambda: healed_by(e2e, second), timeout=40, what="the second fault healed by the new leader")
    assert mutating(calls_of(e2e, leader)) == before, "the resumed replica made a mutating call"
    assert lease_holder(e2e) == holder


def test_a_rolling_update_hands_over_in_about_a_retry_period_and_loses_no_submission(
    ha: tuple[E2E, list[str]], replicas: Replicas
) -> None:
    e2e, ids = ha
    leader, standbys = roles(e2e, replicas)
    replacement = replicas.add()  # maxSurge: the new pod is up (standing by) before the old one stops
    e2e.wait(lambda: (replacement.view() or {}).get("state") == "standing by", timeout=15, what="replacement up")
    transitions = lease_transitions(e2e)
    client = SubmissionLoop(e2e, ids[0])
    client.start()
    e2e.wait(lambda: client.accepted >= 5, timeout=15, what="the client's first submissions")
    before = mutating(calls_of(e2e, leader))

    leader.signal(signal.SIGTERM)
    holder, took = wait_holder(e2e, {r.identity for r in [*standbys, replacement]}, timeout=RETRY + SLACK)
    print(f"SIGTERM handover: {took:.2f}s (retry {RETRY:g}s)")
    assert leader.wait_exit(15) == 0
    assert "released the lease" in leader.tail(200)
    assert lease_transitions(e2e) == transitions + 1
    assert mutating(calls_of(e2e, leader)) == before, "the old leader acted after SIGTERM"

    new_leader = next(r for r in replicas.live() if r.identity == holder)
    heal(e2e, ids[1])  # the new leader acts
    assert mutating(calls_of(e2e, new_leader)).get("SendCommand")
    time.sleep(1.0)  # a few more submissions after the handover
    lost = client.stop_and_check()
    assert client.accepted >= 10
    assert lost == [], f"submissions lost across the handover: {lost}"


class SubmissionLoop(threading.Thread):
    """A client submitting to one node's Judge0 every 0.1 s; checks every submission finished."""

    def __init__(self, e2e: E2E, instance_id: str) -> None:
        super().__init__(daemon=True)
        self.base = e2e.info["judge0_endpoint_template"].format(instance_id=instance_id)
        token = e2e.info.get("judge0_auth_token")
        self.headers = {"Content-Type": "application/json", **({"X-Auth-Token": token} if token else {})}
        self.tokens: list[str] = []
        self.refused: list[str] = []
        self._halt = threading.Event()

    @property
    def accepted(self) -> int:
        return len(self.tokens)

    def run(self) -> None:
        body = json.dumps({"source_code": "ok", "language_id": 43, "stdin": ""}).encode()
        while not self._halt.is_set():
            request = urllib.request.Request(f"{self.base}/submissions?base64_encoded=false&wait=false",
                                             data=body, headers=self.headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=5) as resp:
                    self.tokens.append(json.loads(resp.read())["token"])
            except (OSError, ValueError, KeyError) as error:
                self.refused.append(str(error))
            self._halt.wait(0.1)

    def stop_and_check(self, timeout: float = 20.0) -> list[str]:
        """Stop submitting; the tokens (or refusals) that never reached a final status."""
        self._halt.set()
        self.join(5)
        pending = set(self.tokens)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for token in sorted(pending):
                request = urllib.request.Request(f"{self.base}/submissions/{token}?base64_encoded=false",
                                                 headers=self.headers)
                try:
                    with urllib.request.urlopen(request, timeout=5) as resp:
                        status = json.loads(resp.read())["status"]["id"]
                except (OSError, ValueError, KeyError):
                    continue
                if status >= 3:  # 1 In Queue, 2 Processing; 3 Accepted and beyond are final
                    pending.discard(token)
            time.sleep(0.2)
        return [*sorted(pending), *self.refused]
