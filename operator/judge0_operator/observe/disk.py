"""The disk probe: each instance's data volume through SSM, batched per fleet, at a long interval.

Judge0 never purges submissions and a full disk takes a node down with no warning in the API, so
only the host can tell. Once per ``probes.disk.intervalSeconds`` a fleet's running instances get
**one** ``SendCommand`` (AWS-RunShellScript ``df -Pk <path>``) per 50 of them (SendCommand's limit),
and the outputs come back in pages of ``ListCommandInvocations`` with ``Details`` — never one call
per instance. It runs in the background like the canaries: a pass reports the latest completed
reading and is never held up. Every call is guarded (breaker, SSM token bucket, lease fence).

``merge`` folds Judge0's ``GET /statistics`` database size (read by the HTTP prober) into the disk
result: DiskPressure when the volume is at or above ``thresholdPercent``, or the database above
``maxDatabaseBytes``. A command that fails or cannot be delivered is inconclusive, not pressure.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from judge0_operator.api.diagnosis import DiskProbe
from judge0_operator.aws.budget import ApiBudget
from judge0_operator.aws.circuit import CircuitBreakers
from judge0_operator.aws.clients import AwsClients
from judge0_operator.aws.guarded import AwsCallError, CircuitOpenError, Fence, GuardedCaller
from judge0_operator.decide.model import Ec2Instance, ProbeResult, Signal

log = logging.getLogger(__name__)

SSM_DOCUMENT = "AWS-RunShellScript"
SEND_BATCH = 50  # SendCommand takes at most 50 InstanceIds
LIST_PAGE = 50  # ListCommandInvocations' MaxResults cap
_TERMINAL = frozenset({"Success", "Failed", "TimedOut", "Cancelled", "Undeliverable", "Terminated"})
_BAD_IDS = re.compile(r"\[\[([^\]]*)\]\]")
GIB = 1024**3
DISK: Signal = "disk"


@dataclass(frozen=True)
class DfReading:
    size_bytes: int
    used_bytes: int

    @property
    def percent(self) -> float:
        return 100.0 * self.used_bytes / self.size_bytes if self.size_bytes else 0.0


def parse_df(output: str) -> DfReading | None:
    """The last data line of ``df -Pk`` (1024-byte blocks): size and used; None if there is none."""
    for line in reversed(output.strip().splitlines()):
        fields = line.split()
        if len(fields) >= 6 and fields[1].isdigit() and fields[2].isdigit():
            return DfReading(size_bytes=int(fields[1]) * 1024, used_bytes=int(fields[2]) * 1024)
    return None


def df_command(spec: DiskProbe) -> str:
    return f"df -Pk {spec.path}"


def reading_result(reading: DfReading, spec: DiskProbe, at: datetime) -> ProbeResult:
    percent = reading.percent
    detail = (
        f"data volume {spec.path} {percent:.0f}% used ({reading.used_bytes / GIB:.1f} of "
        f"{reading.size_bytes / GIB:.1f} GiB; threshold {spec.threshold_percent}%)"
    )
    return ProbeResult(
        signal=DISK,
        ok=percent < spec.threshold_percent,
        observed_at=at,
        detail=detail,
        disk_used_percent=round(percent, 1),
        disk_size_bytes=reading.size_bytes,
    )


def merge(disk: ProbeResult | None, database_bytes: int | None, spec: DiskProbe, now: datetime) -> ProbeResult | None:
    """The disk signal from the df reading and the database size (either may be missing)."""
    if database_bytes is None:
        return disk
    too_big = spec.max_database_bytes is not None and database_bytes >= spec.max_database_bytes
    size = f"database {database_bytes / GIB:.2f} GiB"
    if spec.max_database_bytes is not None:
        size += f" (limit {spec.max_database_bytes / GIB:.2f} GiB)"
    if disk is None:
        return ProbeResult(
            signal=DISK, ok=False if too_big else None, observed_at=now, detail=size, database_bytes=database_bytes
        )
    ok = disk.ok if not too_big else False
    return replace(disk, ok=ok, detail=f"{disk.detail}; {size}", database_bytes=database_bytes)


@dataclass
class _FleetRun:
    last_run: datetime | None = None
    task: asyncio.Task[None] | None = None
    results: dict[str, ProbeResult] = field(default_factory=dict)


class DiskProber:
    """Batched SSM disk readings for the fleets of one region. Use from one event loop."""

    def __init__(
        self,
        clients: AwsClients,
        region: str,
        *,
        circuit: CircuitBreakers | None = None,
        budget: ApiBudget | None = None,
        fence: Fence | None = None,
        poll_seconds: float = 1.0,
    ) -> None:
        self.region = region
        self.poll_seconds = poll_seconds
        self._clients = clients
        self._caller = GuardedCaller(region, circuit=circuit, budget=budget, fence=fence)
        self._fleets: dict[str, _FleetRun] = {}

    def probe_fleet(
        self, fleet_uid: str, instances: Sequence[Ec2Instance], spec: DiskProbe, now: datetime
    ) -> dict[str, ProbeResult]:
        """Start the fleet's batch when due (in the background); the latest reading per running instance."""
        run = self._fleets.setdefault(fleet_uid, _FleetRun())
        running = sorted(i.instance_id for i in instances if i.state == "running")
        idle = run.task is None or run.task.done()
        due = run.last_run is None or now - run.last_run >= timedelta(seconds=spec.interval_seconds * 0.95)
        if spec.enabled and running and idle and due:
            run.last_run = now
            run.task = asyncio.create_task(self._batch(run, running, spec, now), name=f"disk-{fleet_uid}")
        alive = set(running)
        run.results = {iid: r for iid, r in run.results.items() if iid in alive}
        return dict(run.results) if spec.enabled else {}

    def forget_fleet(self, fleet_uid: str) -> None:
        run = self._fleets.pop(fleet_uid, None)
        if run is not None and run.task is not None:
            run.task.cancel()

    async def wait(self) -> None:
        """Wait for the batches in flight (tests, shutdown)."""
        tasks = [r.task for r in self._fleets.values() if r.task is not None and not r.task.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        for run in self._fleets.values():
            if run.task is not None:
                run.task.cancel()
        await self.wait()

    # --- one batch --------------------------------------------------------------------------------
    async def _batch(self, run: _FleetRun, instance_ids: list[str], spec: DiskProbe, started: datetime) -> None:
        try:
            for start in range(0, len(instance_ids), SEND_BATCH):
                chunk = instance_ids[start : start + SEND_BATCH]
                outputs = await self._run(chunk, df_command(spec), spec.timeout_seconds)
                at = datetime.now(started.tzinfo)
                for instance_id, (status, output) in outputs.items():
                    reading = parse_df(output) if status == "Success" else None
                    if reading is not None:
                        run.results[instance_id] = reading_result(reading, spec, at)
                    else:
                        why = f"disk probe {status}" + (f": {output.strip()[:120]}" if output.strip() else "")
                        run.results[instance_id] = ProbeResult(signal=DISK, ok=None, observed_at=at, detail=why)
        except asyncio.CancelledError:
            raise
        except (AwsCallError, CircuitOpenError) as exc:
            log.warning("disk probe in %s failed: %s", self.region, exc)
        except Exception:  # a bug here must not stop the next batch
            log.exception("disk probe in %s failed unexpectedly", self.region)

    async def _run(self, instance_ids: list[str], command: str, timeout: float) -> dict[str, tuple[str, str]]:
        """(status, output) per instance; instances SSM refuses (not running any more) are left out."""
        ssm = self._clients.ssm(self.region)
        seconds = max(30, int(timeout))
        targets = list(instance_ids)
        for _ in range(2):
            try:
                sent: Mapping[str, Any] = await self._caller.call(
                    "SendCommand",
                    ssm.send_command,
                    InstanceIds=targets,
                    DocumentName=SSM_DOCUMENT,
                    Comment="judge0-operator disk probe",
                    Parameters={"commands": [command], "executionTimeout": [str(seconds)]},
                    TimeoutSeconds=seconds,
                    MaxConcurrency="50",
                    MaxErrors="100%",
                )
                break
            except AwsCallError as exc:
                refused = set(_refused_ids(exc))
                if exc.error.code != "InvalidInstanceId" or not refused or not set(targets) - refused:
                    raise
                targets = [i for i in targets if i not in refused]
        else:  # pragma: no cover - the loop breaks or raises
            return {}
        command_id = sent["Command"]["CommandId"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen: dict[str, tuple[str, str]] = {}
        while True:
            await asyncio.sleep(max(0.0, min(self.poll_seconds, deadline - loop.time())))
            seen = await self._collect(command_id)
            done = all(seen.get(i, ("", ""))[0] in _TERMINAL for i in targets)
            if done or loop.time() >= deadline:
                return {i: seen.get(i, ("TimedOut", "")) for i in targets}

    async def _collect(self, command_id: str) -> dict[str, tuple[str, str]]:
        ssm = self._clients.ssm(self.region)
        found: dict[str, tuple[str, str]] = {}
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"CommandId": command_id, "Details": True, "MaxResults": LIST_PAGE}
            if token:
                kwargs["NextToken"] = token
            page = await self._caller.call("ListCommandInvocations", ssm.list_command_invocations, **kwargs)
            for item in page.get("CommandInvocations", ()):
                plugins = item.get("CommandPlugins") or [{}]
                details = str(item.get("StatusDetails") or item.get("Status") or "")
                status = str(item.get("Status") or "")
                output = str(plugins[0].get("Output") or "")
                found[item["InstanceId"]] = (details if details in _TERMINAL else status, output)
            token = page.get("NextToken")
            if not token:
                return found


def _refused_ids(exc: AwsCallError) -> list[str]:
    match = _BAD_IDS.search(exc.error.message or "")
    return [part.strip() for part in match.group(1).split(",")] if match else []
