"""Seed every random source and set every deterministic flag in one call, and record what was set.

`seed_everything` returns the run record's ``determinism`` block. `watch_nondeterminism` wraps a
stage call and turns torch's "no deterministic implementation" alerts into that block's
``unavailable_deterministic_kernels`` list (when allowed) or into a `DeterminismError` (when not).
torch and JAX are imported only when asked for, or used when something else imported them already.
"""

from __future__ import annotations

import importlib
import os
import random
import re
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

from runlab.errors import ConfigError, DeterminismError

__all__ = ["DeterminismSettings", "seed_everything", "watch_nondeterminism"]

_FRAMEWORKS = ("torch", "jax")
_MAX_SEED = 2**32 - 1  # numpy's legacy seed and PYTHONHASHSEED both stop here
_CUBLAS_CONFIGS = (":4096:8", ":16:8")  # the two values cuBLAS documents as deterministic
_XLA_DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"
_TORCH_ALERT = re.compile(r"(\S+) does not have a deterministic implementation")
_ALLOW_HINT = "set determinism.allow_nondeterministic: true in the config to record and continue"
# The interpreter fixed its string-hash seed from this value when it started; setting the variable
# later only reaches child processes.
_PYTHONHASHSEED_AT_START = os.environ.get("PYTHONHASHSEED")


@dataclass(frozen=True)
class DeterminismSettings:
    """The config's ``determinism`` section: a seed in [0, 2**32 - 1] and the flags to apply."""

    seed: int = 0
    deterministic_algorithms: bool = True
    allow_nondeterministic: bool = False
    frameworks: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed <= _MAX_SEED:
            _reject("seed", f"an integer in [0, {_MAX_SEED}]", self.seed)
        for name in ("deterministic_algorithms", "allow_nondeterministic"):
            if not isinstance(getattr(self, name), bool):
                _reject(name, "true or false", getattr(self, name))
        if self.frameworks is not None and not (
            isinstance(self.frameworks, tuple) and all(name in _FRAMEWORKS for name in self.frameworks)
        ):
            _reject("frameworks", f"null or a list drawn from {list(_FRAMEWORKS)}", self.frameworks)

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> DeterminismSettings:
        """Settings from a config section (None gives the defaults); an unknown key or a value of
        the wrong type is a ConfigError naming the key."""
        if section is None:
            return cls()
        if not isinstance(section, Mapping):
            raise ConfigError(
                f"determinism: expected a mapping, got {type(section).__name__}",
                hint="write the determinism section as key: value lines",
            )
        known = [field.name for field in fields(cls)]
        for key in section:
            if key not in known:
                raise ConfigError(f"determinism.{key}: unknown key", hint=f"use only {', '.join(known)}")
        values = dict(section)
        if isinstance(values.get("frameworks"), list):
            values["frameworks"] = tuple(values["frameworks"])
        return cls(**values)


def seed_everything(settings: DeterminismSettings) -> dict[str, Any]:
    """Seed Python, ``random``, numpy's global RNG, torch and JAX, apply the deterministic flags, and
    return the JSON-serialisable record of what was applied (the run record's ``determinism`` block).
    With ``frameworks=None`` only torch/JAX already in ``sys.modules`` are touched."""
    env_before = {name: os.environ.get(name) for name in ("CUBLAS_WORKSPACE_CONFIG", "XLA_FLAGS")}
    frameworks = _frameworks_to_seed(settings.frameworks)
    random.seed(settings.seed)
    import numpy as np  # here, not at module level: submitters validate settings without paying for numpy

    np.random.seed(settings.seed)
    record: dict[str, Any] = {
        "seed": settings.seed,
        "deterministic_algorithms": settings.deterministic_algorithms,
        "allow_nondeterministic": settings.allow_nondeterministic,
        "frameworks": list(frameworks),
        "environment": _apply_environment(settings),
        "python": _python_record(settings.seed),
        "numpy": {"version": np.__version__, "legacy_global_seed": settings.seed},
        "torch": None,
        "jax": None,
        "unavailable_deterministic_kernels": [],
    }
    for name in frameworks:
        record[name] = _SEEDERS[name](settings, env_before, record["unavailable_deterministic_kernels"])
    return record


@contextmanager
def watch_nondeterminism(record: dict[str, Any]) -> Iterator[None]:
    """Around a stage call: torch warnings about ops without a deterministic implementation (warn-only
    mode) are appended, once per op, to ``record["unavailable_deterministic_kernels"]``; torch's
    RuntimeError for such an op (strict mode) becomes a DeterminismError naming the op."""
    kernels = record.setdefault("unavailable_deterministic_kernels", [])
    with warnings.catch_warnings():
        warnings.filterwarnings("always", message=_TORCH_ALERT.pattern, category=UserWarning)
        show_other = warnings.showwarning

        def capture(message: Warning | str, category: type[Warning], *where: Any) -> None:
            op = _alerted_op(str(message))
            if op is None:
                show_other(message, category, *where)
            elif op not in kernels:
                kernels.append(op)

        warnings.showwarning = capture
        try:
            yield
        except RuntimeError as err:
            op = _alerted_op(str(err))
            if op is None:
                raise
            raise DeterminismError(f"{op} has no deterministic implementation", hint=_ALLOW_HINT) from err


def _reject(key: str, expected: str, value: Any) -> None:
    raise ConfigError(
        f"determinism.{key}: expected {expected}, got {value!r} ({type(value).__name__})",
        hint=f"fix determinism.{key} in the config",
    )


def _frameworks_to_seed(requested: tuple[str, ...] | None) -> tuple[str, ...]:
    """The frameworks to seed: those requested (imported now), or those already imported."""
    if requested is None:
        return tuple(name for name in _FRAMEWORKS if name in sys.modules)
    for name in requested:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise DeterminismError(
                f"determinism.frameworks names {name}, which cannot be imported ({err})",
                hint=f"install {name} or remove it from determinism.frameworks",
            ) from err
    return tuple(dict.fromkeys(requested))


def _apply_environment(settings: DeterminismSettings) -> dict[str, str | None]:
    """Set the variables read by child processes, cuBLAS and XLA at start-up; return their values."""
    os.environ["PYTHONHASHSEED"] = str(settings.seed)
    if settings.deterministic_algorithms:
        if os.environ.get("CUBLAS_WORKSPACE_CONFIG") not in _CUBLAS_CONFIGS:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = _CUBLAS_CONFIGS[0]
        flags = os.environ.get("XLA_FLAGS", "").split()
        kept = [flag for flag in flags if flag.split("=")[0] != _XLA_DETERMINISTIC_FLAG.split("=")[0]]
        os.environ["XLA_FLAGS"] = " ".join([*kept, _XLA_DETERMINISTIC_FLAG])
    return {name: os.environ.get(name) for name in ("PYTHONHASHSEED", "CUBLAS_WORKSPACE_CONFIG", "XLA_FLAGS")}


def _python_record(seed: int) -> dict[str, Any]:
    """Whether this interpreter's own string hashing already runs on ``seed``."""
    start = _PYTHONHASHSEED_AT_START
    return {
        "random_seed": seed,
        "pythonhashseed_at_start": start,
        "hash_randomization": bool(sys.flags.hash_randomization),
        "hash_seed_in_effect": start is not None and start.isdecimal() and int(start) == seed,
    }


def _seed_torch(
    settings: DeterminismSettings, env_before: dict[str, str | None], unavailable: list[str]
) -> dict[str, Any]:
    """Seed torch (CPU and every CUDA device) and apply its deterministic flags; read them back."""
    import torch

    torch.manual_seed(settings.seed)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.manual_seed_all(settings.seed)
    torch.use_deterministic_algorithms(
        settings.deterministic_algorithms, warn_only=settings.allow_nondeterministic
    )
    torch.backends.cudnn.deterministic = settings.deterministic_algorithms
    torch.backends.cudnn.benchmark = False
    late_cublas = torch.cuda.is_initialized() and env_before["CUBLAS_WORKSPACE_CONFIG"] not in _CUBLAS_CONFIGS
    if settings.deterministic_algorithms and late_cublas:
        _unavailable(settings, unavailable, "torch:cublas (CUBLAS_WORKSPACE_CONFIG set after CUDA started)")
    return {
        "version": torch.__version__,
        "manual_seed": settings.seed,
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda,
        "use_deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "fill_uninitialized_memory": torch.utils.deterministic.fill_uninitialized_memory,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
    }


def _seed_jax(
    settings: DeterminismSettings, env_before: dict[str, str | None], unavailable: list[str]
) -> dict[str, Any]:
    """Record the seed a stage builds its ``jax.random.key`` from, and whether the XLA deterministic-ops
    flag reaches this process (XLA reads XLA_FLAGS once, when its backends start)."""
    import jax
    from jax._src import xla_bridge

    started = xla_bridge.backends_are_initialized()
    flag_was_set = _XLA_DETERMINISTIC_FLAG in (env_before["XLA_FLAGS"] or "").split()
    flag_in_effect = settings.deterministic_algorithms and (flag_was_set or not started)
    if settings.deterministic_algorithms and not flag_in_effect and jax.default_backend() != "cpu":
        what = f"jax:{_XLA_DETERMINISTIC_FLAG} (set after the XLA backend started)"
        _unavailable(settings, unavailable, what)
    return {
        "version": jax.__version__,
        "key_seed": settings.seed,
        "backend_started_before_seeding": started,
        "xla_deterministic_ops_in_effect": flag_in_effect,
    }


_SEEDERS = {"torch": _seed_torch, "jax": _seed_jax}


def _unavailable(settings: DeterminismSettings, unavailable: list[str], what: str) -> None:
    """Record a deterministic setting that cannot be applied, or fail if the config forbids that."""
    if not settings.allow_nondeterministic:
        raise DeterminismError(f"deterministic mode unavailable: {what}", hint=_ALLOW_HINT)
    unavailable.append(what)


def _alerted_op(message: str) -> str | None:
    """The op named in a torch determinism alert ("torch:put_"), or None for any other message."""
    match = _TORCH_ALERT.match(message)
    return f"torch:{match.group(1)}" if match else None
