"""Execution profiles (``configs/profiles/<name>.yaml``): which executor, and how to reach the cluster."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .container import container_command
from .errors import ConfigError
from .schema import check_schema, packaged_validator
from .yamlio import load_yaml_file

__all__ = ["ContainerSettings", "Profile", "SlurmSettings", "load_profile", "profile_path"]


@dataclass(frozen=True)
class SlurmSettings:
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    max_array_size: int | None = None  # None: the cluster's MaxArraySize
    array_parallelism: int = 256
    sbatch_per_s: float = 5.0  # politeness: at most this many sbatch calls a second
    signal_delay_s: int = 90  # USR2 this long before the time limit, to checkpoint and requeue
    setup: tuple[str, ...] = ()  # shell lines run in the job before Python (module load ...)


@dataclass(frozen=True)
class ContainerSettings:
    """Run a SLURM job's Python inside ``image`` with ``runtime`` (apptainer, podman or docker), the runs
    root and ``binds`` (absolute host paths) bound at the same paths."""

    image: str
    runtime: str = "apptainer"
    binds: tuple[str, ...] = ()

    def python_command(self, runs_root: Path, gpus: int) -> str:
        """What submitit runs as ``python`` in the sbatch script (see ``container.py``)."""
        return container_command(self.runtime, self.image, (str(runs_root), *self.binds), gpus)


@dataclass(frozen=True)
class Profile:
    name: str
    executor: str
    slurm: SlurmSettings = field(default_factory=SlurmSettings)
    container: ContainerSettings | None = None


def profile_path(name_or_path: str, search: Sequence[Path]) -> Path:
    """A profile given as a ``.yaml`` path, or by name: the first ``<folder>/<name>.yaml`` in ``search``."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        return candidate
    if not name_or_path.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"invalid profile name {name_or_path!r}", "use a name from configs/profiles or a .yaml path")
    for folder in search:
        if (folder / f"{name_or_path}.yaml").is_file():
            return folder / f"{name_or_path}.yaml"
    raise ConfigError(f"no profile {name_or_path!r} in {', '.join(str(folder) for folder in search)}",
                      "pass --profile with a .yaml path or add the profile")


def load_profile(path: Path) -> Profile:
    """Read and validate an execution profile."""
    data = load_yaml_file(path, "profile")
    check_schema(data, packaged_validator("profile"), f"profile {path}", ConfigError, "fix the profile")
    slurm = dict(data.get("slurm") or {})
    slurm["setup"] = tuple(slurm.get("setup", ()))
    container = data.get("container")
    return Profile(
        name=Path(path).stem,
        executor=data["executor"],
        slurm=SlurmSettings(**slurm),
        container=None if container is None else ContainerSettings(
            image=container["image"], runtime=container.get("runtime", ContainerSettings.runtime),
            binds=tuple(container.get("binds", ())),
        ),
    )
