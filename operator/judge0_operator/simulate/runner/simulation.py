"""One simulation from start to report: world up, operator up, manifests applied, fleet Ready,
student load on, the scenario played, settled, and everything recorded judged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from judge0_operator.simulate import manifests
from judge0_operator.simulate.clients import ControlClient, ControlError, KubeClient
from judge0_operator.simulate.operator_process import OperatorProcess
from judge0_operator.simulate.report.build import Report, build_report
from judge0_operator.simulate.report.client_load import clients_section
from judge0_operator.simulate.runner.context import SimulationError
from judge0_operator.simulate.runner.playing import Playing
from judge0_operator.simulate.runner.sampling import Sampling


class Simulation(Playing, Sampling):
    """The whole run; ``extras`` is what the JSON report carries besides the report."""

    # ---- the whole run -------------------------------------------------------------------------
    async def run(self) -> Report:
        from judge0_operator.world.config import WorldConfig
        from judge0_operator.world.world import World

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
