"""The run record schema, its prose in spec/14, and what the record says about a real run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from runlab.errors import SchemaError
from runlab.record import collect_versions, validate_record
from runlab.schema import packaged_validator

from .conftest import REPO, run_cli


def test_every_schema_field_is_documented_in_spec_14():
    prose = (REPO / "spec" / "14_RUN_RECORD_SCHEMA.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", prose, flags=re.MULTILINE))
    schema = packaged_validator("run_record").schema
    assert documented == set(schema["properties"])
    for nested in ("versions", "slurm", "timings"):
        for name in schema["properties"][nested]["properties"]:
            assert f"`{name}`" in prose, (nested, name)


def test_versions_name_the_stack_and_the_commit():
    versions = collect_versions()
    assert set(versions) == {"python", "runlab", "git_commit", "numpy", "torch", "transformers", "jax"}
    assert versions["numpy"] and versions["runlab"] == "0.1.0"
    assert versions["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}(-dirty)?", versions["git_commit"])


def test_record_of_a_real_run_validates_and_extra_fields_do_not(tmp_path):
    runs = tmp_path / "runs"
    assert run_cli("submit", "jobs/quickstart.yaml", "--stage", "S01", "--runs_root", str(runs)).returncode == 0
    (record_path,) = runs.glob("RUN_S01_*/run_record.json")
    record = json.loads(record_path.read_text())
    validate_record(record)
    assert record["run_id"] == record_path.parent.name
    assert [entry["relative_path"] for entry in record["artifact_index"]] == ["results/plan.parquet"]
    assert record["determinism"]["seed"] == 0 and record["seeds"] == {"global": 0}
    with pytest.raises(SchemaError, match="Additional properties"):
        validate_record({**record, "extra": 1})
    with pytest.raises(SchemaError, match="relative_path"):
        validate_record({**record, "artifact_index": [{**record["artifact_index"][0], "relative_path": "../x"}]})
