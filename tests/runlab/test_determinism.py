"""seed_everything: equal draws after equal seeds, a record of every flag applied, torch's
non-deterministic-op alerts recorded (allowed) or raised as DeterminismError (not allowed)."""

from __future__ import annotations

import json
import os
import pickle
import random
import subprocess
import sys
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from runlab.determinism import DeterminismSettings, seed_everything, watch_nondeterminism
from runlab.errors import ConfigError, DeterminismError, ExitCode

XLA_FLAG = "--xla_gpu_deterministic_ops=true"


@pytest.fixture(autouse=True)
def restore_global_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """seed_everything sets process-wide state: put back the variables and torch's flags after each test."""
    for name in ("PYTHONHASHSEED", "CUBLAS_WORKSPACE_CONFIG", "XLA_FLAGS"):
        monkeypatch.delenv(name, raising=False)
    flags = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    yield
    torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags[2], flags[3]


def draws() -> tuple[float, list[float], list[float]]:
    return random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist()


def put_with_repeated_index() -> torch.Tensor:
    """Tensor.put_(accumulate=False) with a repeated index: no deterministic CPU kernel in torch 2.13."""
    return torch.zeros(4).put_(torch.tensor([0, 1, 1]), torch.ones(3))


def max_unpool() -> torch.Tensor:
    """max_unpool1d: the other CPU op without a deterministic kernel in torch 2.13."""
    pooled, indices = torch.nn.functional.max_pool1d(torch.rand(1, 1, 4), 2, return_indices=True)
    return torch.nn.functional.max_unpool1d(pooled, indices, 2)


def test_equal_seeds_give_equal_draws_and_other_seeds_do_not() -> None:
    settings = DeterminismSettings(seed=7, frameworks=("torch",))
    seed_everything(settings)
    first = draws()
    seed_everything(settings)
    assert draws() == first
    seed_everything(DeterminismSettings(seed=8, frameworks=("torch",)))
    assert draws() != first


def test_record_lists_every_flag_as_applied() -> None:
    record = seed_everything(DeterminismSettings(seed=11, frameworks=("torch",)))
    json.dumps(record, allow_nan=False)
    assert record["seed"] == 11 and record["frameworks"] == ["torch"]
    assert record["environment"] == {
        "PYTHONHASHSEED": "11",
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
        "XLA_FLAGS": XLA_FLAG,
    }
    assert os.environ["PYTHONHASHSEED"] == "11"
    assert record["numpy"] == {"version": np.__version__, "legacy_global_seed": 11}
    assert record["torch"] == {
        "version": torch.__version__,
        "manual_seed": 11,
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "use_deterministic_algorithms": True,
        "warn_only": False,
        "fill_uninitialized_memory": True,
        "cudnn_deterministic": True,
        "cudnn_benchmark": False,
    }
    assert torch.are_deterministic_algorithms_enabled()
    assert record["unavailable_deterministic_kernels"] == []


def test_allowing_nondeterminism_sets_warn_only() -> None:
    allowed = seed_everything(DeterminismSettings(allow_nondeterministic=True, frameworks=("torch",)))
    assert allowed["torch"]["warn_only"] is True and allowed["allow_nondeterministic"] is True
    assert allowed["torch"]["use_deterministic_algorithms"] is True


def test_opting_out_turns_the_flags_off_and_sets_no_framework_variables() -> None:
    off = seed_everything(DeterminismSettings(deterministic_algorithms=False, frameworks=("torch",)))
    assert off["torch"]["use_deterministic_algorithms"] is False
    assert off["torch"]["cudnn_deterministic"] is False and off["torch"]["cudnn_benchmark"] is False
    assert off["environment"] == {"PYTHONHASHSEED": "0", "CUBLAS_WORKSPACE_CONFIG": None, "XLA_FLAGS": None}


def test_existing_xla_flags_and_valid_cublas_config_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    devices = "--xla_force_host_platform_device_count=2"
    monkeypatch.setenv("XLA_FLAGS", f"--xla_gpu_deterministic_ops=false {devices}")
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    environment = seed_everything(DeterminismSettings())["environment"]
    assert environment["XLA_FLAGS"] == f"{devices} {XLA_FLAG}"
    assert environment["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def test_strict_mode_turns_a_nondeterministic_op_into_determinism_error() -> None:
    record = seed_everything(DeterminismSettings(frameworks=("torch",)))
    with pytest.raises(DeterminismError) as caught, watch_nondeterminism(record):
        put_with_repeated_index()
    error = caught.value
    assert str(error) == (
        "torch:put_ has no deterministic implementation; "
        "set determinism.allow_nondeterministic: true in the config to record and continue"
    )
    assert error.exit_code == ExitCode.SCHEMA
    assert isinstance(error.__cause__, RuntimeError)
    assert str(pickle.loads(pickle.dumps(error))) == str(error)
    assert record["unavailable_deterministic_kernels"] == []


def test_allowed_mode_records_each_nondeterministic_op_once_and_continues() -> None:
    record = seed_everything(DeterminismSettings(allow_nondeterministic=True, frameworks=("torch",)))
    with watch_nondeterminism(record):
        put_with_repeated_index()
        put_with_repeated_index()
        max_unpool()
    assert record["unavailable_deterministic_kernels"] == ["torch:put_", "torch:max_unpooling2d_forward_out"]


def test_watch_passes_other_warnings_and_errors_through() -> None:
    record = seed_everything(DeterminismSettings(allow_nondeterministic=True, frameworks=("torch",)))
    with pytest.warns(UserWarning, match="unrelated"), watch_nondeterminism(record):
        warnings.warn("unrelated", UserWarning, stacklevel=1)
    with pytest.raises(RuntimeError, match="inconsistent tensor size"), watch_nondeterminism(record):
        torch.zeros(2) @ torch.zeros(3)
    assert record["unavailable_deterministic_kernels"] == []


def test_missing_framework_is_a_determinism_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jax", None)  # makes `import jax` fail as if it were not installed
    with pytest.raises(DeterminismError, match="determinism.frameworks names jax, which cannot be imported"):
        seed_everything(DeterminismSettings(frameworks=("jax",)))


# A fresh interpreter: what seed_everything imports by default, how PYTHONHASHSEED at start-up is
# recorded, and whether the XLA flag still reaches a JAX whose backend has or has not started.
_SUBPROCESS = """
import json, sys
from runlab.determinism import DeterminismSettings, seed_everything
mode = sys.argv[1]
if mode == "default":
    record = seed_everything(DeterminismSettings(seed=5))
    record["imported"] = sorted(name for name in ("torch", "jax") if name in sys.modules)
else:
    if mode == "jax_started":
        import jax.numpy
        jax.numpy.zeros(1).block_until_ready()
    record = seed_everything(DeterminismSettings(seed=5, frameworks=("jax",)))
print(json.dumps(record))
"""


def run_fresh(mode: str, hash_seed: str | None) -> dict[str, object]:
    unset = ("PYTHONHASHSEED", "XLA_FLAGS", "CUBLAS_WORKSPACE_CONFIG")
    env = {name: value for name, value in os.environ.items() if name not in unset}
    if hash_seed is not None:
        env["PYTHONHASHSEED"] = hash_seed
    command = [sys.executable, "-c", _SUBPROCESS, mode]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_default_frameworks_import_nothing_and_hash_seed_is_recorded() -> None:
    record = run_fresh("default", hash_seed=None)
    assert record["imported"] == [] and record["frameworks"] == []
    assert record["torch"] is None and record["jax"] is None
    assert record["python"] == {
        "random_seed": 5,
        "pythonhashseed_at_start": None,
        "hash_randomization": True,
        "hash_seed_in_effect": False,
    }
    matching = run_fresh("default", hash_seed="5")["python"]
    assert matching["pythonhashseed_at_start"] == "5" and matching["hash_seed_in_effect"] is True


def test_jax_key_seed_and_whether_the_xla_flag_took_effect() -> None:
    import jax

    before_start = run_fresh("jax_fresh", hash_seed="5")["jax"]
    assert before_start == {
        "version": jax.__version__,
        "key_seed": 5,
        "backend_started_before_seeding": False,
        "xla_deterministic_ops_in_effect": True,
    }
    after_start = run_fresh("jax_started", hash_seed="5")
    assert after_start["jax"]["backend_started_before_seeding"] is True
    assert after_start["jax"]["xla_deterministic_ops_in_effect"] is False
    assert after_start["unavailable_deterministic_kernels"] == []  # XLA:CPU needs no flag to be deterministic


def test_from_config_builds_settings_and_names_bad_keys() -> None:
    assert DeterminismSettings.from_config(None) == DeterminismSettings()
    settings = DeterminismSettings.from_config(
        {"seed": 3, "deterministic_algorithms": True, "allow_nondeterministic": True, "frameworks": ["torch"]}
    )
    assert settings == DeterminismSettings(seed=3, allow_nondeterministic=True, frameworks=("torch",))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"sede": 1}, "determinism.sede: unknown key"),
        ({"seed": "1"}, r"determinism.seed: expected an integer in \[0, 4294967295\], got '1' \(str\)"),
        ({"seed": True}, "determinism.seed: expected an integer"),
        ({"seed": -1}, "determinism.seed: expected an integer"),
        ({"seed": 2**32}, "determinism.seed: expected an integer"),
        ({"allow_nondeterministic": "yes"}, "determinism.allow_nondeterministic: expected true or false"),
        ({"deterministic_algorithms": 1}, "determinism.deterministic_algorithms: expected true or false"),
        ({"frameworks": ["tensorflow"]}, "determinism.frameworks: expected null or a list drawn from"),
        ({"frameworks": "torch"}, "determinism.frameworks: expected null or a list"),
        (["seed", 1], "determinism: expected a mapping, got list"),
    ],
)
def test_from_config_rejects_bad_sections(section: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        DeterminismSettings.from_config(section)  # type: ignore[arg-type]
    assert caught.value.exit_code == ExitCode.SCHEMA
