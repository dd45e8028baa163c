"""The suite's CPU image: built from a checkout with ``containers/build.sh``, and commands run in it."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

_LOCAL_TORCH_CPU = Path("/opt/wheels")  # where this kind of machine keeps PyTorch's CPU wheel


@dataclass(frozen=True)
class Image:
    tag: str
    image_id: str
    commit: str

    def run(self, *command: str, volumes: Iterable[tuple[Path, str]] = (), check: bool = True,
            timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
        """``command`` in a fresh container of this image (``buildah run``: podman cannot start one here)."""
        container = tool_output("buildah", "from", "--quiet", self.tag).stdout.strip()
        try:
            mounts = [f"--volume={host}:{inside}" for host, inside in volumes]
            result = subprocess.run(["buildah", "run", "--isolation", "chroot", *mounts, container, "--", *command],
                                    capture_output=True, text=True, timeout=timeout_s)
        finally:
            tool_output("buildah", "rm", container)
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


def tool_output(*command: str) -> subprocess.CompletedProcess[str]:
    """``command`` run to completion, output captured; a non-zero exit raises."""
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
