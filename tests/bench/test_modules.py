"""Every benchmark runs as ``python -m bench.<name>`` from the repository root, through packages alone (no
``sys.path`` edits), and imports no test module."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from tests.support.cli import REPO

SOURCES = sorted((REPO / "bench").glob("*.py"))
BENCHMARKS = [path.stem for path in SOURCES if 'if __name__ == "__main__":' in path.read_text()]


def _imported_modules(importtime: str) -> set[str]:
    """Module names from ``python -X importtime`` output (``import time: self | cumulative | <indent>name``)."""
    return {line.rsplit("|", 1)[1].strip() for line in importtime.splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


def _is_test_module(name: str) -> bool:
    return name == "tests" or name.startswith("tests.")


def test_the_benchmarks_are_found():
    assert {"avalanche", "irer", "irer_fields", "margin_repair", "monitor", "placement", "runtime"} <= set(BENCHMARKS)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_benchmark_runs_as_a_module_and_imports_no_test_module(name):
    # The root reaches sys.path only as python -m's working folder; pkg/ is this checkout's code.
    env = {**os.environ, "PYTHONPATH": str(REPO / "pkg")}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", f"bench.{name}", "--help"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith(f"usage: python -m bench.{name} ")
    imported = _imported_modules(done.stderr)
    assert {"bench", "argparse"} <= imported  # the import log was read
    assert sorted(filter(_is_test_module, imported)) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: path.name)
def test_no_benchmark_source_imports_a_test_module_or_edits_sys_path(path):
    """Also the imports inside functions, which ``--help`` never reaches (child processes, lazy imports)."""
    tree = ast.parse(path.read_text())
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0]
    assert sorted(filter(_is_test_module, imported)) == []
    edits = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "path"
             and isinstance(node.value, ast.Name) and node.value.id == "sys"]
    assert edits == [], f"{path.name} touches sys.path on lines {edits}"
