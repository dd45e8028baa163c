"""Pure parts of the SLURM backend: array splitting and the sbatch pace."""

from __future__ import annotations

import time

import pytest

from runlab.slurm_backend import SbatchPacer, array_chunks


def test_array_chunks_respect_the_limit_and_keep_order():
    assert array_chunks(list(range(12)), 5) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    assert array_chunks([3, 7, 9], 1001) == [[3, 7, 9]]
    assert array_chunks([], 5) == []
    with pytest.raises(ValueError, match="positive"):
        array_chunks([1], 0)


def test_pacer_spaces_calls_by_its_rate():
    pacer = SbatchPacer(rate_per_s=50)
    started = time.monotonic()
    for _ in range(6):
        pacer.wait()
    assert time.monotonic() - started >= 5 / 50  # the first call is free, the next five wait 20 ms each


def test_a_sweep_array_waits_on_what_each_task_needs():
    from runlab.slurm_backend import sweep_dependency

    assert sweep_dependency([[], []]) is None
    assert sweep_dependency([["5"], ["5"], ["5"]]) == "afterok:5"  # a stage shared by the whole sweep
    assert sweep_dependency([["5", "7_0"], ["5", "7_1"]]) == "aftercorr:7,afterok:5"  # config k after config k
    assert sweep_dependency([["7_0", "8_0"], ["7_1", "8_1"]]) == "aftercorr:7:8"
    # anything else waits for every job, and each task checks its own upstream when it starts (exit 3)
    assert sweep_dependency([["7_0"], ["7_0"], ["7_1"]]) == "afterany:7_0:7_1"
    assert sweep_dependency([["12"], ["9"]]) == "afterany:9:12"
