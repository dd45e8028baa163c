"""Every producing phase writes a run_record.json that validates against spec/14's schema (runlab's),
with the fields the seed 002 contract requires; a record that breaks the schema is refused."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest
import yaml

from avalanche_llm import cli
from avalanche_llm.config import load_study_config
from avalanche_llm.io.schema_validate import validate_record
from avalanche_llm.run_id import PHASE_TAGS, phase_run_id
from runlab import SchemaError

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def two_phases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Phases 1 and 2 of a small config on the packaged all-MiniLM-L6-v2."""
    folder = tmp_path_factory.mktemp("records")
    config = yaml.safe_load((REPO / "configs" / "avalanche_llm" / "quickstart.yaml").read_text())
    section = config["avalanche_llm"]
    section["text"].update(sequence_tokens=16, baseline_sequences=2, analysis_sequences=8)
    section["gain"]["values"] = [1.0, 1.5]
    section["metrics"]["mr_k_max"] = 4
    path = folder / "small.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    root = folder / "runs"
    for phase in ("phase1", "phase2"):
        assert cli.main([phase, "--config", str(path), "--device", "cpu", "--dtype", "fp32",
                         "--runs_root", str(root)]) == 0
    return path, root


@pytest.mark.parametrize("phase", ["phase1", "phase2"])
def test_records_validate_and_carry_the_contract_fields(two_phases, phase: str) -> None:
    path, root = two_phases
    config = load_study_config(path, {"device": "cpu", "dtype": "fp32"})
    run_id = phase_run_id(config, phase)
    record = json.loads((root / run_id / "run_record.json").read_text())
    validate_record(record, run_id)
    assert record["stage_status"] == "complete" and record["run_id"] == run_id
    assert set(record["versions"]) >= {"python", "torch", "transformers"}
    assert record["determinism"]["seed"] == 0
    for entry in record["artifact_index"]:
        assert set(entry) == {"relative_path", "sha256", "bytes", "created_utc"}
        assert (root / run_id / entry["relative_path"]).stat().st_size == entry["bytes"]
    assert (root / run_id / "config_study.yaml").read_bytes() == config.yaml_bytes
    identity = (root / run_id / "config_resolved.yaml").read_bytes()  # what the run id hashes, with the tag
    assert run_id == f"RUN_{PHASE_TAGS[phase]}_{hashlib.sha256(identity + PHASE_TAGS[phase].encode()).hexdigest()[:12]}"


def test_phase1_records_the_text_slice_and_model_provenance(two_phases) -> None:
    path, root = two_phases
    run_id = phase_run_id(load_study_config(path, {"device": "cpu", "dtype": "fp32"}), "phase1")
    annotations = json.loads((root / run_id / "run_record.json").read_text())["annotations"]
    assert len(annotations["text"]["indices_sha256"]) == 64 and annotations["text"]["documents"] == 60
    assert annotations["model"]["model_type"] == "bert" and annotations["model"]["n_layers"] == 6


def test_a_record_that_breaks_the_schema_is_refused(two_phases) -> None:
    path, root = two_phases
    run_id = phase_run_id(load_study_config(path, {"device": "cpu", "dtype": "fp32"}), "phase2")
    record = json.loads((root / run_id / "run_record.json").read_text())
    for change in ({"stage_status": "done"}, {"run_id": "RUN_S02"}, {"artifact_index": [{"relative_path": "x"}]}):
        broken = {**copy.deepcopy(record), **change}
        with pytest.raises(SchemaError, match="run record"):
            validate_record(broken, run_id)
