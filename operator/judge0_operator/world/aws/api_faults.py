"""The AWS API's own faults, raised before a call reaches moto: ``throttle`` and ``aws-error``
(a seeded RNG per fault decides which calls fail, so a run is repeatable) and the
``InsufficientInstanceCapacity`` of RunInstances/StartInstances into a zone with
``capacity-error`` or ``zone-outage`` (HTTP 500, as EC2 sends it)."""

from __future__ import annotations

import random
from typing import Any

from judge0_operator.world.aws import elbv2 as elbv2_world
from judge0_operator.world.aws.ec2.instances import Ec2Model
from judge0_operator.world.aws.wire import AwsCall, AwsError
from judge0_operator.world.faults.registry import Fault, FaultRegistry


class InjectedError(AwsError):
    """An error the world's faults caused (counted in ``GET /calls`` as ``injected_errors``)."""


class ApiFaults:
    """The injected errors of one AWS front (see the module docstring)."""

    def __init__(
        self, *, faults: FaultRegistry, ec2: Ec2Model, region: str, zones: list[str], seed: int | None
    ) -> None:
        self.faults = faults
        self.ec2 = ec2
        self.region = region
        self.zones = zones
        self._seed = seed
        self._rngs: dict[str, random.Random] = {}

    def reset(self) -> None:
        self._rngs.clear()

    def _rng(self, fault: Fault) -> random.Random:
        rng = self._rngs.get(fault.id)
        if rng is None:
            rng = self._rngs[fault.id] = random.Random(f"{self._seed}/{fault.id}")
        return rng

    def inject_api_faults(self, call: AwsCall) -> None:
        """Raise the ``throttle`` or ``aws-error`` this call draws, if any."""
        for fault in self.faults.on_aws():
            if fault.name not in ("throttle", "aws-error"):
                continue  # the API's other faults act on answers (world/aws/chaos.py)
            actions = fault.params.get("actions")
            if actions and call.action not in actions:
                continue
            if self._rng(fault).random() >= float(fault.params["rate"]):
                continue
            if fault.name == "throttle":
                if call.service == "ssm":
                    raise InjectedError("ThrottlingException", "Rate exceeded", 400)
                if call.service == elbv2_world.SERVICE:
                    raise InjectedError("Throttling", "Rate exceeded", 400)
                raise InjectedError("RequestLimitExceeded", "Request limit exceeded.", 503)
            raise InjectedError(
                str(fault.params["code"]), str(fault.params["message"]), int(fault.params["status"])
            )

    def _capacity_fault(self, zone: str, instance_type: str, market: str) -> str | None:
        if self.faults.in_zone(zone, "zone-outage"):
            return "zone-outage"
        for fault in self.faults.in_zone(zone, "capacity-error"):
            types = fault.params.get("instanceTypes")
            wanted = fault.params.get("market", "any")
            if (not types or instance_type in types) and wanted in ("any", market):
                return "capacity-error"
        return None

    def _insufficient(self, instance_type: str, zone: str) -> AwsError:
        others = ", ".join(z for z in self.zones if z != zone)
        hint = f" or choosing {others}" if others else ""
        return InjectedError(
            "InsufficientInstanceCapacity",
            f"We currently do not have sufficient {instance_type} capacity in the Availability Zone you "
            f"requested ({zone}). Our system will be working on provisioning additional capacity. You can "
            f"currently get {instance_type} capacity by not specifying an Availability Zone in your request"
            f"{hint}.",
            500,
        )

    def check_capacity_for_launch(self, call: AwsCall) -> None:
        """Raise InsufficientInstanceCapacity when RunInstances lands in a zone without capacity."""
        zone = launch_zone(self.ec2.backend, call, self.region)
        if zone is None:
            return
        template = launch_template_data(self.ec2.backend, call)
        instance_type = call.first("InstanceType") or template.get("InstanceType") or "m1.small"
        market_type = call.first("InstanceMarketOptions.MarketType") or (
            template.get("InstanceMarketOptions") or {}
        ).get("MarketType")
        market = "spot" if market_type == "spot" else "on-demand"
        if self._capacity_fault(zone, instance_type, market):
            raise self._insufficient(instance_type, zone)

    def check_capacity_for_start(self, call: AwsCall) -> None:
        """Raise InsufficientInstanceCapacity when a stopped instance would start in such a zone."""
        with self.ec2.lock:
            records = [self.ec2.records.get(i) for i in call.numbered("InstanceId")]
        for record in records:
            if (
                record is not None
                and record.state == "stopped"
                and self._capacity_fault(record.zone, record.instance_type, record.market)
            ):
                raise self._insufficient(record.instance_type, record.zone)


def launch_zone(backend: Any, call: AwsCall, region: str) -> str | None:
    """The zone a RunInstances call lands in, worked out the way moto places it."""
    subnet_id = call.first("SubnetId") or call.first("NetworkInterface.1.SubnetId")
    if subnet_id:
        try:
            return str(backend.get_subnet(subnet_id).availability_zone)
        except Exception:  # unknown subnet: moto answers the proper error itself
            return None
    return call.first("Placement.AvailabilityZone") or f"{region}a"


def launch_template_data(backend: Any, call: AwsCall) -> dict[str, Any]:
    template_id = call.first("LaunchTemplate.LaunchTemplateId")
    template_name = call.first("LaunchTemplate.LaunchTemplateName")
    if not (template_id or template_name):
        return {}
    try:
        arg = {"LaunchTemplateId": template_id} if template_id else {"LaunchTemplateName": template_name}
        version = call.first("LaunchTemplate.Version")
        if version:
            arg["Version"] = version
        return dict(backend._get_template_from_args(arg).data)
    except Exception:
        return {}
