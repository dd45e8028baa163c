"""runlab: content-addressed, immutable runs of study stages on a laptop or a SLURM cluster.

A study is a manifest (``jobs/<study>.yaml``) of stages and a config with ``CANON.`` references. Each
stage of a resolved config has one run id and one run directory; ``runlab submit`` runs or queues
what is not complete. Stages receive a :class:`Run` and write through it.
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

_LAZY = {"Run": "run", "RunView": "run"}  # what stages use; importing it costs numpy and pyarrow


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ConfigError",
    "DeterminismError",
    "ExitCode",
    "MissingUpstreamError",
    "Run",
    "RunExistsError",
    "RunView",
    "RunlabError",
    "SchemaError",
]
