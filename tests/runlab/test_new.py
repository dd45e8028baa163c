"""``runlab new``: the skeleton submits as written (locally and through submitit's debug executor), its own test
passes, and a bad name or an occupied folder is one line and exit 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from runlab import load_study
from runlab.cli import main

from tests.support.cli import REPO, cli_environment

SKELETON = [".gitignore", "README.md", "configs/demo.schema.yaml", "configs/demo.yaml", "configs/profiles/debug.yaml",
            "configs/profiles/local.yaml", "demo/__init__.py", "demo/stages.py", "jobs/demo.yaml", "tests/test_demo.py"]


def _runlab(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``runlab ARGS`` as a user types it in ``cwd`` (no --runs-root, no runs root in the environment)."""
    return subprocess.run([sys.executable, "-m", "runlab", *args], cwd=cwd, env=cli_environment(),
                          capture_output=True, text=True, timeout=120)


def _files(folder: Path) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def test_new_study_submits_at_once_here_and_through_the_debug_executor(tmp_path, monkeypatch):
    monkeypatch.delenv("RUNLAB_RUNS_ROOT", raising=False)
    made = _runlab(tmp_path, "new", "demo")
    assert made.returncode == 0, made.stderr
    project = tmp_path / "demo"
    assert _files(project) == SKELETON
    manifest = yaml.safe_load((project / "jobs" / "demo.yaml").read_text())
    assert "canon" not in manifest and "python_path" not in manifest and "config" not in manifest
    assert manifest["stages"]["S01"]["reads"] == ["demo.count"] and manifest["stages"]["S01"]["version"] == 1

    local = _runlab(project, "submit", "jobs/demo.yaml")
    assert local.returncode == 0, local.stderr
    assert f"runs root {project / 'runs'}, profile local" in local.stdout
    study = load_study(project / "jobs" / "demo.yaml")
    assert study.store.root == project / "runs"
    run_id = study.plans[0].run_ids["S01"]
    assert f"S01      {run_id}         ran" in local.stdout
    table = pq.read_table(study.store.run_dir(run_id) / "tables" / "squares.parquet").to_pydict()
    assert table == {"n": [0, 1, 2, 3], "square": [0, 1, 4, 9]}

    again = _runlab(project, "submit", "jobs/demo.yaml", "--profile", "debug")
    assert again.returncode == 0 and "already complete; skipped" in again.stdout, again.stderr
    debug = _runlab(tmp_path, "submit", "demo/jobs/demo.yaml", "--profile", "debug", "--set", "demo.count=6")
    assert debug.returncode == 0, debug.stderr
    assert f"runs root {project / 'runs'}, profile debug" in debug.stdout  # from any folder: the project's runs
    assert sorted(path.name for path in (project / "runs").glob("RUN_*")) == sorted(
        [run_id, load_study(project / "jobs" / "demo.yaml", overrides={"demo.count": 6}).plans[0].run_ids["S01"]])


def test_new_study_passes_its_own_test(tmp_path):
    assert main(["new", "sums", "--dir", str(tmp_path / "project")]) == 0
    tested = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                            cwd=tmp_path / "project", env=cli_environment(), capture_output=True, text=True,
                            timeout=120)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed" in tested.stdout
    assert not (tmp_path / "project" / "runs").exists()  # the test submits into its own temporary runs root


def test_new_into_an_empty_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["new", "demo", "--dir", str(tmp_path / "empty")]) == 0
    assert _files(tmp_path / "empty") == SKELETON
    assert f"wrote study demo into {tmp_path / 'empty'}/" in capsys.readouterr().out


@pytest.mark.parametrize(("name", "message"), [
    ("Demo", "study name 'Demo' is not a lowercase Python identifier"),
    ("2demo", "study name '2demo' is not a lowercase Python identifier"),
    ("my-study", "study name 'my-study' is not a lowercase Python identifier"),
    ("class", "study name class is a Python keyword"),
    ("json", "study name json is already an importable module"),
    ("runlab", "study name runlab is already an importable module"),
])
def test_bad_study_names_are_refused(tmp_path, capsys, name, message):
    code = main(["new", name, "--dir", str(tmp_path / "project")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err and "; " in err, err
    assert not (tmp_path / "project").exists()


@pytest.mark.parametrize("occupied", ["project/notes.txt", "project"])
def test_an_occupied_target_is_refused(tmp_path, capsys, occupied):
    (tmp_path / occupied).parent.mkdir(exist_ok=True)
    (tmp_path / occupied).write_text("mine\n")
    code = main(["new", "demo", "--dir", str(tmp_path / "project")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "already exists and is not an empty folder; pass --dir" in err
    assert _files(tmp_path) == [occupied] and (tmp_path / occupied).read_text() == "mine\n"


def test_the_templates_ship_in_the_wheel(tmp_path):
    source = tmp_path / "source"  # a copy, so that the build leaves nothing in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "pkg", source / "pkg", ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path / "wheel"), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "wheel").glob("*.whl")
    templates = REPO / "pkg" / "runlab" / "skeleton" / "templates"
    expected = {f"runlab/skeleton/templates/{path.relative_to(templates).as_posix()}" for path in templates.rglob("*.tmpl")}
    assert len(expected) == 10
    assert expected <= set(zipfile.ZipFile(wheel).namelist())
