"""One observer and one actuator per region, sharing that region's token budget.

EC2's buckets are per account *and region*, so the observer's describes and the actuator's
mutations of a region must draw from the same ``ApiBudget``; breakers are keyed by region inside
one process-wide registry (exported as metrics by default).
"""

from __future__ import annotations

from judge0_operator.act.aws import AwsActuator
from judge0_operator.act.elbv2 import TargetsActuator
from judge0_operator.aws.budget import ApiBudget
from judge0_operator.aws.circuit import CircuitBreakers
from judge0_operator.aws.clients import AwsClients
from judge0_operator.aws.guarded import Fence
from judge0_operator.observe.disk import DiskProber
from judge0_operator.observe.ec2 import Ec2Observer
from judge0_operator.observe.elbv2 import TargetHealthObserver


class AwsRegions:
    """Lazily built per-region ``Ec2Observer``/``AwsActuator`` pairs. Use from one event loop."""

    def __init__(
        self,
        clients: AwsClients,
        *,
        circuit: CircuitBreakers | None = None,
        cache_seconds: float = 2.0,
        ssm_poll_seconds: float = 1.0,
        fence: Fence | None = None,
    ) -> None:
        if circuit is None:
            from judge0_operator.metrics import new_circuit_breakers

            circuit = new_circuit_breakers()
        self.clients = clients
        self.circuit = circuit
        self.cache_seconds = cache_seconds
        self.ssm_poll_seconds = ssm_poll_seconds
        self.fence = fence  # leader election: guards the actuators' mutating calls
        self._budgets: dict[str, ApiBudget] = {}
        self._observers: dict[str, Ec2Observer] = {}
        self._actuators: dict[str, AwsActuator] = {}
        self._disk_probers: dict[str, DiskProber] = {}
        self._target_observers: dict[str, TargetHealthObserver] = {}
        self._target_actuators: dict[str, TargetsActuator] = {}

    def budget(self, region: str) -> ApiBudget:
        if region not in self._budgets:
            self._budgets[region] = ApiBudget()
        return self._budgets[region]

    def observer(self, region: str) -> Ec2Observer:
        if region not in self._observers:
            self._observers[region] = Ec2Observer(
                self.clients,
                region,
                cache_seconds=self.cache_seconds,
                circuit=self.circuit,
                budget=self.budget(region),
            )
        return self._observers[region]

    def disk_prober(self, region: str) -> DiskProber:
        """The region's batched SSM disk probe (its SendCommand is fenced like the actuators')."""
        if region not in self._disk_probers:
            self._disk_probers[region] = DiskProber(
                self.clients,
                region,
                circuit=self.circuit,
                budget=self.budget(region),
                fence=self.fence,
                poll_seconds=self.ssm_poll_seconds,
            )
        return self._disk_probers[region]

    async def close(self) -> None:
        """Stop the background disk probes."""
        for prober in self._disk_probers.values():
            await prober.close()

    def actuator(self, region: str) -> AwsActuator:
        if region not in self._actuators:
            self._actuators[region] = AwsActuator(
                self.clients,
                region,
                circuit=self.circuit,
                budget=self.budget(region),
                ssm_poll_seconds=self.ssm_poll_seconds,
                fence=self.fence,
            )
        return self._actuators[region]

    def target_health(self, region: str) -> TargetHealthObserver:
        """ELBv2 target health of the region's target groups (ELBv2 buckets of the same budget)."""
        if region not in self._target_observers:
            self._target_observers[region] = TargetHealthObserver(
                self.clients, region, cache_seconds=self.cache_seconds, circuit=self.circuit, budget=self.budget(region)
            )
        return self._target_observers[region]

    def targets(self, region: str) -> TargetsActuator:
        """Register/DeregisterTargets in the region, fenced like every mutating call."""
        if region not in self._target_actuators:
            self._target_actuators[region] = TargetsActuator(
                self.clients, region, circuit=self.circuit, budget=self.budget(region), fence=self.fence
            )
        return self._target_actuators[region]
