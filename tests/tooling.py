"""Finding the real tools the tests run (helm, promtool, cloud-init, shellcheck, …).

A test that needs a tool calls ``require_tool(name, why)``: the tool's path, or a skip that says
why — and under ``CI=true`` a missing tool fails the test instead, so CI never passes green
with a check that did not run. ``make test`` installs the tools first (mk/debian.mk).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCAL_BIN = ROOT / ".tools" / "bin"


def require_tool(name: str, why: str = "") -> str:
    """Path of ``name`` (in .tools/bin or on PATH), else skip — or fail under CI=true."""
    local = LOCAL_BIN / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed ({why or 'make test installs it: mk/debian.mk'})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + "; under CI=true a missing tool fails the run", pytrace=False)
    pytest.skip(message)
