"""End-to-end fixtures: one simulated world and one real operator process per test module.

``e2e`` gives each test an ``E2E`` helper (``e2e_support.py``) in a namespace of its own, and
after the test clears every world fault, pauses and deletes its fleets (terminating their
instances, retained ones included) and waits until they are gone, so nothing leaks into the
next test. The world is reset once per module, not per test: the operator keeps watching it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from e2e_support import E2E, E2E_SPEED, OperatorHandle

if TYPE_CHECKING:
    from judge0_operator.simulate.clients import KubeClient
    from judge0_operator.world.thread import WorldThread


def _namespace_for(node_name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9]+", "-", node_name.lower().removeprefix("test_")).strip("-")
    return f"e2e-{cleaned}"[:63].rstrip("-")


@pytest.fixture(scope="module")
def e2e_world(_world_keeper: Any) -> Iterator[WorldThread]:
    """The module's world, fresh and at ``E2E_SPEED``; put back to the test defaults afterwards."""
    from fixtures.world import _TUNABLE, TEST_SPEED
    from judge0_operator.world.config import WorldConfig

    thread = _world_keeper.get()
    world = thread.world
    thread.run(world.reset())
    thread.call(lambda: world.configure(speed=E2E_SPEED))
    yield thread
    thread.run(world.reset())
    defaults = {name: getattr(WorldConfig(speed=TEST_SPEED), name) for name in _TUNABLE}
    thread.call(lambda: world.configure(**defaults))


@pytest.fixture(scope="module")
def e2e_operator(e2e_world: WorldThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorHandle]:
    """``judge0-operator run`` against the module's world."""
    handle = OperatorHandle(e2e_world, tmp_path_factory.mktemp("operator") / "operator.log")
    handle.start()
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def e2e_kube(e2e_world: WorldThread) -> Iterator[KubeClient]:
    from judge0_operator.simulate.clients import KubeClient

    client = KubeClient(str(e2e_world.world.info["kubeconfig"]))
    yield client
    client.close()


@pytest.fixture
def e2e(
    e2e_world: WorldThread, e2e_kube: KubeClient, e2e_operator: OperatorHandle, request: pytest.FixtureRequest
) -> Iterator[E2E]:
    """The helper for one test, in its own namespace; cleans up after the test (see the module doc).
    ``@pytest.mark.world_config(client_tokens=False)`` changes world settings for the one test."""
    marker = request.node.get_closest_marker("world_config")
    changed = dict(marker.kwargs) if marker else {}
    world = e2e_world.world
    before = {name: getattr(world.config, name) for name in changed}
    if changed:
        e2e_world.call(lambda: world.configure(**changed))
    helper = E2E(e2e_world, e2e_kube, e2e_operator, _namespace_for(request.node.name))
    helper.clear_faults()
    yield helper
    if before:
        e2e_world.call(lambda: world.configure(**before))
    problems = helper.cleanup()
    if problems:
        pytest.fail("cleanup: " + "\n".join(problems), pytrace=False)
