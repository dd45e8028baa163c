#!/bin/sh
# Regenerates the image locks containers/lock/{gpu,cpu}.txt: pyproject.toml's dependencies and
# `studies` extra plus <variant>.in, resolved for Linux x86_64 and CPython 3.11 (Debian 12's python3),
# every file pinned by sha256. Needs uv (tested with 0.13.9) and the package index.
# The CPU build of torch is not on PyPI: it is found at $TORCH_CPU_WHEELS (a folder or a page of
# links; default PyTorch's CPU index).
set -eu
cd "$(dirname "$0")/.."
torch_cpu_wheels=${TORCH_CPU_WHEELS:-https://download.pytorch.org/whl/cpu/torch/}
for variant in gpu cpu; do
    set -- --extra studies --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
        --custom-compile-command containers/lock.sh --output-file "containers/lock/$variant.txt"
    [ "$variant" = cpu ] && set -- "$@" --find-links "$torch_cpu_wheels" --no-emit-find-links
    uv pip compile --quiet pyproject.toml "containers/lock/$variant.in" "$@"
done
