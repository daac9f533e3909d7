"""A config space: grid products, seeded random draws, and the ``search:`` section that lets Optuna
choose the points (:class:`Search`)."""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import ConfigError


def grid_points(grid: dict) -> list[dict]:
    if not isinstance(grid, dict) or not grid:
        raise ConfigError("grid must be a mapping from config keys to lists of values")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid: {key} must be a non-empty list of values, got {values!r}")
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def random_points(random: dict) -> list[dict]:
    """``samples`` points drawn from ``space`` with ``seed``: reproducible, so resume finds them again."""
    if not isinstance(random, dict) or not isinstance(random.get("space"), dict) or not random["space"]:
        raise ConfigError("random must hold space: {key: [choices] | {uniform|log_uniform|int: [low, high]}}")
    samples, seed = random.get("samples", 8), random.get("seed", 0)
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise ConfigError(f"random.samples must be a positive integer, got {samples!r}")
    rng = np.random.default_rng(seed)
    return [{key: _draw(key, dist, rng) for key, dist in random["space"].items()} for _ in range(samples)]


def _draw(key: str, dist: Any, rng: np.random.Generator) -> Any:
    if isinstance(dist, list) and dist:
        return dist[int(rng.integers(len(dist)))]
    if isinstance(dist, dict) and len(dist) == 1:
        kind, bounds = next(iter(dist.items()))
        if isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, (int, float)) for b in bounds) \
                and bounds[0] < bounds[1]:
            low, high = bounds
            if kind == "uniform":
                return round(float(rng.uniform(low, high)), 6)
            if kind == "log_uniform" and low > 0:
                return float(f"{math.exp(rng.uniform(math.log(low), math.log(high))):.4g}")
            if kind == "int":
                return int(rng.integers(low, high + 1))
    raise ConfigError(f"random.space.{key}: expected a list of choices or {{uniform|log_uniform|int: [low, high]}} "
                      f"with low < high (log_uniform: low > 0), got {dist!r}")


SEARCH_KEYS = ("trials", "sampler", "pruner", "seed", "storage", "space")


@dataclass(frozen=True)
class Search:
    space: dict
    trials: int = 12
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int = 0
    storage: str | None = None

    @classmethod
    def parse(cls, doc) -> "Search":
        if not isinstance(doc, dict):
            raise ConfigError("search must be a mapping with space: and trials:")
        unknown = set(doc) - set(SEARCH_KEYS)
        if unknown:
            raise ConfigError(f"search: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(SEARCH_KEYS)}")
        found = cls(**doc)
        random_points({"space": found.space, "samples": 1, "seed": 0})   # the space's own checks
        if isinstance(found.trials, bool) or not isinstance(found.trials, int) or found.trials < 1:
            raise ConfigError(f"search.trials must be a positive integer, got {found.trials!r}")
        if found.sampler not in ("tpe", "random"):
            raise ConfigError(f"search.sampler must be tpe or random, got {found.sampler!r}")
        if found.pruner not in ("median", "successive_halving", "none"):
            raise ConfigError(f"search.pruner must be median, successive_halving or none, got {found.pruner!r}")
        return found
