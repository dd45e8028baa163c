"""The run store on a real filesystem: creation, reopening rules, records, and locks left by dead holders."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from runlab.config import resolve_config
from runlab.canon import load_registry
from runlab.errors import MissingUpstreamError, RunExistsError, SchemaError
from runlab.record import read_record
from runlab.run import Run, RunView
from runlab.identity import StageIdentity
from runlab.store import ExecutionContext, RunSpec, RunStore
from runlab.verify import verify_run
from tests.support.cli import REPO



@pytest.fixture
def spec(tmp_path: Path) -> RunSpec:
    config_path = tmp_path / "config.yaml"
    config_path.write_text("x: 1\nruns: CANON.PATH.RUNS_DIR\n")
    config = resolve_config(config_path, load_registry(REPO / "spec" / "00_CANONICAL.md"))
    identity = StageIdentity.reading_everything("testing", "S01", config.data)
    return RunSpec(run_id=identity.run_id, run_id_mode="content_hash", identity=identity, study_config=config,
                   submission_id="a" * 16, seed=3)


LOCAL = ExecutionContext(executor="local")


def test_new_run_has_layout_record_and_config(tmp_path, spec):
    store = RunStore(tmp_path / "runs")
    record = store.open_run(spec, LOCAL, allow_resume=False)
    run_dir = store.run_dir(spec.run_id)
    assert sorted(path.name for path in run_dir.iterdir()) == [
        ".checkpoint", "config_resolved.yaml", "config_study.yaml", "data", "figs", "logs", "results",
        "run_record.json", "tables"]
    assert (run_dir / "config_resolved.yaml").read_bytes() == (  # the identity: what the id hashes, with the tag
        b"study: testing\nversion: '1'\nreads:\n- '*'\narray: null\nupstream: {}\nconfig:\n  x: 1\n  runs: runs\n")
    assert spec.run_id == "RUN_S01_" + hashlib.sha256((run_dir / "config_resolved.yaml").read_bytes() + b"S01").hexdigest()[:12]
    assert (run_dir / "config_study.yaml").read_bytes() == b"x: 1\nruns: runs\n"
    assert record["config_hash"] == hashlib.sha256((run_dir / "config_resolved.yaml").read_bytes()).hexdigest()
    assert record["study_config_hash"] == hashlib.sha256(b"x: 1\nruns: runs\n").hexdigest()
    assert read_record(run_dir) == record
    assert record["stage_status"] == "started" and record["seeds"] == {"global": 3}
    assert not list(store.root.glob(".*.creating"))


def test_reopen_rules(tmp_path, spec):
    store = RunStore(tmp_path / "runs")
    store.open_run(spec, LOCAL, allow_resume=False)
    sibling = store.open_run(spec, LOCAL, allow_resume=False)  # same submission: an array sibling
    assert sibling["timings"]["attempts"] == 2
    other = dataclasses.replace(spec, submission_id="b" * 16)
    with pytest.raises(RunExistsError, match="--allow_resume") as caught:
        store.open_run(other, LOCAL, allow_resume=False)
    assert caught.value.exit_code == 4
    resumed = store.open_run(other, LOCAL, allow_resume=True)
    assert resumed["submission_id"] == "b" * 16 and resumed["timings"]["attempts"] == 3


def test_complete_run_is_final_and_verifies(tmp_path, spec):
    from runlab.execute import complete_run

    store = RunStore(tmp_path / "runs")
    record = store.open_run(spec, LOCAL, allow_resume=False)
    run = Run(store, record, spec.stage_config())
    run.write_json("results/answer.json", {"answer": 42})
    complete_run(store, spec.run_id, {})
    assert store.open_run(spec, LOCAL, allow_resume=True) is None
    with pytest.raises(RunExistsError, match="complete and final"):
        run.write_json("results/late.json", {})
    assert verify_run(store, spec.run_id) == []
    answer = store.run_dir(spec.run_id) / "results" / "answer.json"
    answer.write_bytes(answer.read_bytes().replace(b"42", b"41"))
    assert verify_run(store, spec.run_id) == ["results/answer.json: sha256 differs from the record"]
    view = RunView(store, spec.run_id, store.complete_record(spec.run_id))
    with pytest.raises(SchemaError, match="results/answer.json: sha256 differs from the record"):
        view.artifact_path("results/answer.json")


def test_annotations_take_numpy_values_and_are_refused_once_complete(tmp_path, spec):
    from runlab.execute import complete_run

    store = RunStore(tmp_path / "runs")
    run = Run(store, store.open_run(spec, LOCAL, allow_resume=False), spec.stage_config())
    run.annotate("rows", np.int64(3))
    run.annotate("shape", np.arange(2))
    run.annotate("rows", 4)  # set again: replaced
    assert run.view().annotations == {"rows": 4, "shape": [0, 1]}
    complete_run(store, spec.run_id, {})
    with pytest.raises(RunExistsError, match="complete and final") as caught:
        run.annotate("late", True)
    assert caught.value.exit_code == 4
    assert store.read_record(spec.run_id)["annotations"] == {"rows": 4, "shape": [0, 1]}


def test_run_directory_holding_another_config_is_corrupt(tmp_path, spec):
    store = RunStore(tmp_path / "runs")
    store.open_run(spec, LOCAL, allow_resume=False)
    record_path = store.run_dir(spec.run_id) / "run_record.json"
    record = json.loads(record_path.read_text())
    record["config_hash"] = "0" * 64
    record_path.write_text(json.dumps(record))
    with pytest.raises(SchemaError, match="holds another run"):
        store.open_run(spec, LOCAL, allow_resume=True)


def test_upstream_must_exist_and_be_complete(tmp_path, spec):
    store = RunStore(tmp_path / "runs")
    with pytest.raises(MissingUpstreamError, match="does not exist") as caught:
        store.complete_record(spec.run_id)
    assert caught.value.exit_code == 3
    store.open_run(spec, LOCAL, allow_resume=False)
    with pytest.raises(MissingUpstreamError, match="is started, not complete"):
        store.complete_record(spec.run_id)


def test_corrupt_record_is_a_schema_error(tmp_path, spec):
    store = RunStore(tmp_path / "runs")
    store.open_run(spec, LOCAL, allow_resume=False)
    record_path = store.run_dir(spec.run_id) / "run_record.json"
    record = json.loads(record_path.read_text())
    record["stage_status"] = "finished"
    record_path.write_text(json.dumps(record))
    with pytest.raises(SchemaError, match="stage_status"):
        store.read_record(spec.run_id)


def _holder(lock_path: Path, ready: Path) -> subprocess.Popen:
    code = ("import sys, time, pathlib; from runlab.lock import held_lock\n"
            f"with held_lock(pathlib.Path({str(lock_path)!r}), what='test', lease_s=2.0):\n"
            f"    pathlib.Path({str(ready)!r}).touch(); time.sleep(600)\n")
    process = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return process


def test_lock_of_a_killed_holder_is_broken_at_once(tmp_path):
    from runlab.lock import held_lock

    lock_path = tmp_path / "run.lock"
    holder = _holder(lock_path, tmp_path / "ready")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    started = time.monotonic()
    with held_lock(lock_path, what="test", lease_s=2.0, wait_s=10):
        pass
    assert time.monotonic() - started < 1.5  # dead pid on this host: no need to wait for the lease


def test_lock_of_a_frozen_holder_is_broken_after_the_lease(tmp_path):
    from runlab.errors import RunlabError
    from runlab.lock import held_lock

    lock_path = tmp_path / "run.lock"
    holder = _holder(lock_path, tmp_path / "ready")
    try:
        with pytest.raises(RunlabError, match="is locked"):
            with held_lock(lock_path, what="test", lease_s=2.0, wait_s=0.5):
                pass
        os.kill(holder.pid, signal.SIGSTOP)  # alive but silent, like a holder on a node that hung
        started = time.monotonic()
        with held_lock(lock_path, what="test", lease_s=2.0, wait_s=30):
            waited = time.monotonic() - started
        assert 1.5 < waited < 10
    finally:
        holder.kill()
        holder.wait()
