#!/usr/bin/env bash
# Every GPU check of the suite as one prepared script for a GPU machine (under 8 minutes on one H100/H200):
#
#   bash bench/gpu.sh             # on the GPU machine: runs each check, prints its output, exits non-zero on a failure
#   bash bench/gpu.sh --dry_run   # anywhere (CI, a laptop): checks every step is ready to run and prints it, runs nothing
#
# Steps: (1) python -m bench.irer on CUDA: a generation of 16 at N=128, 800 steps, against the seed design (the 20x
# target), the K-fields table, the FFT step's share of its memory-bandwidth roofline and the cache over a
# 10-generation hunt; (2) avalanche capture on CUDA in bf16; (3) placement: irer and avalanche put their work on
# the GPU when asked, and fail closed (exit 2, one line) when the job sees none (CUDA_VISIBLE_DEVICES=""); the
# SLURM-side GPU checks of runlab. PYTHON (default: .venv/bin/python, else python3) runs every step.
set -euo pipefail
cd "$(dirname "$0")/.."
DRY_RUN=0
for argument in "$@"; do
  case "$argument" in
    --dry_run) DRY_RUN=1 ;;
    *) echo "bench/gpu.sh: unknown argument $argument (use --dry_run)" >&2; exit 2 ;;
  esac
done
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD/pkg:$PWD${PYTHONPATH:+:$PYTHONPATH}"

# name | seconds it may take | command
STEPS=(
  "irer generation on CUDA vs the seed design|240|$PYTHON -m bench.irer --device cuda --seed-candidates 4 --nan-samples 64 --cache-generations 10"
  "avalanche capture on CUDA in bf16|120|$PYTHON -m bench.avalanche --device cuda --dtype bf16 --only capture --quick"
  "irer placement on the GPU|30|$PYTHON -m bench.placement --device cuda"
  "fail-closed placement without a visible GPU|60|env CUDA_VISIBLE_DEVICES= $PYTHON -m pytest -q -p no:cacheprovider tests/irer/test_stages.py::test_cuda_without_a_gpu_fails_closed tests/avalanche_llm/test_model.py::test_cuda_fails_closed_without_a_gpu tests/runlab/test_gpu.py"
)

total=0
failed=0
for step in "${STEPS[@]}"; do
  IFS="|" read -r name budget command <<<"$step"
  total=$((total + budget))
  if [[ "$DRY_RUN" == 1 ]]; then
    # Ready means: every benchmark module (bench.<name>) and test file it names exists, every test it names is
    # collected, and the placement check passes on the CPU (the same code path with --device cpu).
    read -r -a words <<<"$command"
    missing=""
    tests=()
    for word in "${words[@]}"; do
      if [[ "$word" == bench.* && ! -f "${word//.//}.py" ]]; then missing="$word"; fi
      if [[ "$word" == tests/* ]]; then
        if [[ -f "${word%%::*}" ]]; then tests+=("$word"); else missing="${word%%::*}"; fi
      fi
    done
    if [[ -n "$missing" ]]; then echo "NOT READY  $name: $missing is missing"; failed=1; continue; fi
    if (( ${#tests[@]} )) && ! "$PYTHON" -m pytest -q --collect-only -p no:cacheprovider "${tests[@]}" >/dev/null; then
      echo "NOT READY  $name: pytest cannot collect ${tests[*]}"; failed=1; continue
    fi
    if [[ "$command" == *"-m bench.placement "* ]] && ! "$PYTHON" -m bench.placement --device cpu; then
      echo "NOT READY  $name: bench.placement fails on the CPU"; failed=1; continue
    fi
    echo "would run  $name (up to ${budget} s): $command"
    continue
  fi
  echo "=== $name (up to ${budget} s): $command"
  if ! timeout "$budget" bash -c "$command"; then
    echo "=== FAILED: $name"; failed=1
  fi
done
echo "bench/gpu.sh: ${#STEPS[@]} steps, at most ${total} s; $([[ "$DRY_RUN" == 1 ]] && echo "dry run, nothing measured" || echo "done")"
if (( total > 480 )); then echo "bench/gpu.sh: the steps' budgets exceed 8 minutes" >&2; exit 1; fi
exit "$failed"
