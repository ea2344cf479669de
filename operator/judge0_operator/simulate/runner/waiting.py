"""Waiting for the fleet to be whole: before a step that asks for it (the scenario clock
pauses meanwhile) and at the end, so the leak check sees world and status agree.
"""

from __future__ import annotations

import asyncio
import time

from judge0_operator.simulate.runner.context import RunContext
from judge0_operator.simulate.samples import Sample


class Waiting(RunContext):
    """Judges from the latest sample whether the fleet is whole, and waits for it."""

    def _whole(self, s: Sample) -> bool:
        """Exactly the desired count, every one Healthy and on the current template, nothing in
        flight, no injected fault left for the operator to heal — instances in a zone that is
        still faulted aside (the operator replaces them)."""
        if s.desired == 0 or s.healthy < s.desired:
            return False
        if s.active_faults & self._awaiting_heal:
            return False  # injected, not yet healed (perhaps not yet even noticed)
        zone_faults = s.active_faults & {
            fid for inj in self.injections.values() if inj.zones for fid in inj.fault_ids
        }
        counted = []
        for row in s.instances:
            world = s.world_row(row.instance_id)
            if world is not None and any(fid in zone_faults for fid, _ in world.faults):
                continue
            if row.health != "Healthy" or not row.updated:
                return False
            counted.append(row.instance_id)
        in_status = {r.instance_id for r in s.instances}
        in_flight = [w for w in s.fleet_world(self.fleet_uid) if w.live and w.instance_id not in in_status]
        return len(counted) == s.desired and not in_flight

    async def _wait_whole(self, limit: float, why: str, quiet_samples: int = 2) -> bool:
        start = time.time()
        streak = 0
        last_seen: Sample | None = None
        announced = False
        while time.time() - start < limit:
            self._check_alive()
            s = self.state.latest
            if s is not None and s is not last_seen:
                last_seen = s
                streak = streak + 1 if self._whole(s) else 0
                if streak >= quiet_samples:
                    break
            if not announced and time.time() - start > 1.0:
                self.state.add("note", f"waiting for the fleet to be whole before {why}")
                announced = True
            await asyncio.sleep(0.1)
        else:
            self.state.add("note", f"fleet still not whole after {limit:.0f}s; going on with {why}", "warn")
        waited = time.time() - start
        if self.state.origin is not None:
            self.paused += waited
        return streak >= quiet_samples

    async def _settle(self) -> None:
        limit = self.options.scenario.settle_seconds
        await self._wait_whole(limit, why="the end", quiet_samples=3)
        deadline = time.time() + max(5.0, limit / 2)
        while time.time() < deadline:  # the leak check wants world and status to agree for a moment
            s = self.state.latest
            if s is not None:
                live = {w.instance_id for w in s.world if w.live}
                if live <= {r.instance_id for r in s.instances}:
                    break
            await asyncio.sleep(0.25)
        await asyncio.sleep(2 * self.options.sample_interval)
