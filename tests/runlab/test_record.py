"""The run record schema, its prose in spec/14, and what the record says about a real run."""

from __future__ import annotations

import json
import os
import re

import pytest

from runlab.cli import main
from runlab.errors import SchemaError
from runlab.image import IMAGE_MANIFEST_ENV
from runlab.record import collect_versions, read_record, validate_record
from runlab.schema import packaged_validator

from tests.support.cli import REPO, run_cli

ANNOTATE = {"S01": {"entry": "tests.support.stages:annotate"}}


def _spec_14_sections() -> dict[str, str]:
    """spec/14's sections by heading."""
    prose = (REPO / "spec" / "14_RUN_RECORD_SCHEMA.md").read_text()
    parts = re.split(r"^#+ (.*)$", prose, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def _table_keys(section: str) -> set[str]:
    return set(re.findall(r"^\| `([a-z_0-9]+)` \|", section, flags=re.MULTILINE))


def test_every_schema_field_is_documented_in_spec_14():
    sections = _spec_14_sections()
    schema = packaged_validator("run_record").schema
    assert _table_keys(sections["Fields"]) == set(schema["properties"])
    for nested in ("versions", "slurm", "timings", "verdict"):
        for name in schema["properties"][nested]["properties"]:
            assert f"`{name}`" in sections["Fields"], (nested, name)
    image = sections["`versions.image`: the pinned image"]
    assert _table_keys(image) == set(schema["properties"]["versions"]["properties"]["image"]["properties"])
    for name in packaged_validator("image_manifest").schema["properties"]:
        assert f'"{name}"' in image, name


def test_versions_name_the_stack_and_the_commit():
    versions = collect_versions()
    inside_image = {"image"} if os.environ.get(IMAGE_MANIFEST_ENV) else set()
    assert set(versions) == {"python", "runlab", "git_commit", "numpy", "torch", "transformers", "jax", *inside_image}
    assert versions["numpy"] and versions["runlab"] == "0.1.0"
    assert versions["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}(-dirty)?", versions["git_commit"])


def test_record_of_a_real_run_validates_and_extra_fields_do_not(tmp_path):
    runs = tmp_path / "runs"
    assert run_cli("submit", "jobs/quickstart.yaml", "--stage", "S01", "--runs_root", str(runs)).returncode == 0
    (record_path,) = runs.glob("RUN_S01_*/run_record.json")
    record = json.loads(record_path.read_text())
    validate_record(record)
    assert record["run_id"] == record_path.parent.name
    assert [entry["relative_path"] for entry in record["artifact_index"]] == ["logs/events.jsonl", "results/plan.parquet"]
    assert record["determinism"]["seed"] == 0 and record["seeds"] == {"global": 0}
    with pytest.raises(SchemaError, match="Additional properties"):
        validate_record({**record, "extra": 1})
    with pytest.raises(SchemaError, match="relative_path"):
        validate_record({**record, "artifact_index": [{**record["artifact_index"][0], "relative_path": "../x"}]})


def test_annotations_round_trip_into_the_record_and_show(make_study, capsys):
    provenance = {"source": "generated", "rows": 3, "note": "x" * 200}
    study = make_study(ANNOTATE, {"annotations": {"synthetic": True, "provenance": provenance}})
    assert main(study.args("submit")) == 0
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    record = read_record(run_dir)  # validates against the schema
    assert record["stage_status"] == "complete"
    assert record["annotations"] == {"synthetic": True, "provenance": provenance}
    capsys.readouterr()
    assert main(["show", run_dir.name, "--runs_root", str(study.runs_root)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("annotation ")]
    assert lines[0] == "annotation synthetic = true"
    assert lines[1].startswith('annotation provenance = {"source":"generated","rows":3,"note":"xxx')
    assert lines[1].endswith("…") and len(lines[1]) == len("annotation provenance = ") + 100
    with pytest.raises(SchemaError, match="annotations"):
        validate_record({**record, "annotations": {"Bad-Key": 1}})


def test_a_run_without_annotations_records_an_empty_object(make_study, capsys):
    study = make_study(ANNOTATE, {})
    assert main(study.args("submit")) == 0
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    assert read_record(run_dir)["annotations"] == {}


@pytest.mark.parametrize(("bad", "message"), [
    ("nan", "annotation score of run RUN_S01_"),
    ("key", "invalid annotation key 'Data-Source'"),
])
def test_bad_annotation_is_one_line_exit_2_and_fails_the_run(make_study, capsys, bad, message):
    study = make_study(ANNOTATE, {"annotations": {"synthetic": True}, "bad_annotation": bad})
    code = main(study.args("submit"))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("runlab: error: ") and message in err, err
    (run_dir,) = study.runs_root.glob("RUN_S01_*")
    record = read_record(run_dir)
    assert record["stage_status"] == "failed" and record["annotations"] == {"synthetic": True}



def test_the_status_moves_only_as_the_lifecycle_allows():
    from runlab.errors import SchemaError
    from runlab.record import RunStatus, set_status

    record = {"run_id": "RUN_S01_0123456789ab", "stage_status": "started"}
    for status in (RunStatus.FAILED, RunStatus.FAILED, RunStatus.STARTED, RunStatus.COMPLETE):
        set_status(record, status)
        assert record["stage_status"] == status.value == status
    for status in RunStatus:
        with pytest.raises(SchemaError, match=f"cannot go from complete to {status.value}"):
            set_status(record, status)


def test_the_typed_record_names_exactly_the_schema_fields():
    from typing import get_type_hints

    from runlab.record import RunRecord

    schema = packaged_validator("run_record").schema
    assert set(get_type_hints(RunRecord)) == set(schema["properties"])
    assert RunRecord.__required_keys__ == set(schema["required"])
    assert RunRecord.__optional_keys__ == {"verdict"}  # absent in records of stages that state none
    for field, nested in (("timings", "Timings"), ("slurm", "SlurmJob"), ("code", "Code"), ("verdict", "Verdict")):
        hinted = get_type_hints(RunRecord)[field]
        assert set(get_type_hints(hinted)) == set(schema["properties"][field]["properties"]), nested
