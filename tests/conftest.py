"""Test-session guard: any socket connection to a non-loopback address fails the test loudly.

moto hands out fake 10.x private IPs; the simulated world must never send a packet to them.
The guard wraps ``socket.socket.connect``/``connect_ex`` (and asyncio's loop connections go
through them too), so it covers boto3, aiohttp, the kubernetes client and subprocess-free code.
Subprocesses started by tests (the operator, ``world up``) install the same guard through
``JUDGE0_OPERATOR_LOOPBACK_ONLY=1`` (see ``judge0_operator.world.loopback``).
"""

from __future__ import annotations

import os

import pytest

from judge0_operator.world import loopback

os.environ[loopback.ENV_FLAG] = "1"
loopback.install_guard()

# Shared fixtures: ``world`` and friends (tests/ is on sys.path as this conftest's directory).
pytest_plugins = ["fixtures.world"]


@pytest.fixture(autouse=True)
def _fail_on_non_loopback_attempts():
    """Fail the test whose code tried to reach a non-loopback address, even if it swallowed the error."""
    before = len(loopback.VIOLATIONS)
    yield
    new = loopback.VIOLATIONS[before:]
    if new:
        pytest.fail(f"non-loopback connection attempted: {new}", pytrace=False)
