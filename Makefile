# Two commands do all the set-up on a fresh machine (see README.md):
#   make quickstart   creates .venv, installs the suite, runs the margin_repair study locally
#                     (on EMNIST if found, else on synthetic EMNIST-format data, said so everywhere),
#                     a small irer hunt (3 generations of 8 candidates), avalanche_llm phases 0-5
#                     on the packaged all-MiniLM-L6-v2, and phases 1-8 on a random-weight GPT-2
#                     (offline, CPU)
#   make test         the same install, starts the one-node SLURM cluster and installs podman, buildah,
#                     mmdebstrap, chromium and chromedriver (as root), runs every test (the container tests
#                     build the CPU image; the browser tests drive headless Chromium, screenshots in
#                     test-artifacts/screenshots/)
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: quickstart test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[studies,test]'
	touch $(STAMP)

quickstart: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" scripts/quickstart.sh

test: $(STAMP)
	@if [ "$$(id -u)" = 0 ]; then slurm/one-node/start.sh && containers/host-tools.sh && scripts/browser-tools.sh; \
	else echo "not root: the SLURM, container and browser tests will skip here (in CI they must run)"; fi
	$(VENV)/bin/python -m pytest
