"""The layer rules in pyproject.toml ([tool.importlinter]) hold, and fail when broken.

The second test copies the package, adds one forbidden import per contract and checks that
lint-imports names both broken contracts: a contract that cannot fail would protect nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.timeout(120)


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{cwd / 'operator'}{os.pathsep}{cwd}"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def test_the_tree_keeps_every_contract():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_forbidden_import_breaks_its_contract(tmp_path):
    shutil.copytree(ROOT / "operator", tmp_path / "operator", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "bench", tmp_path / "bench", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    package = tmp_path / "operator" / "judge0_operator"
    with (package / "controller" / "kube.py").open("a") as f:
        f.write("\nfrom judge0_operator.world import loopback  # noqa\n")
    with (package / "decide" / "health.py").open("a") as f:
        f.write("\nimport aiohttp  # noqa\n")

    result = _lint(tmp_path)

    assert result.returncode != 0
    assert "2 broken" in result.stdout
    assert "judge0_operator.controller.kube -> judge0_operator.world" in result.stdout
    assert "judge0_operator.decide.health -> aiohttp" in result.stdout
