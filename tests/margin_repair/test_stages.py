"""The study as jobs: DATA -> REPAIR -> CERT and EVAL through the runlab CLI, on data the tests write."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from margin_repair.certificate import certificate_hash_problems, joined_certificate
from margin_repair.features import stable_json
from margin_repair.quickstart import choose_config
from margin_repair.synthetic import SYNTHETIC_LABEL
from tests.support.cli import REPO, run_cli
from tests.support.artifacts import artifact_bytes

from tests.support.emnist import write_golden_split

MANIFEST = REPO / "jobs" / "margin_repair.yaml"
STAGES = ("DATA", "REPAIR", "CERT", "EVAL")


def _config(data: dict[str, Any], **knobs: Any) -> dict[str, Any]:
    section = {"data": data, "split": "digits", "run_mode": "quick", "canonicalize": True, "bin_threshold": 127,
               "max_train": 800, "max_test": 300, "finite_n": 300, "cap_unary": 128, "margin": 1,
               "overshoot_delta": 2, "max_epochs": 20, "max_updates": 20000, "probe_per_class": 5}
    return {"margin_repair": {**section, **knobs}, "determinism": {"seed": 0}}


SYNTHETIC = {"source": "synthetic", "synthetic": {"n_train": 800, "n_test": 300, "seed": 5}}


def _submit(tmp_path: Path, config: dict[str, Any], root: str = "runs", *extra: str):
    path = tmp_path / f"{root}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_cli("submit", str(MANIFEST), "--config", str(path), "--runs_root", str(tmp_path / root), *extra)
    return result, tmp_path / root


def _runs(root: Path) -> dict[str, Path]:
    return {tag: next(root.glob(f"RUN_{tag}_*")) for tag in STAGES}


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def _forge_certificate(cert_run: Path, forged: dict[str, Any]) -> None:
    """Replace a CERT run's certificate and its index entry consistently: rehashing cannot tell, recomputing can."""
    data = json.dumps(forged, sort_keys=True, separators=(",", ":")).encode()
    (cert_run / "results" / "certificate.json").write_bytes(data)
    record = _json(cert_run / "run_record.json")
    entry = next(item for item in record["artifact_index"] if item["relative_path"] == "results/certificate.json")
    entry.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (cert_run / "run_record.json").write_text(json.dumps(record, indent=2))


def test_synthetic_pipeline_is_labelled_certified_verified_and_byte_reproducible(tmp_path):
    first, root = _submit(tmp_path, _config(SYNTHETIC), "first")
    assert first.returncode == 0, first.stderr
    assert "REPAIR epoch 1/20:" in first.stdout and SYNTHETIC_LABEL in first.stdout
    runs = _runs(root)
    records = {tag: _json(run / "run_record.json") for tag, run in runs.items()}
    assert all(record["stage_status"] == "complete" for record in records.values())
    assert records["DATA"]["annotations"]["data"]["synthetic"] is True
    assert records["DATA"]["annotations"]["data"]["label"] == SYNTHETIC_LABEL
    assert records["DATA"]["annotations"]["data_provenance"]["strong_hashes_included"] is True
    certificate = _json(runs["CERT"] / "results" / "certificate.json")
    repaired = _json(runs["REPAIR"] / "results" / "repair.json")
    assert certificate["ok"] is True and certificate["weights"]["weights_hash"] == repaired["weights_hash"]
    assert certificate["finite_table"]["fi_hash"] == repaired["fi_hash"]
    assert certificate["dataset_provenance"]["data_dir"] == f"{runs['DATA'].name}/data/emnist"
    evaluation = _json(runs["EVAL"] / "results" / "evaluation.json")
    assert evaluation["data"] == SYNTHETIC_LABEL and evaluation["test_images"] == 300
    assert 0.3 < evaluation["accuracy"] <= 1.0
    assert (runs["EVAL"] / "tables" / "per_class_accuracy.csv").read_text().startswith("class,label,character,")
    assert (runs["EVAL"] / "figs" / "confusion.png").read_bytes()[:4] == b"\x89PNG"

    verified = run_cli("verify", runs["CERT"].name, "--runs_root", str(root))
    assert verified.returncode == 0 and "recomputed by margin_repair.stages:verify_certificate" in verified.stdout

    again = run_cli("submit", str(MANIFEST), "--config", str(tmp_path / "first.yaml"), "--runs_root", str(root))
    assert again.returncode == 0 and again.stdout.count("already complete") == 4

    second, other_root = _submit(tmp_path, _config(SYNTHETIC), "second")
    assert second.returncode == 0, second.stderr
    for tag, run in _runs(other_root).items():
        assert run.name == runs[tag].name
        produced, before = artifact_bytes(run), artifact_bytes(runs[tag])
        before.pop("logs/epochs.jsonl", None), produced.pop("logs/epochs.jsonl", None)  # wall-clock seconds
        assert produced == before, tag


def test_emnist_files_changed_in_place_fail_verification(tmp_path):
    folder = tmp_path / "emnist"
    write_golden_split(folder)
    result, root = _submit(tmp_path, _config({"source": "emnist", "data_dir": str(folder)}, finite_n=400,
                                             max_train=20000, max_test=5000))
    assert result.returncode == 0, result.stderr
    runs = _runs(root)
    certificate = _json(runs["CERT"] / "results" / "certificate.json")
    assert certificate["dataset_provenance"]["data_dir"] == str(folder)
    # the seed's own cells give these on this data with finite_n=400 (see test_repair.GOLDEN)
    assert certificate["weights"]["weights_hash"] == "7ad9d57d32d8ced28ecec6dbc50b43728cb18b7a9bf2dfe09fff10c255c7cf57"
    assert _json(runs["DATA"] / "run_record.json")["annotations"]["data"]["synthetic"] is False

    mapping = folder / "emnist-digits-mapping.txt"
    mapping.write_text(mapping.read_text().replace("0 48", "0 47"))  # same size, other bytes
    verified = run_cli("verify", runs["CERT"].name, "--runs_root", str(root))
    assert verified.returncode == 2 and "changed since run RUN_DATA_" in verified.stderr


def test_a_failed_certificate_is_a_complete_run_whose_verdict_fails_and_submit_exits_5(tmp_path):
    result, root = _submit(tmp_path, _config(SYNTHETIC, margin=200, max_epochs=2))
    cert_run = _runs(root)["CERT"]
    record = _json(cert_run / "run_record.json")
    certificate = _json(cert_run / "results" / "certificate.json")
    violations = certificate["verification"]["finite_full_margin_check"]["violations_total"]
    assert certificate["ok"] is False and violations > 0
    summary = f"certificate FAIL: {violations} margin violations, cache OK on 300 examples"
    assert result.returncode == 5
    assert result.stderr == (f"runlab: error: 1 of 4 runs state a failed result: {cert_run.name} (CERT): {summary}; "
                             f"the runs are complete and sound; see `runlab show {cert_run.name}`\n")
    assert f"verdict FAIL: {summary}" in result.stdout
    assert record["stage_status"] == "complete"
    assert {key: record["verdict"][key] for key in ("ok", "summary", "figures")} == {
        "ok": False, "summary": summary,
        "figures": {"margin_violations": violations, "cache_mismatches": 0, "examples": 300}}
    assert "verdict" not in _json(_runs(root)["REPAIR"] / "run_record.json")  # REPAIR states none

    verified = run_cli("verify", cert_run.name, "--runs_root", str(root))  # a true negative certificate verifies
    assert verified.returncode == 0 and verified.stdout.endswith(f"; verdict FAIL: {summary}\n"), verified.stdout
    shown = run_cli("show", cert_run.name, "--runs_root", str(root))
    assert f"verdict    FAIL: {summary}  (margin_violations {violations}, cache_mismatches 0, examples 300)" \
        in shown.stdout.splitlines()
    status = run_cli("status", str(MANIFEST), "--config", str(tmp_path / "runs.yaml"), "--runs_root", str(root))
    verdicts = {line.split()[1]: line.split()[3] for line in status.stdout.splitlines()[1:-1]}
    assert verdicts == {"DATA": "-", "REPAIR": "-", "CERT": "FAIL", "EVAL": "-"}
    again = run_cli("submit", str(MANIFEST), "--config", str(tmp_path / "runs.yaml"), "--runs_root", str(root))
    assert again.returncode == 5 and again.stdout.count("already complete") == 4  # the result still fails

    record["verdict"]["ok"] = True  # a record that claims a pass the certificate does not give
    (cert_run / "run_record.json").write_text(json.dumps(record, indent=2))
    claimed = run_cli("verify", cert_run.name, "--runs_root", str(root))
    assert claimed.returncode == 2 and "the run's verdict (pass) is not the certificate's ok (False)" in claimed.stderr


def test_the_certificate_is_indented_json_with_its_examples_in_parquet_and_its_hashes_hold(tmp_path):
    result, root = _submit(tmp_path, _config(SYNTHETIC))
    assert result.returncode == 0, result.stderr
    cert_run = _runs(root)["CERT"]
    assert "verdict pass: certificate OK: 0 margin violations, cache OK on 300 examples" in result.stdout
    text = (cert_run / "results" / "certificate.json").read_text()
    assert text.splitlines()[:3] == ["{", f'  "schema": "{json.loads(text)["schema"]}",', '  "ok": true,']
    assert text.splitlines()[3].startswith('  "certificate_hash": ') and len(text) < 20_000
    document = json.loads(text)
    assert document["finite_table"]["labels"] == {"stored_in": "results/certificate_examples.parquet",
                                                  "column": "label", "rows": 300}
    examples = pq.read_table(cert_run / "results" / "certificate_examples.parquet")
    assert examples.column_names == ["src_position", "label"]
    assert examples.column("src_position").to_pylist() == list(range(300))
    assert sorted(set(examples.column("label").to_pylist())) == list(range(10))
    whole = joined_certificate(document, {name: examples.column(name).to_pylist() for name in examples.column_names})
    assert certificate_hash_problems(whole) == []
    seed_fields = {key: value for key, value in whole.items() if key not in ("certificate_hash", "portable")}
    assert hashlib.sha256(stable_json(seed_fields).encode()).hexdigest() == document["certificate_hash"]
    with pytest.raises(ValueError, match="finite_table.labels is not a reference to the 299 rows of column label"):
        joined_certificate(document, {"src_position": list(range(300)), "label": [0] * 299})


def test_a_forged_certificate_with_a_matching_index_fails_verification(tmp_path):
    result, root = _submit(tmp_path, _config(SYNTHETIC, margin=200, max_epochs=2))
    assert result.returncode == 5, result.stderr  # the certificate fails: see the test above
    cert_run = _runs(root)["CERT"]
    path = cert_run / "results" / "certificate.json"
    forged = _json(path)
    assert forged["ok"] is False
    forged["ok"] = True
    forged["verification"]["finite_full_margin_check"] = {"ok": True, "violations_total": 0, "violations_prefix": []}
    _forge_certificate(cert_run, forged)
    verified = run_cli("verify", cert_run.name, "--runs_root", str(root))
    assert verified.returncode == 2
    assert "recomputed certificate differs in ok, verification" in verified.stderr


def test_verify_checks_the_portable_hash_as_well_as_the_seed_hash(tmp_path):
    result, root = _submit(tmp_path, _config(SYNTHETIC, max_epochs=2))
    assert result.returncode == 5, result.stderr  # two epochs leave margin violations: a failed, sound certificate
    cert_run = _runs(root)["CERT"]
    path = cert_run / "results" / "certificate.json"
    certificate = _json(path)
    assert f"(portable {certificate['portable']['certificate_hash']})" in result.stdout
    assert "data_dir" not in certificate["portable"] and certificate["portable"]["prov_hash"] != certificate["prov_hash"]
    forged = {**certificate, "portable": {**certificate["portable"], "certificate_hash": "0" * 64}}
    _forge_certificate(cert_run, forged)
    verified = run_cli("verify", cert_run.name, "--runs_root", str(root))
    assert verified.returncode == 2
    assert "portable.certificate_hash does not hash" in verified.stderr
    assert "recomputed certificate differs in portable" in verified.stderr


def test_missing_emnist_files_are_one_line_naming_them(tmp_path):
    folder = tmp_path / "partial"
    write_golden_split(folder)
    (folder / "emnist-digits-test-labels-idx1-ubyte.gz").unlink()
    result, _ = _submit(tmp_path, _config({"source": "emnist", "data_dir": str(folder)}))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "emnist-digits-test-labels-idx1-ubyte.gz" in lines[0] and str(folder) in lines[0]
    assert "Traceback" not in result.stderr


def test_unknown_config_key_is_refused(tmp_path):
    result, _ = _submit(tmp_path, _config(SYNTHETIC, finite_nn=5))
    assert result.returncode == 2 and "finite_nn" in result.stderr


def test_finite_n_beyond_the_capped_stream_is_one_line(tmp_path):
    result, _ = _submit(tmp_path, _config(SYNTHETIC, finite_n=900))
    assert result.returncode == 2 and "fewer than finite_n 900" in result.stderr


@pytest.mark.parametrize("present", [True, False])
def test_quickstart_picks_emnist_only_when_the_split_is_there(tmp_path, monkeypatch, present):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "data"
    write_golden_split(folder)
    if not present:
        (folder / "emnist-digits-mapping.txt").unlink()
    monkeypatch.setenv("EMNIST_DATA_DIR", str(folder))
    config, reason = choose_config(REPO / "configs" / "margin_repair")
    assert config.name == ("emnist.yaml" if present else "synthetic.yaml")
    assert (str(folder) in reason) if present else (SYNTHETIC_LABEL in reason)


def _actions(stdout: str) -> dict[str, str]:
    return {line.split()[0]: line.split()[2] for line in stdout.splitlines() if line.split()[:1] and line.split()[0] in STAGES}


def test_an_eval_only_key_reruns_eval_alone_and_a_version_bump_reruns_downstream(tmp_path):
    first, root = _submit(tmp_path, _config(SYNTHETIC))
    assert first.returncode == 0, first.stderr
    before = _runs(root)
    changed, _ = _submit(tmp_path, _config(SYNTHETIC), "runs", "--set", "margin_repair.evaluation.cmap=viridis")
    assert changed.returncode == 0, changed.stderr
    assert _actions(changed.stdout) == {"DATA": "complete", "REPAIR": "complete", "CERT": "complete", "EVAL": "ran"}
    assert "REPAIR epoch" not in changed.stdout
    evals = sorted(root.glob("RUN_EVAL_*"))
    assert len(evals) == 2 and len(list(root.glob("RUN_REPAIR_*"))) == 1
    new_eval = next(path for path in evals if path != before["EVAL"])
    assert _json(new_eval / "results" / "evaluation.json") == _json(before["EVAL"] / "results" / "evaluation.json")
    assert (new_eval / "figs" / "confusion.png").read_bytes() != (before["EVAL"] / "figs" / "confusion.png").read_bytes()

    manifest = yaml.safe_load(MANIFEST.read_text())
    manifest["stages"]["REPAIR"]["version"] = 2
    for key in ("canon", "config", "config_schema"):
        manifest[key] = str((MANIFEST.parent / manifest[key]).resolve())
    bumped = tmp_path / "jobs" / "margin_repair.yaml"
    bumped.parent.mkdir()
    bumped.write_text(yaml.safe_dump(manifest, sort_keys=False))
    path = tmp_path / "runs.yaml"
    again = run_cli("submit", str(bumped), "--config", str(path), "--runs_root", str(root))
    assert again.returncode == 0, again.stderr
    assert _actions(again.stdout) == {"DATA": "complete", "REPAIR": "ran", "CERT": "ran", "EVAL": "ran"}
    assert len(list(root.glob("RUN_DATA_*"))) == 1 and len(list(root.glob("RUN_REPAIR_*"))) == 2


@pytest.mark.parametrize(("data", "knobs", "message"), [
    (SYNTHETIC, {"margin": 10**20}, "margin_repair.margin: 100000000000000000000 is greater than the maximum of 2147483647"),
    (SYNTHETIC, {"overshoot_delta": 2**40}, "margin_repair.overshoot_delta: 1099511627776 is greater than the maximum"),
    (SYNTHETIC, {"max_updates": 10**13}, "margin_repair.max_updates: 10000000000000 is greater than the maximum of 1000000000000"),
    (SYNTHETIC, {"max_epochs": float("nan")}, "margin_repair.max_epochs: nan is not of type 'integer'"),
    ({**SYNTHETIC, "synthetic": {"n_train": 10**12, "n_test": 300, "seed": 5}}, {},
     "margin_repair.data.synthetic.n_train: 1000000000000 is greater than the maximum of 1000000"),
])
def test_unbounded_knobs_are_refused_before_any_run(tmp_path, capsys, data, knobs, message):
    from runlab.cli import main

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(_config(data, **knobs), sort_keys=False))
    code = main(["submit", str(MANIFEST), "--config", str(path), "--runs_root", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "runs").exists()
