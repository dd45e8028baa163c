"""The study's stages (``jobs/margin_repair.yaml``): DATA -> REPAIR -> CERT, and EVAL after REPAIR.

DATA finds EMNIST (or writes the synthetic stand-in into its own run) and records its provenance;
REPAIR runs the fast repair with a checkpoint after every epoch; CERT audits the weights in int64
and writes the seed's certificate, which ``runlab verify`` recomputes, and states its ``ok`` as the run's verdict;
EVAL scores the test split.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pyarrow.parquet as pq

from runlab import Run, RunView, SchemaError, parquet_bytes
from runlab.record import verdict_label

from .certificate import (EXAMPLES, audit, build_certificate, certificate_hash_problems, joined_certificate,
                          stored_certificate)
from .emnist import SplitFiles, class_counts, find_data_dir, load_dataset, provenance
from .evaluation import confusion_figure, confusion_matrix, per_class_table, predict
from .features import lock_hash, stable_json
from .inputs import finite_table, repair_inputs
from .repair import RepairState, repair
from .settings import StudySettings
from .synthetic import SYNTHETIC_LABEL, write_synthetic_split
from .table import build_fact_table
from .weights import nonzero_keys, weights_hash

__all__ = ["certify", "evaluate", "locate_data", "repair_weights", "verify_certificate"]

SYNTHETIC_FOLDER = "data/emnist"
PROVENANCE = "results/data_provenance.json"
DATA_SUMMARY = "results/data_summary.json"
WEIGHTS = "data/weights.h5"
CERTIFICATE = "results/certificate.json"


def locate_data(run: Run) -> None:
    """DATA: the split's files (found, or written synthetic into this run), checked and fingerprinted."""
    settings = StudySettings.from_config(run.config)
    files = SplitFiles(settings.split)
    if settings.source.kind == "synthetic":
        with tempfile.TemporaryDirectory() as scratch:
            write_synthetic_split(Path(scratch), settings.split, n_train=settings.source.n_train,
                                  n_test=settings.source.n_test, seed=settings.source.seed)
            for name in files.all():
                run.write_bytes(f"{SYNTHETIC_FOLDER}/{name}", (Path(scratch) / name).read_bytes())
        folder, found_by, named = run.dir / SYNTHETIC_FOLDER, "written:synthetic", f"{run.run_id}/{SYNTHETIC_FOLDER}"
    else:
        folder, found_by = find_data_dir(settings.source.data_dir, Path.cwd())
        named = str(folder)
    counts = {part: class_counts(folder, settings.split, part=part) for part in ("train", "test")}
    summary = {
        "source": settings.source.kind,
        "synthetic": settings.source.kind == "synthetic",
        "label": SYNTHETIC_LABEL if settings.source.kind == "synthetic" else f"EMNIST {settings.split}",
        "split": settings.split,
        "folder": named,  # synthetic: inside this run, so the summary is the same in every runs root
        "found_by": found_by,
        "images": {part: int(sum(per_class)) for part, per_class in counts.items()},
        "images_per_class": counts,
    }
    record = provenance(folder, files, named)
    run.write_json(PROVENANCE, record)
    run.write_json(DATA_SUMMARY, summary)
    run.annotate("data", {key: summary[key] for key in ("source", "synthetic", "label", "split", "images")})
    run.annotate("data_provenance", record)
    _say(f"DATA {summary['label']}: {summary['images']['train']} train and {summary['images']['test']} test "
         f"images in {folder} ({found_by})")


def repair_weights(run: Run) -> None:
    """REPAIR: the fast repair of the finite table, resumable after any whole epoch."""
    settings = StudySettings.from_config(run.config)
    data = run.upstream("DATA")
    inputs = repair_inputs(_data_folder(data), settings)
    saved = run.load_checkpoint()
    resume = None if saved is None else RepairState.from_json(saved)
    label = _data_label(data)

    progress = run.progress(settings.max_epochs, unit="epoch")  # a repair that converges stops short of it

    def after_epoch(state: RepairState) -> None:
        row = state.epochs[-1]
        run.save_checkpoint(state.to_json())
        progress.advance()
        _say(f"REPAIR epoch {row['epoch']}/{settings.max_epochs}: {row['updates']} updates, violations "
             f"{row['viol_before']} -> {row['viol_after']}, probe acc {row['probe_acc']:.3f}, "
             f"{row['seconds']:.2f} s [{label}]")

    if resume is not None:
        _say(f"REPAIR resuming after epoch {len(resume.epochs)}")
        progress.advance(len(resume.epochs))
    with progress:
        result = repair(inputs.table, inputs.labels, inputs.probe, inputs.probe_labels, inputs.n_classes,
                        settings.knobs, resume=resume, on_epoch=after_epoch)
    state = result.state
    best = state.best_or_final_weights()
    run.write_hdf5("weights", {"weights": state.weights, "best_weights": best, "cache_scores": result.scores},
                   attrs={"layout": "weights[feature, class]; feature 0 is bias:1, 1 + idx is px:<idx>"})
    run.write_results("epochs", {key: [row[key] for row in state.epochs]
                                 for key in ("epoch", "updates", "viol_before", "viol_after", "max_slack_seen",
                                             "probe_acc", "w_keys")})
    run.write_jsonl("epochs", state.to_json()["epochs"])  # with wall-clock seconds: diagnostics, not results
    fi_hash = inputs.table.fi_hash()
    run.write_json("results/repair.json", {
        "data": label,
        "lock_hash": lock_hash(upright=settings.canonicalize, bin_threshold=settings.bin_threshold),
        "fi_hash": fi_hash,
        "table_fingerprint": inputs.table.fingerprint(fi_hash),
        "weights_hash": weights_hash(state.weights),
        "nonzero_keys": nonzero_keys(state.weights),
        "epochs_run": len(state.epochs),
        "updates_total": state.updates_total,
        "violations_after": state.epochs[-1]["viol_after"] if state.epochs else None,
        "best_probe": {"epoch": state.best_epoch,
                       "probe_acc": state.best_probe_acc if state.best_epoch is not None else None,
                       "weights_hash": weights_hash(best)},
    })


def certify(run: Run) -> None:
    """CERT: the exact int64 audit of REPAIR's weights on the finite table, and the seed's certificate; the run's
    verdict is the certificate's ``ok`` (a failed certificate is a complete run whose verdict fails)."""
    certificate = _certificate(run.config, run.upstream("DATA"), run.upstream("REPAIR"))
    document, examples = stored_certificate(certificate)
    run.write_bytes(CERTIFICATE, document)
    run.write_bytes(EXAMPLES, parquet_bytes(examples))
    margin_check = certificate["verification"]["finite_full_margin_check"]
    cache_check = certificate["verification"]["cache_consistency_check"]
    outcome = (f"certificate {'OK' if certificate['ok'] else 'FAIL'}: {margin_check['violations_total']} margin "
               f"violations, cache {'OK' if cache_check['ok'] else 'FAIL'} on {len(examples['label'])} examples")
    run.set_verdict(certificate["ok"], outcome, {"margin_violations": margin_check["violations_total"],
                                                 "cache_mismatches": cache_check["mismatches_total"],
                                                 "examples": len(examples["label"])})
    _say(f"CERT {'OK' if certificate['ok'] else 'FAIL'} [{_data_label(run.upstream('DATA'))}]: "
         f"{margin_check['violations_total']} margin violations, cache {'OK' if cache_check['ok'] else 'FAIL'}, "
         f"weights {certificate['weights']['weights_hash'][:16]}, certificate {certificate['certificate_hash']} "
         f"(portable {certificate['portable']['certificate_hash']})")


def verify_certificate(view: RunView) -> list[str]:
    """``runlab verify`` of a CERT run: each stored hash (the seed's ``certificate_hash`` and the portable one)
    against the certificate's own fields, the run's verdict against its ``ok``, then the whole certificate
    recomputed from DATA and REPAIR."""
    try:
        stored = _stored_certificate(view)
    except ValueError as exc:
        return [f"{CERTIFICATE}: {exc}"]
    problems = [f"{CERTIFICATE}: {line}" for line in certificate_hash_problems(stored)]
    if view.verdict is not None and view.verdict["ok"] != stored["ok"]:
        problems.append(f"the run's verdict ({verdict_label(view.verdict)}) is not the certificate's ok "
                        f"({stored['ok']})")
    recomputed = _certificate(view.config, view.upstream("DATA"), view.upstream("REPAIR"))
    if stable_json(recomputed) == stable_json(stored):
        return problems  # a certificate that says ok: false verifies too, when that is what recomputing gives
    changed = sorted(key for key in {*recomputed, *stored}
                     if stable_json(recomputed.get(key)) != stable_json(stored.get(key)))
    return problems + [f"{CERTIFICATE}: the recomputed certificate differs in {', '.join(changed)}"]


def evaluate(run: Run) -> None:
    """EVAL: REPAIR's final weights on the test split: accuracy, per-class table, confusion figure."""
    settings = StudySettings.from_config(run.config)
    data = run.upstream("DATA")
    test = load_dataset(_data_folder(data), settings.split, part="test", cap=settings.max_test,
                        upright=settings.canonicalize)
    weights = _read_weights(run.upstream("REPAIR"))["weights"]
    table = build_fact_table(test.images, bin_threshold=settings.bin_threshold, cap_unary=settings.cap_unary)
    confusion = confusion_matrix(test.classes, predict(table, weights), len(test.mapping.labels))
    accuracy = float(np.trace(confusion) / max(1, confusion.sum()))
    label = _data_label(data)
    run.write_table("per_class_accuracy", per_class_table(confusion, test.mapping))
    run.write_json("results/evaluation.json", {"data": label, "split": settings.split,
                                                "test_images": int(confusion.sum()), "accuracy": accuracy,
                                                "weights_hash": weights_hash(weights),
                                                "confusion": confusion})
    title = f"{settings.split} test, accuracy {accuracy:.3f} ({label})"
    look = settings.evaluation
    run.write_figure("confusion", confusion_figure(confusion, test.mapping, title, cmap=look.cmap,
                                                   annotate_max_classes=look.annotate_max_classes))
    _say(f"EVAL test accuracy {accuracy:.4f} on {int(confusion.sum())} images [{label}]")


def _certificate(config: Any, data: RunView, repaired: RunView) -> dict[str, Any]:
    settings = StudySettings.from_config(config)
    table, labels, _ = finite_table(_data_folder(data), settings)
    arrays = _read_weights(repaired)
    checked = audit(table, labels, arrays["weights"], arrays["cache_scores"], settings.margin)
    record = json.loads(data.read_bytes(PROVENANCE))
    return build_certificate(settings, record, table, labels, arrays["weights"], checked)


def _stored_certificate(view: RunView) -> dict[str, Any]:
    """A CERT run's whole certificate: its JSON, with the per-example lists of its examples table (if it has one:
    CERT version 2 kept them inline)."""
    document = json.loads(view.read_bytes(CERTIFICATE))
    if EXAMPLES not in view.artifacts:
        return joined_certificate(document, {})
    table = pq.read_table(io.BytesIO(view.read_bytes(EXAMPLES)))
    return joined_certificate(document, {name: table.column(name).to_pylist() for name in table.column_names})


def _data_folder(data: RunView) -> Path:
    """The DATA run's folder of split files, after rehashing them against its provenance record."""
    summary = json.loads(data.read_bytes(DATA_SUMMARY))
    record = json.loads(data.read_bytes(PROVENANCE))
    folder = data.dir / SYNTHETIC_FOLDER if summary["synthetic"] else Path(record["data_dir"])
    try:
        unchanged = provenance(folder, SplitFiles(record["split"]), record["data_dir"]) == record
    except OSError:
        unchanged = False
    if not unchanged:
        raise SchemaError(f"the {record['split']} files in {folder} are missing or changed since run {data.run_id} "
                          "recorded them", "restore them, or submit with a new config to start over")
    return folder


def _data_label(data: RunView) -> str:
    return json.loads(data.read_bytes(DATA_SUMMARY))["label"]


def _read_weights(repaired: RunView) -> dict[str, np.ndarray]:
    with h5py.File(io.BytesIO(repaired.read_bytes(WEIGHTS)), "r") as handle:
        return {name: handle[name][()] for name in ("weights", "best_weights", "cache_scores")}


def _say(line: str) -> None:
    print(line, file=sys.stdout, flush=True)
