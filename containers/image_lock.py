"""The image's lock, on both sides of the build: what it pins, and whether the image holds exactly that.

``python image_lock.py manifest <variant>`` prints the image manifest that runlab copies into every run
record (``$RUNLAB_IMAGE_MANIFEST``); ``python image_lock.py check`` compares the installed distributions
and the environment with it and exits 1 naming each difference (the recipes' test and healthcheck).
Standard library only: it runs in the bare image before anything else is trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

SUITE = Path(__file__).resolve().parent.parent
LOCKS = Path("containers") / "lock"
PYTHON_SERIES = "3.11"  # the locks are resolved for it (containers/lock.sh); Debian 12's python3
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "PYTHONNOUSERSITE": "1"}
_DRIVER_LIBS = ("", "/.singularity.d/libs")  # where apptainer --nv puts the host's driver libraries


def normalized(name: str) -> str:
    """A distribution name as the lock writes it (PEP 503): lowercase, runs of ``-_.`` as ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    """``{distribution: version}`` of a hash-locked requirements file."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            pins[normalized(match.group(1))] = match.group(2)
    if not pins:
        raise ValueError(f"{path} pins nothing")
    return pins


def build_manifest(variant: str, suite: Path = SUITE, environ: dict[str, str] | None = None) -> dict:
    """The manifest of an image built from ``containers/lock/<variant>.txt`` (shape: runlab's image_manifest schema)."""
    environ = dict(os.environ) if environ is None else environ
    lock = LOCKS / f"{variant}.txt"
    commit = environ.get("SOURCE_COMMIT", "")
    return {
        "schema_version": 1,
        "variant": variant,
        "lock": lock.as_posix(),
        "lock_sha256": hashlib.sha256((suite / lock).read_bytes()).hexdigest(),
        "python": platform.python_version(),
        "source_commit": commit if re.fullmatch(r"[0-9a-f]{40}", commit) else None,
        "source_date_epoch": int(environ.get("SOURCE_DATE_EPOCH", "0")),
        "pinned": read_lock(suite / lock),
    }


def differences(manifest: dict, suite: Path = SUITE, environ: dict[str, str] | None = None) -> list[str]:
    """Every way this environment differs from ``manifest``: versions, lock bytes, Python, variables."""
    environ = dict(os.environ) if environ is None else environ
    problems = []
    lock = suite / manifest["lock"]
    if hashlib.sha256(lock.read_bytes()).hexdigest() != manifest["lock_sha256"]:
        problems.append(f"{manifest['lock']} changed since the image was built")
    if not platform.python_version().startswith(PYTHON_SERIES + "."):
        problems.append(f"python {platform.python_version()}, the lock is for {PYTHON_SERIES}")
    installed = {normalized(dist.metadata["Name"]): dist.version for dist in metadata.distributions()}
    for name, version in sorted(read_lock(lock).items()):
        if installed.get(name) != version:
            problems.append(f"{name} {installed.get(name, 'missing')}, the lock pins {version}")
    for name, value in ENVIRONMENT.items():
        if environ.get(name) != value:
            problems.append(f"{name}={environ.get(name, '')!r}, the image sets {value!r}")
    shadowing = [folder for folder in environ.get("LD_LIBRARY_PATH", "").split(":") if folder not in _DRIVER_LIBS]
    if shadowing:
        problems.append(f"LD_LIBRARY_PATH has {':'.join(shadowing)}, which would shadow the CUDA wheels")
    return problems


def main(argv: list[str]) -> int:
    if argv[:1] == ["manifest"] and len(argv) == 2:
        print(json.dumps(build_manifest(argv[1]), indent=2, sort_keys=True))
        return 0
    if argv == ["check"]:
        manifest = json.loads(Path(os.environ["RUNLAB_IMAGE_MANIFEST"]).read_text(encoding="utf-8"))
        problems = differences(manifest)
        for problem in problems:
            print(f"image check: {problem}", file=sys.stderr)
        if not problems:
            print(f"image check: {len(manifest['pinned'])} distributions match {manifest['lock']}")
        return 1 if problems else 0
    print("usage: image_lock.py manifest <cpu|gpu> | check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
