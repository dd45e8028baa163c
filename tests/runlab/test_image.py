"""Runs made inside the suite's image record what it pins ($RUNLAB_IMAGE_MANIFEST), and refuse a bad manifest.

``collect_versions`` is cached per process, so every run here is a fresh ``runlab`` process with the variable set.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runlab.errors import SchemaError
from runlab.image import IMAGE_MANIFEST_ENV, image_versions
from runlab.record import read_record, validate_record

from tests.support.cli import run_cli

COMMIT = "0123456789abcdef0123456789abcdef01234567"
MANIFEST = {
    "schema_version": 1,
    "variant": "gpu",
    "lock": "containers/lock/gpu.txt",
    "lock_sha256": "ab" * 32,
    "python": "3.11.2",
    "source_commit": COMMIT,
    "source_date_epoch": 1763856000,
    "pinned": {"torch": "2.13.0", "numpy": "2.4.6", "nvidia-cudnn-cu13": "9.14.0.64", "jax-cuda13-plugin": "0.10.2"},
}
RECORDED = {key: MANIFEST[key] for key in ("variant", "lock", "lock_sha256", "source_commit", "pinned")}
ECHO = {"S01": {"entry": "tests.support.stages:echo"}}


def _write(tmp_path: Path, manifest: object) -> Path:
    path = tmp_path / "image.json"
    path.write_text(json.dumps(manifest))
    return path


def test_a_run_inside_the_image_records_its_pins_and_commit(make_study, tmp_path):
    study = make_study(ECHO, {"values": [1]})
    no_git = tmp_path / "no-git"  # inside the image there is no .git: git answers nothing
    no_git.mkdir()
    env = {IMAGE_MANIFEST_ENV: str(_write(tmp_path, MANIFEST)), "GIT_DIR": str(no_git)}
    result = run_cli(*study.args("submit"), env=env)
    assert result.returncode == 0, result.stderr
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    versions = read_record(run_dir)["versions"]
    assert versions["image"] == RECORDED
    assert versions["git_commit"] == COMMIT


def test_a_run_outside_the_image_records_no_image(make_study):
    study = make_study(ECHO, {"values": [1]})
    result = run_cli(*study.args("submit"), env={IMAGE_MANIFEST_ENV: ""})
    assert result.returncode == 0, result.stderr
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    assert "image" not in read_record(run_dir)["versions"]


@pytest.mark.parametrize(("manifest", "message"), [
    (None, "image.json ($RUNLAB_IMAGE_MANIFEST) does not exist"),
    ("{not json", "image.json ($RUNLAB_IMAGE_MANIFEST) is not readable JSON: Expecting property name"),
    ({**MANIFEST, "variant": "tpu"}, "image.json is invalid at variant: 'tpu' is not one of ['cpu', 'gpu']"),
    ({**MANIFEST, "pinned": {"Torch": "2.13.0"}}, "image.json is invalid at pinned: 'Torch' does not match"),
    ({**MANIFEST, "lock_sha256": "ab"}, "image.json is invalid at lock_sha256: 'ab' does not match"),
    ({**MANIFEST, "built_by": "me"}, "('built_by' was unexpected)"),
    ({key: value for key, value in MANIFEST.items() if key != "source_commit"}, "'source_commit' is a required"),
])
def test_a_missing_or_malformed_manifest_is_a_schema_error(tmp_path, manifest, message):
    path = tmp_path / "image.json"
    if isinstance(manifest, str):
        path.write_text(manifest)
    elif manifest is not None:
        _write(tmp_path, manifest)
    with pytest.raises(SchemaError, match="unset RUNLAB_IMAGE_MANIFEST outside it") as caught:
        image_versions({IMAGE_MANIFEST_ENV: str(path)})
    assert message in str(caught.value) and "\n" not in str(caught.value) and caught.value.exit_code == 2


def test_a_bad_manifest_fails_the_job_before_its_run_exists(make_study, tmp_path):
    study = make_study(ECHO, {"values": [1]})
    result = run_cli(*study.args("submit"), env={IMAGE_MANIFEST_ENV: str(_write(tmp_path, {**MANIFEST, "variant": 1}))})
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"runlab: error: image manifest {tmp_path / 'image.json'} is invalid at variant")
    assert not list(study.runs_root.glob("RUN_*"))


def test_record_schema_checks_the_image_block(make_study, tmp_path):
    study = make_study(ECHO, {"values": [1]})
    assert run_cli(*study.args("submit"), env={IMAGE_MANIFEST_ENV: str(_write(tmp_path, MANIFEST))}).returncode == 0
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    record = read_record(run_dir)
    for bad in ({**RECORDED, "python": "3.11.2"}, {**RECORDED, "source_commit": "abc"}, {**RECORDED, "pinned": []}):
        with pytest.raises(SchemaError, match="versions.image"):
            validate_record({**record, "versions": {**record["versions"], "image": bad}})
