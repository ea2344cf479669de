"""A process-wide guard that refuses any socket connection outside 127.0.0.0/8 and ::1.

Installed by the test session and by every process the simulated world starts (the flag
``JUDGE0_OPERATOR_LOOPBACK_ONLY=1`` in the environment turns it on at CLI start-up), so that
no test, simulation or benchmark can send a packet to moto's fake 10.x addresses or anywhere else.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

ENV_FLAG = "JUDGE0_OPERATOR_LOOPBACK_ONLY"
VIOLATIONS: list[str] = []
_installed = False


class NonLoopbackConnection(ConnectionRefusedError):
    """Raised instead of connecting to an address outside the loopback range."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and names that resolve only there (``localhost``)."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _check(address: Any) -> None:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        if not is_loopback(host):
            VIOLATIONS.append(f"{host}:{address[1] if len(address) > 1 else ''}")
            raise NonLoopbackConnection(f"loopback-only guard: refused connection to {address!r}")


def install_guard() -> None:
    """Wrap ``socket.socket.connect``/``connect_ex`` once per process; Unix sockets pass through."""
    global _installed
    if _installed:
        return
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check(address)
        original_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check(address)
        return original_connect_ex(self, address)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign,assignment]
    _installed = True


def install_guard_if_requested() -> None:
    """Install the guard when the environment asks for it (subprocesses of tests and the simulation)."""
    if os.environ.get(ENV_FLAG) == "1":
        install_guard()
