"""The Dockerfile, parsed and held to the image rules (no Docker engine runs here to build it).

Multi-stage on a pinned slim Python 3.11; the runtime stage installs only the builder's wheels
(no index, no compiler), runs as a numeric non-root user, exposes the CLI's default ports, and
starts ``judge0-operator run`` without a shell. The ``.dockerignore`` keeps the build context to
the sources the wheel needs.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from judge0_operator.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PINNED_SLIM_311 = re.compile(
    r"^(docker\.io/library/)?python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?$"
)


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Instructions joined over ``\\`` continuations, comments dropped; global ARGs resolved in FROM."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            parts = args.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], parts[0])
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=base, name=name))
        elif not stages:
            assert keyword == "ARG", f"only ARG may precede the first FROM, got {keyword}"
            key, _, value = args.partition("=")
            global_args[key] = value
        else:
            stages[-1].instructions.append((keyword, args))
    return global_args, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(DOCKERFILE.read_text())[1]


@pytest.fixture(scope="module")
def runtime(stages: list[Stage]) -> Stage:
    return stages[-1]


def test_multi_stage_on_a_pinned_slim_python_311(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    for stage in stages:
        if stage.base in {s.name for s in stages}:
            continue
        assert PINNED_SLIM_311.match(stage.base), f"base {stage.base!r} is not a pinned python:3.11.x-slim"
        assert ":latest" not in stage.base


def test_runtime_installs_only_the_builders_wheels(stages: list[Stage], runtime: Stage) -> None:
    builder = stages[0]
    assert any("pip wheel" in run and "--wheel-dir /wheels" in run for run in builder.all("RUN"))
    runs = " && ".join(runtime.all("RUN"))
    install = re.search(r"pip install ([^&]*)", runs)
    assert install, "the runtime stage must pip-install the wheels"
    assert "--no-index" in install.group(1) and "--find-links /wheels" in install.group(1)
    assert f"from={builder.name}" in runs or any(f"--from={builder.name}" in c for c in runtime.all("COPY"))
    # No source tree, no compilers, no package manager in the final image.
    assert not [c for c in runtime.all("COPY") if "--from=" not in c], "runtime copies from the build context"
    for forbidden in ("apt-get", "apk ", "gcc", "build-essential", "make ", "git "):
        assert forbidden not in runs, forbidden
    assert re.search(r"pip uninstall [^&]*\bpip\b", runs), "pip stays in the runtime image"


def test_runs_as_numeric_non_root_user(runtime: Stage) -> None:
    users = runtime.all("USER")
    assert users, "no USER in the runtime stage"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0, users[-1]
    assert not gid or (gid.isdigit() and int(gid) > 0), users[-1]
    # Nothing after USER needs root.
    last_user = max(i for i, (kw, _) in enumerate(runtime.instructions) if kw == "USER")
    assert not [kw for kw, _ in runtime.instructions[last_user:] if kw == "RUN"]


def test_entrypoint_is_exec_form_without_a_shell(runtime: Stage) -> None:
    entrypoints = runtime.all("ENTRYPOINT")
    assert entrypoints and json.loads(entrypoints[-1]) == ["judge0-operator", "run"]
    for cmd in runtime.all("CMD"):
        assert cmd.startswith("["), "CMD in shell form needs /bin/sh"
    assert not runtime.all("SHELL")


def test_exposes_the_cli_default_ports(runtime: Stage) -> None:
    exposed = {int(p.split("/")[0]) for ports in runtime.all("EXPOSE") for p in ports.split()}
    defaults = build_parser().parse_args(["run"])
    liveness_port = int(re.search(r":(\d+)/", defaults.liveness).group(1))  # type: ignore[union-attr]
    assert exposed == {defaults.metrics_port, liveness_port}


def _env(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for token in shlex.split(args):
            key, _, value = token.partition("=")
            env[key] = value
    return env


def test_read_only_root_friendly(runtime: Stage) -> None:
    env = _env(runtime)
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert env.get("HOME") == "/tmp", "HOME must be on the writable /tmp mount"


def test_oci_labels(runtime: Stage) -> None:
    labels: dict[str, str] = {}
    for args in runtime.all("LABEL"):
        for token in shlex.split(args):
            key, _, value = token.partition("=")
            labels[key] = value
    for key in ("title", "description", "version", "licenses", "source"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    version_args = [a for a in runtime.all("ARG") if a.startswith("VERSION=")]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert version_args == [f"VERSION={pyproject['version']}"]
    assert labels["org.opencontainers.image.licenses"] == pyproject["license"]


def test_builder_copies_only_what_exists_and_is_not_ignored(stages: list[Stage]) -> None:
    lines = DOCKERIGNORE.read_text().splitlines()
    patterns = [p.strip() for p in lines if p.strip() and not p.startswith("#")]

    def ignored(path: str) -> bool:
        result = False
        for pattern in patterns:  # last match wins, "!" re-includes (Docker's rule)
            negate = pattern.startswith("!")
            pat = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pat) or path.startswith(pat + "/"):
                result = not negate
        return result

    copied = [s for c in stages[0].all("COPY") for s in c.split()[:-1] if not s.startswith("--")]
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not ignored(source.rstrip("/")), f"{source} is excluded by .dockerignore"
    for secretish in (".venv", ".git", ".tools", "tests", "examples", "charts"):
        assert ignored(secretish), f"{secretish} would be sent to the Docker daemon"
