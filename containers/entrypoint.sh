#!/bin/sh
# The image's command line: every `runlab` command, and a reviewer's two.
#   review [--runs_root DIR] [STUDY ...]  rerun each study's quickstart (default: all three) into DIR, a
#                                         fresh runs root (default ./review-runs), then verify every run
#   verify-runs DIR                       verify every run under DIR (runs made elsewhere, bound in)
#   check                                 compare the installed packages and environment with the lock
#   python ARGS                           the image's Python (what SLURM jobs run)
#   anything else                         runlab ARGS
set -eu
suite=$(cd "$(dirname "$0")/.." && pwd)

review() {
    root=${RUNLAB_RUNS_ROOT:-$PWD/review-runs}
    if [ "${1:-}" = --runs_root ]; then
        root=${2:?review: --runs_root needs a folder}
        shift 2
    fi
    if [ -e "$root" ] && [ -n "$(ls -A "$root")" ]; then
        echo "review: error: $root is not empty; a review reruns into a fresh runs root, pass --runs_root NEW" >&2
        exit 4
    fi
    mkdir -p "$root"
    root=$(cd "$root" && pwd)
    work=$(mktemp -d)  # the quickstarts' working folder (avalanche_llm writes its random GPT-2 there)
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && RUNLAB_RUNS_ROOT=$root "$suite/scripts/quickstart.sh" "$@")
    runlab verify --all --runs_root "$root"
}

case "${1:-}" in
    review) shift; review "$@" ;;
    verify-runs) exec runlab verify --all --runs_root "${2:?verify-runs needs the folder of runs}" ;;
    check) exec python "$suite/containers/image_lock.py" check ;;
    python | python3) exec "$@" ;;
    *) exec runlab "$@" ;;
esac
