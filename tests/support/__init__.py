"""Helpers shared by the suite's tests (fixtures stay in the conftest files):

- ``cli``: the repo root and ``python -m runlab`` as a subprocess
- ``artifacts``: a run's artifacts as bytes and indexed hashes
- ``faults``: a stage killed once it has written a given artifact
- ``stages``: small stage functions for manifests written by tests, and a three-stage chain
- ``slurm``: waiting on runs that SLURM jobs complete
- ``images``: the CPU image built from a checkout, and commands run in it
- ``browser``: what a browser test sees through headless Chromium
- ``monitor``: report-like and failed runs, the monitor's run table read back from HTML
- ``hunt``, ``emnist``, ``arc``: a small irer hunt, golden EMNIST IDX files, an ARC-format fixture

Writing runs straight through the store and serving the monitor in a thread are ``runlab.testing``;
the planted-truth processes of the metrics are ``avalanche_llm.metrics.synthetic``.
"""
