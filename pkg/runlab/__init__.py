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
    "ResolvedConfig": "config", "resolve_config_data": "config",
    "CanonRegistry": "canon", "load_registry": "canon",
    "RunStore": "store", "resolve_runs_root": "store", "RUNS_ROOT_ENV": "store", "sha256_file": "store",
    "RUN_ID_MODES": "run_id",
    "artifact_digest": "record", "validate_record": "record",
    "is_runtime_log": "layout",
    "verify_run": "verify",
    "apply_overrides": "overrides",
    "load_yaml_file": "yamlio", "load_yaml_text": "yamlio",
    "TableLike": "formats", "as_arrow_table": "formats", "hdf5_bytes": "formats", "parquet_bytes": "formats",
    "OneLineParser": "cli", "run_reporting_errors": "cli",
    "GpuRun": "launcher", "StageOutcome": "launcher",
    "Study": "submission", "load_study": "submission", "submit": "submission",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "apply_overrides",
    "artifact_digest",
    "as_arrow_table",
    "CanonRegistry",
    "ConfigError",
    "DeclaredConfig",
    "DeterminismError",
    "ExitCode",
    "GpuRun",
    "hdf5_bytes",
    "is_runtime_log",
    "load_manifest",
    "load_registry",
    "load_study",
    "load_yaml_file",
    "load_yaml_text",
    "Manifest",
    "MissingUpstreamError",
    "OneLineParser",
    "parquet_bytes",
    "Plan",
    "plan_config",
    "resolve_config_data",
    "resolve_runs_root",
    "ResolvedConfig",
    "Run",
    "RUN_ID_MODES",
    "run_reporting_errors",
    "RunExistsError",
    "RunlabError",
    "RUNS_ROOT_ENV",
    "RunStore",
    "RunView",
    "SchemaError",
    "sha256_file",
    "StageIdentity",
    "StageOutcome",
    "Study",
    "submit",
    "TableLike",
    "validate_record",
    "verify_run",
]
