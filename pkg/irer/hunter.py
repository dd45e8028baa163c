"""The seeded genetic algorithm of the hunt: the seed's ``aste_hunter`` without global random state.

A generation is a pure function of the prior, the GA settings, the generation number and the ledger
rows of the generations before it: its random numbers come from its own generator,
``np.random.default_rng(np.random.SeedSequence([seed, generation]))``, so any generation can be
recomputed alone from the ledger. ``spec/irer/hunter.md`` states the algorithm draw by draw.

Kept from the seed: tournaments of 3 drawn without replacement from every candidate ever evaluated
with finite fitness > 0, uniform crossover with swap probability 0.5, per-gene Gaussian mutation with
probability 0.3, one elite, prior draws as parents when no candidate has positive fitness, and a
wholly random generation when none has finite fitness. Changed: alpha mutates too, mutated genes are
reflected into the prior's bounds (the seed clipped only the lower bound of kappa and sigma_k), and
the mutation strength is relative to each parameter's range by default (the seed's absolute 0.05 is
half of kappa's whole range).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pyarrow as pa

from runlab import ConfigError, SchemaError

from .parameters import PARAMETER_NAMES  # what the solver reads, in this order
from .ledger import ledger_param_names, param_column, rank_candidates, validate_ledger

__all__ = [
    "PARAMETER_NAMES",
    "Bounds",
    "GAConfig",
    "History",
    "Prior",
    "generation_rng",
    "initial_population",
    "next_generation",
]

MUTATION_SCALES = ("relative", "absolute")
MAX_MUTATION_STRENGTH = 1e6  # keeps every step finite; a larger one is no longer a local move


@dataclass(frozen=True)
class Bounds:
    """One parameter's closed range ``[lower, upper]``, finite with ``lower < upper``."""

    name: str
    lower: float
    upper: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"prior parameter name {self.name!r} is not a non-empty string", "name it, e.g. kappa")
        for side in ("lower", "upper"):
            value = getattr(self, side)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ConfigError(f"prior {self.name}: {side} bound {value!r} is not a number",
                                  "write the bounds as [lower, upper] numbers")
            if not math.isfinite(value):
                raise ConfigError(f"prior {self.name}: {side} bound is {value}", "bounds are finite numbers")
            object.__setattr__(self, side, float(value))
        if self.lower >= self.upper:
            raise ConfigError(f"prior {self.name}: lower bound {self.lower} is not below upper bound {self.upper}",
                              "write [lower, upper] with lower < upper")


_SEED_BOUNDS = (Bounds("kappa", 0.001, 0.1), Bounds("sigma_k", 0.1, 1.0), Bounds("alpha", 0.01, 1.0))


@dataclass(frozen=True)
class Prior:
    """The hunted parameters and their ranges, in a fixed order (a population's column order).
    The default is the seed's: kappa in [0.001, 0.1], sigma_k in [0.1, 1.0], alpha in [0.01, 1.0]."""

    bounds: tuple[Bounds, ...] = _SEED_BOUNDS

    def __post_init__(self) -> None:
        if not self.bounds:
            raise ConfigError("prior has no parameters", f"give bounds for {', '.join(PARAMETER_NAMES)}")
        names = [bound.name for bound in self.bounds]
        if len(set(names)) != len(names):
            raise ConfigError(f"prior names a parameter twice: {names}", "name each parameter once")

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> Prior:
        """The prior of a config section ``{kappa: [lower, upper], sigma_k: [...], alpha: [...]}``.
        Every parameter of :data:`PARAMETER_NAMES` is required; the order of the keys does not matter."""
        if not isinstance(section, Mapping):
            raise ConfigError(f"prior is a {type(section).__name__}", "write it as {name: [lower, upper], ...}")
        unknown = [key for key in section if key not in PARAMETER_NAMES]
        if unknown:
            raise ConfigError(f"prior has unknown parameter {unknown[0]!r}",
                              f"the hunted parameters are {', '.join(PARAMETER_NAMES)}")
        missing = [name for name in PARAMETER_NAMES if name not in section]
        if missing:
            raise ConfigError(f"prior lacks parameter {missing[0]!r}",
                              f"give [lower, upper] for each of {', '.join(PARAMETER_NAMES)}")
        bounds = []
        for name in PARAMETER_NAMES:
            value = section[name]
            if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
                raise ConfigError(f"prior {name} is {value!r}", "write it as [lower, upper]")
            bounds.append(Bounds(name, value[0], value[1]))
        return cls(tuple(bounds))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(bound.name for bound in self.bounds)

    @property
    def lower(self) -> np.ndarray:
        """(n_params,) float64 lower bounds."""
        return np.array([bound.lower for bound in self.bounds], dtype=np.float64)

    @property
    def upper(self) -> np.ndarray:
        """(n_params,) float64 upper bounds."""
        return np.array([bound.upper for bound in self.bounds], dtype=np.float64)

    def sample(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """(count, n_params) draws, uniform within the bounds: ``lower + (upper - lower) * rng.random``."""
        lower, upper = self.lower, self.upper
        return np.clip(lower + (upper - lower) * rng.random((count, len(self.bounds))), lower, upper)


@dataclass(frozen=True)
class GAConfig:
    """The GA's settings; defaults are the seed's, except ``mutation_scale`` (the seed's is absolute).

    ``swap_probability``: per gene, the chance a child takes it from its second parent (uniform
    crossover). ``mutation_rate``: per gene, the chance it mutates. ``mutation_strength``: the
    standard deviation of the Gaussian step, as a fraction of the parameter's range (``relative``) or
    in the parameter's own units (``absolute``). ``elitism``: how many of the best candidates ever
    evaluated are carried over unchanged. ``seed``: the hunt's seed (>= 0).
    """

    population_size: int = 10
    tournament_size: int = 3
    swap_probability: float = 0.5
    mutation_rate: float = 0.3
    mutation_strength: float = 0.05
    mutation_scale: str = "relative"
    elitism: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        _check_int("ga.population_size", self.population_size, 1)
        _check_int("ga.tournament_size", self.tournament_size, 1)
        _check_int("ga.elitism", self.elitism, 0)
        _check_int("ga.seed", self.seed, 0)
        for name in ("swap_probability", "mutation_rate"):
            _check_float(f"ga.{name}", getattr(self, name), 0.0, 1.0)
        _check_float("ga.mutation_strength", self.mutation_strength, 0.0, MAX_MUTATION_STRENGTH)
        if self.mutation_scale not in MUTATION_SCALES:
            raise ConfigError(f"ga.mutation_scale is {self.mutation_scale!r}",
                              f"use one of {', '.join(MUTATION_SCALES)}")
        if self.elitism > self.population_size:
            raise ConfigError(f"ga.elitism {self.elitism} exceeds population_size {self.population_size}",
                              "carry over at most a whole population")

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> GAConfig:
        """The settings of a config section; keys are the field names, absent ones take the defaults."""
        if not isinstance(section, Mapping):
            raise ConfigError(f"ga is a {type(section).__name__}", "write it as {setting: value, ...}")
        known = [item.name for item in fields(cls)]
        unknown = [key for key in section if key not in known]
        if unknown:
            raise ConfigError(f"ga has unknown key {unknown[0]!r}", f"known keys: {', '.join(known)}")
        return cls(**section)

    def mutation_sigma(self, prior: Prior) -> np.ndarray:
        """(n_params,) standard deviations of the mutation step, in each parameter's units."""
        if self.mutation_scale == "relative":
            return self.mutation_strength * (prior.upper - prior.lower)
        return np.full(len(prior.bounds), self.mutation_strength, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class History:
    """Candidates evaluated so far, rows sorted by (generation, candidate): ``generation``,
    ``candidate`` (N,) int64, ``params`` (N, n_params) float64, ``fitness`` (N,) float64 where NaN
    (or ±inf) marks a candidate that cannot be selected."""

    generation: np.ndarray
    candidate: np.ndarray
    params: np.ndarray
    fitness: np.ndarray

    def __post_init__(self) -> None:
        generation = np.asarray(self.generation, dtype=np.int64)
        candidate = np.asarray(self.candidate, dtype=np.int64)
        params = np.asarray(self.params, dtype=np.float64)
        fitness = np.asarray(self.fitness, dtype=np.float64)
        count = generation.shape[0] if generation.ndim == 1 else -1
        if candidate.shape != (count,) or fitness.shape != (count,) or params.ndim != 2 or params.shape[0] != count:
            raise ValueError(f"history arrays disagree: generation {generation.shape}, candidate {candidate.shape}, "
                             f"params {params.shape}, fitness {fitness.shape}; expected (N,), (N,), (N, n), (N,)")
        order = np.lexsort((candidate, generation))
        keys = np.stack([generation[order], candidate[order]])
        if count > 1 and np.any(np.all(keys[:, 1:] == keys[:, :-1], axis=0)):
            raise ValueError("history names a (generation, candidate) pair twice")
        for name, array in (("generation", generation), ("candidate", candidate), ("params", params),
                            ("fitness", fitness)):
            sorted_array = array[order].copy()
            sorted_array.flags.writeable = False
            object.__setattr__(self, name, sorted_array)

    @classmethod
    def empty(cls, n_params: int) -> History:
        """No candidates yet: the history of generation 0."""
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, n_params)), np.zeros(0))

    @classmethod
    def from_ledger(cls, ledger: pa.Table, prior: Prior) -> History:
        """The history in a ledger whose parameters are the prior's; rows not marked ``finite`` get NaN fitness."""
        validate_ledger(ledger)
        names = ledger_param_names(ledger)
        if names != prior.names:
            raise SchemaError(f"ledger parameters {list(names)} differ from the prior's {list(prior.names)}",
                              "breed from a ledger of the same prior")
        params = np.stack([ledger.column(param_column(name)).to_numpy() for name in names], axis=1)
        params = params.reshape(ledger.num_rows, len(names))
        finite = ledger.column("finite").to_numpy()
        fitness = np.where(finite, ledger.column("fitness").to_numpy(), np.nan)
        return cls(ledger.column("generation").to_numpy(), ledger.column("candidate").to_numpy(), params, fitness)

    def before(self, generation: int) -> History:
        """The rows of generations ``< generation``."""
        keep = self.generation < generation
        return History(self.generation[keep], self.candidate[keep], self.params[keep], self.fitness[keep])


def generation_rng(seed: int, generation: int) -> np.random.Generator:
    """The generator of one generation: PCG64 seeded by ``SeedSequence([seed, generation])``."""
    _check_int("seed", seed, 0)
    _check_int("generation", generation, 0)
    return np.random.default_rng(np.random.SeedSequence([seed, generation]))


def initial_population(prior: Prior, ga: GAConfig, generation: int = 0) -> np.ndarray:
    """(population_size, n_params) float64 uniform draws within the prior, from the generation's generator."""
    return prior.sample(generation_rng(ga.seed, generation), ga.population_size)


def next_generation(history: History | pa.Table, prior: Prior, ga: GAConfig, generation: int) -> np.ndarray:
    """(population_size, n_params) float64 candidates of ``generation``, columns in ``prior.names`` order.

    ``history`` (a `History` or a ledger table) must hold every generation below ``generation``; rows
    of later generations are ignored, so a finished hunt's ledger recomputes any of its generations.
    Rows: the elites (best first, `irer.ledger.rank_candidates` order), then the children.
    """
    if isinstance(history, pa.Table):
        history = History.from_ledger(history, prior)
    rng = generation_rng(ga.seed, generation)
    history = history.before(generation)
    _check_history(history, prior, generation)
    ranked = rank_candidates(history.fitness, history.generation, history.candidate)
    if ranked.size == 0:
        return prior.sample(rng, ga.population_size)
    elites = history.params[ranked[:ga.elitism]]
    n_children = ga.population_size - elites.shape[0]
    n_params = len(prior.bounds)
    parents = _parents(history, prior, ga, rng, 2 * n_children).reshape(n_children, 2, n_params)
    from_second = rng.random((n_children, n_params)) < ga.swap_probability
    children = np.where(from_second, parents[:, 1], parents[:, 0])
    mutate = rng.random((n_children, n_params)) < ga.mutation_rate
    step = rng.standard_normal((n_children, n_params)) * ga.mutation_sigma(prior)
    children = np.where(mutate, children + step, children)
    return np.concatenate([elites, _reflect_into(children, prior.lower, prior.upper)])


def _parents(history: History, prior: Prior, ga: GAConfig, rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, n_params) tournament winners among candidates with finite fitness > 0; prior draws when none.

    Tournament t takes the k = min(tournament_size, eligible) eligible candidates with the smallest of
    its row of uniform keys (ties: lower ledger row), and its winner is the fittest (ties: lower row).
    """
    eligible = np.flatnonzero(np.isfinite(history.fitness) & (history.fitness > 0))
    if eligible.size == 0:
        return prior.sample(rng, count)
    size = min(ga.tournament_size, eligible.size)
    entrants = np.argsort(rng.random((count, eligible.size)), axis=1, kind="stable")[:, :size]
    rows = eligible[entrants]
    scores = history.fitness[rows]
    best_score = scores.max(axis=1, keepdims=True)
    winners = np.where(scores == best_score, rows, np.iinfo(np.int64).max).min(axis=1)
    return history.params[winners]


def _reflect_into(values: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``values`` with each entry outside ``[lower, upper]`` folded back in by reflection at the bounds
    (repeatedly, as a triangle wave of period 2·range); entries inside are returned bit for bit."""
    width = upper - lower
    offset = np.mod(values - lower, 2.0 * width)
    folded = np.clip(lower + np.where(offset > width, 2.0 * width - offset, offset), lower, upper)
    return np.where((values < lower) | (values > upper), folded, values)


def _check_history(history: History, prior: Prior, generation: int) -> None:
    """The history of ``generation``: parameters of the prior, every earlier generation present."""
    if history.params.shape[1] != len(prior.bounds):
        raise ValueError(f"history has {history.params.shape[1]} parameters; the prior has {len(prior.bounds)}")
    present = np.unique(history.generation)
    if present.size != generation or np.any(present != np.arange(generation)):
        missing = sorted(set(range(generation)) - set(present.tolist()))
        raise ValueError(f"history lacks generation(s) {missing} below generation {generation}; "
                         "breed a generation only once every earlier one is in the ledger")
    if history.params.size and not np.all(np.isfinite(history.params)):
        raise ValueError("history has non-finite parameters")


def _check_int(label: str, value: Any, minimum: int) -> None:
    """A ConfigError unless ``value`` is an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{label} must be an integer >= {minimum}, got {value!r}", f"set {label} to such an integer")


def _check_float(label: str, value: Any, minimum: float, maximum: float) -> None:
    """A ConfigError unless ``value`` is a real number (not a bool) in ``[minimum, maximum]``."""
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not number or not minimum <= value <= maximum:  # NaN fails the range test
        raise ConfigError(f"{label} must be a number in [{minimum:g}, {maximum:g}], got {value!r}",
                          f"set {label} to such a number")
