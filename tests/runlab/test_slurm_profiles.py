"""SLURM profiles without a cluster: partition classes, GRES, extra sbatch arguments, resource overrides, the
sbatch script they make (against a saved reference) and ``submit --dry_run``'s jobs and dependencies."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from submitit.slurm.slurm import _make_sbatch_string

from runlab.cli import main
from runlab.errors import ConfigError
from runlab.manifest import Resources
from runlab.profile import load_profile
from runlab.sbatch import sbatch_options, sbatch_parameters, with_dependency

from tests.support.cli import run_cli

GOLDEN = Path(__file__).parent / "data" / "slurm" / "sbatch_gpu_class.sh"
CLUSTER = {
    "schema_version": 1, "executor": "slurm",
    "slurm": {
        "partition": "cpu", "account": "proj42", "sbatch_args": {"mail-type": "FAIL"},
        "classes": {
            "gpu": {"partition": "gpu", "qos": "high", "constraint": "a100|h100", "gres": "gpu:a100",
                    "sbatch_args": {"exclusive": True, "mail-type": "END"}, "resources": {"cpus": 8}},
            "big": {"account": "bigmem", "resources": {"mem_gb": 64}},
        },
        "stage_resources": {"S02": {"time_min": 240, "partition_class": "gpu"}, "GEN": {"mem_gb": 3},
                            "irer.GEN": {"mem_gb": 5}},
        "signal_delay_s": 120, "array_parallelism": 16, "setup": ["module load cuda/12.4"],
    },
}


def _profile(tmp_path: Path, data: dict = CLUSTER, name: str = "cluster"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_sbatch_script_of_a_gpu_class_stage_matches_the_reference(tmp_path):
    settings = load_profile(_profile(tmp_path)).slurm
    manifest = Resources(cpus=4, mem_gb=16, gpus=2, time_min=30, partition_class="gpu")
    resources = settings.resources_for("study", "S01", manifest)
    parameters = with_dependency(sbatch_parameters("study.S01", resources, settings,
                                                   setup=["export PYTHONHASHSEED=7"]), "afterok:41:42")
    folder = "/runs/.runlab/slurm/RUN_S01_0123456789ab/%j"
    script = _make_sbatch_string(command="python -u -m submitit.core._submit " + folder, folder=folder, **parameters)
    assert script == GOLDEN.read_text()


def test_a_class_takes_what_it_leaves_out_from_the_top_level(tmp_path):
    settings = load_profile(_profile(tmp_path)).slurm
    gpu, big, top = settings.placement("gpu"), settings.placement("big"), settings.placement(None)
    assert (gpu.partition, gpu.account, gpu.qos, gpu.gres) == ("gpu", "proj42", "high", "gpu:a100")
    assert gpu.sbatch_args == {"mail-type": "END", "exclusive": True}  # the class's over the top level's
    assert (big.partition, big.account, big.gres, big.sbatch_args) == ("cpu", "bigmem", None, {"mail-type": "FAIL"})
    assert (top.partition, top.account, top.qos) == ("cpu", "proj42", None)
    with pytest.raises(ConfigError, match="no partition class 'tpu' \\(classes: big, gpu\\)"):
        settings.placement("tpu")


def test_overrides_go_manifest_then_class_then_stage(tmp_path):
    settings = load_profile(_profile(tmp_path)).slurm
    manifest = Resources(cpus=2, mem_gb=4, gpus=1, time_min=60)
    assert settings.resources_for("study", "S01", manifest) == manifest  # no class, no override: the manifest's
    # S02's override moves it to the gpu class (cpus 8 from the class) and sets its time
    assert settings.resources_for("study", "S02", manifest) == Resources(8, 4, 1, 240, "gpu")
    big = Resources(cpus=2, partition_class="big")
    assert settings.resources_for("study", "S03", big) == Resources(2, 64, 0, 10, "big")
    assert settings.resources_for("study", "GEN", replace(big, mem_gb=8)).mem_gb == 3  # the stage's over the class's
    assert settings.resources_for("irer", "GEN", big).mem_gb == 5  # study.TAG over TAG


def test_gpus_without_a_gres_ask_gpus_per_node_and_arrays_show_their_parallelism(tmp_path):
    settings = load_profile(_profile(tmp_path)).slurm
    parameters = sbatch_parameters("study.S05", Resources(cpus=1, mem_gb=0.5, gpus=1, time_min=5), settings)
    assert parameters["gpus_per_node"] == 1 and "gres" not in parameters
    assert sbatch_options(parameters, tasks=50) == [
        "--job-name=study.S05", "--time=5", "--cpus-per-task=1", "--mem=512M", "--partition=cpu",
        "--account=proj42", "--gpus-per-node=1", "--signal=USR2@120", "--array=0-49%16", "--requeue",
        "--mail-type=FAIL"]


@pytest.mark.parametrize(("slurm", "message"), [
    ({"gres": "gpu:a100:1"}, "slurm.gres 'gpu:a100:1' gives a count; write gpu:a100: the count is the stage's gpus"),
    ({"classes": {"gpu": {"gres": "gpu:2"}}}, "slurm.classes.gpu.gres 'gpu:2' gives a count"),
    ({"classes": {"gpu": {"gres": "GPU a100"}}}, "slurm.classes.gpu.gres 'GPU a100' is not a GRES name[:type]"),
    ({"sbatch_args": {"partition": "gpu"}}, "slurm.sbatch_args sets --partition, which runlab sets itself"),
    ({"classes": {"gpu": {"sbatch_args": {"time": 5}}}}, "slurm.classes.gpu.sbatch_args sets --time"),
    ({"sbatch_args": {"--exclusive": True}}, "at slurm.sbatch_args"),
    ({"stage_resources": {"S01": {"partition_class": "gpu"}}}, "slurm.stage_resources.S01 names unknown partition "
                                                                 "class 'gpu'"),
    ({"stage_resources": {"S01": {"memory": 4}}}, "at slurm.stage_resources.S01"),
    ({"classes": {"GPU": {"partition": "gpu"}}}, "at slurm.classes"),
    ({"classes": {"gpu": {"resources": {"partition_class": "cpu"}}}}, "at slurm.classes.gpu.resources"),
])
def test_bad_slurm_profiles_are_one_line_exit_2(make_study, capsys, slurm, message):
    study = make_study({"S01": {"entry": "tests.support.stages:echo"}}, {"values": [1]})
    path = _profile(study.folder, {"schema_version": 1, "executor": "slurm", "slurm": slurm})
    code = main(study.args("submit", "--dry_run", profile=str(path)))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not study.runs_root.exists()


def test_a_stage_asking_for_a_class_the_profile_lacks_is_refused_before_anything(make_study, capsys, tmp_path):
    stages = {"S01": {"entry": "tests.support.stages:echo"},
              "S02": {"entry": "tests.support.stages:echo", "needs": ["S01"], "resources": {"partition_class": "gpu"}}}
    study = make_study(stages, {"values": [1]})
    code = main(study.args("submit", profile=str(_profile(tmp_path, {**CLUSTER, "slurm": {"partition": "debug"}}))))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "stage S02 of" in err
    assert "profile cluster has no partition class 'gpu' (classes: none); add slurm.classes.gpu" in err
    assert not study.runs_root.exists()
    assert main(study.args("submit", "--dry_run")) == 0  # locally, classes mean nothing


def _dry_run(study, *extra: str, profile: Path) -> list[str]:
    result = run_cli(*study.args("submit", "--dry_run", *extra, profile=str(profile)))
    assert result.returncode == 0, result.stderr
    assert not study.runs_root.exists()
    return result.stdout.splitlines()[1:]


def test_dry_run_prints_each_job_with_its_sbatch_options_and_stage_named_dependencies(make_study, tmp_path):
    stages = {
        "S01": {"entry": "tests.support.stages:echo", "resources": {"cpus": 2, "gpus": 1, "partition_class": "gpu"}},
        "S02": {"entry": "tests.support.stages:shard", "needs": ["S01"], "array": 50,
                "fan_in": "tests.support.stages:gather"},
        "S03": {"entry": "tests.support.stages:echo", "needs": ["S02"], "resources": {"partition_class": "big"}},
    }
    study = make_study(stages, {"values": [1]})
    lines = _dry_run(study, profile=_profile(tmp_path))
    s01, s01_jobs, s02, s02_array, s02_fan_in, s03, s03_jobs = lines
    assert s01.startswith("S01 ") and s01.endswith("would run    dry run, would queue S01")
    assert s01_jobs == ("  S01: sbatch --job-name=testing.S01 --time=10 --cpus-per-task=8 --mem=1024M --partition=gpu "
                        "--account=proj42 --qos=high --constraint='a100|h100' --gres=gpu:a100:1 --signal=USR2@120 "
                        "--requeue --mail-type=END --exclusive")
    assert s02.endswith("dry run, would queue S02,S02.fanin")
    assert s02_array.startswith("  S02: sbatch --job-name=testing.S02 --time=240 --cpus-per-task=8")  # stage_resources
    assert s02_array.endswith("--array=0-49%16 --requeue --mail-type=END --exclusive "
                              "--dependency=afterok:S01 --kill-on-invalid-dep=yes")
    assert s02_fan_in.startswith("  S02.fanin: sbatch ") and "--array" not in s02_fan_in
    assert s02_fan_in.endswith("--dependency=afterok:S01:S02 --kill-on-invalid-dep=yes")
    assert "--mem=65536M --partition=cpu --account=bigmem --signal" in s03_jobs
    assert s03_jobs.endswith("--dependency=afterok:S02.fanin --kill-on-invalid-dep=yes")


def test_dry_run_of_a_sweep_shows_one_array_per_stage_with_aftercorr(make_study, tmp_path):
    from .test_identity import _tagged

    stages = {"S01": _tagged(tag="S01"), "S02": _tagged(["S01"], tag="S02")}
    study = make_study(stages, {"s01": 1, "s02": 10, "witness_dir": None})
    lines = _dry_run(study, "--sweep", "test.s01=1,2,3", profile=_profile(tmp_path))
    jobs = [line for line in lines if line.startswith("  ")]
    assert len(jobs) == 2 and jobs[0].startswith("  S01: sbatch ") and "--array=0-2%3" in jobs[0]
    assert "--array=0-2%3" in jobs[1] and jobs[1].endswith("--dependency=aftercorr:S01 --kill-on-invalid-dep=yes")
    assert [line.split("would queue ")[1].split()[0] for line in lines if line.startswith("S02")] == \
        ["S02_0", "S02_1", "S02_2"]


def test_resources_from_a_config_value_split_a_sweep_by_what_its_jobs_ask(make_study, tmp_path):
    stages = {"S01": {"entry": "tests.support.stages:echo", "reads": ["test.values", "test.device"],
                      "resources": {"cpus": 1},
                      "resources_when": [{"config": "test.device", "equals": "cuda",
                                          "resources": {"gpus": 1, "partition_class": "gpu"}}]}}
    study = make_study(stages, {"values": [1], "device": "cpu"})
    lines = _dry_run(study, "--sweep", "test.device=cpu,cuda", profile=_profile(tmp_path))
    jobs = [line for line in lines if line.startswith("  ")]
    assert len(jobs) == 2  # one job each: the two configs ask for different resources, so no shared array
    assert "--partition=cpu" in jobs[0] and "gres" not in jobs[0]
    assert "--partition=gpu" in jobs[1] and "--gres=gpu:a100:1" in jobs[1]


def test_resources_may_follow_only_a_config_key_the_stage_reads(make_study, capsys):
    stages = {"S01": {"entry": "tests.support.stages:echo", "reads": ["test.values"],
                      "resources_when": [{"config": "test.device", "equals": "cuda", "resources": {"gpus": 1}}]}}
    study = make_study(stages, {"values": [1], "device": "cuda"})
    code = main(study.args("submit", "--dry_run"))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "sets resources from test.device, which it does not read" in err
