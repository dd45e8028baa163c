"""The hunt as jobs: GEN links chained by the config's generation count, then REPORT, through the CLI."""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from irer.artifacts import read_candidate
from runlab.record import read_record
from tests.support.cli import REPO, run_cli
from tests.support.artifacts import artifact_bytes, artifact_hashes
from tests.support.faults import kill_once_indexed

MANIFEST = REPO / "jobs" / "irer.yaml"


def _config(**hunt: Any) -> dict[str, Any]:
    config = yaml.safe_load((REPO / "configs" / "irer" / "quickstart.yaml").read_text())
    config["irer"]["hunt"].update({"generations": 2, **hunt})
    config["irer"]["ga"]["population_size"] = 4
    config["irer"]["grid"] = {"n": 16, "dx": 1.0}
    config["irer"]["time"] = {"dt": 0.25, "steps": 60}
    config["irer"]["execution"]["chunk_size"] = 3  # two chunks, the second padded
    config["determinism"] = {"seed": 3}
    return config


def _submit(tmp_path: Path, config: dict[str, Any], root: str):
    path = tmp_path / f"{root}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_cli("submit", str(MANIFEST), "--config", str(path), "--runs_root", str(tmp_path / root))
    return result, tmp_path / root


def test_a_small_hunt_chains_generations_reports_and_reproduces_its_bytes(tmp_path):
    first, root = _submit(tmp_path, _config(), "first")
    assert first.returncode == 0, first.stderr
    assert "GEN000 best fitness" in first.stdout and "GEN001 best fitness" in first.stdout
    runs = {path.name.split("_")[1]: path for path in root.glob("RUN_*")}
    assert sorted(runs) == ["GEN000", "GEN001", "REPORT"]
    gen1 = json.loads((runs["GEN001"] / "run_record.json").read_text())
    assert gen1["upstream_run_ids"] == {"GEN000": runs["GEN000"].name}

    ledger = pq.read_table(runs["GEN001"] / "results" / "ledger.parquet").to_pydict()
    assert ledger["generation"] == [0, 0, 0, 0, 1, 1, 1, 1] and ledger["candidate"] == [0, 1, 2, 3] * 2
    # GEN001's candidate 0 is the elite: served from GEN000's row, its files and fitness, not integrated again
    elite = ledger["candidate"].index(0, 4)
    source = next(row for row in range(4) if ledger["param_kappa"][row] == ledger["param_kappa"][elite])
    assert ledger["cached"] == [False] * 4 + [True, False, False, False]
    assert ledger["run_id"] == [runs["GEN000"].name] * 5 + [runs["GEN001"].name] * 3
    assert ledger["artifacts"][elite] == ledger["artifacts"][source]
    assert ledger["fitness"][elite] == ledger["fitness"][source] == max(ledger["fitness"][:4])
    assert len(list((runs["GEN001"] / "data" / "candidates").glob("*.h5"))) == 3 * 4  # 3 candidates x 4 fields
    assert all(ledger["finite"]) and all(len(values) == 4 for values in ledger["field_fitness"])
    assert ledger["artifacts"][5] == [f"data/candidates/g0001_c0001_f{field:02d}.h5" for field in range(4)]
    artifact = read_candidate((runs["GEN001"] / ledger["artifacts"][5][2]).read_bytes())
    assert (artifact.generation, artifact.candidate, artifact.field, artifact.n) == (1, 1, 2, 16)
    assert artifact.config_hash == gen1["config_hash"] and artifact.snapshots_rho is None  # none unless asked for
    assert artifact.params["kappa"] == ledger["param_kappa"][5]
    for name in ("fitness_by_generation", "best_candidate_field"):
        assert (runs["REPORT"] / "figs" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    summary = pq.read_table(runs["REPORT"] / "tables" / "generation_summary.parquet").to_pydict()
    assert summary["generation"] == [0, 1] and summary["n_candidates"] == [4, 4]
    verdict = read_record(runs["REPORT"])["verdict"]
    assert verdict["ok"] is True and verdict["figures"] == {"best_fitness": max(ledger["fitness"]), "candidates": 8}
    assert verdict["summary"].endswith("(8 candidates over 2 generations)")

    again = run_cli("submit", str(MANIFEST), "--config", str(tmp_path / "first.yaml"), "--runs_root", str(root))
    assert again.returncode == 0 and again.stdout.count("already complete") == 3

    second, other = _submit(tmp_path, _config(), "second")
    assert second.returncode == 0, second.stderr
    for path in other.glob("RUN_*"):
        assert artifact_bytes(path) == artifact_bytes(root / path.name), path.name


def test_a_hunt_where_every_candidate_diverges_reports_a_failed_verdict_and_submit_exits_5(tmp_path):
    config = _config(generations=1)
    config["irer"]["time"] = {"dt": 50.0, "steps": 60}  # a step so large that every integration blows up
    result, root = _submit(tmp_path, config, "runs")
    assert "GEN000 best fitness none, median none, 0/4 finite, best so far none;" in result.stdout
    (report,) = root.glob("RUN_REPORT_*")
    record = read_record(report)
    summary = "no candidate has a finite fitness (4 candidates over 1 generation)"
    assert result.returncode == 5 and f"{report.name} (REPORT): {summary}" in result.stderr, result.stderr
    assert record["stage_status"] == "complete" and record["verdict"]["ok"] is False
    assert record["verdict"]["summary"] == summary and record["verdict"]["figures"] == {"candidates": 4}
    assert not (report / "figs" / "best_candidate_field.png").exists()


def test_snapshots_asked_for_in_the_config_are_in_each_candidate_file(tmp_path):
    config = _config(generations=1)
    config["irer"]["time"]["snapshots"] = 3
    done, root = _submit(tmp_path, config, "snapshots")
    assert done.returncode == 0, done.stderr
    (gen,) = root.glob("RUN_GEN000_*")
    for path in sorted((gen / "data" / "candidates").glob("*.h5")):
        artifact = read_candidate(path.read_bytes())
        assert artifact.snapshots_rho.shape == (3, 16, 16)
        np.testing.assert_allclose(artifact.snapshots_rho[-1], np.abs(artifact.final_psi) ** 2, rtol=1e-5, atol=1e-7)


def test_more_generations_are_more_links(tmp_path):
    result, root = _submit(tmp_path, _config(generations=3), "runs")
    assert result.returncode == 0, result.stderr
    assert sorted(path.name.split("_")[1] for path in root.glob("RUN_*")) == ["GEN000", "GEN001", "GEN002", "REPORT"]


def test_bad_hunt_settings_are_one_line(tmp_path):
    config = _config()
    config["irer"]["execution"]["device"] = "tpu"
    result, _ = _submit(tmp_path, config, "runs")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and "device" in result.stderr
    config = _config()
    config["irer"]["grid"]["n"] = 15
    result, root = _submit(tmp_path, config, "runs2")
    assert result.returncode == 2 and "irer.grid.n: 15 is not a multiple of 2" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not root.exists()  # the schema refuses it before any run


def test_cuda_without_a_gpu_fails_closed(tmp_path):
    config = _config()
    config["irer"]["execution"]["device"] = "cuda"
    result, root = _submit(tmp_path, config, "runs")
    assert result.returncode == 2 and "gpu" in result.stderr.lower() and len(result.stderr.strip().splitlines()) == 1
    assert not list(root.glob("RUN_GEN000_*/data/candidates/*.h5"))


def test_a_killed_generation_resumes_and_ends_with_the_same_bytes(tmp_path):
    config = _config(generations=1)
    config["irer"]["grid"] = {"n": 32, "dx": 1.0}
    config["irer"]["time"] = {"dt": 0.25, "steps": 300}
    config["irer"]["execution"]["chunk_size"] = 1  # one candidate per chunk: a kill lands between candidates
    config["irer"]["hunt"]["initial_fields"] = 1  # one file per candidate, so files kept are candidates kept
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    root = tmp_path / "killed"
    command = [sys.executable, "-m", "runlab", "submit", str(MANIFEST), "--config", str(path), "--runs_root", str(root)]
    kept = kill_once_indexed(command, root, "GEN000", "data/candidates/")
    assert 1 <= kept < 4, f"the kill came too late ({kept} candidates written)"

    resumed = run_cli("submit", str(MANIFEST), "--config", str(path), "--runs_root", str(root), "--allow_resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {kept} of 4 candidates kept" in resumed.stdout
    whole = run_cli("submit", str(MANIFEST), "--config", str(path), "--runs_root", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    (gen,) = root.glob("RUN_GEN000_*")
    assert artifact_bytes(gen) == artifact_bytes(tmp_path / "whole" / gen.name)


def test_extending_a_hunt_reuses_its_generations_byte_for_byte(tmp_path):
    from tests.support.hunt import MANIFEST, hunt_config

    config_path = tmp_path / "hunt.yaml"
    config_path.write_text(yaml.safe_dump(hunt_config(), sort_keys=False))
    root = tmp_path / "runs"
    three = run_cli("submit", str(MANIFEST), "--config", str(config_path), "--runs_root", str(root))
    assert three.returncode == 0, three.stderr
    before = {path.name: artifact_hashes(path) for path in root.glob("RUN_*")}
    four = run_cli("submit", str(MANIFEST), "--config", str(config_path), "--runs_root", str(root),
                   "--set", "irer.hunt.generations=4")
    assert four.returncode == 0, four.stderr
    actions = {line.split()[0]: line.split()[2] for line in four.stdout.splitlines() if line.startswith(("GEN", "REPORT"))}
    assert actions == {"GEN000": "complete", "GEN001": "complete", "GEN002": "complete", "GEN003": "ran",
                       "REPORT": "ran"}
    after = {path.name: artifact_hashes(path) for path in root.glob("RUN_*")}
    assert {name: after[name] for name in before} == before  # nothing rewritten
    assert sorted(name.split("_")[1] for name in after) == ["GEN000", "GEN001", "GEN002", "GEN003", "REPORT", "REPORT"]
    (gen3,) = root.glob("RUN_GEN003_*")
    (gen2,) = root.glob("RUN_GEN002_*")
    assert read_record(gen3)["upstream_run_ids"] == {"GEN002": gen2.name}


def _replace_artifact(run_dir: Path, relative: str, data: bytes) -> None:
    """Overwrite one artifact and its record entry, as a careful forger would (so only recomputing can tell)."""
    (run_dir / relative).write_bytes(data)
    record = json.loads((run_dir / "run_record.json").read_text())
    entry = next(item for item in record["artifact_index"] if item["relative_path"] == relative)
    entry.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (run_dir / "run_record.json").write_text(json.dumps(record, indent=2))


def test_verify_recomputes_the_ledger_from_the_fields_and_the_report_from_the_ledger(tmp_path):
    done, root = _submit(tmp_path, _config(), "runs")
    assert done.returncode == 0, done.stderr
    runs = {path.name.split("_")[1]: path for path in root.glob("RUN_*")}
    for tag in ("GEN000", "GEN001", "REPORT"):
        verified = run_cli("verify", runs[tag].name, "--runs_root", str(root))
        assert verified.returncode == 0, verified.stderr
        assert "recomputed by irer.verify:verify_" in verified.stdout

    # REPORT's top table with its first row dropped (before GEN001 is touched, which REPORT stands on)
    report = runs["REPORT"]
    table = pq.read_table(report / "tables" / "top_candidates.parquet")
    sink = io.BytesIO()
    pq.write_table(table.slice(1), sink)
    _replace_artifact(report, "tables/top_candidates.parquet", sink.getvalue())
    verified = run_cli("verify", report.name, "--runs_root", str(root))
    assert verified.returncode == 2 and "tables/top_candidates.parquet: not what the ledger of GEN001 gives" in verified.stderr

    # GEN001's candidate 1 file replaced by candidate 2's fields: the ledger no longer follows from it
    gen1 = runs["GEN001"]
    ledger = pq.read_table(gen1 / "results" / "ledger.parquet").to_pydict()
    first, second = ledger["artifacts"][5][0], ledger["artifacts"][6][0]
    assert ledger["sdg_h_norm_l2"][5][0] != ledger["sdg_h_norm_l2"][6][0]
    _replace_artifact(gen1, first, (gen1 / second).read_bytes())
    verified = run_cli("verify", gen1.name, "--runs_root", str(root))
    assert verified.returncode == 2
    assert "sdg_h_norm_l2 of candidate(s) [1] does not follow from their HDF5 files" in verified.stderr


def test_the_best_candidate_figure_has_colour_bars_with_units(tmp_path):
    from irer.stages import best_candidate_figure

    done, root = _submit(tmp_path, _config(generations=1), "runs")
    assert done.returncode == 0, done.stderr
    (gen,) = root.glob("RUN_GEN000_*")
    arrays = read_candidate(next((gen / "data" / "candidates").glob("*.h5")).read_bytes())
    figure = best_candidate_figure(arrays, 0, 0)
    fields, bars = figure.axes[0::2], figure.axes[1::2]
    assert len(figure.axes) == 4
    assert [bar.get_ylabel() for bar in bars] == ["|ψ|² (model units: cubic saturation coefficient 1)",
                                                  "g_tt (dimensionless)"]
    assert [axes.get_xlabel() for axes in fields] == ["x (length; dx = 1)"] * 2
    low, high = bars[0].get_ylim()
    assert low == pytest.approx(arrays.final_rho.min(), rel=1e-6) and high == pytest.approx(arrays.final_rho.max(), rel=1e-6)


def test_parameters_already_evaluated_are_never_integrated_again(tmp_path):
    """A 6-generation hunt: every integration is one HDF5 file, so counting files counts integrations; there
    is exactly one candidate's worth (K files) per distinct parameter vector the hunt ever evaluated."""
    config = _config(generations=6, initial_fields=2)
    done, root = _submit(tmp_path, config, "runs")
    assert done.returncode == 0, done.stderr
    gens = sorted(root.glob("RUN_GEN*"))
    ledger = pq.read_table(gens[-1] / "results" / "ledger.parquet").to_pydict()
    params = list(zip(ledger["param_kappa"], ledger["param_sigma_k"], ledger["param_alpha"]))
    distinct = len(set(params))
    files = sum(len(list((gen / "data" / "candidates").glob("*.h5"))) for gen in gens)
    assert files == 2 * distinct and distinct < len(params)  # elites (at least) were served, not integrated
    summaries = [json.loads((gen / "results" / "generation_summary.json").read_text()) for gen in gens]
    assert sum(s["integrated"] for s in summaries) == distinct
    assert sum(s["served_from_ledger"] for s in summaries) == len(params) - distinct == sum(ledger["cached"])
    first_row = {}
    for row, key in enumerate(params):  # the same parameters score the same, wherever they recur
        first_row.setdefault(key, row)
        origin = first_row[key]
        assert ledger["cached"][row] == (origin != row)
        assert (ledger["fitness"][row], ledger["run_id"][row], ledger["artifacts"][row]) == (
            ledger["fitness"][origin], ledger["run_id"][origin], ledger["artifacts"][origin])
    for gen in gens[-2:]:
        assert run_cli("verify", gen.name, "--runs_root", str(root)).returncode == 0


@pytest.mark.parametrize(("assignment", "message"), [
    ("irer.ga.population_size=1000000000000", "irer.ga.population_size: 1000000000000 is greater than the maximum of 65536"),
    ("irer.grid.n=8192", "irer.grid.n: 8192 is greater than the maximum of 4096"),
    ("irer.grid.n=66", None),  # even and in range: accepted, so the bounds refuse only what they should
    ("irer.time.steps=10000000", "irer.time.steps: 10000000 is greater than the maximum of 1000000"),
    ("irer.time.dt=.nan", "irer.time.dt: nan is not of type 'number'"),
    ("irer.hunt.initial_fields=1000000", "irer.hunt.initial_fields: 1000000 is greater than the maximum of 1024"),
    ("irer.ga.mutation_rate=1.5", "irer.ga.mutation_rate: 1.5 is greater than the maximum of 1"),
    ("irer.ga.population_size=1e12", "irer.ga.population_size: '1e12' is not of type 'integer'"),
    ("irer.model.diffusion=0", "irer.model.diffusion: 0 is less than or equal to the minimum of 0"),
    ("irer.validator.n_scrambles=100000", "irer.validator.n_scrambles: 100000 is greater than the maximum of 1024"),
])
def test_unbounded_hunt_settings_are_refused_before_any_run(tmp_path, capsys, assignment, message):
    from runlab.cli import main

    runs = tmp_path / "runs"
    code = main(["submit", str(MANIFEST), "--runs_root", str(runs), "--set", assignment, "--dry_run"])
    err = capsys.readouterr().err
    if message is None:
        assert code == 0, err
        return
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not runs.exists()
