"""How many initial fields a candidate's fitness needs: the measurement behind ``irer.hunt.initial_fields: 8``.

    .venv/bin/python -m bench.irer_fields      # 12 prior draws x 16 shared fields at N=32, 400 steps (~1 min, 2 cores)

Every candidate is integrated from the same 16 initial fields (``irer.model.field_keys``) and each field
file scored by the validator. For K = 1, 2, 4, 8 the 16 fields are split at random into two disjoint sets
of K (400 splits) and the candidates ranked by their mean (and median) fitness over each set: the
Spearman correlation of the two rankings says how much of a K-field ranking is the parameters' and how
much the fields' luck; also how often the best candidate by K fields is the best by all 16. The table
is spec/irer/hunter.md's; numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse

import numpy as np

CANDIDATES, FIELDS, SPLITS = 12, 16, 400
PRIOR_SEED, HUNT_SEED = 7, 5


def field_fitness() -> np.ndarray:
    """(CANDIDATES, FIELDS) fitness of each candidate on each shared initial field (NaN where not finite)."""
    from irer.artifacts import candidate_hdf5_bytes, read_candidate
    from irer.hunter import Prior
    from irer.model import FieldModel, Grid, TimeStepping, field_keys
    from irer.population import run_candidates
    from irer.validator import candidate_metrics, fitness

    params = Prior().sample(np.random.default_rng(PRIOR_SEED), CANDIDATES)
    model = FieldModel()
    result = run_candidates(params, field_keys(HUNT_SEED, FIELDS), model, Grid(n=32), TimeStepping(dt=0.25, steps=400),
                            device="cpu")
    scores = np.full((CANDIDATES, FIELDS), np.nan)
    for i, (kappa, sigma_k, alpha) in enumerate(params):
        for k in range(FIELDS):
            arrays = read_candidate(candidate_hdf5_bytes(
                final_psi=result.psi[i, k], final_g_tt=result.g_tt[i, k],
                params={"kappa": float(kappa), "sigma_k": float(sigma_k), "alpha": float(alpha)}, dx=1.0,
                alpha=float(alpha), rho_vac=model.rho_vac, tau_s=model.tau_s, seed=HUNT_SEED, generation=0,
                candidate=i, field=k, config_hash="00", code_version="bench"))
            metrics = candidate_metrics(arrays)
            scores[i, k] = fitness(metrics) if metrics["finite"] else np.nan
    return scores


def main() -> None:
    argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.splitlines()[0]).parse_args()
    from scipy.stats import spearmanr

    scores = field_fitness()
    rng = np.random.default_rng(0)
    best_all = int(np.argmax(scores.mean(axis=1)))
    print(f"per-field fitness sd of each candidate: {np.round(np.nanstd(scores, axis=1, ddof=1), 3).tolist()}")
    print(f"16-field means: {np.round(scores.mean(axis=1), 3).tolist()}")
    print("| K | split-half Spearman, mean | split-half Spearman, median | P(best by K = best by 16) |")
    print("| --- | --- | --- | --- |")
    for k in (1, 2, 4, 8):
        correlations = {"mean": [], "median": []}
        hits = 0
        for _ in range(SPLITS):
            order = rng.permutation(FIELDS)
            first, second = order[:k], order[k:2 * k]
            for name, aggregate in (("mean", np.mean), ("median", np.median)):
                correlations[name].append(spearmanr(aggregate(scores[:, first], axis=1),
                                                    aggregate(scores[:, second], axis=1)).statistic)
            hits += int(np.argmax(scores[:, first].mean(axis=1)) == best_all)
        print(f"| {k} | {np.nanmean(correlations['mean']):.2f} | {np.nanmean(correlations['median']):.2f} | "
              f"{hits / SPLITS:.2f} |")


if __name__ == "__main__":
    main()
