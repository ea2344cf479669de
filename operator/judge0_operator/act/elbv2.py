"""Register and deregister instance targets in ELBv2 target groups, guarded like every AWS call.

One call per target group per direction per pass, naming every instance that enters (or leaves)
rotation at once. Both calls are idempotent on ELBv2's side (registering a registered target or
deregistering an absent one is a no-op), so a retry after a lost answer is harmless; the planner
recomputes what to do from observed target health every pass. With leader election each call
first passes the lease fence (``aws/guarded.py``). Failures come back classified, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from judge0_operator import metrics
from judge0_operator.aws.budget import ApiBudget
from judge0_operator.aws.circuit import CircuitBreakers
from judge0_operator.aws.clients import AwsClients
from judge0_operator.aws.errors import classify
from judge0_operator.aws.guarded import AwsCallError, CircuitOpenError, Fence, FencedError, GuardedCaller

log = logging.getLogger(__name__)

TargetOperation = Literal["RegisterTargets", "DeregisterTargets"]
MAX_TARGETS_PER_CALL = 500  # well under ELBv2's limits; a fleet has at most 1000 instances


@dataclass(frozen=True)
class TargetChange:
    """What came of one Register/DeregisterTargets call."""

    operation: TargetOperation
    target_group_arn: str
    instance_ids: tuple[str, ...]
    ok: bool
    error_code: str | None = None
    error_message: str | None = None
    error_kind: str | None = None

    @property
    def detail(self) -> str:
        verb = "registered in" if self.operation == "RegisterTargets" else "deregistered from"
        what = f"{', '.join(self.instance_ids)} {verb} {self.target_group_arn.rsplit(':', 1)[-1]}"
        return what if self.ok else f"{what} failed: {self.error_code}: {self.error_message}"


class TargetsActuator:
    """Target group changes for fleets of one region. Share one per region."""

    def __init__(
        self,
        clients: AwsClients,
        region: str,
        *,
        circuit: CircuitBreakers | None = None,
        budget: ApiBudget | None = None,
        fence: Fence | None = None,
    ) -> None:
        self.region = region
        self._clients = clients
        self._caller = GuardedCaller(region, circuit=circuit, budget=budget, fence=fence)

    async def register(self, target_group_arn: str, instance_ids: Sequence[str]) -> list[TargetChange]:
        """RegisterTargets (the group's own port) for ``instance_ids``; one outcome per call made."""
        return await self._change("RegisterTargets", target_group_arn, instance_ids)

    async def deregister(self, target_group_arn: str, instance_ids: Sequence[str]) -> list[TargetChange]:
        """DeregisterTargets: the load balancer sends those instances no new requests from now on."""
        return await self._change("DeregisterTargets", target_group_arn, instance_ids)

    async def _change(
        self, operation: TargetOperation, arn: str, instance_ids: Sequence[str]
    ) -> list[TargetChange]:
        ids = list(dict.fromkeys(instance_ids))
        changes = []
        for start in range(0, len(ids), MAX_TARGETS_PER_CALL):
            batch = tuple(ids[start : start + MAX_TARGETS_PER_CALL])
            changes.append(await self._call(operation, arn, batch))
        return changes

    async def _call(self, operation: TargetOperation, arn: str, batch: tuple[str, ...]) -> TargetChange:
        elbv2 = self._clients.elbv2(self.region)
        fn = elbv2.register_targets if operation == "RegisterTargets" else elbv2.deregister_targets
        try:
            await self._caller.call(operation, fn, TargetGroupArn=arn, Targets=[{"Id": i} for i in batch])
        except FencedError:
            raise  # no longer the leader: abort the pass
        except CircuitOpenError as exc:
            change = TargetChange(operation, arn, batch, False, "CircuitOpen", str(exc), "circuit-open")
        except AwsCallError as exc:
            error = exc.error
            change = TargetChange(operation, arn, batch, False, error.code, error.message, error.kind)
        except Exception as exc:  # an unexpected answer must not abort the controller's pass
            log.exception("%s failed unexpectedly", operation)
            error = classify(exc)
            change = TargetChange(operation, arn, batch, False, error.code, error.message, error.kind)
        else:
            change = TargetChange(operation, arn, batch, True)
        metrics.REMEDIATION_ACTIONS.labels(operation, "succeeded" if change.ok else change.error_kind or "failed").inc()
        (log.info if change.ok else log.warning)("%s", change.detail)
        return change
