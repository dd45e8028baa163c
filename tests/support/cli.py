"""The suite's CLI as a subprocess, run from the repo root (or another folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cli_environment(**extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: this checkout's code first (not the install's), no runs root from the
    caller's environment, plus ``extra``."""
    environment = {key: value for key, value in os.environ.items() if key != "RUNLAB_RUNS_ROOT"}
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO / "pkg"), str(REPO)])
    return {**environment, **extra}


def run_cli(*args: str, timeout: float = 300, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m runlab ARGS`` from the repo root (or ``cwd``), output captured as text."""
    environment = cli_environment(**(env or {}))
    return subprocess.run([sys.executable, "-m", "runlab", *args], cwd=REPO if cwd is None else cwd, env=environment,
                          capture_output=True, text=True, timeout=timeout)
