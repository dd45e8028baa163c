"""The seeded GA: settings, determinism, recomputation from the ledger, bounds, elitism, selection."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from irer.hunter import GAConfig, History, Prior, generation_rng, initial_population, next_generation
from irer.ledger import (append_generations, empty_ledger, generation_rows, ledger_bytes,
                         read_ledger, top_candidates)
from runlab.errors import ConfigError, SchemaError

TARGET = np.array([0.02, 0.6, 0.3])  # inside the seed's prior


def _evaluate(population: np.ndarray, prior: Prior) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A stand-in for the solver and validator: SSE of the distance to TARGET in units of each range;
    kappa above 0.07 "diverges" (NaN metrics and fitness), as a blown-up simulation would."""
    sse = np.sum(((population - TARGET) / (prior.upper - prior.lower)) ** 2, axis=1) + 1e-3
    sse = np.where(population[:, 0] > 0.07, np.nan, sse)
    metrics = {"log_prime_sse": sse, "sdg_h_norm_l2": sse / 2, "sse_null_phase_scramble": sse + 1.0,
               "sse_null_target_shuffle": sse + 2.0}
    return metrics, 1.0 / sse


def _hunt(prior: Prior, ga: GAConfig, generations: int) -> tuple[list[np.ndarray], list[bytes]]:
    """Run the hunt generation by generation as the jobs do: breed from the ledger read back from the
    previous generation's bytes, evaluate, append, write. Returns every population and ledger's bytes."""
    populations, ledgers = [], []
    data = ledger_bytes(empty_ledger(prior.names))
    for generation in range(generations):
        ledger = read_ledger(data, prior.names)
        population = next_generation(ledger, prior, ga, generation)
        metrics, fitness = _evaluate(population, prior)
        rows = generation_rows(generation, population, param_names=prior.names, metrics=metrics, fitness=fitness,
                               run_id=f"RUN_IRER_{generation:012d}",
                               artifacts=[f"data/candidate_{i:03d}.h5" for i in range(len(population))])
        data = ledger_bytes(append_generations(ledger, rows))
        populations.append(population)
        ledgers.append(data)
    return populations, ledgers


def _history(fitness: list[list[float]], params: np.ndarray | None = None) -> History:
    """A history with one list of fitness values per generation; params default to distinct values."""
    generation = np.concatenate([np.full(len(values), g) for g, values in enumerate(fitness)])
    candidate = np.concatenate([np.arange(len(values)) for values in fitness])
    if params is None:
        params = np.linspace(0.2, 0.8, generation.size)[:, None] * np.ones(3) * [0.1, 1.0, 1.0]
    return History(generation, candidate, params, np.concatenate(fitness))


def test_the_default_prior_is_the_seeds():
    prior = Prior()
    assert prior.names == ("kappa", "sigma_k", "alpha")
    assert prior.lower.tolist() == [0.001, 0.1, 0.01] and prior.upper.tolist() == [0.1, 1.0, 1.0]
    config = {"alpha": [0.01, 1.0], "kappa": [0.001, 0.1], "sigma_k": (0.1, 1)}  # order and int do not matter
    assert Prior.from_config(config) == prior


@pytest.mark.parametrize("config, message", [
    ({"kappa": [0.1, 0.1], "sigma_k": [0.1, 1.0], "alpha": [0.01, 1.0]}, "prior kappa: lower bound 0.1 is not below"),
    ({"kappa": [0.2, 0.1], "sigma_k": [0.1, 1.0], "alpha": [0.01, 1.0]},
     "lower bound 0.2 is not below upper bound 0.1"),
    ({"kappa": [0.001, 0.1], "sigma_k": [0.1, 1.0], "alpha": [0.01, 1.0], "beta": [0, 1]},
     "prior has unknown parameter 'beta'"),
    ({"kappa": [0.001, 0.1], "sigma_k": [0.1, 1.0]}, "prior lacks parameter 'alpha'"),
    ({"kappa": ["0.001", 0.1], "sigma_k": [0.1, 1.0], "alpha": [0.01, 1.0]}, "lower bound '0.001' is not a number"),
    ({"kappa": [0.001, True], "sigma_k": [0.1, 1.0], "alpha": [0.01, 1.0]}, "upper bound True is not a number"),
    ({"kappa": [0.001, math.inf], "sigma_k": [0.1, 1.0], "alpha": [0.01, 1.0]}, "upper bound is inf"),
    ({"kappa": 0.05, "sigma_k": [0.1, 1.0], "alpha": [0.01, 1.0]}, "prior kappa is 0.05"),
    ({"kappa": [0.001, 0.05, 0.1], "sigma_k": [0.1, 1.0], "alpha": [0.01, 1.0]}, "prior kappa is [0.001, 0.05, 0.1]"),
    ([["kappa", 0.001, 0.1]], "prior is a list"),
])
def test_bad_priors_are_one_line_config_errors(config, message):
    with pytest.raises(ConfigError) as caught:
        Prior.from_config(config)
    assert message in str(caught.value) and "\n" not in str(caught.value) and caught.value.exit_code == 2


@pytest.mark.parametrize("section, message", [
    ({"population_size": 0}, "ga.population_size must be an integer >= 1, got 0"),
    ({"tournament_size": 2.0}, "ga.tournament_size must be an integer >= 1, got 2.0"),
    ({"seed": -1}, "ga.seed must be an integer >= 0, got -1"),
    ({"elitism": True}, "ga.elitism must be an integer >= 0, got True"),
    ({"elitism": 11}, "ga.elitism 11 exceeds population_size 10"),
    ({"mutation_rate": 1.5}, "ga.mutation_rate must be a number in [0, 1], got 1.5"),
    ({"swap_probability": math.nan}, "ga.swap_probability must be a number in [0, 1], got nan"),
    ({"mutation_strength": -0.1}, "ga.mutation_strength must be a number in [0, 1e+06], got -0.1"),
    ({"mutation_scale": "percent"}, "ga.mutation_scale is 'percent'"),
    ({"crossover": 0.5}, "ga has unknown key 'crossover'"),
])
def test_bad_ga_settings_are_one_line_config_errors(section, message):
    with pytest.raises(ConfigError) as caught:
        GAConfig.from_config(section)
    assert message in str(caught.value) and "\n" not in str(caught.value) and caught.value.exit_code == 2


def test_mutation_strength_is_relative_to_each_range_by_default():
    prior = Prior()
    assert np.allclose(GAConfig().mutation_sigma(prior), [0.05 * 0.099, 0.05 * 0.9, 0.05 * 0.99])
    assert GAConfig(mutation_scale="absolute").mutation_sigma(prior).tolist() == [0.05, 0.05, 0.05]


def test_each_generation_has_its_own_documented_generator():
    expected = np.random.default_rng(np.random.SeedSequence([7, 3])).random(5)
    assert np.array_equal(generation_rng(7, 3).random(5), expected)
    ga = GAConfig(population_size=6, seed=7)
    prior = Prior()
    population = initial_population(prior, ga, generation=3)
    draws = np.random.default_rng(np.random.SeedSequence([7, 3])).random((6, 3))
    assert np.array_equal(population, prior.lower + (prior.upper - prior.lower) * draws)
    assert not np.array_equal(population, initial_population(prior, ga, generation=4))
    assert not np.array_equal(population, initial_population(prior, GAConfig(population_size=6, seed=8), 3))


def test_a_hunt_run_twice_gives_identical_populations_and_ledger_bytes():
    prior, ga = Prior(), GAConfig(population_size=12, seed=11)
    first_populations, first_ledgers = _hunt(prior, ga, 6)
    second_populations, second_ledgers = _hunt(prior, ga, 6)
    assert [p.tobytes() for p in first_populations] == [p.tobytes() for p in second_populations]
    assert first_ledgers == second_ledgers
    other_populations, _ = _hunt(prior, GAConfig(population_size=12, seed=12), 6)
    assert first_populations[3].tobytes() != other_populations[3].tobytes()
    ledger = read_ledger(first_ledgers[-1])
    assert ledger.num_rows == 72 and not all(ledger.column("finite").to_pylist())  # some candidates diverged


def test_another_process_with_another_hash_seed_writes_the_same_ledger_bytes():
    script = ("import hashlib; from irer.hunter import GAConfig, Prior; from tests.irer.test_hunter import _hunt; "
              "print(hashlib.sha256(_hunt(Prior(), GAConfig(population_size=12, seed=11), 4)[1][-1]).hexdigest())")
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2], env=environment)
    here = _hunt(Prior(), GAConfig(population_size=12, seed=11), 4)[1][-1]
    assert result.stdout.strip() == hashlib.sha256(here).hexdigest()


def test_any_generation_recomputes_alone_from_the_ledger():
    prior, ga = Prior(), GAConfig(population_size=10, seed=5, elitism=2)
    populations, ledgers = _hunt(prior, ga, 7)
    final = read_ledger(ledgers[-1])
    for generation in range(1, 7):
        before = read_ledger(ledgers[generation - 1])  # the ledger of generations < generation
        assert np.array_equal(next_generation(before, prior, ga, generation), populations[generation])
        assert np.array_equal(next_generation(final, prior, ga, generation), populations[generation])
        history = History.from_ledger(before, prior)
        assert np.array_equal(next_generation(history, prior, ga, generation), populations[generation])
    assert np.array_equal(populations[0], initial_population(prior, ga))


def test_the_hunt_improves_on_its_first_generation():
    prior, ga = Prior(), GAConfig(population_size=16, seed=2)
    _, ledgers = _hunt(prior, ga, 10)
    ledger = read_ledger(ledgers[-1])
    fitness = np.where(ledger.column("finite").to_numpy(), ledger.column("fitness").to_numpy(), np.nan)
    generation = ledger.column("generation").to_numpy()
    assert np.nanmax(fitness[generation == 9]) > 2 * np.nanmax(fitness[generation == 0])


@pytest.mark.parametrize("scale, strength", [("relative", 50.0), ("absolute", 1e3), ("relative", 1e6)])
def test_children_stay_within_bounds_under_extreme_mutation(scale, strength):
    prior = Prior()
    ga = GAConfig(population_size=100, mutation_rate=1.0, mutation_strength=strength, mutation_scale=scale, seed=1)
    history = History.empty(3)
    for generation in range(20):
        population = next_generation(history, prior, ga, generation)
        assert population.shape == (100, 3)
        assert np.all((population >= prior.lower) & (population <= prior.upper))
        fitness = 1.0 / (1e-3 + np.sum((population - TARGET) ** 2, axis=1))
        history = History(np.concatenate([history.generation, np.full(100, generation)]),
                          np.concatenate([history.candidate, np.arange(100)]),
                          np.concatenate([history.params, population]), np.concatenate([history.fitness, fitness]))
    children = population[1:]
    assert not np.any((children == prior.lower) | (children == prior.upper))  # reflected, not piled on a bound
    assert np.all(np.std(children, axis=0) > 0.2 * (prior.upper - prior.lower))  # spread over the range


def test_reflection_folds_a_step_back_from_the_bound_it_crossed():
    prior = Prior((Prior().bounds[1],))  # sigma_k in [0.1, 1.0] alone
    params = np.array([[0.99]])
    ga = GAConfig(population_size=4000, elitism=0, mutation_rate=1.0, mutation_strength=0.05, mutation_scale="absolute")
    children = next_generation(History([0], [0], params, [1.0]), prior, ga, 1)[:, 0]
    rng = generation_rng(0, 1)
    rng.random((8000, 1)), rng.random((4000, 1)), rng.random((4000, 1))  # tournament keys, swaps, mutate flags
    raw = 0.99 + 0.05 * rng.standard_normal(4000)
    expected = np.where(raw > 1.0, 2.0 - raw, raw)
    assert np.allclose(children, expected, rtol=0, atol=1e-12) and np.mean(raw > 1.0) > 0.3


def test_unmutated_genes_are_copied_from_parents_bit_for_bit():
    prior, history = Prior(), _history([[1.0, 2.0, 3.0, 4.0], [5.0, 0.5, 6.0, 7.0]])
    ga = GAConfig(population_size=300, mutation_rate=0.0, seed=4)
    population = next_generation(history, prior, ga, 2)
    for column in range(3):
        assert set(population[:, column].tolist()) <= set(history.params[:, column].tolist())
    crossed = ~np.all(population[:, None, :] == history.params[None, :, :], axis=2).any(axis=1)
    assert crossed.any()  # some children mix genes of two parents


def test_elitism_carries_the_best_ever_unchanged_with_ties_to_the_earliest():
    # best ever in generation 0 (fitness 9), a tie at 7 between generation 0 candidate 2 and generation 2
    # candidate 0; NaN and inf never count
    history = _history([[1.0, 9.0, 7.0], [np.nan, np.inf, 2.0], [7.0, 3.0, 0.5]])
    ga = GAConfig(population_size=5, elitism=3, seed=9)
    population = next_generation(history, Prior(), ga, 3)
    assert np.array_equal(population[:3], history.params[[1, 2, 6]])
    one = next_generation(history, Prior(), GAConfig(population_size=5, elitism=1, seed=9), 3)
    assert np.array_equal(one[0], history.params[1])


def test_elitism_agrees_with_the_ledger_ranking_and_ignores_rows_not_marked_finite():
    prior, ga = Prior(), GAConfig(population_size=8, elitism=3, seed=3)
    _, ledgers = _hunt(prior, ga, 4)
    ledger = read_ledger(ledgers[-1])
    # mark the best rows (the elite and its re-evaluations) not finite: they keep their fitness value
    # but must stop counting
    fitness = ledger.column("fitness").to_numpy()
    finite = ledger.column("finite").to_numpy()
    finite = finite & (fitness != np.nanmax(np.where(finite, fitness, np.nan)))
    demoted = ledger.set_column(ledger.schema.get_field_index("finite"), "finite", pa.array(finite))
    for table in (ledger, demoted):
        top = top_candidates(table, 3)
        expected = np.stack([top.column(f"param_{name}").to_numpy() for name in prior.names], axis=1)
        assert np.array_equal(next_generation(table, prior, ga, 4)[:3], expected)
    assert not np.array_equal(next_generation(demoted, prior, ga, 4)[0], next_generation(ledger, prior, ga, 4)[0])


def test_tournaments_of_three_pick_the_fitter_candidate():
    # ten candidates of fitness 1..10; a tournament of 3 without replacement is won by rank r with
    # probability C(r-1, 2) / C(10, 3): 0.3 for the best, 0 for the two worst (uniform would give 0.1)
    n, draws = 10, 4000
    history = History(np.zeros(n), np.arange(n), np.linspace(0.1, 0.9, n)[:, None] * [0.1, 1.0, 1.0],
                      np.arange(1.0, n + 1.0))
    ga = GAConfig(population_size=draws, elitism=0, swap_probability=0.0, mutation_rate=0.0, seed=13)
    children = next_generation(history, Prior(), ga, 1)  # each child is its first parent, a tournament winner
    winners = np.argmax(np.all(children[:, None, :] == history.params[None], axis=2), axis=1)
    frequency = np.bincount(winners, minlength=n) / draws
    expected = np.array([math.comb(r - 1, 2) for r in range(1, n + 1)]) / math.comb(n, 3)
    assert frequency[0] == 0.0 and frequency[1] == 0.0
    sigma = np.sqrt(expected * (1 - expected) / draws)
    assert np.all(np.abs(frequency - expected) <= 4.5 * sigma + 1e-12)
    assert frequency[9] > 0.27  # against 0.1 for a uniform draw


def test_mutation_moves_every_parameter_by_its_relative_strength():
    prior = Prior()
    centre = (prior.lower + prior.upper) / 2
    ga = GAConfig(population_size=6001, elitism=1, seed=21)  # the seed's rate 0.3 and strength 0.05
    children = next_generation(History([0], [0], centre[None], [1.0]), prior, ga, 1)[1:]
    moved = children != centre
    assert np.all(np.abs(moved.mean(axis=0) - 0.3) < 0.025)  # alpha mutates too
    for column in range(3):
        relative_step = (children[moved[:, column], column] - centre[column]) / (prior.upper - prior.lower)[column]
        assert abs(relative_step.std() - 0.05) < 0.004 and abs(relative_step.mean()) < 0.004


def test_without_positive_fitness_parents_are_prior_draws():
    prior = Prior()
    history = _history([[0.0, 0.0, np.nan], [0.0, -1.0, 0.0]])
    ga = GAConfig(population_size=2001, mutation_rate=0.0, seed=6)
    population = next_generation(history, prior, ga, 2)
    assert np.array_equal(population[0], history.params[0])  # the elite: finite fitness, earliest of the ties
    children = population[1:]
    assert not np.isin(children, history.params).any()
    assert np.all((children >= prior.lower) & (children <= prior.upper))
    assert np.allclose(children.mean(axis=0), (prior.lower + prior.upper) / 2, atol=0.03 * (prior.upper - prior.lower))


def test_without_finite_fitness_a_generation_is_a_fresh_prior_draw():
    history = _history([[np.nan, np.nan], [np.inf, np.nan]])
    ga = GAConfig(population_size=5, seed=8)
    assert np.array_equal(next_generation(history, Prior(), ga, 2), initial_population(Prior(), ga, 2))
    assert np.array_equal(next_generation(History.empty(3), Prior(), ga, 0), initial_population(Prior(), ga, 0))


def test_a_history_missing_an_earlier_generation_is_refused():
    history = _history([[1.0, 2.0], [3.0]])
    with pytest.raises(ValueError, match=r"history lacks generation\(s\) \[2\] below generation 3"):
        next_generation(history, Prior(), GAConfig(), 3)
    with pytest.raises(ValueError, match="twice"):
        History([0, 0], [1, 1], np.full((2, 3), 0.5), [1.0, 2.0])


def test_a_ledger_of_another_prior_is_refused():
    ledger = empty_ledger(("kappa", "sigma_k"))
    with pytest.raises(SchemaError, match=r"ledger parameters \['kappa', 'sigma_k'\] differ") as caught:
        next_generation(ledger, Prior(), GAConfig(), 0)
    assert "\n" not in str(caught.value)
