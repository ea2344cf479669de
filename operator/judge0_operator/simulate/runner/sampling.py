"""The sampler: every ~0.5 s the fleet's status, the world's instances and faults, and the
fleet's Events, turned into samples for the report and timeline entries for the live view.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from judge0_operator.decide import conditions
from judge0_operator.simulate.runner.context import RunContext
from judge0_operator.simulate.samples import ActionSeen, Sample, parse_actions, parse_sample
from judge0_operator.simulate.state import Level

log = logging.getLogger(__name__)
ECHOED_EVENTS = frozenset({"Remediating", "Launch", "Terminate", "RestartJudge0", "RebootInstance", "Start"})


class Sampling(RunContext):
    """Samples the run in the background; changes go to the timeline once each."""

    async def _sample_forever(self) -> None:
        interval = self.options.sample_interval
        last_events = 0.0
        failures = 0
        while True:
            started = time.time()
            try:
                await self._sample_once()
                if started - last_events >= 1.0:
                    last_events = started
                    await self._poll_events()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.warning("sampling failed: %r", exc)
                if failures >= 20:  # ten seconds blind: the report would be fiction
                    self._sampler_error = exc
            else:
                failures = 0
            self.state.scenario_clock = self.scenario_clock()
            await asyncio.sleep(max(0.05, interval - (time.time() - started)))

    async def _sample_once(self) -> None:
        assert self.control is not None and self.kube is not None
        t = time.time()
        fleet, world, faults = await asyncio.gather(
            self.kube.fleet(self.fleet_ns, self.fleet_name), self.control.instances(), self.control.faults()
        )
        sample = parse_sample(t, fleet, world, faults.get("faults", []))
        previous = self.state.latest
        self.samples.append(sample)
        self.state.latest = sample
        self._diff(previous, sample, parse_actions(fleet.get("status") or {}), faults.get("healed", []))

    def _diff(
        self, prev: Sample | None, cur: Sample, actions: list[ActionSeen], healed: list[dict[str, Any]]
    ) -> None:
        for action in sorted(actions, key=lambda a: a.t):
            if action.key in self.actions:
                continue
            self.actions[action.key] = action
            level: Level = "bad" if action.outcome.startswith("Failed") else "good"
            who = " ".join(p for p in (action.instance_id, f"({action.slot})" if action.slot else "") if p)
            self.state.add(
                "action",
                f"{action.action} {who}: {action.reason} → {action.outcome}",
                level,
                t=action.t,
            )
        for kind, c in cur.conditions.items():
            old = prev.condition(kind) if prev else None
            if old is None or (old.status, old.reason) != (c.status, c.reason):
                good = (c.status == "True") != (kind == "Degraded")
                msg = f" — {c.message}" if c.message and not good else ""
                self.state.add(
                    "condition", f"{kind}={c.status} ({c.reason}){msg}", "good" if good else "warn"
                )
        before = {r.instance_id: r.health for r in prev.instances} if prev else {}
        for row in cur.instances:
            if before.get(row.instance_id) != row.health and not (
                row.instance_id not in before and row.health != "Unhealthy"
            ):
                bad = sorted(k for k, v in row.signals.items() if v == "Unhealthy")
                why = f" ({', '.join(bad)})" if bad else ""
                health_level: Level = (
                    "bad" if row.health == "Unhealthy" else "good" if row.health == "Healthy" else "info"
                )
                self.state.add(
                    "health", f"{row.instance_id} ({row.slot}, {row.zone}) {row.health}{why}", health_level
                )
        for fault in healed:
            fid = str(fault.get("id"))
            if fid in self._our_faults and fid not in self._seen_healed:
                self._seen_healed.add(fid)
                by = fault.get("healedBy", "?")
                if by != "deleted":
                    self.state.add(
                        "healed",
                        f"{fault.get('fault')} on {fault.get('target')} ({self._our_faults[fid]}) gone: {by}",
                        "good",
                    )

    async def _poll_events(self) -> None:
        assert self.kube is not None
        try:
            events = await self.kube.events(self.fleet_ns, self.fleet_name)
        except Exception:
            return
        for event in events:
            uid = str(event.get("metadata", {}).get("uid") or event.get("metadata", {}).get("name"))
            count = int(event.get("count") or 1)
            if (uid, count) in self._seen_events:
                continue
            self._seen_events.add((uid, count))
            reason = str(event.get("reason", ""))
            self.event_reasons[reason] = self.event_reasons.get(reason, 0) + 1
            if reason in ECHOED_EVENTS or reason in {a.action for a in self.actions.values()}:
                continue  # shown as an action already
            if any(
                reason == f"{kind}{status}"
                for kind in conditions.ORDER
                for status in ("True", "False", "Unknown")
            ):
                continue  # shown as a condition change already
            event_level: Level = "warn" if event.get("type") == "Warning" else "info"
            self.state.add("event", f"{reason}: {event.get('message', '')}", event_level)
