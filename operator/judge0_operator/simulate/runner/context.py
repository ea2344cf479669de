"""What every part of one simulation shares: its options, the world's clients, what was
recorded so far, and the checks that stop a run whose operator or sampler died.
"""

from __future__ import annotations

import random
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judge0_operator.simulate.clients import ControlClient, KubeClient
from judge0_operator.simulate.operator_process import OperatorProcess
from judge0_operator.simulate.report.step_timings import Injection
from judge0_operator.simulate.samples import ActionSeen, Sample
from judge0_operator.simulate.scenario import Scenario
from judge0_operator.simulate.state import SimState

DEFAULT_SPEED = 10.0


class SimulationError(RuntimeError):
    """The simulation could not run to the end (the message says where it stopped)."""


@dataclass
class Options:
    scenario: Scenario
    fleet_path: str | None = None
    policy_path: str | None = None
    speed: float = DEFAULT_SPEED
    fast_policy: bool = True
    skip_features: tuple[str, ...] = ()
    sample_interval: float = 0.5
    ready_timeout: float = 120.0
    work_dir: str | None = None  # operator and world logs (default: a temporary directory)
    client_rate: float = 1.0  # student submissions per second through the published front (0: off)
    client_drain_seconds: float = 15.0  # at the end: how long in-flight submissions may still finish
    auth_token: str = field(default_factory=lambda: "sim-" + secrets.token_hex(8))


class RunContext:
    """The shared state of one run; the other parts of the runner build on it."""

    def __init__(self, options: Options, state: SimState) -> None:
        self.options = options
        self.state = state
        self.samples: list[Sample] = []
        self.actions: dict[tuple[Any, ...], ActionSeen] = {}
        self.injections: dict[int, Injection] = {}
        self.event_reasons: dict[str, int] = {}
        self.notes: list[str] = []
        self.paused = 0.0
        self.fleet_uid: str | None = None
        self.fleet_ns = "default"
        self.fleet_name = "judge0"
        self.fleet: dict[str, Any] = {}
        self.policy: dict[str, Any] = {}
        self.zones: list[str] = []
        self.info: dict[str, Any] = {}
        self.setup_calls: dict[str, int] = {}
        self.target_group_arn: str | None = None
        self.client_target: str | None = None
        self.client_summary: dict[str, Any] | None = None
        self.operator: OperatorProcess | None = None
        self.control: ControlClient | None = None
        self.kube: KubeClient | None = None
        self._seen_events: set[tuple[str, int]] = set()
        self._seen_healed: set[str] = set()
        self._our_faults: dict[str, str] = {}  # fault id → step label
        self._awaiting_heal: set[str] = set()  # injected instance faults no scenario step will clear
        self._rng = random.Random(options.scenario.seed)
        self._sampler_error: BaseException | None = None
        self.work_dir = Path(options.work_dir or tempfile.mkdtemp(prefix="judge0-simulate-"))

    def _check_alive(self) -> None:
        if self._sampler_error is not None:
            raise SimulationError(f"sampling failed: {self._sampler_error!r}")
        if self.operator is not None and not self.operator.alive:
            raise SimulationError(
                f"the operator exited (code {self.operator.proc.returncode if self.operator.proc else '?'});"
                f" log tail:\n{self.operator.tail()}"
            )

    def scenario_clock(self) -> float:
        return 0.0 if self.state.origin is None else time.time() - self.state.origin - self.paused
