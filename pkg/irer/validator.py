"""The independent auditor: every metric of a candidate, recomputed from its HDF5 artifact alone.

It reads only what ``irer.artifacts`` defines (never the worker's code or its numbers) and returns
the seed's metric keys: the log-prime spectral SSE of the final density, the two falsifiability
nulls, and the H-norm of the metric's departure from equilibrium with the field. ``fitness`` is the
seed hunter's falsifiability-driven fitness over those keys. ``spec/irer/validator.md`` states every
definition used here; the docstrings below repeat the shapes and units.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .artifacts import CandidateArrays, Source, read_candidate

__all__ = [
    "NULL_CAP",
    "RHO_FLOOR",
    "SSE_GATE",
    "RadialSpectrum",
    "ValidatorSettings",
    "candidate_metrics",
    "derangement",
    "fitness",
    "log_prime_sse",
    "log_prime_targets",
    "phase_scrambled_density",
    "radial_power_spectrum",
    "sdg_h_norm_l2",
    "spectral_peaks",
    "strongest",
    "validate_candidate",
]

RHO_FLOOR = 1e-9
"""Floor on the density in the metric ansatz ``g_tt = -(rho_vac / max(rho, 1e-9))**alpha``."""

NULL_CAP = 1000.0
"""The seed's cap on a null SSE before it enters the fitness."""

SSE_GATE = 900.0
"""The seed's gate: a candidate whose SSE is not finite and below this has fitness 0."""

_MISSING_METRIC = 1002.0  # the seed hunter's value for a metric key absent from a report
_STREAM_SCRAMBLE = 0  # last word of the SeedSequence entropy, one per null, so the nulls draw independently
_STREAM_SHUFFLE = 1


@dataclass(frozen=True)
class ValidatorSettings:
    """How the validator scores a candidate; the defaults are the ones ``spec/irer/validator.md`` states.

    n_targets: log-prime targets matched (primes 2, 3, 5, ...), at least 2.
    max_peaks: spectral peaks reported (the strongest); matching uses the ``n_targets`` strongest of them.
    threshold: a peak's shell power must exceed ``threshold`` times the median non-DC shell power.
    power_floor: ... and ``power_floor`` times the field's mean square ``<f²>`` (so round-off is no peak).
    missing_penalty: SSE added per target left without a peak.
    n_scrambles: phase-scrambled fields averaged in the phase-scramble null.
    sentinel: the SSE of a spectrum with no peak, and every metric of a non-finite artifact.
    """

    n_targets: int = 5
    max_peaks: int = 8
    threshold: float = 5.0
    power_floor: float = 1e-12
    missing_penalty: float = 1.0
    n_scrambles: int = 4
    sentinel: float = 999.0

    def __post_init__(self) -> None:
        if self.n_targets < 2:
            raise ValueError(f"n_targets={self.n_targets} must be at least 2 (one peak only sets the scale)")
        if self.max_peaks < 1 or self.n_scrambles < 1:
            raise ValueError(f"max_peaks={self.max_peaks} and n_scrambles={self.n_scrambles} must be at least 1")
        for name in ("threshold", "power_floor", "missing_penalty", "sentinel"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}={value} must be a finite number >= 0")


@dataclass(frozen=True)
class RadialSpectrum:
    """Shell-averaged power of real fields; ``K = N//2 + 1`` shells of width ``dk = 2π/(N·dx)``.

    k: shell centres ``i·dk``, ``(K,)``, 1/length. power: mean ``|f̂(q)|²/N⁴`` over the modes of
    each shell, ``(..., K)``, units of ``f²`` (summed over all modes it is the variance of ``f``).
    k_mean: power-weighted mean ``|q|`` of each shell's modes, ``(..., K)`` (the centre where a shell
    holds no power); it lies within ``dk/2`` of the centre. mean_square: ``<f²>`` per field, ``(...)``.
    """

    k: np.ndarray
    power: np.ndarray
    k_mean: np.ndarray
    mean_square: np.ndarray

    def field(self, index: int) -> RadialSpectrum:
        """The spectrum of field ``index`` of a batch (``power`` of shape ``(B, K)``)."""
        return RadialSpectrum(self.k, self.power[index], self.k_mean[index], self.mean_square[index])


def radial_power_spectrum(field: np.ndarray, dx: float) -> RadialSpectrum:
    """Radially averaged power spectrum of real ``(..., N, N)`` fields on a periodic grid of spacing ``dx``.

    The mean of each field is removed first. Mode ``q`` falls in shell ``round(|q|/dk)``; modes beyond
    the Nyquist shell ``N//2`` (the corners) are dropped, so every kept shell is a full ring.
    """
    f = np.asarray(field, dtype=np.float64)
    n = f.shape[-1]
    if f.ndim < 2 or f.shape[-2] != n:
        raise ValueError(f"field must have shape (..., N, N), got {f.shape}")
    dk = 2.0 * np.pi / (n * dx)
    m = np.fft.fftfreq(n, d=1.0 / n)  # integer mode numbers
    radius = np.hypot(m[:, None], m[None, :])  # |q| / dk
    shell = np.rint(radius).astype(np.int64)
    n_shells = n // 2 + 1
    keep = (shell < n_shells).ravel()
    shell_kept = shell.ravel()[keep]
    radius_kept = radius.ravel()[keep]

    batch = f.shape[:-2]
    flat = f.reshape(-1, n, n)
    mean_square = np.mean(flat * flat, axis=(-2, -1))
    spectrum = np.fft.fft2(flat - flat.mean(axis=(-2, -1), keepdims=True))
    mode_power = (spectrum.real**2 + spectrum.imag**2).reshape(len(flat), -1)[:, keep] / float(n) ** 4
    offsets = (np.arange(len(flat)) * n_shells)[:, None]
    index = (shell_kept[None, :] + offsets).ravel()
    size = len(flat) * n_shells
    counts = np.bincount(shell_kept, minlength=n_shells).astype(np.float64)
    total = np.bincount(index, weights=mode_power.ravel(), minlength=size).reshape(len(flat), n_shells)
    moment = np.bincount(index, weights=(mode_power * radius_kept[None, :]).ravel(), minlength=size)
    moment = moment.reshape(len(flat), n_shells)
    centres = np.arange(n_shells, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        k_mean = np.where(total > 0, moment / total, centres[None, :])
    return RadialSpectrum(
        k=centres * dk,
        power=(total / counts).reshape(*batch, n_shells),
        k_mean=(k_mean * dk).reshape(*batch, n_shells),
        mean_square=mean_square.reshape(batch),
    )


def spectral_peaks(
    spectrum: RadialSpectrum,
    *,
    threshold: float = ValidatorSettings.threshold,
    power_floor: float = ValidatorSettings.power_floor,
    max_peaks: int = ValidatorSettings.max_peaks,
) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of one radial spectrum (``power`` of shape ``(K,)``): ``(k, power)``, each ``(<= max_peaks,)``, k ascending.

    Shell ``i`` is a peak when ``2 <= i <= K-2``, its power is strictly above both neighbours', above
    ``threshold · median(power[1:])`` and above ``power_floor · mean_square``. Shells 0 and 1 cannot be
    peaks (shell 0 is empty once the mean is removed, so shell 1 has no true left neighbour), nor can
    the last. The ``max_peaks`` strongest are kept; a peak's k is its shell's ``k_mean`` (1/length).
    """
    power = np.asarray(spectrum.power, dtype=np.float64)
    if power.ndim != 1:
        raise ValueError(f"spectral_peaks takes one spectrum, got power of shape {power.shape}")
    if len(power) < 4:
        return np.empty(0), np.empty(0)
    inner = power[2:-1]
    level = max(threshold * float(np.median(power[1:])), power_floor * float(spectrum.mean_square))
    is_peak = (inner > power[1:-2]) & (inner > power[3:]) & (inner > level)
    shells = np.flatnonzero(is_peak) + 2
    shells = shells[np.argsort(-power[shells], kind="stable")[:max_peaks]]
    shells = np.sort(shells)
    return np.asarray(spectrum.k_mean)[shells], power[shells]


def strongest(peaks_k: np.ndarray, peaks_power: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` strongest peaks' k, ascending (ties: the lower k first); shape ``(<= count,)``."""
    order = np.argsort(-np.asarray(peaks_power), kind="stable")[:count]
    return np.sort(np.asarray(peaks_k)[order])


def log_prime_targets(count: int) -> np.ndarray:
    """``t_j = ln(p_j)/ln(2)`` for the first ``count`` primes ``2, 3, 5, ...``; ``(count,)``, ``t_1 = 1``."""
    primes: list[int] = []
    candidate = 2
    while len(primes) < count:
        if all(candidate % p for p in primes if p * p <= candidate):
            primes.append(candidate)
        candidate += 1
    return np.log(np.array(primes, dtype=np.float64)) / math.log(2.0)


def log_prime_sse(
    peaks_k: np.ndarray,
    targets: np.ndarray,
    *,
    missing_penalty: float = ValidatorSettings.missing_penalty,
    sentinel: float = ValidatorSettings.sentinel,
) -> float:
    """SSE of ascending peaks ``k_1 < ... < k_m`` against ``targets`` (``n`` values, matched in order).

    With ``m' = min(m, n)`` matched pairs and the scale ``c = Σ k_j t_j / Σ k_j²`` (least squares over
    them): ``SSE = Σ_{j<=m'} (c·k_j - t_j)² + (n - m')·missing_penalty``. No peak gives ``sentinel``.
    The scale spends one degree of freedom: one peak always fits exactly, so it scores
    ``(n-1)·missing_penalty``. Invariant under ``k → s·k`` for any ``s > 0`` (units of k drop out).
    """
    k = np.sort(np.asarray(peaks_k, dtype=np.float64))
    t = np.asarray(targets, dtype=np.float64)
    matched = min(len(k), len(t))
    if matched == 0:
        return float(sentinel)
    k, t_matched = k[:matched], t[:matched]
    scale = float(k @ t_matched) / float(k @ k)
    residual = scale * k - t_matched
    return float(residual @ residual + (len(t) - matched) * missing_penalty)


def sdg_h_norm_l2(g_tt: np.ndarray, rho: np.ndarray, alpha: float, rho_vac: float) -> float:
    """Relative L2 violation of the metric ansatz at the final density: ``‖g_tt - g_eq‖₂ / ‖g_eq‖₂``.

    ``g_eq = -(rho_vac / max(rho, 1e-9))**alpha`` on the same ``(N, N)`` grid; dimensionless, 0 when
    the geometry is in equilibrium with the field. Non-finite (overflow) comes back as ``inf``.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        g_eq = -np.power(rho_vac / np.maximum(np.asarray(rho, dtype=np.float64), RHO_FLOOR), alpha)
        violation = np.linalg.norm(np.asarray(g_tt, dtype=np.float64) - g_eq) / np.linalg.norm(g_eq)
    return float(violation) if np.isfinite(violation) else math.inf


def phase_scrambled_density(psi: np.ndarray, rng: np.random.Generator, count: int = 1) -> np.ndarray:
    """``count`` surrogate densities ``|ψ_null|²``, ``(count, N, N)``, from a complex ``(N, N)`` field.

    ``ψ_null = ifft2(|ψ̂(q)| · exp(iφ_q))`` with ``φ_q`` uniform on ``[0, 2π)``, independent per mode
    and per surrogate: ψ's amplitude spectrum and mean density are kept, its phase structure is not.
    """
    amplitude = np.abs(np.fft.fft2(np.asarray(psi, dtype=np.complex128)))
    phases = rng.uniform(0.0, 2.0 * np.pi, size=(count, *amplitude.shape))
    surrogate = np.fft.ifft2(amplitude[None, :, :] * np.exp(1j * phases))
    return surrogate.real**2 + surrogate.imag**2


def derangement(count: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly drawn permutation of ``range(count)`` with no fixed point (``count >= 2``); ``(count,)``."""
    if count < 2:
        raise ValueError(f"a derangement needs at least 2 elements, got {count}")
    while True:
        perm = rng.permutation(count)
        if not np.any(perm == np.arange(count)):
            return perm


def validate_candidate(source: Source, *, settings: ValidatorSettings = ValidatorSettings()) -> dict[str, Any]:
    """All metrics of one candidate artifact (a path or its bytes), by the seed's keys.

    Returns ``log_prime_sse``, ``sdg_h_norm_l2``, ``sse_null_phase_scramble``, ``sse_null_target_shuffle``
    (floats), ``peaks_k`` (list of up to ``max_peaks`` floats, 1/length, ascending), ``n_peaks`` and
    ``finite``. A non-finite array gives ``sentinel`` for every metric and ``finite=False``; a broken
    contract is the ``SchemaError`` of ``read_candidate``.
    """
    return candidate_metrics(read_candidate(source), settings=settings)


def candidate_metrics(arrays: CandidateArrays, *, settings: ValidatorSettings = ValidatorSettings()) -> dict[str, Any]:
    """``validate_candidate`` on an artifact already read."""
    sentinel = float(settings.sentinel)
    inputs = (arrays.final_psi, arrays.final_rho, arrays.final_g_tt)
    if not all(bool(np.isfinite(a).all()) for a in inputs):
        return {
            "log_prime_sse": sentinel,
            "sdg_h_norm_l2": sentinel,
            "sse_null_phase_scramble": sentinel,
            "sse_null_target_shuffle": sentinel,
            "peaks_k": [],
            "n_peaks": 0,
            "finite": False,
        }
    targets = log_prime_targets(settings.n_targets)
    peak_args = {"threshold": settings.threshold, "power_floor": settings.power_floor, "max_peaks": settings.max_peaks}
    sse_args = {"missing_penalty": settings.missing_penalty, "sentinel": sentinel}

    peaks_k, peaks_power = spectral_peaks(radial_power_spectrum(arrays.final_rho, arrays.dx), **peak_args)
    matched = strongest(peaks_k, peaks_power, settings.n_targets)
    sse = log_prime_sse(matched, targets, **sse_args)

    # The nulls draw from (hunt seed, initial field) alone, as the fields themselves do: every candidate meets the
    # same surrogates, so a candidate's metrics are a function of its parameters and the config (spec/irer/hunter.md).
    entropy = [arrays.seed, arrays.field]
    scramble_rng = np.random.default_rng([*entropy, _STREAM_SCRAMBLE])
    null_spectra = radial_power_spectrum(phase_scrambled_density(arrays.final_psi, scramble_rng, settings.n_scrambles), arrays.dx)
    # A surrogate without peaks misses every target: it scores n_targets * missing_penalty, on the
    # SSE's own scale, not the failure sentinel (which would hand every patterned candidate a bonus
    # of about lambda * 999 and drown the 1/SSE term of the fitness).
    null_args = {**sse_args, "sentinel": settings.n_targets * settings.missing_penalty}
    null_sses = []
    for index in range(settings.n_scrambles):
        null_k, null_power = spectral_peaks(null_spectra.field(index), **peak_args)
        null_sses.append(log_prime_sse(strongest(null_k, null_power, settings.n_targets), targets, **null_args))
    shuffled = targets[derangement(settings.n_targets, np.random.default_rng([*entropy, _STREAM_SHUFFLE]))]

    h_norm = sdg_h_norm_l2(arrays.final_g_tt, arrays.final_rho, arrays.alpha, arrays.rho_vac)
    return {
        "log_prime_sse": sse,
        "sdg_h_norm_l2": h_norm if math.isfinite(h_norm) else sentinel,
        "sse_null_phase_scramble": float(np.mean(null_sses)),
        "sse_null_target_shuffle": log_prime_sse(matched, shuffled, **sse_args),
        "peaks_k": [float(k) for k in peaks_k],
        "n_peaks": int(len(peaks_k)),
        "finite": True,
    }


def fitness(metrics: Mapping[str, Any], lambda_falsifiability: float = 0.1) -> float:
    """The seed hunter's falsifiability-driven fitness of one report (``process_generation_results``).

    Nulls are capped at 1000; fitness is 0 unless the SSE is finite and below 900; otherwise
    ``1/max(sse, 1e-12) + λ·(max(0, null_a - sse) + max(0, null_b - sse))``. Absent keys read as 1002.
    """
    sse = float(metrics.get("log_prime_sse", _MISSING_METRIC))
    null_a = min(float(metrics.get("sse_null_phase_scramble", _MISSING_METRIC)), NULL_CAP)
    null_b = min(float(metrics.get("sse_null_target_shuffle", _MISSING_METRIC)), NULL_CAP)
    if not (math.isfinite(sse) and sse < SSE_GATE):
        return 0.0
    base = 1.0 / max(sse, 1e-12)
    bonus = lambda_falsifiability * (max(0.0, null_a - sse) + max(0.0, null_b - sse))
    return base + bonus
