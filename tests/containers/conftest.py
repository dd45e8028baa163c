"""The CPU image, built once per test session from this checkout's HEAD with ``containers/build.sh``
(base root filesystem from mmdebstrap, wheels hash-checked from the lock), and a way to run in it.

Building needs root, podman, buildah and mmdebstrap (``containers/host-tools.sh``); without them the
container tests skip, except under ``CI=true``, where they fail. The build cache (wheels, root
filesystem, layers) lives in the builder's cache folder, so a second run on one machine is quick.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pytest

from tests.runlab.conftest import REPO

_TOOLS = ("podman", "buildah", "mmdebstrap")
_LOCAL_TORCH_CPU = Path("/opt/wheels")  # where this kind of machine keeps PyTorch's CPU wheel


@dataclass(frozen=True)
class Image:
    tag: str
    image_id: str
    commit: str

    def run(self, *command: str, volumes: Iterable[tuple[Path, str]] = (), check: bool = True,
            timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
        """``command`` in a fresh container of this image (``buildah run``: podman cannot start one here)."""
        container = _tool("buildah", "from", "--quiet", self.tag).stdout.strip()
        try:
            mounts = [f"--volume={host}:{inside}" for host, inside in volumes]
            result = subprocess.run(["buildah", "run", "--isolation", "chroot", *mounts, container, "--", *command],
                                    capture_output=True, text=True, timeout=timeout_s)
        finally:
            _tool("buildah", "rm", container)
        if check and result.returncode != 0:
            raise AssertionError(f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result


def build_image(clone: Path, tag: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """``containers/build.sh --variant cpu --base rootfs`` in ``clone``, as CI can run it (chroot isolation)."""
    environ = {**os.environ, "BUILDAH_ISOLATION": "chroot"}
    if list(_LOCAL_TORCH_CPU.glob("torch-*+cpu-*.whl")):
        environ["TORCH_CPU_WHEELS"] = str(_LOCAL_TORCH_CPU)
    return subprocess.run([str(clone / "containers" / "build.sh"), "--variant", "cpu", "--base", "rootfs",
                           "--tag", tag, *extra], cwd=clone, env=environ, capture_output=True, text=True,
                          timeout=1800)


@pytest.fixture(scope="session")
def cpu_image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if missing or os.geteuid() != 0:
        reason = f"building the image needs root and {', '.join(_TOOLS)} (missing: {', '.join(missing) or 'root'})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}, and CI=true: run containers/host-tools.sh as root")
        pytest.skip(f"{reason}; install them with: sudo containers/host-tools.sh")
    clone = tmp_path_factory.mktemp("image") / "suite"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    commit = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    tag = f"localhost/runlab-suite:test-{commit[:12]}"
    built = build_image(clone, tag)
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    image_id = _tool("podman", "image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()
    return Image(tag, image_id, commit)


def _tool(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
