"""runlab: content-addressed, immutable runs of study stages on a laptop or a SLURM cluster.

A study is a manifest (``jobs/<study>.yaml``) of stages and a config with ``CANON.`` references. Each
stage of a resolved config has one run id (a Merkle hash over what it reads, its code version and its
upstream ids) and one run directory; :func:`submit` (``runlab submit``) runs or queues what is not
complete. Stages receive a :class:`Run` and write through it. Studies import runlab through this module.
"""

from .errors import (
    ConfigError,
    DeterminismError,
    ExitCode,
    MissingUpstreamError,
    RunExistsError,
    RunlabError,
    SchemaError,
)

# The public surface, imported on first use: what stages use costs numpy and pyarrow, and the CLI's start-up
# should not pay for what it does not run.
_LAZY = {
    "Run": "run", "RunView": "run",
    "DeclaredConfig": "identity", "StageIdentity": "identity",
    "Plan": "plan", "plan_config": "plan",
    "Manifest": "manifest", "load_manifest": "manifest",
    "ResolvedConfig": "config",
    "RunStore": "store", "resolve_runs_root": "store", "RUNS_ROOT_ENV": "store",
    "RUN_ID_MODES": "run_id",
    "artifact_digest": "record",
    "StageOutcome": "launcher",
    "Study": "submission", "load_study": "submission", "submit": "submission",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ConfigError",
    "DeclaredConfig",
    "DeterminismError",
    "ExitCode",
    "Manifest",
    "MissingUpstreamError",
    "Plan",
    "RUNS_ROOT_ENV",
    "RUN_ID_MODES",
    "ResolvedConfig",
    "Run",
    "RunExistsError",
    "RunStore",
    "RunView",
    "RunlabError",
    "SchemaError",
    "StageIdentity",
    "StageOutcome",
    "Study",
    "artifact_digest",
    "load_manifest",
    "load_study",
    "plan_config",
    "resolve_runs_root",
    "submit",
]
