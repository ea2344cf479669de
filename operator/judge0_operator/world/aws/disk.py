"""The data volume of a Judge0 host, as ``df`` shows it through SSM, and what a cleanup frees.

Judge0 never purges submissions (judge0/judge0#319: 15 → 28 GB) and its image is ~10 GB, so a
host's disk fills slowly and, once full, Postgres stops writing: the node goes down with no
warning in the API. The world models one volume per instance:

* without a ``disk-filling`` fault it is at ``BASE_PERCENT`` (the OS, the Judge0 image, a small
  database) of ``DISK_BYTES``;
* with one, it is at ``usedPercent`` from the fault's injection, growing by
  ``growthPercentPerMinute`` (world minutes), capped at 100 %;
* a cleanup script frees what is old: ``DELETE FROM submissions …`` (a purge) frees
  ``oldSubmissionsPercent``, ``docker image prune`` frees ``danglingImagesPercent``. The fault is
  rewritten to what is left (its growth counted from the cleanup) and removed once nothing is
  left above normal and nothing grows.

A real ``df -Pk <path>`` answer is printed for any path (the world has one volume).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from judge0_operator.world.faults.registry import Fault

DISK_BYTES = 32 * 1024**3
BASE_PERCENT = 45.0
DEVICE = "/dev/nvme1n1"
_DF = re.compile(r"(?:^|[\s;&|(])df\s+(?P<args>[^;&|\n)]*)")
_PURGE = re.compile(r"DELETE\s+FROM\s+submissions\b", re.IGNORECASE)
_PRUNE = re.compile(r"\bdocker\s+(?:image\s+prune|system\s+prune)\b")


@dataclass(frozen=True)
class DiskUsage:
    size_bytes: int
    used_percent: float

    @property
    def used_bytes(self) -> int:
        return int(self.size_bytes * self.used_percent / 100)

    @property
    def full(self) -> bool:
        return self.used_percent >= 100.0


def usage(fault: Fault | None, now: float, speed: float) -> DiskUsage:
    """The volume now: normal without a fault, else the fault's fill plus its growth since injection."""
    if fault is None:
        return DiskUsage(DISK_BYTES, BASE_PERCENT)
    minutes = max(0.0, now - fault.created_mono) * speed / 60.0
    grown = float(fault.params["usedPercent"]) + float(fault.params["growthPercentPerMinute"]) * minutes
    return DiskUsage(DISK_BYTES, min(100.0, max(BASE_PERCENT, grown)))


def df_paths(commands: Iterable[str]) -> list[str] | None:
    """The paths a script asks ``df`` about (``[]`` for a bare ``df``); None when it runs no ``df``."""
    found: list[str] | None = None
    for line in commands:
        for match in _DF.finditer(line):
            found = found or []
            found.extend(word for word in match.group("args").split() if not word.startswith("-"))
    return found


def df_output(disk: DiskUsage, paths: list[str]) -> str:
    """``df -Pk`` for each path (one volume holds them all), header first."""
    size_k = disk.size_bytes // 1024
    used_k = disk.used_bytes // 1024
    line = f"{DEVICE:<14} {size_k:>11} {used_k:>9} {size_k - used_k:>9} {round(disk.used_percent):>7}%"
    rows = [f"{line} {path}" for path in (paths or ["/"])]
    return "Filesystem     1024-blocks      Used Available Capacity Mounted on\n" + "\n".join(rows) + "\n"


def cleanup_kinds(commands: Iterable[str]) -> frozenset[str]:
    """What a script cleans: ``purge`` (old submissions deleted), ``prune`` (Docker images)."""
    text = "\n".join(commands)
    kinds = set()
    if _PURGE.search(text):
        kinds.add("purge")
    if _PRUNE.search(text):
        kinds.add("prune")
    return frozenset(kinds)


def clean(fault: Fault, kinds: frozenset[str], now: float, speed: float) -> tuple[float, bool]:
    """Apply a cleanup to the fault in place; (percent freed, True when the fault is gone for good)."""
    current = usage(fault, now, speed).used_percent
    freed = 0.0
    if "purge" in kinds:
        freed += float(fault.params["oldSubmissionsPercent"])
        fault.params["oldSubmissionsPercent"] = 0.0
    if "prune" in kinds:
        freed += float(fault.params["danglingImagesPercent"])
        fault.params["danglingImagesPercent"] = 0.0
    left = max(BASE_PERCENT, current - freed)
    fault.params["usedPercent"] = left
    fault.created_mono = now  # growth counts from the cleanup
    gone = left <= BASE_PERCENT and float(fault.params["growthPercentPerMinute"]) == 0.0
    return current - left, gone
