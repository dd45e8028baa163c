"""The one submission path: a manifest, a config, overrides and a sweep become plans, then runs.

:func:`submit` is what ``runlab submit`` and every study front end call; :func:`load_study` is what
``status`` and ``exec-stage`` use to compute the same ids without submitting.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .canon import CanonRegistry, load_registry
from .config import resolve_config_data
from .errors import ConfigError
from .launcher import StageOutcome, SubmitOptions, Submitter
from .manifest import Manifest, load_manifest
from .overrides import apply_overrides, sweep_points
from .plan import Plan, plan_config
from .profile import load_profile, profile_path
from .store import RunStore, resolve_runs_root
from .yamlio import load_yaml_file

__all__ = ["Study", "canon_runs_dir", "default_runs_root", "load_study", "submit"]


@dataclass(frozen=True)
class Study:
    """A manifest (as written), the plan of every config of one submission, and its run store."""

    manifest: Manifest
    plans: list[Plan]
    store: RunStore


def load_study(manifest: Path | str, *, config: Path | str | None = None,
               overrides: Mapping[str, Any] | None = None, sweep: Mapping[str, Sequence[Any]] | None = None,
               runs_root: Path | str | None = None) -> Study:
    """Load ``manifest`` and its config (or ``config``), set ``overrides``, expand ``sweep`` (cartesian), resolve
    and validate every resulting config, and plan each one."""
    loaded = load_manifest(Path(manifest))
    registry = load_registry(loaded.canon) if loaded.canon is not None else None
    schema = load_yaml_file(loaded.config_schema, "config schema") if loaded.config_schema else None
    path = Path(config) if config is not None else loaded.config
    if config is None and not path.exists():
        raise ConfigError(f"manifest {loaded.path} has no config: {path} does not exist",
                          "write it, name another in the manifest (config: PATH), or pass --config")
    raw = load_yaml_file(path, "config")
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path} is not a mapping at the top level", "write key: value pairs")
    plans = []
    for point in sweep_points(dict(sweep or {})):
        settings = {**dict(overrides or {}), **point}
        source = f"config {path}" + (f" with {_describe(settings)}" if settings else "")
        data = apply_overrides(raw, settings.items(), source)
        plan = plan_config(loaded, resolve_config_data(data, registry, schema, source))
        plans.append(replace(plan, label=_describe(point)))
    root = resolve_runs_root(str(runs_root) if runs_root is not None else None, default_runs_root(loaded, registry))
    return Study(manifest=loaded, plans=plans, store=RunStore(root))


def submit(manifest: Path | str, *, config: Path | str | None = None, overrides: Mapping[str, Any] | None = None,
           sweep: Mapping[str, Sequence[Any]] | None = None, stages: Sequence[str] = (), profile: str = "local",
           runs_root: Path | str | None = None, allow_resume: bool = False, dry_run: bool = False,
           run_id_mode: str = "content_hash", run_upstream: bool = True,
           say: Callable[[str], None] = print) -> list[StageOutcome]:
    """Run or queue every stage of every config that is not complete; one outcome per distinct run.

    ``stages`` limits the work to those stages and their upstream (with ``run_upstream=False`` the
    upstream must be complete already: exit 3 otherwise). ``profile`` is a name in ``configs/profiles``
    (of the working directory or the manifest's project) or a YAML path.
    """
    study = load_study(manifest, config=config, overrides=overrides, sweep=sweep, runs_root=runs_root)
    project = study.manifest.project
    searched = dict.fromkeys((Path.cwd() / "configs" / "profiles", project / "configs" / "profiles"))
    chosen = load_profile(profile_path(profile, tuple(searched)))
    options = SubmitOptions(allow_resume=allow_resume, dry_run=dry_run, run_id_mode=run_id_mode,
                            targets=tuple(stages), run_upstream=run_upstream)
    configs = len(study.plans)
    sweep_note = f", {configs} configs" if configs > 1 else ""
    say(f"study {study.manifest.study}: config {study.plans[0].config.sha256[:12]}{sweep_note}, "
        f"runs root {study.store.root}, profile {chosen.name}")
    plans = [replace(plan, manifest=chosen.fit(plan.manifest)) for plan in study.plans]  # this cluster's resources
    return Submitter(plans, chosen, study.store, options, say=say).submit()


def canon_runs_dir(registry: CanonRegistry) -> Any:
    """``CANON.PATH.RUNS_DIR`` of a registry, or None."""
    return registry.values.get("PATH", {}).get("RUNS_DIR")


def default_runs_root(manifest: Manifest, registry: CanonRegistry | None) -> str:
    """Where a study's runs go when neither ``--runs-root`` nor the environment says: ``CANON.PATH.RUNS_DIR`` of its
    registry (relative to the working directory, as seed 002 has it), else ``runs/`` in the manifest's project."""
    canon = canon_runs_dir(registry) if registry is not None else None
    return canon if canon is not None else str(manifest.project / "runs")


def _describe(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in settings.items())
