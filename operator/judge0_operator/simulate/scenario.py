"""Scenarios: faults over time, as YAML a user can write, validated before anything starts.

A scenario is a list of steps ``{at, fault, target, params, clearAt}``. ``at`` and ``clearAt`` are
seconds on the *scenario clock*, which starts once the fleet is Ready and pauses while a step with
``waitForHealthy`` waits for the fleet to be whole again (so faults do not pile up on a slow
recovery and every fault is measured on its own). A fault is any fault of the world's catalogue
(``world/faults/catalogue.py``) plus a few actions on the fleet itself: ``rollout`` (change the instance
template; ``brokenSandbox: true`` rolls out to a new image whose every instance has a broken
sandbox, and ``clearAt`` rolls back), ``scale`` (change ``spec.replicas``) and ``burst`` (queue
jobs on the nodes at once).

Targets::

    random            one live instance of the fleet, chosen with the scenario's seed
    slot:<slot>       the live instance filling that slot (e.g. slot:s1)
    instance:<id>     one instance by id
    zone:<zone>       a zone by name, or by index into the fleet's zones (zone:1), or every zone (zone:*)
    all               every live instance of the fleet, one fault each
    aws               the AWS API as a whole (throttle, aws-error)
    fleet             the fleet resource (rollout, scale, burst)
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from judge0_operator.world.faults.catalogue import FAULT_SPECS, validate_params
from judge0_operator.world.faults.errors import FaultError

Expectation = Literal["recover", "safety-stop", "survive", "scale-up", "rollout", "observe", "template-defective"]
FLEET_ACTIONS = ("rollout", "scale", "burst")
SURVIVE_FAULTS = frozenset({"throttle", "aws-error", "capacity-error"})
FEATURES = ("scaling", "rollout")


class ScenarioError(ValueError):
    """A scenario that cannot run; the message names the step and the field."""


class RolloutParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instanceType: str | None = None
    imageId: str | None = None
    # A new image whose every instance has a broken sandbox (cgroup v2: status 13): the world's
    # spare AMI, faulted; clearAt rolls back to the world's image.
    brokenSandbox: bool | None = None

    @model_validator(mode="after")
    def _one_change(self) -> RolloutParams:
        if self.instanceType is None and self.imageId is None and not self.brokenSandbox:
            raise ValueError("set instanceType or imageId (the template field to change), or brokenSandbox")
        if self.brokenSandbox and self.imageId is not None:
            raise ValueError("brokenSandbox picks the image itself: leave out imageId")
        return self


class ScaleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    replicas: int = Field(ge=0, le=1000)


class BurstParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jobs: int = Field(
        gt=0, le=100_000, description="Jobs queued at once, spread over the fleet's live nodes."
    )


_FLEET_PARAMS: dict[str, type[BaseModel]] = {
    "rollout": RolloutParams,
    "scale": ScaleParams,
    "burst": BurstParams,
}


@dataclass(frozen=True)
class Target:
    """A parsed target selector."""

    kind: Literal["random", "slot", "instance", "zone", "all", "aws", "fleet"]
    value: str = ""

    @property
    def aims_at(self) -> str:
        """What the world's fault sees: an instance, a zone, the AWS API or the fleet."""
        return {
            "random": "instance",
            "slot": "instance",
            "instance": "instance",
            "all": "instance",
            "zone": "zone",
            "aws": "aws",
            "fleet": "fleet",
        }[self.kind]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}" if self.value else self.kind


def parse_target(text: str) -> Target:
    """Parse a selector string; raises ValueError with the accepted forms."""
    text = text.strip()
    if text in ("random", "all", "aws", "fleet"):
        return Target(text)  # type: ignore[arg-type]
    kind, sep, value = text.partition(":")
    if sep and value and kind in ("slot", "instance", "zone"):
        if kind == "instance" and not value.startswith("i-"):
            raise ValueError(f"instance target {value!r} is not an instance id (i-…)")
        return Target(kind, value)  # type: ignore[arg-type]
    raise ValueError(
        f"unknown target {text!r}: use random, all, aws, fleet, slot:<slot>, instance:<i-…>, "
        "zone:<zone>, zone:<index> or zone:*"
    )


class Step(BaseModel):
    """One thing that happens to the world or the fleet at a moment of the scenario."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str | None = Field(default=None, description="Label in the view and the report.")
    at: float = Field(ge=0, description="Scenario seconds at which the fault is injected.")
    fault: str = Field(description="A world fault (see the fault table) or rollout, scale, burst.")
    target: str | None = Field(
        default=None, description="Selector; defaults to random, aws or fleet by fault."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="The fault's parameters.")
    clear_at: float | None = Field(
        default=None, alias="clearAt", description="Scenario seconds to remove it."
    )
    expect: Expectation | None = Field(default=None, description="What the operator should achieve.")
    wait_for_healthy: bool = Field(
        default=True,
        alias="waitForHealthy",
        description="Pause the scenario clock until the fleet is whole first.",
    )
    requires: Literal["scaling", "rollout"] | None = Field(
        default=None, description="A capacity feature the step needs; skipped when it is switched off."
    )

    @field_validator("fault")
    @classmethod
    def _known_fault(cls, value: str) -> str:
        if value not in FAULT_SPECS and value not in FLEET_ACTIONS:
            known = ", ".join([*sorted(FAULT_SPECS), *FLEET_ACTIONS])
            raise ValueError(f"unknown fault {value!r}; known: {known}")
        return value

    @field_validator("target")
    @classmethod
    def _parse_target(cls, value: str | None) -> str | None:
        if value is not None:
            parse_target(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Step:
        if self.clear_at is not None and self.clear_at <= self.at:
            raise ValueError(f"clearAt ({self.clear_at:g}) must be later than at ({self.at:g})")
        target = self.selector
        if self.fault in FLEET_ACTIONS:
            if target.kind != "fleet" and not (self.fault == "burst" and target.aims_at == "instance"):
                raise ValueError(f"{self.fault} acts on the fleet: target must be fleet (got {target})")
            try:
                self.params = (
                    _FLEET_PARAMS[self.fault].model_validate(self.params).model_dump(exclude_none=True)
                )
            except ValidationError as exc:
                raise ValueError(_params_problem(self.fault, exc)) from None
            broken = self.fault == "rollout" and bool(self.params.get("brokenSandbox"))
            if self.clear_at is not None and self.fault != "burst" and not broken:
                raise ValueError(f"{self.fault} cannot be cleared: leave out clearAt")
        else:
            spec = FAULT_SPECS[self.fault]
            if target.aims_at not in spec.targets:
                raise ValueError(
                    f"fault {self.fault!r} cannot target {target} ({target.aims_at}); "
                    f"it takes: {', '.join(sorted(spec.targets))}"
                )
            try:
                self.params = validate_params(spec, self.params)
            except FaultError as exc:
                raise ValueError(str(exc)) from None
        if self.expect == "safety-stop" and self.clear_at is None:
            raise ValueError("a safety-stop step must set clearAt: nothing heals a partition but its end")
        return self

    @property
    def selector(self) -> Target:
        if self.target is not None:
            return parse_target(self.target)
        if self.fault in FLEET_ACTIONS:
            return Target("fleet")
        if FAULT_SPECS[self.fault].targets == frozenset({"aws"}):
            return Target("aws")
        if FAULT_SPECS[self.fault].targets == frozenset({"zone"}):
            return Target("zone", "0")
        return Target("random")

    @property
    def expectation(self) -> Expectation:
        """``expect`` or the natural one for the fault."""
        if self.expect is not None:
            return self.expect
        if self.fault in SURVIVE_FAULTS:
            return "survive"
        if self.fault in ("load", "burst"):
            return "scale-up"
        if self.fault == "rollout":
            return "template-defective" if self.params.get("brokenSandbox") else "rollout"
        if self.fault == "scale":
            return "observe"
        return "recover"

    @property
    def label(self) -> str:
        return self.name or f"{self.fault}@{self.at:g}s"


class Scenario(BaseModel):
    """A named list of steps."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(default="scenario", description="Shown in the view and the report.")
    description: str = Field(default="", description="What the scenario rehearses.")
    seed: int = Field(default=7, description="Seed for `random` targets.")
    settle_seconds: float = Field(
        default=30, ge=0, alias="settleSeconds", description="After the last step: how long to wait for calm."
    )
    max_wait_healthy_seconds: float = Field(
        default=60, gt=0, alias="maxWaitHealthySeconds", description="Cap on each waitForHealthy pause."
    )
    steps: list[Step] = Field(min_length=1, description="The steps, in any order (they run by `at`).")

    @property
    def ordered_steps(self) -> list[Step]:
        return sorted(self.steps, key=lambda s: s.at)

    @property
    def duration(self) -> float:
        """Scenario seconds until the last injection or clearing."""
        return max(max(s.at, s.clear_at or 0.0) for s in self.steps)

    def without(self, features: Sequence[str]) -> Scenario:
        """The scenario minus the steps that need a switched-off feature."""
        kept = [s for s in self.steps if s.requires not in features]
        if not kept:
            raise ScenarioError(f"scenario {self.name!r}: every step needs {', '.join(features)}")
        return self.model_copy(update={"steps": kept})


def _params_problem(fault: str, exc: ValidationError) -> str:
    problems = "; ".join(
        f"params.{'.'.join(str(p) for p in err['loc']) or '?'}: {err['msg']}" for err in exc.errors()
    )
    return f"bad params for {fault}: {problems}"


def _describe_errors(exc: ValidationError, raw: Mapping[str, Any]) -> str:
    """One line per problem, naming the step (index and name) and the field."""
    lines = []
    steps = raw.get("steps") if isinstance(raw, Mapping) else None
    for err in exc.errors():
        loc = list(err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            index = loc[1]
            name = ""
            if isinstance(steps, list) and index < len(steps) and isinstance(steps[index], Mapping):
                label = steps[index].get("name") or steps[index].get("fault")
                name = f" ({label})" if label else ""
            field = ".".join(str(p) for p in loc[2:])
            lines.append(f"step {index + 1}{name}: {field + ': ' if field else ''}{msg}")
        else:
            lines.append(f"{'.'.join(str(p) for p in loc) or 'scenario'}: {msg}")
    return "\n".join(lines)


def parse_scenario(raw: Any, *, source: str = "scenario") -> Scenario:
    """Validate a loaded YAML document; raises ScenarioError with one line per problem."""
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{source}: expected a mapping with a `steps` list, got {type(raw).__name__}")
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: invalid scenario\n{_describe_errors(exc, raw)}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ScenarioError(f"{path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    return parse_scenario(raw, source=str(path))


# --- target selection (pure: the runner passes in what the fleet looks like) --------------------------


@dataclass(frozen=True)
class LiveInstance:
    """What target selection needs to know about one live instance of the fleet."""

    instance_id: str
    slot: str
    zone: str
    healthy: bool = True


def resolve_zone(value: str, zones: Sequence[str]) -> list[str]:
    """``zone:eu-west-1b``, ``zone:1`` (index into ``zones``) or ``zone:*``."""
    if value == "*":
        return list(zones)
    if value.isdigit():
        index = int(value)
        if index >= len(zones):
            raise ScenarioError(
                f"zone index {index} is out of range: the fleet has {len(zones)} zones {list(zones)}"
            )
        return [zones[index]]
    if value not in zones:
        raise ScenarioError(f"zone {value!r} is not one of the fleet's zones {list(zones)}")
    return [value]


def _slot_matches(wanted: str, slot: str) -> bool:
    """``slot:s1``, ``slot:1`` and ``slot:slot-1`` all name the slot whose number is 1."""
    if wanted == slot:
        return True
    digits = "".join(ch for ch in slot if ch.isdigit())
    return wanted.isdigit() and digits != "" and int(digits) == int(wanted)


def select_targets(
    target: Target, instances: Sequence[LiveInstance], zones: Sequence[str], rng: random.Random
) -> list[str]:
    """The world fault targets (``i-…``, ``zone:…``, ``aws``) a selector names right now."""
    if target.kind == "aws":
        return ["aws"]
    if target.kind == "fleet":
        return []
    if target.kind == "zone":
        return [f"zone:{zone}" for zone in resolve_zone(target.value, zones)]
    if target.kind == "instance":
        return [target.value]
    live = sorted(instances, key=lambda i: (i.slot, i.instance_id))
    if not live:
        raise ScenarioError(f"target {target}: the fleet has no live instance")
    if target.kind == "all":
        return [i.instance_id for i in live]
    if target.kind == "slot":
        found = [i.instance_id for i in live if _slot_matches(target.value, i.slot)]
        if not found:
            raise ScenarioError(
                f"target {target}: no live instance fills that slot ({[i.slot for i in live]})"
            )
        return found[-1:]
    pool = [i for i in live if i.healthy] or live
    return [rng.choice(pool).instance_id]


# --- the built-in scenarios ------------------------------------------------------------------------

BUILTIN_DIR = Path(__file__).with_name("scenarios")


def builtin_scenario(short: bool = False) -> Scenario:
    """The default scenario (every rung), or its CI cut (``--short``)."""
    return load_scenario(BUILTIN_DIR / ("short.yaml" if short else "default.yaml"))
