"""Margin repair (seed 000, Cell 3): the seed's algorithm as written against the fast implementation.

    .venv/bin/python -m bench.margin_repair            # finite_n 256, 1000, 4000; 240,000 images (a few minutes)
    .venv/bin/python -m bench.margin_repair --quick    # finite_n 256, 1000; 24,000 images (under a minute)
    .venv/bin/python -m bench.margin_repair --seed-notebook ''   # skip the seed's own cells

Sides, each measured in a fresh subprocess on the same decoded upright images (IDX decoding is
excluded from both; it is shown on its own where it is measured):

- reference, the seed's algorithm as written: per-pixel Python fact extraction (``facts_unary``),
  ``repair_reference`` (postings, dict weights, the quadratic score cache), the seed's ``FI_hash``,
  the plain-loop audit below (``_finite_margin_check`` + ``_cache_consistency_check``) and the
  weights hashes. Probe facts are extracted once (the seed re-extracts them every epoch).
- fast: ``build_fact_table`` (train table and probe), ``repair`` (numba), the int64 NumPy ``audit``,
  ``fi_hash`` and ``weights_hash``. Numba compilation (or loading its cache) is a warm-up call on a
  tiny input, timed apart.
- seed as written (when the notebook is at hand): its cells 1-3 executed unchanged; this one
  includes its own gzip/IDX decoding, Python canonicalization and file sha256s.

Data: real EMNIST digits when ``find_data_dir`` finds it, else synthetic EMNIST-format splits written
to a temp folder (20,000/5,000 images for the finite_n rows, 240,000/40,000 for the large run).
Times are the fastest of a few runs in the child where a row says so (the machine is shared).
Peak memory is the child's peak resident set over the measured region: VmHWM, reset at the region's
start through /proc/self/clear_refs (so NumPy, numba and Python allocations all count); where that
reset is refused, the child's whole-life ``ru_maxrss``.

Targets (issue 4): at least 100x at finite_n 4000 with equal hashes; the 240,000-image repair plus
audit under 60 s on 2 cores. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import types
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from bench.memory import PeakRss
from bench.processes import REPO, bench_command, bench_env
from bench.tables import print_table
from margin_repair.certificate import audit, build_certificate
from margin_repair.emnist import SplitFiles, find_data_dir, load_dataset, provenance
from margin_repair.features import facts_unary
from margin_repair.reference import fi_hash_reference, repair_reference, weights_hash_reference
from margin_repair.repair import RepairKnobs, repair
from margin_repair.settings import DataSource, StudySettings
from margin_repair.table import build_fact_table, probe_indices
from margin_repair.weights import weights_hash
from runlab.errors import ConfigError

SEED_NOTEBOOK = REPO.parent / "shared" / "seeds" / "000_38c693ef03493b80.txt"
SPLIT = "digits"
# The seed's quick-mode defaults; only finite_n and the knobs vary between cases.
SEED = StudySettings.of(source=DataSource("emnist"), split=SPLIT, run_mode="quick", canonicalize=True, bin_threshold=127,
                     max_train=20_000, max_test=5_000, finite_n=256, cap_unary=128, margin=1, overshoot_delta=2,
                     max_epochs=50, max_updates=20_000, probe_per_class=10, seed=0)
UNBOUNDED_UPDATES = 10**9


@dataclass(frozen=True)
class Case:
    """One measured run: which side, on which folder, with which table size and knobs."""

    side: str  # "fast", "reference" or "seed"
    folder: str
    finite_n: int
    max_test: int = SEED.max_test  # test images read for the probe set (0: all)
    max_updates: int = SEED.max_updates
    repeats: int = 1  # measured regions run in the child; the fastest is kept
    certificate: bool = False  # fast side: also compute the certificate hash (untimed)
    notebook: str = ""  # seed side: the notebook text file


# ---------------------------------------------------------------- measuring (in the child process)


class Stopwatch:
    """Seconds per named stage, in the order the stages ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = now - self._last
        self._last = now


@dataclass(frozen=True)
class Images:
    """Decoded upright images of the table (the first ``finite_n`` train images) and of the probe set."""

    train: np.ndarray  # (finite_n, 28, 28) uint8
    labels: np.ndarray  # (finite_n,) int64
    probe: np.ndarray  # (probe, 28, 28) uint8: the first probe_per_class test images of each class
    probe_labels: np.ndarray
    n_classes: int


def load_images(folder: Path, finite_n: int, max_test: int) -> Images:
    train = load_dataset(folder, SPLIT, part="train", cap=finite_n, upright=SEED.canonicalize)
    test = load_dataset(folder, SPLIT, part="test", cap=max_test, upright=SEED.canonicalize)
    n_classes = len(train.mapping.labels)
    chosen = probe_indices(test.classes, n_classes, SEED.probe_per_class)
    return Images(train.images, train.classes, test.images[chosen], test.classes[chosen], n_classes)


def run_fast(case: Case, knobs: RepairKnobs) -> dict[str, Any]:
    settings = dict(bin_threshold=SEED.bin_threshold, cap_unary=SEED.cap_unary)
    started = time.perf_counter()
    images = load_images(Path(case.folder), case.finite_n, case.max_test)
    decode_s = time.perf_counter() - started
    started = time.perf_counter()
    tiny = build_fact_table(images.train[:32], **settings)
    warm = repair(tiny, images.labels[:32], tiny, images.labels[:32], images.n_classes, RepairKnobs(max_epochs=2))
    audit(tiny, images.labels[:32], warm.state.weights, cache=warm.scores, margin=knobs.margin)
    tiny.fi_hash()
    warm_up_s = time.perf_counter() - started

    def region() -> tuple[dict[str, Any], Any]:
        with PeakRss() as memory:
            clock = Stopwatch()
            table = build_fact_table(images.train, **settings)
            probe = build_fact_table(images.probe, **settings)
            clock.lap("facts")
            result = repair(table, images.labels, probe, images.probe_labels, images.n_classes, knobs)
            clock.lap("repair")
            checked = audit(table, images.labels, result.state.weights, cache=result.scores, margin=knobs.margin)
            clock.lap("audit")
            fi_hash = table.fi_hash()
            clock.lap("fi_hash")
            hashes = [weights_hash(result.state.weights), weights_hash(result.state.best_or_final_weights())]
            clock.lap("weights_hash")
        state = result.state
        return _outcome(clock, memory, fi_hash, *hashes, [row["updates"] for row in state.epochs],
                        state.epochs[-1]["viol_after"] if state.epochs else None,
                        checked.finite_full_margin_check["violations_total"],
                        checked.cache_consistency_check["mismatches_total"]), (table, state.weights, checked)

    outcome, (table, weights, checked) = best_of(case.repeats, region)
    outcome.update(decode_s=decode_s, warm_up_s=warm_up_s, rows=len(images.labels))
    if case.certificate:
        folder = Path(case.folder).resolve()
        record = provenance(folder, SplitFiles(SPLIT), str(folder))
        outcome["certificate_hash"] = build_certificate(SEED.replace(finite_n=case.finite_n), record, table,
                                                        images.labels, weights, checked)["certificate_hash"]
    return outcome


def audit_plain(facts: Sequence[list[str]], labels: Sequence[int], weights: dict[tuple[int, str], int],
                cache: Sequence[list[int]], n_classes: int, margin: int) -> tuple[int, int]:
    """The seed's ``_finite_margin_check`` and ``_cache_consistency_check`` loops: (violations, cache mismatches)."""
    violations = 0
    for i, row in enumerate(facts):
        y = labels[i]
        scores = [0] * n_classes
        for f in row:
            for c in range(n_classes):
                scores[c] += weights.get((c, f), 0)
        for c, score in enumerate(scores):
            if c != y and score + margin - scores[y] > 0:
                violations += 1
    mismatches = 0
    for i, row in enumerate(facts):
        for c in range(n_classes):
            definitional = 0
            for f in row:
                definitional += weights.get((c, f), 0)
            if cache[i][c] != definitional:
                mismatches += 1
    return violations, mismatches


def run_reference(case: Case, knobs: RepairKnobs) -> dict[str, Any]:
    images = load_images(Path(case.folder), case.finite_n, case.max_test)
    train = [image.tobytes() for image in images.train]  # the seed's stream yields bytes
    probe = [image.tobytes() for image in images.probe]
    labels, probe_labels = images.labels.tolist(), images.probe_labels.tolist()

    def region() -> tuple[dict[str, Any], None]:
        with PeakRss() as memory:
            clock = Stopwatch()
            facts = [facts_unary(image, bin_threshold=SEED.bin_threshold, cap_unary=SEED.cap_unary)
                     for image in train]
            probe_facts = [facts_unary(image, bin_threshold=SEED.bin_threshold, cap_unary=SEED.cap_unary)
                           for image in probe]
            clock.lap("facts")
            result = repair_reference(facts, labels, list(zip(probe_facts, probe_labels)), images.n_classes, knobs)
            clock.lap("repair")
            violations, mismatches = audit_plain(facts, labels, result.weights, result.cache, images.n_classes,
                                                 knobs.margin)
            clock.lap("audit")
            fi_hash = fi_hash_reference(facts)
            clock.lap("fi_hash")
            hashes = [weights_hash_reference(result.weights), weights_hash_reference(result.best_weights)]
            clock.lap("weights_hash")
        return _outcome(clock, memory, fi_hash, *hashes, [row["updates"] for row in result.epochs],
                        result.epochs[-1]["viol_after"], violations, mismatches), None

    return best_of(case.repeats, region)[0]


def run_seed(case: Case) -> dict[str, Any]:
    """Cells 1-3 of the seed notebook, unchanged, in one module namespace (its dataclasses need one)."""
    cells = [cell.strip() for cell in Path(case.notebook).read_text(encoding="utf-8").split("In [None]:")]
    cells = [cell for cell in cells if cell][:3]
    module = types.ModuleType("seed000")
    sys.modules[module.__name__] = module
    os.environ.update(EMNIST_DATA_DIR=case.folder, HASH_DATASET="1", FINITE_N=str(case.finite_n),
                      MAX_TRAIN=str(SEED.max_train), MAX_TEST=str(SEED.max_test), MAX_UPDATES=str(case.max_updates))
    with PeakRss() as memory, contextlib.redirect_stdout(io.StringIO()):
        clock = Stopwatch()
        for number, cell in enumerate(cells, start=1):
            exec(compile(cell, f"<seed cell {number}>", "exec"), module.__dict__)
            clock.lap(f"cell_{number}")
    payload = module.__dict__["PAYLOAD"]
    certificate, curve = payload["certificate"], payload["run_record"]["epoch_curve"]
    checks = certificate["verification"]
    outcome = _outcome(clock, memory, certificate["finite_table"]["fi_hash"], certificate["weights"]["weights_hash"],
                       payload["run_record"]["best_probe"]["weights_hash"], [row["updates"] for row in curve],
                       curve[-1]["viol_after"], checks["finite_full_margin_check"]["violations_total"],
                       checks["cache_consistency_check"]["mismatches_total"])
    outcome["certificate_hash"] = certificate["certificate_hash"]
    return outcome


def best_of(repeats: int, region: Callable[[], tuple[dict[str, Any], Any]]) -> tuple[dict[str, Any], Any]:
    """The fastest of ``repeats`` runs of ``region`` (outcome and what it kept), with the first run's memory."""
    first, kept = region()
    best = first
    for _ in range(repeats - 1):
        outcome, extra = region()
        if outcome["total_s"] < best["total_s"]:
            best, kept = outcome, extra
    return {**best, "peak_mb": first["peak_mb"], "start_mb": first["start_mb"], "runs": repeats}, kept


def _outcome(clock: Stopwatch, memory: PeakRss, fi_hash: str, weights: str, best: str, updates: list[int],
             violations_after: int | None, audit_violations: int, mismatches: int) -> dict[str, Any]:
    return {"seconds": clock.seconds, "total_s": sum(clock.seconds.values()), "peak_mb": memory.peak_mb,
            "start_mb": memory.start_mb, "memory_method": memory.method,
            "hashes": {"fi": fi_hash, "weights": weights, "best": best}, "epochs": len(updates),
            "updates": sum(updates), "viol_after": violations_after, "audit_violations": audit_violations,
            "cache_mismatches": mismatches}


def child(case: Case) -> dict[str, Any]:
    knobs = replace(SEED.knobs, max_updates=case.max_updates)
    if case.side == "fast":
        return run_fast(case, knobs)
    if case.side == "reference":
        return run_reference(case, knobs)
    return run_seed(case)


# ---------------------------------------------------------------- driving and printing (in the parent)


def measure(case: Case, cwd: Path) -> dict[str, Any]:
    """Run ``case`` in a fresh interpreter; its last stdout line is the JSON outcome."""
    done = subprocess.run(bench_command(__spec__.name, "--case", json.dumps(asdict(case))), cwd=cwd,
                          env=bench_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{case.side} case finite_n={case.finite_n} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def seconds(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def memory(out: dict[str, Any]) -> str:
    """Peak resident MB and its growth over the region's start."""
    return f"{out['peak_mb']:.0f} (+{out['peak_mb'] - out['start_mb']:.0f})"


def header() -> None:
    import numba

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    print("# margin repair benchmark (seed 000 Cell 3): seed algorithm as written vs fast")
    print(f"cpus: {os.cpu_count()} ({len(os.sched_getaffinity(0))} usable), {model}; numba threads "
          f"{numba.config.NUMBA_NUM_THREADS}; python {platform.python_version()}, numpy {np.__version__}, "
          f"numba {numba.__version__}; {platform.platform()}")


def write_data(work: Path, sets: dict[str, tuple[int, int]]) -> dict[str, Path]:
    """Real EMNIST for every set when it can be found, else a synthetic digits split per set (timed)."""
    try:
        folder, how = find_data_dir(None, Path.cwd(), os.environ)
        print(f"data: EMNIST ({SPLIT}, real data) from {folder}, found by {how}; the finite_n rows read its first "
              f"{SEED.max_train:,} train images")
        return {name: folder for name in sets}
    except ConfigError:
        pass
    from margin_repair.synthetic import SYNTHETIC_LABEL, write_synthetic_split

    print(f"data: {SYNTHETIC_LABEL}; no EMNIST folder found (data_dir, $EMNIST_DATA_DIR, gzip/ above cwd)")
    rows, folders = [], {}
    for name, (n_train, n_test) in sets.items():
        folders[name] = work / name
        started = time.perf_counter()
        write_synthetic_split(folders[name], SPLIT, n_train=n_train, n_test=n_test, seed=0)
        rows.append((name, f"{n_train:,}", f"{n_test:,}", seconds(time.perf_counter() - started)))
    print_table("Synthetic data written (not part of any timing below)", ("set", "train", "test", "write s"), rows)
    return folders


def compare(sizes: Sequence[int], folder: Path, notebook: str, work: Path) -> None:
    stages = ("facts", "repair", "audit", "fi_hash", "weights_hash")
    detail, summary, seed_rows = [], [], []
    for finite_n in sizes:
        reference = measure(Case("reference", str(folder), finite_n, repeats=3 if finite_n <= 1000 else 1), work)
        fast = measure(Case("fast", str(folder), finite_n, repeats=5, certificate=bool(notebook)), work)
        for side, out in (("reference", reference), ("fast", fast)):
            detail.append((finite_n, side, out["runs"], *(seconds(out["seconds"][stage]) for stage in stages),
                           seconds(out["total_s"]), seconds(out["warm_up_s"]) if "warm_up_s" in out else "-",
                           memory(out), out["epochs"], out["updates"], out["viol_after"], out["audit_violations"],
                           out["cache_mismatches"]))
        equal = reference["hashes"] == fast["hashes"]
        summary.append((finite_n, seconds(reference["total_s"]), seconds(fast["total_s"]),
                        f"{reference['total_s'] / fast['total_s']:.0f}x",
                        f"{reference['seconds']['repair'] / fast['seconds']['repair']:.0f}x",
                        "yes" if equal else "NO", fast["hashes"]["weights"][:16]))
        if notebook:
            seed = measure(Case("seed", str(folder), finite_n, notebook=notebook), work)
            seed_rows.append((finite_n, seconds(seed["seconds"]["cell_3"]), seconds(seed["total_s"]), memory(seed),
                              seconds(fast["total_s"]), f"{seed['total_s'] / fast['total_s']:.0f}x",
                              "yes" if seed["hashes"] == fast["hashes"] else "NO",
                              "yes" if seed["certificate_hash"] == fast["certificate_hash"] else "NO"))
    print_table("Per stage, seconds, fastest of `runs` (images already decoded; facts = fact extraction or table "
                "build, probe included); memory of the first run",
                ("finite_n", "side", "runs", *stages, "total", "warm-up", "peak MB (+growth)", "epochs", "updates",
                 "viol after", "audit viol", "cache mismatch"), detail)
    print_table("Reference (seed algorithm as written) vs fast; target >= 100x at finite_n 4000 with equal hashes",
                ("finite_n", "reference s", "fast s", "ratio", "repair-only ratio", "hashes equal (fi, weights, best)",
                 "weights hash"), summary)
    if seed_rows:
        print_table("Seed notebook cells 1-3 executed unchanged, one run each (incl. its gz decode, Python "
                    "canonicalization, file sha256s) vs fast (decoded images)",
                    ("finite_n", "cell 3 s", "cells 1-3 s", "peak MB (+growth)", "fast s", "ratio", "hashes equal",
                     "certificate equal"), seed_rows)


def large(folder: Path, n_images: int, work: Path) -> None:
    rows = []
    for label, max_updates in ((f"max_updates {UNBOUNDED_UPDATES:.0e} (unbounded)", UNBOUNDED_UPDATES),
                               (f"seed default max_updates {SEED.max_updates:,}", SEED.max_updates)):
        out = measure(Case("fast", str(folder), n_images, max_test=0, max_updates=max_updates), work)
        spent = out["seconds"]
        repair_audit = spent["repair"] + spent["audit"]
        rows.append((label, f"{out['rows']:,}", out["epochs"], f"{out['updates']:,}", f"{out['viol_after']:,}",
                     seconds(out["decode_s"]), seconds(out["warm_up_s"]), seconds(spent["facts"]),
                     seconds(spent["repair"]), seconds(spent["audit"]), seconds(spent["fi_hash"]),
                     seconds(repair_audit), seconds(out["total_s"]), memory(out), "yes" if repair_audit < 60 else "NO"))
    print_table(f"Fast repair on the large set, finite_n = every train image (up to {n_images:,}), max_epochs "
                f"{SEED.max_epochs}, max_test 0 (probe from the whole test part); total excludes decode and warm-up",
                ("run", "images", "epochs", "updates", "viol after", "decode s", "warm-up s", "table s", "repair s",
                 "audit s", "fi_hash s", "repair+audit s", "total s", "peak MB (+growth)", "< 60 s"), rows)


def main() -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="finite_n 256 and 1000, a 24,000-image large set")
    parser.add_argument("--seed-notebook", default=str(SEED_NOTEBOOK) if SEED_NOTEBOOK.is_file() else "",
                        help="seed 000's notebook text, to time its cells 1-3 unchanged ('' skips)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(child(Case(**json.loads(args.case)))))
        return
    sizes, n_large = ((256, 1000), 24_000) if args.quick else ((256, 1000, 4000), 240_000)
    header()
    print(f"load average at start (1/5/15 min): {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    work = Path(tempfile.mkdtemp(prefix="margin-repair-bench-"))
    try:
        folders = write_data(work, {"finite": (SEED.max_train, SEED.max_test), "large": (n_large, n_large // 6)})
        with PeakRss() as probe:
            pass
        print(f"memory: peak resident set of the measuring child, {probe.method} (VmHWM is reset through "
              "/proc/self/clear_refs at the region's start); +growth: over its resident set at that start")
        compare(sizes, folders["finite"], args.seed_notebook, work)
        large(folders["large"], n_large, work)
        print(f"\nload average at end (1/5/15 min): {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
