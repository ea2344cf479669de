"""Playing the scenario: each step injected (a fault, a spec change, a burst) and cleared on
the scenario clock, recorded as an ``Injection`` for the report.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import replace

from judge0_operator.simulate.clients import ControlError
from judge0_operator.simulate.report.step_timings import Injection
from judge0_operator.simulate.runner.waiting import Waiting
from judge0_operator.simulate.scenario import LiveInstance, ScenarioError, Step, select_targets


class Playing(Waiting):
    """Runs the steps in scenario time, waiting for the fleet to be whole where a step asks."""

    async def _until(self, at: float) -> None:
        while (remaining := at - self.scenario_clock()) > 0:
            self._check_alive()
            self.state.scenario_clock = self.scenario_clock()
            await asyncio.sleep(min(remaining, 0.2))

    async def _play(self) -> None:
        steps = self.options.scenario.ordered_steps
        plan: list[tuple[float, int, int]] = []  # (scenario time, 0 inject / 1 clear, step index)
        for index, step in enumerate(steps):
            plan.append((step.at, 0, index))
            if step.clear_at is not None:
                plan.append((step.clear_at, 1, index))
        plan.sort()
        for at, what, index in plan:
            await self._until(at)
            step = steps[index]
            if what == 0:
                if step.wait_for_healthy:
                    await self._wait_whole(self.options.scenario.max_wait_healthy_seconds, why=step.label)
                self.injections[index] = await self._inject(step)
            elif index in self.injections:
                self.injections[index] = await self._clear(self.injections[index])

    def _skip_reason(self, step: Step) -> str | None:
        if step.requires in self.options.skip_features:
            return f"{step.requires} switched off (--no-capacity)"
        if step.expectation == "scale-up" and not self.fleet.get("spec", {}).get("scaling"):
            return "the fleet has no spec.scaling"
        return None

    def _live_instances(self) -> list[LiveInstance]:
        s = self.state.latest
        if s is None:
            return []
        out = []
        for w in s.fleet_world(self.fleet_uid):
            row = s.status_row(w.instance_id)
            if w.live and row is not None:
                out.append(
                    LiveInstance(
                        w.instance_id,
                        row.slot or (w.slot or ""),
                        w.zone,
                        row.health == "Healthy" and not any(fid in s.active_faults for fid, _ in w.faults),
                    )
                )
        return out

    async def _inject(self, step: Step) -> Injection:
        assert self.control is not None and self.kube is not None
        now = time.time()
        s = self.state.latest
        base = Injection(
            label=step.label,
            fault=step.fault,
            expectation=step.expectation,
            target=str(step.selector),
            at=now,
            scenario_at=round(self.scenario_clock(), 2),
            params=dict(step.params),
            baseline_desired=s.desired if s else 0,
            waited=step.wait_for_healthy,
        )
        skip = self._skip_reason(step)
        if skip:
            self.state.add("note", f"skipped {step.label}: {skip}", "warn")
            return replace(base, skipped=skip)
        live = self._live_instances()
        try:
            targets = select_targets(step.selector, live, self.zones, self._rng)
        except ScenarioError as exc:
            self.state.add("fault", f"{step.label}: {exc}", "bad")
            return replace(base, error=str(exc))
        zones = tuple(t.split(":", 1)[1] for t in targets if t.startswith("zone:"))
        if step.selector.aims_at == "fleet":
            hit = [i for i in live]
        elif zones:
            hit = [i for i in live if i.zone in zones]
        else:
            hit = [i for i in live if i.instance_id in targets]
        fault_ids: list[str] = []
        try:
            if step.fault == "rollout" and step.params.get("brokenSandbox"):
                fault_ids.extend(await self._roll_out_a_broken_image(step))
            elif step.fault == "rollout":
                await self.kube.patch_fleet_spec(
                    self.fleet_ns, self.fleet_name, {"instance": dict(step.params)}
                )
            elif step.fault == "scale":
                await self.kube.patch_fleet_spec(
                    self.fleet_ns, self.fleet_name, {"replicas": step.params["replicas"]}
                )
            elif step.fault == "burst":
                running = hit or live
                per_node = max(1, math.ceil(step.params["jobs"] / max(1, len(running))))
                for inst in running:
                    await self.control.load(inst.instance_id, per_node)
            else:
                for target in targets:
                    created = await self.control.add_fault(target, step.fault, step.params)
                    fault_ids.append(str(created["id"]))
                    self._our_faults[str(created["id"])] = step.label
                    if step.clear_at is None and not target.startswith("zone:") and target != "aws":
                        self._awaiting_heal.add(str(created["id"]))  # the operator is to heal it
        except (ControlError, Exception) as exc:  # a refused injection is reported, the run goes on
            self.state.add("fault", f"{step.label}: injection failed: {exc}", "bad")
            return replace(base, error=str(exc), fault_ids=tuple(fault_ids))
        where = (
            ", ".join(f"{i.instance_id} ({i.slot}, {i.zone})" for i in hit)
            if not zones
            else ", ".join(targets)
        )
        detail = f" {step.params}" if step.params else ""
        self.state.add("fault", f"{step.label}: {step.fault}{detail} → {where or step.selector}", "warn")
        return replace(
            base,
            at=now,
            fault_ids=tuple(fault_ids),
            world_targets=tuple(targets),
            instances=tuple(i.instance_id for i in hit),
            slots=tuple(i.slot for i in hit),
            zones=zones,
        )

    async def _roll_out_a_broken_image(self, step: Step) -> list[str]:
        """A new AMI whose every instance fails with status 13 (a cgroup v2 image): the world's
        spare image gets ``sandbox-broken``, then the fleet rolls out to it."""
        assert self.control is not None and self.kube is not None
        image = self.info.get("spare_image_id")
        if not image:
            raise ScenarioError("the world has no spare image to roll out to")
        created = await self.control.add_fault(f"image:{image}", "sandbox-broken", {})
        self._our_faults[str(created["id"])] = step.label
        await self.kube.patch_fleet_spec(self.fleet_ns, self.fleet_name, {"instance": {"imageId": image}})
        return [str(created["id"])]

    async def _clear(self, injection: Injection) -> Injection:
        assert self.control is not None
        if injection.skipped or injection.error:
            return injection
        if injection.fault == "rollout" and injection.params.get("brokenSandbox"):
            assert self.kube is not None  # roll back to the world's image, then lift the fault
            image = self.info["image_id"]
            await self.kube.patch_fleet_spec(self.fleet_ns, self.fleet_name, {"instance": {"imageId": image}})
            self.state.add("clear", f"{injection.label}: rolled back to {image}")
        removed = 0
        for fault_id in injection.fault_ids:
            try:
                removed += await self.control.remove_fault(fault_id)
            except ControlError as exc:
                self.state.add("clear", f"{injection.label}: {exc}", "bad")
        gone = len(injection.fault_ids) - removed
        extra = f" ({gone} already healed or gone)" if gone else ""
        self.state.add("clear", f"{injection.label}: cleared {removed} fault(s){extra}")
        return replace(injection, cleared_at=time.time())
