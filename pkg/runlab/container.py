"""The command that runs a SLURM job's Python inside the suite's image, one pure function per runtime.

submitit puts the command in the job's sbatch script as ``srun ... <command> -u -m submitit.core._submit
<folder>``. Every runtime runs the image's ``python`` (first on its PATH) with the variables of the job
step that submitit and the job need (``SLURM_*``, ``SUBMITIT_*``, ``CUDA_VISIBLE_DEVICES``,
``PYTHONHASHSEED``), binds each host path at the same path inside, and starts in the submit directory
(``$PWD``, bound too), so that the runs root, the submitit folder under it and the working directory
are where the job expects them. GPUs are passed in only when the job asks for them.
"""

from __future__ import annotations

import shlex
from typing import Callable, Sequence

from .errors import ConfigError

__all__ = ["RUNTIMES", "apptainer_command", "container_command", "docker_command", "podman_command"]

_PASSED_VARIABLES = ("CUDA_VISIBLE_DEVICES", "PYTHONHASHSEED")  # besides every SLURM_* and SUBMITIT_*
_WORKDIR = '--volume "$PWD:$PWD" --workdir "$PWD"'  # expanded by the job's shell: the submit directory


def apptainer_command(image: str, binds: Sequence[str], gpus: int) -> str:
    """``apptainer exec [--nv] --bind <path> ... <image> python``; apptainer passes the host environment
    (never ``--cleanenv``: SLURM and submitit variables must reach the job) and binds ``$PWD`` itself."""
    flags = ["--nv"] if gpus else []
    for path in binds:
        flags += ["--bind", path]
    return _join(["apptainer", "exec", *flags, image, "python"])


def podman_command(image: str, binds: Sequence[str], gpus: int) -> str:
    """``podman run`` as the submitting user (rootless podman, ``--userns=keep-id``); podman expands the
    ``--env 'SLURM_*'`` globs from its own environment, which is the job step's."""
    flags = ["--rm", "--network=host"]
    for name in ("SLURM_*", "SUBMITIT_*", *_PASSED_VARIABLES):
        flags += ["--env", name]
    flags.append("--userns=keep-id")
    if gpus:
        flags += ["--device", "nvidia.com/gpu=all"]  # CDI; CUDA_VISIBLE_DEVICES then picks the job's GPUs
    return " ".join([_join(["podman", "run", *flags]), _volumes(binds), _WORKDIR,
                     _join(["--entrypoint", "python", image])])


def docker_command(image: str, binds: Sequence[str], gpus: int) -> str:
    """``docker run`` as the submitting user, wrapped in ``bash -c`` so that the variables are named in the
    job step itself: docker has no ``--env`` globs, and the sbatch script's setup lines run before srun
    adds its step variables and before submitit exports ``SUBMITIT_EXECUTOR``. ``--env NAME`` takes the
    value from the docker client's environment, so no value is written anywhere."""
    names = "${!SLURM_@} ${!SUBMITIT_@} " + " ".join(_PASSED_VARIABLES)
    script = " ".join([
        f"names=({names});",
        "exec docker run --rm --network=host",
        '"${names[@]/#/--env=}" --user "$(id -u):$(id -g)"',
        *(["--gpus all"] if gpus else []),
        _volumes(binds), _WORKDIR,
        _join(["--entrypoint", "python", image]),
        '"$@"',
    ])
    return _join(["bash", "-c", script, "runlab-docker"])


RUNTIMES: dict[str, Callable[[str, Sequence[str], int], str]] = {
    "apptainer": apptainer_command,
    "podman": podman_command,
    "docker": docker_command,
}


def container_command(runtime: str, image: str, binds: Sequence[str], gpus: int) -> str:
    """The command for ``runtime`` that runs ``image``'s python with ``binds`` (absolute host paths, each
    bound once at the same path) and, when ``gpus > 0``, the GPUs of the job."""
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown container runtime {runtime!r}", f"use one of {', '.join(RUNTIMES)}")
    return RUNTIMES[runtime](image, list(dict.fromkeys(binds)), gpus)


def _volumes(binds: Sequence[str]) -> str:
    return _join([flag for path in binds for flag in ("--volume", f"{path}:{path}")])


def _join(words: Sequence[str]) -> str:
    return " ".join(shlex.quote(word) for word in words)
