"""The real operator as a separate process, the way it runs in a cluster (``judge0-operator run``).

Started with the loopback-only guard switched on and dummy AWS credentials (so botocore never
looks for the instance metadata service), logging to a file the report points at. Its CPU time
and memory are read from ``/proc`` for the benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from judge0_operator.world import loopback

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def operator_command(info: Mapping[str, Any], extra: Sequence[str] = (), metrics_port: int = 0) -> list[str]:
    return [
        sys.executable,
        "-m",
        "judge0_operator.cli",
        "run",
        "--kubeconfig",
        str(info["kubeconfig"]),
        "--aws-endpoint",
        str(info["aws_endpoint"]),
        "--metrics-port",
        str(metrics_port),
        "--metrics-address",
        "127.0.0.1",  # loopback only, like everything the world runs
        "--liveness",
        "",
        *extra,
    ]


def operator_env(info: Mapping[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            loopback.ENV_FLAG: "1",
            "AWS_ACCESS_KEY_ID": "simulated",
            "AWS_SECRET_ACCESS_KEY": "simulated",
            "AWS_DEFAULT_REGION": str(info.get("region", "us-east-1")),
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHONUNBUFFERED": "1",
            "KUBECONFIG": str(info["kubeconfig"]),  # also for Kopf's own login, whatever imports first
        }
    )
    env.pop("AWS_PROFILE", None)
    return env


class OperatorProcess:
    """``judge0-operator run`` against a world, as a child process."""

    def __init__(
        self,
        info: Mapping[str, Any],
        log_path: str | Path,
        extra_args: Sequence[str] = (),
        metrics_port: int = 0,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.info = info
        self.extra_env = dict(extra_env or {})  # e.g. POD_NAME: the leader-election identity's prefix
        self.metrics_port = metrics_port
        self.log_path = Path(log_path)
        self.extra_args = list(extra_args)
        self.proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            *operator_command(self.info, self.extra_args, self.metrics_port),
            env={**operator_env(self.info), **self.extra_env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
        )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not stop in time; returns the exit code."""
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return proc.returncode if proc else None

    async def kill(self) -> None:
        """SIGKILL (a crash), for crash-safety runs."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    def cpu_seconds(self) -> float | None:
        """User + system CPU seconds of the operator process (``/proc/<pid>/stat``)."""
        return cpu_seconds(self.pid) if self.alive and self.pid else None

    def peak_rss_bytes(self) -> int | None:
        return peak_rss_bytes(self.pid) if self.alive and self.pid else None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def cpu_seconds(pid: int) -> float | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 3 → index 0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def peak_rss_bytes(pid: int) -> int | None:
    """VmHWM: the peak resident set size."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
