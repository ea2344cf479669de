"""The contract between the world's instance model and the Judge0 node simulator.

The world (``world/world.py``) knows each instance's EC2 state and the faults injected on it;
the Judge0 simulator (``world/judge0/server.py``) serves the HTTP API and asks this directory, per
request, whether the node may answer and which node-level faults it must show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

# Node-level (Judge0 process / host) faults the simulator understands, by name.
NODE_FAULTS = (
    "judge0-down",  # connection refused / dropped: the web process is not listening
    "judge0-slow",  # params: {"delaySeconds": float} added to every answer
    "api-500",  # every API endpoint answers 500
    "workers-dead",  # workers stop taking jobs: queue grows, /workers shows available 0
    "sandbox-broken",  # every run ends with status 13 and the rb_sysopen message
    "queue-full",  # POST /submissions answers 503 {"error": "queue is full"}
    "redis-down",  # /workers and POST /submissions answer 500
    "db-down",  # /languages, /statistics (and submission reads) answer 500
    "maintenance",  # POST /submissions answers 503 maintenance message
    "flapping",  # params: {"periodSeconds": float}: alternates down/up each period
    "load",  # params: {"jobsPerSecond": float}: background submissions arriving
    "disk-filling",  # the data volume fills (world/aws/disk.py); at 100% the world adds db-down
    "auth-rejected",  # params: {"status": 401 | 403}: every filtered route answers it, empty body
)


@dataclass(frozen=True)
class NodeView:
    """What one instance's Judge0 node looks like right now."""

    serving: bool  # EC2 instance is running and has finished booting (else: connection refused)
    faults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # active node faults → params


class NodeDirectory(Protocol):
    """Looks up an instance's node view; ``None`` for an instance the world does not hold."""

    def node(self, instance_id: str) -> NodeView | None: ...
