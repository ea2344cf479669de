"""One simulation: world up, operator up, fleet Ready, scenario played, everything sampled.

    world (in-process) ──► operator (subprocess) ──► Secret + RecoveryPolicy + Judge0Fleet
        ──► wait for Ready ──► scenario steps via the control API ──► settle ──► report

A sampler reads the fleet's status and the world's instances and faults every ~0.5 s; the
report is computed from those samples only (``report.py``). The scenario clock pauses while a
step waits for the fleet to be whole, so one slow recovery does not stack faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import secrets
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from judge0_operator.decide import conditions
from judge0_operator.simulate import manifests
from judge0_operator.simulate.clients import ControlClient, ControlError, KubeClient
from judge0_operator.simulate.operator_process import OperatorProcess
from judge0_operator.simulate.report import Injection, Report, build_report, clients_section
from judge0_operator.simulate.samples import ActionSeen, Sample, parse_actions, parse_sample
from judge0_operator.simulate.scenario import LiveInstance, Scenario, ScenarioError, Step, select_targets
from judge0_operator.simulate.state import Level, SimState

log = logging.getLogger(__name__)
DEFAULT_SPEED = 10.0
ECHOED_EVENTS = frozenset({"Remediating", "Launch", "Terminate", "RestartJudge0", "RebootInstance", "Start"})


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


@dataclass
class _Active:
    """A step that has been injected (its fault ids, for clearing)."""

    step: Step
    injection: Injection


class Simulation:
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

    # ---- the whole run -------------------------------------------------------------------------
    async def run(self) -> Report:
        from judge0_operator.world.world import World, WorldConfig

        opts = self.options
        self.state.set_phase("starting the world")
        config = WorldConfig(speed=opts.speed, auth_token=opts.auth_token, seed=opts.scenario.seed)
        async with World(config) as world, aiohttp.ClientSession() as session:
            self.info = dict(world.info)
            self.zones = sorted((self.info.get("subnets") or {}).keys())
            self.control = ControlClient(self.info["control_url"], session)
            self.kube = KubeClient(self.info["kubeconfig"])
            self.operator = OperatorProcess(self.info, self.work_dir / "operator.log")
            sampler: asyncio.Task[None] | None = None
            try:
                self.state.set_phase("starting the operator")
                await self.operator.start()
                await self._apply_manifests()
                sampler = asyncio.create_task(self._sample_forever(), name="simulate-sampler")
                await self._wait_ready()
                await self._start_clients()
                self.setup_calls = dict((await self.control.calls()).get("by_action", {}))
                await self.control.reset_calls()
                self.state.origin = time.time()
                self.state.set_phase(f"playing {opts.scenario.name}")
                await self._play()
                self.state.set_phase("settling")
                await self._settle()
                await self._stop_clients()
                end = time.time()
                calls = await self.control.calls()
                return self._report(end, calls)
            finally:
                if sampler is not None:
                    sampler.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await sampler
                self.state.set_phase("stopping the operator")
                await self.operator.stop()
                self.kube.close()
                self.state.set_phase("stopping the world")

    def _report(self, end: float, calls: Mapping[str, Any]) -> Report:
        origin = self.state.origin or end
        notes = [
            *self.notes,
            f"world speed {self.options.speed:g}: boots and state changes take 1/{self.options.speed:g} "
            "of their world durations; scenario and policy seconds are real seconds",
            f"timings are sampled every {self.options.sample_interval:g}s (±1 sample)",
            f"operator log: {self.operator.log_path if self.operator else '-'}",
        ]
        if self.paused > 0.5:
            notes.append(
                f"scenario clock paused {self.paused:.1f}s in total waiting for the fleet to be whole"
            )
        report = build_report(
            scenario=self.options.scenario.name,
            speed=self.options.speed,
            origin=origin,
            end=end,
            injections=[self.injections[i] for i in sorted(self.injections)],
            samples=self.samples,
            actions=sorted(self.actions.values(), key=lambda a: a.t),
            aws_calls=dict(calls.get("by_action", {})),
            fleet_uid=self.fleet_uid,
            final=self.samples[-1] if self.samples else None,
            policy=manifests.describe_policy(self.policy),
            fleet=manifests.describe_fleet(self.fleet),
            notes=notes,
            sample_interval=self.options.sample_interval,
            clients=clients_section(
                self.client_summary, target=self.client_target, rate=self.options.client_rate
            ),
        )
        return report

    # ---- the students ---------------------------------------------------------------------------
    async def _start_clients(self) -> None:
        """Steady submissions through what the fleet publishes (nothing when it publishes nothing)."""
        assert self.control is not None
        self.client_target = manifests.client_target(self.fleet)
        if self.client_target is None:
            self.state.add("note", "no client load: fleet not published (no spec.traffic)")
            return
        if self.options.client_rate <= 0:
            return
        try:
            await self.control.start_clients(self.client_target, self.options.client_rate)
        except ControlError as exc:
            self.state.add("note", f"client load not started: {exc}", "warn")
            self.notes.append(f"client load not started: {exc}")
            return
        self.state.add("note", f"client load: {self.options.client_rate:g}/s through {self.client_target}")

    async def _stop_clients(self) -> None:
        if self.control is None or self.client_target is None or self.options.client_rate <= 0:
            return
        try:
            self.client_summary = await self.control.stop_clients(self.options.client_drain_seconds)
        except ControlError as exc:
            self.notes.append(f"client load summary unavailable: {exc}")

    def extras(self) -> dict[str, Any]:
        """What the JSON report carries besides the report proper."""
        origin = self.state.origin or self.state.started
        return {
            "setupAwsCalls": self.setup_calls,
            "events": dict(sorted(self.event_reasons.items())),
            "timeline": [
                {"t": round(e.t - origin, 2), "kind": e.kind, "text": e.text} for e in self.state.timeline
            ],
            "operatorLog": str(self.operator.log_path) if self.operator else None,
        }

    # ---- setup ----------------------------------------------------------------------------------
    async def _apply_manifests(self) -> None:
        assert self.kube is not None and self.control is not None
        opts = self.options
        group = await self.control.create_target_group(
            manifests.TARGET_GROUP_NAME, tags=manifests.TARGET_GROUP_TAGS
        )
        self.target_group_arn = str(group["TargetGroupArn"])
        fast = opts.fast_policy
        policy = manifests.fit_policy(
            manifests.read_manifest(opts.policy_path, "policy.yaml", manifests._FALLBACK_POLICY), fast=fast
        )
        wants_scaling = (
            any(s.requires == "scaling" or s.expectation == "scale-up" for s in opts.scenario.steps)
            and "scaling" not in opts.skip_features
        )
        fleet = manifests.fit_fleet(
            manifests.read_manifest(opts.fleet_path, "fleet.yaml", manifests._FALLBACK_FLEET),
            self.info,
            policy_name=policy["metadata"]["name"],
            default_shape=opts.fleet_path is None,
            with_scaling=wants_scaling,
            traffic=manifests.SIM_TRAFFIC if opts.fleet_path is None else None,
            target_group_arn=self.target_group_arn,
        )
        fleet["metadata"]["namespace"] = policy["metadata"]["namespace"] = self.fleet_ns = fleet[
            "metadata"
        ].get("namespace", "default")
        self.fleet_name = fleet["metadata"]["name"]
        self.policy, self.fleet = policy, fleet
        self.state.set_phase("applying Secret, RecoveryPolicy and Judge0Fleet")
        await self.kube.apply(manifests.secret(opts.auth_token, self.fleet_ns))
        await self.kube.apply(policy)
        created = await self.kube.apply(fleet)
        self.fleet_uid = created.get("metadata", {}).get("uid")
        desc = manifests.describe_policy(policy)
        self.state.add(
            "note",
            f"policy {desc['name']} ({'compressed timings' if fast else 'as written'}): "
            f"api/workers unhealthy after {desc['probes']['api']['unhealthyAfterSeconds']}s/"
            f"{desc['probes']['workers']['unhealthyAfterSeconds']}s, canary "
            f"{desc['probes']['canary']['unhealthyAfterSeconds']}s, startup grace "
            f"{desc['startupGraceSeconds']}s, ladder {' → '.join(desc['ladder'])}",
        )

    async def _wait_ready(self) -> None:
        self.state.set_phase("waiting for the fleet to be Ready")
        deadline = time.time() + self.options.ready_timeout
        while time.time() < deadline:
            self._check_alive()
            s = self.state.latest
            ready = s.condition("Ready") if s else None
            if s and ready and ready.status == "True" and s.healthy >= s.desired > 0:
                self.state.add("phase", f"fleet Ready: {s.healthy}/{s.desired} healthy", "good")
                return
            await asyncio.sleep(0.25)
        tail = self.operator.tail() if self.operator else ""
        raise SimulationError(
            f"the fleet did not become Ready within {self.options.ready_timeout:.0f}s; "
            f"operator log tail:\n{tail}"
        )

    def _check_alive(self) -> None:
        if self._sampler_error is not None:
            raise SimulationError(f"sampling failed: {self._sampler_error!r}")
        if self.operator is not None and not self.operator.alive:
            raise SimulationError(
                f"the operator exited (code {self.operator.proc.returncode if self.operator.proc else '?'});"
                f" log tail:\n{self.operator.tail()}"
            )

    # ---- the scenario ---------------------------------------------------------------------------
    def scenario_clock(self) -> float:
        return 0.0 if self.state.origin is None else time.time() - self.state.origin - self.paused

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

    # ---- sampling -------------------------------------------------------------------------------
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
