"""Job manifests (``jobs/<study>.yaml``): a study's stages, their upstream stages and resources.

The manifest is where resources are set (a SLURM profile may override them for its cluster:
``Profile.fit``). Relative paths in it are relative to the manifest's own folder. Its *project* is the
folder above that one (a manifest lives in ``<project>/jobs/``); what the manifest leaves out defaults
to the project's conventions: the config ``configs/<study>.yaml``, the import path the project folder
itself (where the study package lives), and no CANON registry (the config is plain YAML).
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, replace
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import ConfigError
from .run_id import validate_stage_tag
from .schema import check_schema, packaged_validator
from .yamlio import load_yaml_file

__all__ = ["Manifest", "ResourceRule", "Resources", "Stage", "import_callable", "load_manifest"]


@dataclass(frozen=True)
class Resources:
    """What one job (or one array task) of a stage asks the scheduler for; ``partition_class`` (e.g. ``gpu``)
    names the class of nodes a SLURM profile maps to partition, account, qos, constraint and GRES type
    (None: the profile's top-level settings)."""

    cpus: int = 1
    mem_gb: float = 1.0
    gpus: int = 0
    time_min: int = 10
    partition_class: str | None = None


@dataclass(frozen=True)
class ResourceRule:
    """Resources that a config value sets: when config key ``key`` equals ``equals``, ``changes`` replace the
    stage's resources (e.g. ``gpus: 1`` when ``irer.execution.device`` is ``cuda``). Resources never enter run
    ids; the key must be one the stage reads, so one run id always has one set of resources."""

    key: str
    equals: Any
    changes: Mapping[str, Any]

    def applies(self, config: Mapping[str, Any]) -> bool:
        value: Any = config
        for part in self.key.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        return value == self.equals


@dataclass(frozen=True)
class Stage:
    """One stage: ``entry(run)`` or, with ``array``, ``entry(run, task_index)`` then ``fan_in(run)``.

    ``verify``, if set, names ``verifier(view) -> list[str]``: ``runlab verify`` calls it on the complete
    run to recompute what hashing cannot check, and reports the problem lines it returns.
    """

    tag: str
    entry: str
    needs: tuple[str, ...]
    resources: Resources
    version: str = "1"  # the stage's code version: bump it when its output would change for the same inputs
    reads: tuple[str, ...] | None = None  # config keys (dotted prefixes) the stage reads; None: the whole config
    array: int | str | None = None  # task count, or a config key holding it (a number or a list) before expansion
    fan_in: str | None = None
    chain: str | None = None  # config key of the chain's length (before expansion)
    chain_index: int | None = None  # position in its chain (after expansion)
    chain_previous: str | None = None  # tag of the previous link (after expansion)
    chain_of: str | None = None  # the manifest's tag of the chain stage this link expands (after expansion)
    verify: str | None = None
    resources_when: tuple[ResourceRule, ...] = ()  # applied by ``Manifest.for_config`` (then empty)


@dataclass(frozen=True)
class Manifest:
    """A study's stage graph and the files it refers to (absolute paths).

    ``gpu_budget``, if set, names ``check(runs: list[GpuRun]) -> str``: ``runlab submit`` calls it with the
    GPU runs it is about to start, before anything is run or queued; it returns a line to say ("" for
    none), or raises a RunlabError (a ConfigError: exit 2) to refuse the submission.
    """

    path: Path
    study: str
    canon: Path | None  # the CANON registry its configs may refer to; None: configs are plain YAML
    config: Path
    config_schema: Path | None
    python_path: tuple[Path, ...]
    stages: dict[str, Stage]
    gpu_budget: str | None = None

    @property
    def project(self) -> Path:
        """The folder above the manifest's (``<project>/jobs/<study>.yaml``): home of its package, configs and profiles."""
        return self.path.parent.parent

    def order(self) -> list[str]:
        """Stage tags in dependency order (upstream first; ties in manifest order)."""
        sorter = TopologicalSorter({tag: stage.needs for tag, stage in self.stages.items()})
        position = {tag: number for number, tag in enumerate(self.stages)}
        ordered: list[str] = []
        sorter.prepare()
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=position.__getitem__)
            ordered.extend(ready)
            sorter.done(*ready)
        return ordered

    def closure(self, targets: list[str]) -> list[str]:
        """``targets`` and everything upstream of them, in dependency order."""
        wanted: set[str] = set()
        pending = list(targets)
        while pending:
            tag = pending.pop()
            if tag not in self.stages:
                raise ConfigError(f"stage {tag} is not in {self.path}", f"stages: {', '.join(self.stages)}")
            if tag not in wanted:
                wanted.add(tag)
                pending.extend(self.stages[tag].needs)
        return [tag for tag in self.order() if tag in wanted]

    def for_config(self, config: Mapping[str, Any]) -> "Manifest":
        """The manifest for ``config``: every ``chain`` stage expanded into its links, and every ``array``
        given as a config key replaced by that key's task count (the number, or the list's length), and every
        ``resources_when`` rule whose config value matches applied to the stage's resources.

        A stage ``GEN`` with ``chain: hunt.generations`` and that key equal to 3 becomes ``GEN000``,
        ``GEN001`` and ``GEN002``: each link needs the stage's own ``needs`` and the link before it,
        and a stage that needs ``GEN`` needs its last link.
        """
        expanded: dict[str, Stage] = {}
        last_link: dict[str, str] = {}
        for stage in self.stages.values():
            needs = tuple(last_link.get(need, need) for need in stage.needs)
            if isinstance(stage.array, str):
                stage = replace(stage, array=_config_count(config, stage.array, stage, self.path, "array of tasks"))
            if stage.resources_when:
                resources = stage.resources
                for rule in stage.resources_when:
                    if rule.applies(config):
                        resources = replace(resources, **rule.changes)
                stage = replace(stage, resources=resources, resources_when=())
            if stage.chain is None:
                expanded[stage.tag] = replace(stage, needs=needs)
                continue
            length = _config_count(config, stage.chain, stage, self.path, "chain of links")
            width = max(3, len(str(length - 1)))
            previous = None
            for index in range(length):
                tag = f"{stage.tag}{index:0{width}d}"
                if len(tag) > 16:
                    raise ConfigError(f"chain {stage.tag} of {length} links makes tag {tag}, longer than 16 characters",
                                      "shorten the stage tag or the chain")
                expanded[tag] = replace(stage, tag=tag, needs=needs + ((previous,) if previous else ()), chain=None,
                                        chain_index=index, chain_previous=previous, chain_of=stage.tag)
                previous = tag
            last_link[stage.tag] = previous
        return replace(self, stages=expanded)

    def packages(self, tag: str) -> tuple[str, ...]:
        """Top-level packages of the code a stage runs (entry, fan-in, verifier), whose source is fingerprinted."""
        stage = self.stages[tag]
        references = filter(None, (stage.entry, stage.fan_in, stage.verify))
        return tuple(sorted({reference.split(":")[0].split(".")[0] for reference in references}))

    def enable_imports(self) -> None:
        """Put the manifest's ``python_path`` folders on ``sys.path`` so its entries import."""
        for folder in reversed(self.python_path):
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))


def load_manifest(path: Path) -> Manifest:
    """Read, validate and check the stage graph of a manifest."""
    path = Path(path).resolve()
    data = load_yaml_file(path, "manifest")
    check_schema(data, packaged_validator("manifest"), f"manifest {path}", ConfigError, "fix the manifest",
                 by_hand=True)
    folder = path.parent
    stages = {tag: _stage(validate_stage_tag(tag), spec) for tag, spec in data["stages"].items()}
    for stage in stages.values():
        unknown = [need for need in stage.needs if need not in stages]
        if unknown:
            raise ConfigError(f"manifest {path}: stage {stage.tag} needs unknown stage(s) {', '.join(unknown)}",
                              f"declared stages: {', '.join(stages)}")
        if stage.chain is not None and stage.array is not None:
            raise ConfigError(f"manifest {path}: stage {stage.tag} has both chain and array", "keep one of them")
        if stage.fan_in is not None and stage.array is None:
            raise ConfigError(f"manifest {path}: stage {stage.tag} has fan_in but no array", "add array: N or drop fan_in")
        for rule in stage.resources_when:
            if stage.reads is not None and not any(rule.key == read or rule.key.startswith(read + ".") or read == "*"
                                                   for read in stage.reads):
                raise ConfigError(f"manifest {path}: stage {stage.tag} sets resources from {rule.key}, which it does "
                                  "not read", f"add {rule.key} to its reads, or drop the resources_when rule")
    project = folder.parent
    manifest = Manifest(
        path=path,
        study=data["study"],
        canon=(folder / data["canon"]).resolve() if "canon" in data else None,
        config=(folder / data["config"]).resolve() if "config" in data else project / "configs" / f"{data['study']}.yaml",
        config_schema=(folder / data["config_schema"]).resolve() if "config_schema" in data else None,
        python_path=(tuple((folder / entry).resolve() for entry in data["python_path"]) if "python_path" in data
                     else (project,)),
        stages=stages,
        gpu_budget=data.get("gpu_budget"),
    )
    try:
        manifest.order()
    except CycleError as exc:
        raise ConfigError(f"manifest {path}: stages form a cycle: {' -> '.join(exc.args[1])}", "remove one need") from exc
    return manifest


def _stage(tag: str, spec: dict[str, Any]) -> Stage:
    return Stage(
        tag=tag,
        entry=spec["entry"],
        needs=tuple(spec.get("needs", [])),
        resources=Resources(**spec.get("resources", {})),
        resources_when=tuple(ResourceRule(rule["config"], rule["equals"], dict(rule["resources"]))
                             for rule in spec.get("resources_when", [])),
        array=spec.get("array"),
        fan_in=spec.get("fan_in"),
        verify=spec.get("verify"),
        chain=spec.get("chain"),
        version=str(spec.get("version", 1)),
        reads=tuple(spec["reads"]) if "reads" in spec else None,
    )


def _config_count(config: Mapping[str, Any], key: str, stage: Stage, path: Path, what: str) -> int:
    """The count a config key gives a stage: a whole number, or the length of a list; 1 or more."""
    value: Any = config
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    count = len(value) if isinstance(value, list) else value
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"stage {stage.tag} of {path} takes its {what} from {key}, which the config sets to "
                          f"{value!r}", f"set {key} to a whole number, or a list, of 1 or more")
    return count


def import_callable(reference: str, what: str = "stage entry",
                    hint: str = "check the manifest's entry and python_path") -> Callable[..., Any]:
    """Import ``package.module:function``; a failure is a ConfigError naming ``what`` and the reference."""
    module_name, _, attribute = reference.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import {what} {reference}: {exc}", hint) from exc
    if not callable(function):
        raise ConfigError(f"{what} {reference} is not callable", "point it at a function")
    return function
