"""How a benchmark starts a fresh interpreter on one of its own modules: ``python -m bench.<name>`` from any folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["REPO", "bench_command", "bench_env"]

REPO = Path(__file__).resolve().parents[1]


def bench_command(module: str, *args: str) -> list[str]:
    """The argv that runs ``module`` (``bench.<name>``, a benchmark's ``__spec__.name``) in this interpreter."""
    return [sys.executable, "-m", module, *args]


def bench_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with this checkout's ``pkg/`` and root leading ``PYTHONPATH`` (so a child in
    another working folder imports the same ``bench``, ``runlab`` and studies), plus ``extra``."""
    inherited = os.environ.get("PYTHONPATH", "")
    path = os.pathsep.join([str(REPO / "pkg"), str(REPO), *([inherited] if inherited else [])])
    return {**os.environ, "PYTHONPATH": path, **(extra or {})}
