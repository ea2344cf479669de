"""The world's settings and the CRDs its Kubernetes API serves by default: plain values, apart from
the running world, so callers can build a config without importing the world's servers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class WorldConfig:
    """The world's settings; every duration is in world seconds and divided by ``speed``."""

    region: str = "us-east-1"
    zones: tuple[str, ...] = ()  # default: <region>a, <region>b, <region>c
    speed: float = 1.0
    boot_seconds: float = 20.0
    judge0_start_seconds: float = 5.0
    reboot_seconds: float = 15.0
    stop_seconds: float = 5.0
    terminate_seconds: float = 5.0
    restart_seconds: float = 3.0
    ssm_command_seconds: float = 2.0
    terminated_visible_seconds: float = 60.0
    client_tokens: bool = True  # RunInstances ClientToken idempotency, as EC2 (moto: off)
    seed: int | None = None
    auth_token: str | None = None
    kubeconfig_path: str | None = None  # default: a temporary directory the world removes on stop
    tick_seconds: float = 0.05  # real seconds between timeline ticks
    crds: list[dict[str, Any]] | None = field(default=None, repr=False)  # default: the repo's crds/

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("speed must be positive")
        if not self.zones:
            self.zones = tuple(f"{self.region}{suffix}" for suffix in "abc")


def load_crds() -> list[dict[str, Any]]:
    """The project's generated CRDs (``crds/`` at the repository root), or none if not found."""
    import yaml

    for directory in (
        Path(__file__).resolve().parents[3] / "crds",
        Path(__file__).resolve().parents[1] / "crds",
    ):
        if directory.is_dir():
            docs: list[dict[str, Any]] = []
            for path in sorted(directory.glob("*.yaml")):
                docs.extend(d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict))
            return docs
    return []
