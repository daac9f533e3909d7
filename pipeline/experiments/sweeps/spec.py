"""What a sweep runs: a grid, a random sample or an explicit list of points over config keys.

A grid file (``trainlab sweep GRID.yml``)::

    name: lr-and-width          # default: the file's stem; re-running the same name resumes it
    config: mlflow.yml          # base config file, relative to this file (default: the command's --config)
    preset: smoke               # default: default
    base:                       # overrides for every point
      train.epochs: 2
    grid:                       # the cartesian product of these values ...
      train.learning_rate: [0.001, 0.003]
      model.width: [16, 32]
    random:                     # ... and/or a random sample of this space (search: instead, a pruned
                                #     Optuna search over such a space: see sweeps.search)
      samples: 4
      seed: 0
      space:
        train.learning_rate: {log_uniform: [0.0001, 0.01]}
        model.dropout: {uniform: [0.0, 0.5]}
        model.activation: [relu, gelu]        # a list is a choice
    points:                     # ... and/or explicit points
      - {label: no-aug, augment: none}

Every point resolves to its run plan (config validated, model options checked by building the model)
before the first point trains; its key (a hash of that config) is what resume matches finished runs by.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...config.loading import load_config, read_yaml
from ...config.recipes import PRESETS
from ...config.schema import Config
from ...errors import ConfigError, DataError
from ...plan import Plan, resolve_plan
from .space import Search, grid_points, random_points

SPEC_KEYS = ("name", "config", "preset", "base", "grid", "random", "points", "search", "metric")


@dataclass(frozen=True)
class Point:
    """One configuration of the sweep: overrides over the sweep's base, and optional probes."""

    label: str
    overrides: dict
    probes: tuple = ()   # measurement callbacks by name: ({"name": "dead_units"}, ...) (pipeline.evaluation.probes)


@dataclass
class SweepSpec:
    name: str
    points: list[Point]
    base: dict = field(default_factory=dict)
    config_path: str | None = None
    preset: str = "default"
    metric: str = "best_val_accuracy"   # what the comparison sorts and plots by (higher is better)
    search: Any = None                  # a pruned Optuna search (sweeps.search.Search) instead of fixed points

    @property
    def swept_keys(self) -> list[str]:
        """The keys whose value differs between points, in first-seen order."""
        keys = list(dict.fromkeys(k for p in self.points for k in p.overrides))
        return [k for k in keys if len({show_value(p.overrides.get(k, "")) for p in self.points}) > 1] or keys


@dataclass
class ResolvedPoint:
    point: Point
    plan: Plan
    key: str

    @property
    def config(self) -> Config:
        return self.plan.config


def load_spec(path: str | Path, default_config: str | None = None) -> SweepSpec:
    """Read a grid file. Raises ConfigError on anything it cannot run."""
    path = Path(path)
    doc = read_yaml(path, "grid")
    if not isinstance(doc, dict):
        raise ConfigError(f"grid file {path} must hold a mapping with grid:, random: or points:")
    unknown = set(doc) - set(SPEC_KEYS)
    if unknown:
        raise ConfigError(f"grid file {path}: unknown key(s) {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(SPEC_KEYS)}")
    config = doc.get("config")
    config_path = str((path.parent / config)) if config else default_config
    search = None
    if "search" in doc:
        if any(k in doc for k in ("grid", "random", "points")):
            raise ConfigError(f"grid file {path}: search: chooses its own points; drop grid:, random: and points:")
        search, points = Search.parse(doc["search"]), []
    else:
        points = expand(doc.get("grid"), doc.get("random"), doc.get("points"))
    preset = doc.get("preset", "default")
    if preset not in PRESETS:
        raise ConfigError(f"grid file {path}: unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
    base = doc.get("base") or {}
    if not isinstance(base, dict):
        raise ConfigError(f"grid file {path}: base must be a mapping of config keys")
    return SweepSpec(name=str(doc.get("name") or path.stem), points=points, base=base, config_path=config_path,
                     preset=preset, metric=str(doc.get("metric", "best_val_accuracy")), search=search)


def expand(grid: dict | None, random: dict | None, points: list | None) -> list[Point]:
    """Grid product + random sample + explicit points, in that order, duplicates dropped."""
    found: list[dict] = []
    if grid is not None:
        found += grid_points(grid)
    if random is not None:
        found += random_points(random)
    explicit = []
    for i, item in enumerate(points or []):
        if not isinstance(item, dict):
            raise ConfigError(f"points[{i}] must be a mapping of config keys, got {item!r}")
        item = dict(item)
        label = item.pop("label", None)
        explicit.append(Point(str(label) if label else label_for(item), item))
    result = [Point(label_for(o), o) for o in found] + explicit
    if not result:
        raise ConfigError("the sweep has no points: give grid:, random: or points:")
    seen, unique = set(), []
    for p in result:
        marker = json.dumps(p.overrides, sort_keys=True, default=str)
        if marker not in seen:
            seen.add(marker)
            unique.append(p)
    return unique


def resolve(spec: SweepSpec, overrides: dict | None = None) -> list[ResolvedPoint]:
    """Each point's plan: defaults <- file <- preset <- base <- command line <- point, resolved.

    Raises:
        ConfigError: naming the point (its number and label) and the key that is invalid.
    """
    resolved = []
    for i, point in enumerate(spec.points, 1):
        try:
            cfg = load_config(spec.config_path, {**spec.base, **(overrides or {}), **point.overrides}, spec.preset)
            cfg.tracking.run_name = point.label
            plan = resolve_plan(cfg)
        except (ConfigError, DataError) as e:
            raise ConfigError(f"sweep point {i} of {len(spec.points)} ({point.label!r}): {e}") from None
        resolved.append(ResolvedPoint(point, plan, point_key(plan.config, point.probes)))  # as it trains
    stores = {(r.config.tracking.tracking_uri, r.config.tracking.experiment) for r in resolved}
    if len(stores) > 1:
        raise ConfigError("all points of a sweep must log to one tracking store and experiment; "
                          "do not sweep tracking.* keys")
    return resolved


def point_key(cfg: Config, probes=()) -> str:
    """A stable hash of what the point trains (its whole config but tracking) and measures."""
    flat = {k: v for k, v in cfg.flat().items() if not k.startswith("tracking.")}
    text = json.dumps([flat, list(probes)], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def label_for(overrides: dict) -> str:
    """``learning_rate=0.001 width=16``: the last part of each key and its value."""
    return " ".join(f"{k.rsplit('.', 1)[-1]}={show_value(v)}" for k, v in overrides.items()) or "base"


def show_value(value: Any) -> str:
    if isinstance(value, list):
        names = [v.get("name", "?") if isinstance(v, dict) else str(v) for v in value]
        return "+".join(names) or "none"
    return str(value)
