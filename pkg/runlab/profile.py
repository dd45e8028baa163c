"""Execution profiles (``configs/profiles/<name>.yaml``): which executor, and how to reach the cluster."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from .container import container_command
from .errors import ConfigError
from .manifest import Manifest, Resources
from .schema import check_schema, packaged_validator
from .yamlio import load_yaml_file

__all__ = ["ContainerSettings", "PartitionClass", "Placement", "Profile", "SlurmSettings", "load_profile", "profile_path"]


# sbatch options runlab sets itself (from resources, placement, arrays and chains): not for sbatch_args
_RUNLAB_OPTIONS = frozenset({
    "job-name", "partition", "account", "qos", "constraint", "gres", "gpus-per-node", "cpus-per-task", "mem",
    "time", "array", "dependency", "kill-on-invalid-dep", "requeue", "output", "error", "open-mode", "signal",
    "wckey",
})
_GRES = re.compile(r"[a-z][a-z0-9_]*(:[A-Za-z0-9_.-]+)?")
SbatchArgs = Mapping[str, "str | int | bool"]


@dataclass(frozen=True)
class Placement:
    """Where jobs run: partition, account, qos, constraint, and extra sbatch options. ``gres`` is a GRES name and
    type without the count (``gpu:a100``: a stage with ``gpus: 2`` asks ``--gres=gpu:a100:2``); None asks
    ``--gpus-per-node``."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    gres: str | None = None
    sbatch_args: SbatchArgs = field(default_factory=dict)


@dataclass(frozen=True)
class PartitionClass(Placement):
    """Where the stages of one partition class run (``slurm.classes.<name>``), and the resources this cluster
    gives them over the manifest's (``resources``)."""

    resources: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SlurmSettings(Placement):
    """A profile's ``slurm`` section: the top-level placement (the default of every class), the classes, and
    this cluster's overrides of the manifest's resources by stage tag (``stage_resources``)."""

    classes: Mapping[str, PartitionClass] = field(default_factory=dict)
    stage_resources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    max_array_size: int | None = None  # None: the cluster's MaxArraySize
    array_parallelism: int = 256
    sbatch_per_s: float = 5.0  # politeness: at most this many sbatch calls a second
    signal_delay_s: int = 90  # USR2 this long before the time limit, to checkpoint and requeue
    setup: tuple[str, ...] = ()  # shell lines run in the job before Python (module load ...)

    def placement(self, partition_class: str | None) -> PartitionClass:
        """Where a stage of ``partition_class`` runs: the class's settings over the top level (None: the top level)."""
        top = PartitionClass(self.partition, self.account, self.qos, self.constraint, self.gres, self.sbatch_args)
        if partition_class is None:
            return top
        if partition_class not in self.classes:
            known = ", ".join(sorted(self.classes)) or "none"
            raise ConfigError(f"no partition class {partition_class!r} (classes: {known})",
                              f"add slurm.classes.{partition_class} to the profile")
        chosen = self.classes[partition_class]
        inherited = {name: getattr(chosen, name) if getattr(chosen, name) is not None else getattr(top, name)
                     for name in ("partition", "account", "qos", "constraint", "gres")}
        return PartitionClass(**inherited, sbatch_args={**self.sbatch_args, **chosen.sbatch_args},
                              resources=chosen.resources)

    def resources_for(self, study: str, tag: str, resources: Resources) -> Resources:
        """A stage's resources on this cluster: the manifest's, then its class's ``resources``, then
        ``stage_resources`` under ``TAG``, then under ``study.TAG`` (``tag``: the manifest's tag, e.g. ``GEN``
        for every link of that chain; one profile serves several studies, whose tags may coincide)."""
        override = {**self.stage_resources.get(tag, {}), **self.stage_resources.get(f"{study}.{tag}", {})}
        partition_class = override.get("partition_class", resources.partition_class)
        fitted = replace(resources, partition_class=partition_class)
        if partition_class is not None:
            fitted = replace(fitted, **self.placement(partition_class).resources)
        return replace(fitted, **override)


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

    def fit(self, manifest: Manifest) -> Manifest:
        """``manifest`` (expanded) with each stage's resources as this profile's cluster gives them; a stage
        asking for a partition class the profile lacks fails here (exit 2), before anything is queued.
        Classes and overrides are SLURM settings: other executors take the manifest as it is."""
        if self.executor != "slurm":
            return manifest
        stages = {}
        for tag, stage in manifest.stages.items():
            try:
                resources = self.slurm.resources_for(manifest.study, stage.chain_of or tag, stage.resources)
            except ConfigError as exc:
                raise ConfigError(f"stage {tag} of {manifest.path}: profile {self.name} has {exc.message}",
                                  exc.hint) from exc
            stages[tag] = replace(stage, resources=resources)
        return replace(manifest, stages=stages)


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
                      f"write {search[-1] / (name_or_path + '.yaml')} (e.g. schema_version: 1 and executor: local), "
                      "or pass --profile with a .yaml path")


def load_profile(path: Path) -> Profile:
    """Read and validate an execution profile."""
    data = load_yaml_file(path, "profile")
    check_schema(data, packaged_validator("profile"), f"profile {path}", ConfigError, "fix the profile",
                 by_hand=True)
    slurm = _slurm_settings(dict(data.get("slurm") or {}), f"profile {path}")
    container = data.get("container")
    return Profile(
        name=Path(path).stem,
        executor=data["executor"],
        slurm=slurm,
        container=None if container is None else ContainerSettings(
            image=container["image"], runtime=container.get("runtime", ContainerSettings.runtime),
            binds=tuple(container.get("binds", ())),
        ),
    )


def _slurm_settings(data: dict[str, Any], source: str) -> SlurmSettings:
    """The ``slurm`` section (schema-valid) as settings; GRES strings, sbatch_args and class names checked."""
    data["setup"] = tuple(data.get("setup", ()))
    data["classes"] = {name: PartitionClass(**spec) for name, spec in (data.get("classes") or {}).items()}
    settings = SlurmSettings(**data)
    placements = {"slurm": settings, **{f"slurm.classes.{name}": spec for name, spec in settings.classes.items()}}
    for where, placement in placements.items():
        if placement.gres is not None and placement.gres.rpartition(":")[2].isdigit():
            raise ConfigError(f"{source}: {where}.gres {placement.gres!r} gives a count",
                              f"write {placement.gres.rpartition(':')[0]}: the count is the stage's gpus")
        if placement.gres is not None and not _GRES.fullmatch(placement.gres):
            raise ConfigError(f"{source}: {where}.gres {placement.gres!r} is not a GRES name[:type]",
                              "write e.g. gpu or gpu:a100; the count is the stage's gpus")
        taken = sorted(set(placement.sbatch_args) & _RUNLAB_OPTIONS)
        if taken:
            raise ConfigError(f"{source}: {where}.sbatch_args sets --{taken[0]}, which runlab sets itself",
                              "set placement with partition/account/qos/constraint/gres, resources in the manifest")
    for tag, override in settings.stage_resources.items():
        if "partition_class" in override and override["partition_class"] not in settings.classes:
            raise ConfigError(f"{source}: slurm.stage_resources.{tag} names unknown partition class "
                              f"{override['partition_class']!r}", "add it under slurm.classes")
    return settings
