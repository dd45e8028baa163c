"""bench/gpu.sh, the suite's GPU checks as one script: its --dry_run runs unchanged on a CPU machine (CI)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.cli import REPO


def _dry_run(tmp_path, script: str = "bench/gpu.sh") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": ""}
    return subprocess.run(["bash", script, "--dry_run"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_dry_run_checks_every_step_and_measures_nothing(tmp_path):
    done = _dry_run(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    planned = [line for line in lines if line.startswith("would run  ")]
    assert [line.split(" (up to")[0][len("would run  "):] for line in planned] == [
        "irer generation on CUDA vs the seed design", "avalanche capture on CUDA in bf16", "irer placement on the GPU",
        "fail-closed placement without a visible GPU"]
    assert "-m bench.irer --device cuda" in planned[0] and "--dtype bf16" in planned[1]
    assert "placement: --device cpu resolved to cpu:0 (cpu); outputs on ['cpu']: OK" in lines
    assert lines[-1] == "bench/gpu.sh: 4 steps, at most 450 s; dry run, nothing measured"  # under 8 minutes


def test_a_step_that_is_not_ready_fails_the_dry_run(tmp_path):
    broken = tmp_path / "gpu.sh"
    broken.write_text((REPO / "bench" / "gpu.sh").read_text().replace("bench.placement", "bench.no_such_check")
                      .replace('cd "$(dirname "$0")/.."', f'cd "{REPO}"'))
    done = _dry_run(tmp_path, str(broken))
    assert done.returncode == 1
    assert "NOT READY  irer placement on the GPU: bench.no_such_check is missing" in done.stdout
