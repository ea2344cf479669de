"""One observer and one actuator per region, sharing that region's token budget.

EC2's buckets are per account *and region*, so the observer's describes and the actuator's
mutations of a region must draw from the same ``ApiBudget``; breakers are keyed by region inside
one process-wide registry (exported as metrics by default).
"""

from __future__ import annotations

from judge0_operator.act.aws import AwsActuator
from judge0_operator.aws.budget import ApiBudget
from judge0_operator.aws.circuit import CircuitBreakers
from judge0_operator.aws.clients import AwsClients
from judge0_operator.observe.ec2 import Ec2Observer


class AwsRegions:
    """Lazily built per-region ``Ec2Observer``/``AwsActuator`` pairs. Use from one event loop."""

    def __init__(
        self,
        clients: AwsClients,
        *,
        circuit: CircuitBreakers | None = None,
        cache_seconds: float = 2.0,
        ssm_poll_seconds: float = 1.0,
    ) -> None:
        if circuit is None:
            from judge0_operator.metrics import new_circuit_breakers

            circuit = new_circuit_breakers()
        self.clients = clients
        self.circuit = circuit
        self.cache_seconds = cache_seconds
        self.ssm_poll_seconds = ssm_poll_seconds
        self._budgets: dict[str, ApiBudget] = {}
        self._observers: dict[str, Ec2Observer] = {}
        self._actuators: dict[str, AwsActuator] = {}

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

    def actuator(self, region: str) -> AwsActuator:
        if region not in self._actuators:
            self._actuators[region] = AwsActuator(
                self.clients,
                region,
                circuit=self.circuit,
                budget=self.budget(region),
                ssm_poll_seconds=self.ssm_poll_seconds,
            )
        return self._actuators[region]
