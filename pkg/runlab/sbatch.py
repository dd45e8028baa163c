"""The sbatch parameters of a stage's job: one pure function of its resources and the SLURM profile.

:func:`sbatch_parameters` gives the keyword arguments of ``submitit.SlurmExecutor.update_parameters`` (the
keys of ``submitit.slurm.slurm._make_sbatch_string``); the SLURM backend submits with them and
``runlab submit --dry_run`` prints them as sbatch options (:func:`sbatch_options`).
"""

from __future__ import annotations

import shlex
from typing import Any, Sequence

from .manifest import Resources
from .profile import SlurmSettings

__all__ = ["sbatch_options", "sbatch_parameters", "with_dependency"]


def sbatch_parameters(job_name: str, resources: Resources, settings: SlurmSettings,
                      setup: Sequence[str] = ()) -> dict[str, Any]:
    """submitit parameters of one job (or each task of one array) of a stage with ``resources`` (as the profile
    fitted them), placed by its partition class; ``setup``: shell lines before the profile's own ``setup``.

    Memory goes as ``--mem`` in MiB, time as ``--time`` in minutes; GPUs as ``--gres=<name[:type]>:<gpus>`` when
    the placement names a GRES, else ``--gpus-per-node``. Every job may be requeued (``--requeue``).
    """
    placement = settings.placement(resources.partition_class)
    parameters: dict[str, Any] = {
        "job_name": job_name,
        "time": resources.time_min,
        "cpus_per_task": resources.cpus,
        "mem": f"{int(resources.mem_gb * 1024)}M",
    }
    for name in ("partition", "account", "qos", "constraint"):
        if getattr(placement, name):
            parameters[name] = getattr(placement, name)
    if resources.gpus and placement.gres:
        parameters["gres"] = f"{placement.gres}:{resources.gpus}"
    elif resources.gpus:
        parameters["gpus_per_node"] = resources.gpus
    parameters.update(
        signal_delay_s=settings.signal_delay_s,
        array_parallelism=settings.array_parallelism,
        setup=[*setup, *settings.setup],
        additional_parameters={"requeue": True, **placement.sbatch_args},
    )
    return parameters


def with_dependency(parameters: dict[str, Any], dependency: str | None) -> dict[str, Any]:
    """``parameters`` with ``--dependency`` set (and ``--kill-on-invalid-dep=yes``, so a failed upstream cancels
    the job instead of leaving it pending forever); unchanged for None."""
    if not dependency:
        return parameters
    extra = {**parameters["additional_parameters"], "dependency": dependency, "kill_on_invalid_dep": "yes"}
    return {**parameters, "additional_parameters": extra}


def sbatch_options(parameters: dict[str, Any], tasks: int | None = None) -> list[str]:
    """The sbatch options ``parameters`` stand for, as submitit writes them (``--name=value``, ``--flag``), for a
    job array of ``tasks`` tasks (``--array=0-<tasks-1>%<parallelism>``) or one job (None); the script's
    output paths and setup lines are left out."""
    options = {key: value for key, value in parameters.items()
               if key not in ("setup", "signal_delay_s", "array_parallelism", "additional_parameters")}
    options["signal"] = f"USR2@{parameters['signal_delay_s']}"
    if tasks is not None:
        options["array"] = f"0-{tasks - 1}%{min(tasks, parameters['array_parallelism'])}"
    options.update(parameters["additional_parameters"])
    return [_option(key, value) for key, value in options.items()]


def _option(key: str, value: Any) -> str:
    name = key.replace("_", "-")
    return f"--{name}" if value is True else f"--{name}={shlex.quote(str(value))}"
