"""Phases 1-5 end to end on the tiny GPT-2: through the phase CLI and through ``runlab submit``.

This is also spec/16's determinism smoke test: two runs of the same config in two fresh runs roots
give identical run ids and identical sha256 for every artifact.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from matplotlib.figure import Figure

from avalanche_llm import cli
from avalanche_llm.analysis.gstar import OUTCOMES, is_gstar_gain
from avalanche_llm.config import load_study_config
from avalanche_llm.io.schema_validate import table_spec, validate_record
from avalanche_llm.plotting.figures import mark_demo
from avalanche_llm.raster.nulls import NULLS
from avalanche_llm.run_id import PHASE_TAGS, phase_run_id
from runlab import cli as runlab_cli

from tests.support.artifacts import artifact_hashes

from tests.support.cli import REPO
from .conftest import tiny_study

PHASES = ["phase1", "phase2", "phase3", "phase4", "phase5", "phase6arc", "phase6b", "phase7", "phase8"]


def _phase(phase: str, config: Path, root: Path, *extra: str) -> int:
    return cli.main([phase, "--config", str(config), "--device", "cpu", "--dtype", "fp32", "--runs_root", str(root),
                     *extra])


@pytest.fixture(scope="module")
def two_cli_runs(tmp_path_factory: pytest.TempPathFactory, tiny_gpt2: Path, arc_folder: Path):
    """Phases 1-6 run twice through the CLI on one config, in two runs roots."""
    folder = tmp_path_factory.mktemp("pipeline")
    config = tiny_study(tiny_gpt2, arc_folder)
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    roots = [folder / "first", folder / "second"]
    codes = [[_phase(phase, path, root) for phase in PHASES] for root in roots]
    return path, roots, codes


def test_every_phase_completes_and_the_run_ids_are_the_content_hashes(two_cli_runs) -> None:
    config_path, roots, codes = two_cli_runs
    assert codes == [[0] * len(PHASES)] * 2
    config = load_study_config(config_path, {"device": "cpu", "dtype": "fp32"})
    for phase in PHASES:
        run_id = phase_run_id(config, phase)
        for root in roots:
            record = json.loads((root / run_id / "run_record.json").read_text())
            validate_record(record, run_id)
            assert record["stage_status"] == "complete" and record["stage_tag"] == PHASE_TAGS[phase]
            assert record["study_config_hash"] == config.sha256
            assert record["versions"]["torch"] and record["versions"]["transformers"] == "5.23.0"


def test_determinism_smoke_two_runs_give_identical_artifact_hashes(two_cli_runs) -> None:
    config_path, roots, _ = two_cli_runs
    config = load_study_config(config_path, {"device": "cpu", "dtype": "fp32"})
    for phase in PHASES:
        run_id = phase_run_id(config, phase)
        first, second = (artifact_hashes(root / run_id) for root in roots)
        assert first == second and first, phase
        record = json.loads((roots[0] / run_id / "run_record.json").read_text())
        assert record["determinism"]["seed"] == 0 and "PYTHONHASHSEED" in json.dumps(record["determinism"])


def test_phase5_writes_the_worked_example_from_the_artifacts(two_cli_runs) -> None:
    config_path, roots, _ = two_cli_runs
    config = load_study_config(config_path, {"device": "cpu", "dtype": "fp32"})
    run_id = phase_run_id(config, "phase5")
    artifacts = artifact_hashes(roots[0] / run_id)
    for path in ("results/metrics.parquet", "tables/table_T01_SUMMARY.csv", "tables/table_T01_SUMMARY.parquet",
                 "tables/table_T01_SUMMARY.tex",
                 "figs/fig_F03_BRANCHING_CURVES.pdf", "figs/fig_F03_BRANCHING_CURVES.png"):
        assert path in artifacts
    summary = pq.read_table(roots[0] / run_id / "tables/table_T01_SUMMARY.parquet")
    assert summary.column_names == list(table_spec("table_T01_SUMMARY")["columns"])
    rows = summary.to_pylist()
    data = [row for row in rows if row["source"] == "data"]
    assert [row["gain"] for row in data] == [0.5, 1.0, 2.0]
    assert {row["source"] for row in rows} == {"data", *(f"null:{name}" for name in NULLS)}
    gstar = json.loads((roots[0] / phase_run_id(config, "phase2") / "results/gstar.json").read_text())
    sweep = pq.read_table(roots[0] / phase_run_id(config, "phase2") / "results/gain_sweep.parquet").to_pylist()
    assert gstar["outcome"] in OUTCOMES and gstar["reference_gain"] in (0.5, 1.0, 2.0)
    assert gstar["candidates"] == [row["gain"] for row in sweep if row["b_tot_fit_status"] == "ok"]
    crossing = gstar["outcome"] == "crossing"
    assert (gstar["gstar"] is not None) == crossing and gstar["message"].startswith("g* =" if crossing else "no g* in")
    # g* is marked only where there is one, at the swept gain nearest it; every fit's status reaches T01
    assert [row["is_gstar"] for row in data] == [crossing and row["gain"] == gstar["reference_gain"] for row in data]
    assert [row["b_tot_fit_status"] for row in data] == [row["b_tot_fit_status"] for row in sweep]
    latex = (roots[0] / run_id / "tables/table_T01_SUMMARY.tex").read_text()
    assert latex.count("\\textbf{data}") == int(crossing) and latex.count(" \\\\\n") == len(rows) + 1  # header + rows
    failed = sum(row["b_tot_fit_status"] != "ok" for row in rows)
    assert latex.count("$^\\dagger$") >= failed  # every failed b_tot is marked (the caption explains the mark)
    # the bin_unit null keeps A(t) of every layer, so its total branching ratio equals the data's at its gain
    reference = next(row for row in data if row["gain"] == gstar["reference_gain"])
    bin_unit = next(row for row in rows if row["source"] == "null:bin_unit")
    assert bin_unit["gain"] == gstar["reference_gain"]
    assert bin_unit["b_tot_mr"] == pytest.approx(reference["b_tot_mr"], abs=1e-12)
    assert bin_unit["b_tot_fit_status"] == reference["b_tot_fit_status"]
    metrics = pq.read_table(roots[0] / run_id / "results/metrics.parquet").to_pylist()
    assert {row["metric"] for row in metrics} >= {"b_tot_mr", "m_mr", "size_alpha", "crackling_gamma_fit"}
    assert all(isinstance(row["value"], float) for row in metrics)


def test_rates_are_matched_across_layers_and_gains(two_cli_runs) -> None:
    config_path, roots, _ = two_cli_runs
    config = load_study_config(config_path, {"device": "cpu", "dtype": "fp32"})
    matched = pq.read_table(roots[0] / phase_run_id(config, "phase2") / "results/rate_match.parquet").to_pylist()
    assert len(matched) == 3 * 3
    assert {row["spikes"] for row in matched} == {round(0.03 * 24 * 16 * 32)}
    nulls = pq.read_table(roots[0] / phase_run_id(config, "phase3") / "results/null_checks.parquet").to_pylist()
    claimed = {"unit_time": ("per_unit_kept",), "bin_unit": ("per_bin_kept",), "both": ("per_unit_kept", "per_bin_kept"),
               "time_shift": ("per_unit_kept",), "bin_order": ("per_unit_kept",)}
    assert {row["null_model"] for row in nulls} == set(claimed)
    assert all(row[column] for row in nulls for column in claimed[row["null_model"]])
    assert all(row["changed"] for row in nulls)


def test_runlab_submit_runs_the_chain_to_the_same_runs(two_cli_runs, tmp_path: Path) -> None:
    config_path, roots, _ = two_cli_runs
    config = load_study_config(config_path, {"device": "cpu", "dtype": "fp32"})
    root = tmp_path / "submitted"
    manifest = REPO / "jobs" / "avalanche_llm.yaml"
    assert runlab_cli.main(["submit", str(manifest), "--config", str(config_path), "--runs_root", str(root)]) == 0
    for phase in PHASES:
        run_id = phase_run_id(config, phase)
        assert artifact_hashes(root / run_id) == artifact_hashes(roots[0] / run_id)
    assert runlab_cli.main(["verify", phase_run_id(config, "phase5"), "--runs_root", str(root)]) == 0


def test_a_complete_phase_is_not_rerun(two_cli_runs, capsys: pytest.CaptureFixture[str]) -> None:
    config_path, roots, _ = two_cli_runs
    before = (roots[0] / phase_run_id(load_study_config(config_path, {"device": "cpu", "dtype": "fp32"}),
                                      "phase5") / "run_record.json").read_bytes()
    assert _phase("phase5", config_path, roots[0]) == 0
    assert "already complete" in capsys.readouterr().out
    config = load_study_config(config_path, {"device": "cpu", "dtype": "fp32"})
    assert (roots[0] / phase_run_id(config, "phase5") / "run_record.json").read_bytes() == before


def test_phase6_scores_arc_and_perplexity_at_every_gain_and_at_one(two_cli_runs) -> None:
    config_path, roots, _ = two_cli_runs
    config = load_study_config(config_path, {"device": "cpu", "dtype": "fp32"})
    arc_dir = roots[0] / phase_run_id(config, "phase6arc")
    accuracy = pq.read_table(arc_dir / "results/arc_accuracy.parquet").to_pylist()
    gstar = json.loads((roots[0] / phase_run_id(config, "phase2") / "results/gstar.json").read_text())
    assert [row["gain"] for row in accuracy] == [0.5, 1.0, 2.0]
    assert [row["is_gstar"] for row in accuracy] == [is_gstar_gain(gstar, row["gain"]) for row in accuracy]
    for index, row in enumerate(accuracy):  # every accuracy is recomputable from the per-choice rows
        choices = pq.read_table(arc_dir / f"results/arc_items_gain{index:02d}.parquet").to_pylist()
        assert row["n_items"] == 12 == len({choice["item_id"] for choice in choices})
        for rule in ("acc", "acc_norm", "acc_bytes"):
            assert row[rule] == sum(c["is_answer"] for c in choices if c[f"chosen_{rule}"]) / 12
    record = json.loads((arc_dir / "run_record.json").read_text())
    assert record["annotations"]["arc"]["items"] == 12 and len(record["annotations"]["arc"]["sha256"]) == 64
    ppl = pq.read_table(roots[0] / phase_run_id(config, "phase6b") / "results/perplexity.parquet").to_pylist()
    assert [row["gain"] for row in ppl] == [0.5, 1.0, 2.0]
    assert all(row["tokens"] == 24 * 15 and row["perplexity"] > 1.0 for row in ppl)
    assert len({row["perplexity"] for row in ppl}) == 3  # the gain changes what the model predicts


def test_phase7_gives_intervals_for_every_metric_and_the_criticality_association(two_cli_runs) -> None:
    config_path, roots, _ = two_cli_runs
    config = load_study_config(config_path, {"device": "cpu", "dtype": "fp32"})
    run_dir = roots[0] / phase_run_id(config, "phase7")
    intervals = pq.read_table(run_dir / "results/confidence_intervals.parquet").to_pylist()
    assert {row["metric"] for row in intervals} == {"m_mr", "size_alpha", "duration_alpha", "acc", "acc_norm",
                                                    "acc_bytes", "perplexity"}
    assert all(row["n_boot"] == 40 for row in intervals)
    bounded = [row for row in intervals if row["n_failed"] <= 20]
    assert bounded and all(row["low"] <= row["high"] for row in bounded)
    accuracy = pq.read_table(roots[0] / phase_run_id(config, "phase6arc") / "results/arc_accuracy.parquet").to_pylist()
    for row in accuracy:  # the interval's estimate is phase 6's number
        (match,) = [r for r in intervals if r["metric"] == "acc" and r["gain"] == row["gain"]]
        assert match["estimate"] == row["acc"] and match["low"] <= row["acc"] <= match["high"]
    table = pq.read_table(run_dir / "tables/table_T02_CRITICALITY_PERFORMANCE.parquet").to_pylist()
    assert [row["performance_metric"] for row in table] == ["acc", "acc_norm", "acc_bytes", "perplexity"]
    sweep = pq.read_table(roots[0] / phase_run_id(config, "phase2") / "results/gain_sweep.parquet").to_pylist()
    valid = sum(row["b_tot_fit_status"] == "ok" for row in sweep)  # gains whose fit failed are left out
    assert all(row["n_gains"] == valid for row in table)
    totals = {row["gain"]: row for row in intervals if row["metric"] == "m_mr" and row["layer"] == -1}
    assert [totals[row["gain"]]["fit_status"] for row in sweep] == [row["b_tot_fit_status"] for row in sweep]
    finite = [row for row in table if row["p_permutation"] == row["p_permutation"]]
    assert all(2 / 6 - 1e-12 <= row["p_permutation"] <= 1 and row["p_holm"] >= row["p_permutation"] for row in finite)


def test_phase8_exports_every_table_and_figure_and_a_report_of_verified_runs(two_cli_runs) -> None:
    config_path, roots, _ = two_cli_runs
    config = load_study_config(config_path, {"device": "cpu", "dtype": "fp32"})
    run_dir = roots[0] / phase_run_id(config, "phase8")
    artifacts = artifact_hashes(roots[0] / run_dir.name)
    for table in ("table_T01_SUMMARY", "table_T02_CRITICALITY_PERFORMANCE", "table_T03_BEHAVIOUR"):
        assert {f"tables/{table}.{fmt}" for fmt in ("csv", "parquet", "tex")} <= set(artifacts)
    for figure in ("fig_F03_BRANCHING_CURVES", "fig_F04_PERFORMANCE_VS_GAIN", "fig_F05_PERFORMANCE_VS_CRITICALITY"):
        assert {f"figs/{figure}.{fmt}" for fmt in ("pdf", "png")} <= set(artifacts)
    s05 = artifact_hashes(roots[0] / phase_run_id(config, "phase5"))
    for path in ("tables/table_T01_SUMMARY.csv", "tables/table_T01_SUMMARY.tex", "figs/fig_F03_BRANCHING_CURVES.png"):
        assert artifacts[path] == s05[path]  # assembled from S05's artifacts, byte for byte
    report = (run_dir / "results/REPORT.md").read_text()
    for phase in PHASES[:-1]:  # every run S08 stands on, with every artifact's sha256
        run_id = phase_run_id(config, phase)
        assert f"`{run_id}`" in report
        assert all(f"`{sha}`" in report for sha in artifact_hashes(roots[0] / run_id).values())
    t03 = pq.read_table(run_dir / "tables/table_T03_BEHAVIOUR.parquet").to_pylist()
    accuracy = pq.read_table(roots[0] / phase_run_id(config, "phase6arc") / "results/arc_accuracy.parquet").to_pylist()
    assert [row["acc"] for row in t03] == [row["acc"] for row in accuracy]
    # the tiny GPT-2 has random weights: the report, every table's rows and LaTeX caption say so
    note = "DEMO MODEL (random weights, avalanche_llm.model.random_model seed 0): these numbers test the machinery"
    assert report.splitlines()[2].startswith(f"> **{note}") and report.count(note) >= 5
    for table in ("table_T01_SUMMARY", "table_T02_CRITICALITY_PERFORMANCE", "table_T03_BEHAVIOUR"):
        rows = pq.read_table(run_dir / f"tables/{table}.parquet").to_pylist()
        assert rows and all(row["model_note"].startswith(note) for row in rows)
        assert f"\\textbf{{{note}" in (run_dir / f"tables/{table}.tex").read_text()


def test_phase8_refuses_to_export_from_a_damaged_run(two_cli_runs, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    config_path, roots, _ = two_cli_runs
    config = load_study_config(config_path, {"device": "cpu", "dtype": "fp32"})
    root = tmp_path / "copy"
    shutil.copytree(roots[0], root)
    shutil.rmtree(root / phase_run_id(config, "phase8"))
    damaged = root / phase_run_id(config, "phase4") / "results/crackling.parquet"
    damaged.chmod(0o644)
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\0")
    capsys.readouterr()
    assert _phase("phase8", config_path, root) == 2
    err = capsys.readouterr().err
    assert f"upstream run {phase_run_id(config, 'phase4')} (S04) does not verify" in err


def _forge(run_dir: Path, relative_path: str, column: str, row: int, change) -> None:
    """Change one cell of a parquet artifact and re-index it in the record (a wrong result whose hashes match)."""
    path = run_dir / relative_path
    table = pq.read_table(path)
    values = table.column(column).to_pylist()
    values[row] = change(values[row])
    path.chmod(0o644)
    pq.write_table(table.set_column(table.column_names.index(column), column,
                                    pa.array(values, table.schema.field(column).type)), path)
    record_path = run_dir / "run_record.json"
    record = json.loads(record_path.read_text())
    entry = next(item for item in record["artifact_index"] if item["relative_path"] == relative_path)
    entry.update(sha256=hashlib.sha256(path.read_bytes()).hexdigest(), bytes=path.stat().st_size)
    record_path.chmod(0o644)
    record_path.write_text(json.dumps(record, indent=2))


@pytest.mark.parametrize("phase, verifier, forged, column", [
    ("phase5", "avalanche_llm.phases.summary:verify_summary", "results/metrics.parquet", "value"),
    ("phase7", "avalanche_llm.phases.statistics:verify_statistics", "results/confidence_intervals.parquet", "high"),
])
def test_runlab_verify_recomputes_the_run_from_its_upstream_and_finds_a_forged_number(
        two_cli_runs, tmp_path: Path, capsys: pytest.CaptureFixture[str], phase: str, verifier: str, forged: str,
        column: str) -> None:
    config_path, roots, _ = two_cli_runs
    config = load_study_config(config_path, {"device": "cpu", "dtype": "fp32"})
    root = tmp_path / "copy"
    shutil.copytree(roots[0], root)
    run_id = phase_run_id(config, phase)
    capsys.readouterr()
    assert runlab_cli.main(["verify", run_id, "--runs_root", str(root)]) == 0
    assert f"recomputed by {verifier})" in capsys.readouterr().out
    rows = pq.read_table(root / run_id / forged).column(column).to_pylist()
    row = next(index for index, value in enumerate(rows) if value == value and value != 0)  # a finite, non-zero cell
    _forge(root / run_id, forged, column, row, lambda value: value * (1 + 1e-6))
    assert runlab_cli.main(["verify", run_id, "--runs_root", str(root)]) == 2
    err = capsys.readouterr().err
    assert f"{forged}: the recomputed table differs: column {column}, first at row {row} " in err
    assert f"1 of {len(rows)} rows" in err  # the other cells recompute to what is stored


def test_demo_figures_carry_the_note_and_real_ones_do_not() -> None:
    note = "DEMO MODEL (random weights): these numbers test the machinery, not the science"
    marked = mark_demo(Figure(), note)
    assert {text.get_text() for text in marked.texts} == {"DEMO MODEL", note}
    assert mark_demo(Figure(), "").texts == []
