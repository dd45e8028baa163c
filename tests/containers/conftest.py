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

import pytest

from tests.support.cli import REPO
from tests.support.images import Image, build_image, tool_output

_TOOLS = ("podman", "buildah", "mmdebstrap")


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
    image_id = tool_output("podman", "image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()
    return Image(tag, image_id, commit)
