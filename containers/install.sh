#!/bin/sh
# Installs the suite into /opt/venv from containers/lock/<variant>.txt alone: every wheel taken from
# <wheel folder> and checked against its sha256, nothing resolved or fetched; then the suite itself,
# editable at its place in the image, and the image manifest that every run record copies.
# Both recipes run it. usage: containers/install.sh <cpu|gpu> <wheel folder>
set -eu
variant=$1
wheels=$2
suite=$(cd "$(dirname "$0")/.." && pwd)
lock="$suite/containers/lock/$variant.txt"
[ -f "$lock" ] || { echo "install: error: no lock $lock; choose cpu or gpu" >&2; exit 2; }

python3 -m venv /opt/venv
pip() { /opt/venv/bin/python -m pip --disable-pip-version-check --no-cache-dir "$@"; }
pip install --no-index --find-links "$wheels" --require-hashes --no-deps --requirement "$lock"
pip install --no-index --no-deps --no-build-isolation --editable "$suite"
/opt/venv/bin/python "$suite/containers/image_lock.py" manifest "$variant" > "$suite/image.json"
