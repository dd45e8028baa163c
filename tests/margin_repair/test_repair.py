"""The fast repair against the seed: golden hashes from the seed's own cells, and the reference port."""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from margin_repair import table as table_module
from margin_repair.certificate import audit, build_certificate, certificate_hash_problems
from margin_repair.emnist import SplitFiles, provenance
from margin_repair.features import facts_unary, lock_hash
from margin_repair.inputs import repair_inputs
from margin_repair.reference import fi_hash_reference, repair_reference, weights_hash_reference
from margin_repair.repair import RepairKnobs, RepairState, repair
from margin_repair.settings import DataSource, StudySettings
from margin_repair.table import build_fact_table
from margin_repair.weights import weights_hash, zero_weights

from tests.support.emnist import write_golden_split

SEED_DEFAULTS = StudySettings.of(
    source=DataSource("emnist"), split="digits", run_mode="quick", canonicalize=True, bin_threshold=127,
    max_train=20_000, max_test=5_000, finite_n=256, cap_unary=128, margin=1, overshoot_delta=2, max_epochs=50,
    max_updates=20_000, probe_per_class=10, seed=0)

# Obtained on 2026-11-23 by executing cells 1-3 of seed 000 (`000_38c693ef03493b80.txt`) unchanged, in
# one module namespace, with EMNIST_DATA_DIR=/tmp/golden/gzip holding `write_golden_split`'s files,
# HASH_DATASET=1 and the knobs below as the seed's environment variables (FINITE_N, CAP_UNARY, ...);
# the values are read from its PAYLOAD["certificate"] and PAYLOAD["run_record"]. The certificate
# hash names the data folder, so the test passes that folder's name to `provenance`.
GOLDEN_DATA_DIR = "/tmp/golden/gzip"
GOLDEN = {
    "defaults_400": (dict(finite_n=400), dict(
        fi="f57ae339ff6bd28bec3f03693b2f2a5c1438de92f6e03603fc3f15b3a9d110fa",
        table="e8e9d2256d9f96d9bc687c338a90818af53651325d7d0d6af3b81148edec27b5",
        weights="7ad9d57d32d8ced28ecec6dbc50b43728cb18b7a9bf2dfe09fff10c255c7cf57",
        best=(6, 0.78, "5ddffbea544e16ee073139e33dd370e72a927ea511f8138ed9c2986e7118a150"),
        certificate="02c663f13cd192cdfbce385b4979e3e11b4cc88ea1c6174233307967102b11ba",
        last_epoch=dict(epoch=7, updates=2, viol_before=1, viol_after=0, max_slack_seen=39, probe_acc=0.75,
                        w_keys=7491),
        violations=0)),
    "threshold_100_cap_64": (dict(finite_n=300, cap_unary=64, margin=3, overshoot_delta=0, max_epochs=8,
                                  max_updates=500, probe_per_class=5, bin_threshold=100), dict(
        fi="3aebec8e0c7377eb416405d59a5141d8d8b101b81598b0ef85bb8c82c0fd21cf",
        table="0f73fadf8bbd2b76ef922d1376722a815c30fa694cf9c5d7f0738068736d6c37",
        weights="16e3cd20f76a3cec3ad0bd084b570aceef186575590a6c58173a91a3e5105d41",
        best=(3, 0.66, "aa398d0b2e78c3743c2c563a085aa698ea4d51d49075804c130355fe4ca711b1"),
        certificate="d0f0cee20d55826b381e45fce372aab0a15baae3223b1d2530879231d269d96c",
        last_epoch=dict(epoch=5, updates=4, viol_before=2, viol_after=0, max_slack_seen=6, probe_acc=0.66,
                        w_keys=5908),
        violations=0)),
    "uncapped": (dict(finite_n=500, cap_unary=0, margin=2, overshoot_delta=1, max_epochs=30), dict(
        fi="a5099751aca9f74836789047b5247ca569b47d4198d4b1be16d5b86177bac522",
        table="3e1ef935db73049ba47db906617502d069334ad2f126bde415e36d429a1fa88b",
        weights="2ba7a43428718afaa7c68834cc7617534a957abc837fb1c01d04033c86890677",
        best=(2, 0.84, "6da5f18352a59785dc519543b587e4eb4d0ca21cbf5a1a81b5fc16477aa86be2"),
        certificate="2beda1e4553f1f9a510bec1e8b9b7bc77bcece81ec832bcf734cf96226eca053",
        last_epoch=dict(epoch=8, updates=2, viol_before=1, viol_after=0, max_slack_seen=12, probe_acc=0.82,
                        w_keys=7299),
        violations=0)),
    "update_budget_mid_epoch": (dict(finite_n=450, max_updates=300, margin=40, max_epochs=5), dict(
        fi="5582654b7f689fcc48c59ed36d06f08f1cbb485f5b924c3b21b6bfe5beaf99ea",
        table="d7bae145bc4e306fa066bec0f6c3ce06f8b4d0daefd463c266ac9fc88048ef41",
        weights="a1734165e3966dcda9a8e5ad8418e6245e833e6fc2964592b7d93f69e74d23c2",
        best=(2, 0.79, "a1734165e3966dcda9a8e5ad8418e6245e833e6fc2964592b7d93f69e74d23c2"),
        certificate="b49f91fa8c5f75c5c116f2cfd4f98b92d7212f651b2e4d15052df3860c86ddd0",
        last_epoch=dict(epoch=2, updates=45, viol_before=158, viol_after=16, max_slack_seen=313, probe_acc=0.79,
                        w_keys=7512),
        violations=16)),
    "epoch_budget_full_mode": (dict(finite_n=200, max_epochs=2, margin=500, cap_unary=100, max_test=150,
                                    probe_per_class=20, max_train=300, seed=7, run_mode="full"), dict(
        fi="794eef2ebca22cfe3b483f863b047c3f0c665e5e6b9e649c72d85c8aadb747bf",
        table="a622f3f60cccde886c80fc141fde78bdaa012552e907182793ffdf07bd15974f",
        weights="242380f08e371f1f8b496a417e3d89413f53e489c4c31f18a887b16d671a86ec",
        best=(2, 0.5540540540540541, "242380f08e371f1f8b496a417e3d89413f53e489c4c31f18a887b16d671a86ec"),
        certificate="895b9506c4da786a33ad0f08c6e5aab3a731ae8600a54326eea6915e1398c0d2",
        last_epoch=dict(epoch=2, updates=72, viol_before=178, viol_after=13, max_slack_seen=516,
                        probe_acc=0.5540540540540541, w_keys=7653),
        violations=13)),
}


@pytest.fixture(scope="module")
def golden_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("golden") / "gzip"
    write_golden_split(folder)
    return folder


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_fast_repair_reproduces_the_seeds_hashes(golden_folder, case):
    overrides, expected = GOLDEN[case]
    settings = SEED_DEFAULTS.replace(**overrides)
    inputs = repair_inputs(golden_folder, settings)
    result = repair(inputs.table, inputs.labels, inputs.probe, inputs.probe_labels, inputs.n_classes, settings.knobs)
    state = result.state
    fi_hash = inputs.table.fi_hash()
    assert fi_hash == expected["fi"]
    assert inputs.table.fingerprint(fi_hash) == expected["table"]
    assert weights_hash(state.weights) == expected["weights"]
    assert (state.best_epoch, state.best_probe_acc, weights_hash(state.best_or_final_weights())) == expected["best"]
    assert {key: value for key, value in state.epochs[-1].items() if key != "seconds"} == expected["last_epoch"]
    provenance_record = provenance(golden_folder, SplitFiles("digits"), GOLDEN_DATA_DIR)
    checked = audit(inputs.table, inputs.labels, state.weights, result.scores, settings.margin)
    certificate = build_certificate(settings, provenance_record, inputs.table, inputs.labels, state.weights, checked)
    assert certificate["lock_hash"] == lock_hash(upright=True, bin_threshold=settings.bin_threshold)
    assert certificate["finite_table"]["fi_hash"] == expected["fi"]
    assert certificate["verification"]["finite_full_margin_check"]["violations_total"] == expected["violations"]
    assert certificate["verification"]["cache_consistency_check"]["ok"] is True
    assert certificate["certificate_hash"] == expected["certificate"]


def _random_table(seed: int, n: int, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    templates = rng.integers(0, 256, size=(n_classes, 784)) * (rng.random((n_classes, 784)) < 0.2)
    labels = rng.integers(0, n_classes, size=n)
    noise = rng.integers(0, 256, size=(n, 784)) * (rng.random((n, 784)) < 0.1)
    images = np.maximum(templates[labels], noise).astype(np.uint8)
    images[0] = 0  # a row with the bias fact only
    return images.reshape(n, 28, 28), labels


def _reference_dense(weights: dict, n_classes: int) -> np.ndarray:
    dense = zero_weights(n_classes)
    for (c, fact), value in weights.items():
        dense[0 if fact == "bias:1" else 1 + int(fact[3:]), c] = value
    return dense


@pytest.mark.parametrize(("seed", "n_classes", "threshold", "cap", "knobs"), [
    (1, 3, 127, 128, RepairKnobs()),
    (2, 5, 127, 40, RepairKnobs(margin=4, overshoot_delta=0, max_epochs=6)),
    (3, 4, 60, 0, RepairKnobs(margin=1, overshoot_delta=3, max_epochs=4, max_updates=70)),
    (4, 2, 200, 10, RepairKnobs(margin=2, max_epochs=3)),
    (5, 6, 127, 128, RepairKnobs(margin=25, max_epochs=3, max_updates=1)),
])
def test_fast_and_reference_repairs_agree(seed, n_classes, threshold, cap, knobs):
    images, labels = _random_table(seed, 90, n_classes)
    probe_images, probe_labels = _random_table(seed + 100, 20, n_classes)
    table = build_fact_table(images, bin_threshold=threshold, cap_unary=cap)
    probe = build_fact_table(probe_images, bin_threshold=threshold, cap_unary=cap)
    fast = repair(table, labels, probe, probe_labels, n_classes, knobs)

    def facts(batch):
        return [facts_unary(image.tobytes(), bin_threshold=threshold, cap_unary=cap) for image in batch]

    reference = repair_reference(facts(images), labels.tolist(), list(zip(facts(probe_images), probe_labels.tolist())),
                                 n_classes, knobs)
    assert np.array_equal(fast.state.weights, _reference_dense(reference.weights, n_classes))
    assert weights_hash(fast.state.weights) == weights_hash_reference(reference.weights)
    assert weights_hash(fast.state.best_or_final_weights()) == weights_hash_reference(reference.best_weights)
    assert np.array_equal(fast.scores, np.array(reference.cache))
    assert table.fi_hash() == fi_hash_reference(facts(images))
    strip = [{key: value for key, value in row.items() if key != "seconds"} for row in fast.state.epochs]
    assert strip == [{key: value for key, value in row.items() if key != "seconds"} for row in reference.epochs]
    assert len(strip) >= 1 and fast.state.updates_total >= 1


def test_fi_hash_streams_across_chunks(monkeypatch):
    images, _ = _random_table(9, 23, 3)
    expected = fi_hash_reference([facts_unary(image.tobytes(), bin_threshold=127, cap_unary=50) for image in images])
    monkeypatch.setattr(table_module, "_ROWS_PER_CHUNK", 4)
    assert build_fact_table(images, bin_threshold=127, cap_unary=50).fi_hash() == expected


def test_an_interrupted_repair_resumes_to_the_same_weights():
    images, labels = _random_table(11, 120, 4)
    images[60:], labels[60:] = images[:60], (labels[:60] + 1) % 4  # conflicting labels: never separable
    table = build_fact_table(images, bin_threshold=127, cap_unary=128)
    probe = build_fact_table(images[:12], bin_threshold=127, cap_unary=128)
    knobs = RepairKnobs(margin=5, max_epochs=6)
    whole = repair(table, labels, probe, labels[:12], 4, knobs)

    saved: list[RepairState] = []

    class Preempted(Exception):
        pass

    def stop_after_two(state: RepairState) -> None:
        saved.append(RepairState(weights=state.weights.copy(), epochs=list(state.epochs),
                                 updates_total=state.updates_total, best_epoch=state.best_epoch,
                                 best_probe_acc=state.best_probe_acc, best_weights=state.best_weights,
                                 finished=state.finished))
        if len(state.epochs) == 2:
            raise Preempted

    with pytest.raises(Preempted):
        repair(table, labels, probe, labels[:12], 4, knobs, on_epoch=stop_after_two)
    resumed = repair(table, labels, probe, labels[:12], 4, knobs, resume=saved[-1])
    assert np.array_equal(resumed.state.weights, whole.state.weights)
    assert np.array_equal(resumed.scores, whole.scores)
    assert [row["viol_after"] for row in resumed.state.epochs] == [row["viol_after"] for row in whole.state.epochs]
    assert len(whole.state.epochs) == 6 and whole.state.epochs[-1]["viol_after"] > 0


def test_repair_needs_two_classes():
    images, labels = _random_table(1, 5, 1)
    table = build_fact_table(images, bin_threshold=127, cap_unary=128)
    with pytest.raises(ValueError, match="at least 2 classes"):
        repair(table, labels, table, labels, 1, RepairKnobs())


def test_empty_probe_gives_nan_accuracy_and_final_weights_as_best():
    images, labels = _random_table(2, 30, 3)
    table = build_fact_table(images, bin_threshold=127, cap_unary=128)
    empty = build_fact_table(images[:0], bin_threshold=127, cap_unary=128)
    state = repair(table, labels, empty, labels[:0], 3, RepairKnobs(max_epochs=2)).state
    assert all(math.isnan(row["probe_acc"]) for row in state.epochs)
    assert state.best_epoch is None and state.best_or_final_weights() is state.weights


def test_a_checkpointed_state_resumes_through_json():
    images, labels = _random_table(12, 80, 3)
    images[40:], labels[40:] = images[:40], (labels[:40] + 1) % 3
    table = build_fact_table(images, bin_threshold=127, cap_unary=128)
    empty = build_fact_table(images[:0], bin_threshold=127, cap_unary=128)  # NaN probe accuracy in every row
    knobs = RepairKnobs(margin=3, max_epochs=4)
    whole = repair(table, labels, empty, labels[:0], 3, knobs)
    checkpoints = []
    repair(table, labels, empty, labels[:0], 3, replace(knobs, max_epochs=2),
           on_epoch=lambda state: checkpoints.append(json.loads(json.dumps(state.to_json(), allow_nan=False))))
    restored = RepairState.from_json(checkpoints[-1])
    restored.finished = False  # the shorter budget finished it; the longer one goes on
    resumed = repair(table, labels, empty, labels[:0], 3, knobs, resume=restored)
    assert np.array_equal(resumed.state.weights, whole.state.weights)
    assert len(resumed.state.epochs) == 4 and math.isnan(resumed.state.epochs[0]["probe_acc"])


def test_the_portable_hash_names_the_data_by_content_and_the_seed_hash_by_folder(tmp_path):
    """The same golden files in two folders (two machines): two seed hashes, one portable hash; other files,
    another portable hash. The seed hash stays the pinned value of the seed's own cells."""
    here, there = tmp_path / "machine_a" / "gzip", tmp_path / "machine_b" / "emnist"
    write_golden_split(here)
    write_golden_split(there)
    overrides, expected = GOLDEN["defaults_400"]
    settings = SEED_DEFAULTS.replace(**overrides)

    def certify(folder: Path, data_dir: str) -> dict:
        inputs = repair_inputs(folder, settings)
        result = repair(inputs.table, inputs.labels, inputs.probe, inputs.probe_labels, inputs.n_classes,
                        settings.knobs)
        checked = audit(inputs.table, inputs.labels, result.state.weights, result.scores, settings.margin)
        return build_certificate(settings, provenance(folder, SplitFiles("digits"), data_dir), inputs.table,
                                 inputs.labels, result.state.weights, checked)

    seed_folder, a, b = certify(here, GOLDEN_DATA_DIR), certify(here, str(here)), certify(there, str(there))
    assert seed_folder["certificate_hash"] == expected["certificate"]  # unchanged by the portable block
    assert len({seed_folder["certificate_hash"], a["certificate_hash"], b["certificate_hash"]}) == 3
    portable = {c["portable"]["certificate_hash"] for c in (seed_folder, a, b)}
    assert portable == {"0fa9186e691e3dab5e683e8e9895e9ca7ff4a69e1a496aded543435df873e834"}
    assert a["portable"]["prov_hash"] == b["portable"]["prov_hash"] != a["prov_hash"]
    assert certificate_hash_problems(a) == [] and certificate_hash_problems(b) == []

    test_labels = there / SplitFiles("digits").labels("test")
    labels = bytearray(gzip.decompress(test_labels.read_bytes()))
    labels[-1] = (labels[-1] + 1) % 10  # another label for the last test image
    test_labels.write_bytes(gzip.compress(bytes(labels), mtime=0))
    changed = certify(there, str(there))  # the test labels are in the provenance, not in the table
    assert changed["portable"]["certificate_hash"] not in portable
    assert changed["weights"] == b["weights"] and changed["finite_table"]["fi_hash"] == b["finite_table"]["fi_hash"]

    forged = {**a, "portable": {**a["portable"], "certificate_hash": b["certificate_hash"]}}
    assert certificate_hash_problems(forged) == [
        "portable.certificate_hash does not hash the certificate's fields with its data named by content"]
    assert certificate_hash_problems({**a, "ok": False}) == [
        "certificate_hash does not hash the certificate's seed fields",
        "portable.certificate_hash does not hash the certificate's fields with its data named by content"]
