"""Running a study: its measurements, its sweep over seeds (after tuning a value per condition where
it tunes one), its findings, and a markdown report with plots, logged to the parent run."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

from ... import tracking
from ...config.schema import TrainConfig
from ...errors import ConfigError
from ..sweeps import Point, SweepSpec, run_sweep
from . import provenance
from .base import MODES, SEEDS, STUDIES, TUNING_SEED, Plan, Results
from .report import StudyReport, show_value, write_report
from .setting import describe

# Studies log to their own experiment unless the command line names another.
STUDY_EXPERIMENT = "trainlab-studies"


def list_studies() -> list[str]:
    return sorted(STUDIES)


def seed_label(label: str, seed: int, tuned: str = "") -> str:
    return f"{label}{tuned} #{seed}"


def _tuned(key: str, value) -> str:
    return f" ({key.rsplit('.', 1)[-1]} {value:g})" if isinstance(value, (int, float)) else f" ({value})"


def run_study(name: str, mode: str = "default", overrides: dict | None = None, config_path: str | None = None,
              workers: int = 1, out_dir: str | Path | None = None, command: str | None = None,
              echo: Callable[[str], None] = print) -> StudyReport:
    """Run study ``name`` in ``mode`` (smoke | default | full) and write its report.

    ``overrides`` (command-line config keys) apply over the study's base and under its points.
    """
    if name not in STUDIES:
        raise ConfigError(f"unknown study {name!r}; known studies: {', '.join(list_studies())}, or all")
    if mode not in MODES:
        raise ConfigError(f"unknown study mode {mode!r}; known: {', '.join(MODES)}")
    study = STUDIES[name]()
    plan = study.plan(mode, overrides or {})
    plan.seeds = plan.seeds or SEEDS[mode]
    plan.grow = plan.grow and mode != "smoke"   # smoke mode checks the machinery, not the rates
    start = time.perf_counter()
    out = Path(out_dir or Path("outputs") / "studies" / name)
    echo(f"study {name}: {study.title} ({mode} mode: {plan.budget}; seeds {', '.join(map(str, plan.seeds))})")
    measured = study.measurements(mode, overrides or {})
    # float32: the studies measure gradients, activations and small differences between small models,
    # which bf16's 8-bit mantissa would blur (and small models gain no speed from it).
    # The optimizer's built-in defaults, not a dataset's recipe (MNIST's one-cycle main job), unless the study
    # says otherwise: a study's comparisons stay what its plan describes when a recipe changes.
    built_in = TrainConfig()
    base = {"tracking.experiment": STUDY_EXPERIMENT, "augment": [], "train.precision": "float32",
            "train.lr_schedule": built_in.lr_schedule, "train.learning_rate": built_in.learning_rate, **plan.base}

    plan.setting = describe(plan, {**base, **(overrides or {})}, config_path)
    ran = [0]

    def sweep(points: list[Point]):
        spec = SweepSpec(f"study-{name}-{mode}", points, base, config_path=config_path, metric="best_val_accuracy")
        result = run_sweep(spec, overrides, workers=workers, out_dir=out / "sweep", echo=echo)
        ran[0] += result.ran
        return result

    points, members, chosen, tried = _points(name, plan, sweep, echo)
    result = sweep(points)
    results = Results(result.comparison, mode, members, chosen, measured, tried, {**base, **(overrides or {})})
    findings = study.findings(results)
    figures = study.figures(results)
    seconds = time.perf_counter() - start
    origin = provenance.current(command or f"run_study({name!r}, {mode!r})")
    report = write_report(out, study, plan, mode, results, findings, figures, seconds, command, ran[0], origin)
    tracking.groups.log_folder(result.parent_run_id, out, "study")
    tracking.groups.end_run(result.parent_run_id, "FINISHED", {
        "trainlab.study": name, **{f"trainlab.study.verdict.{f.claim_id or i}": f.verdict
                                   for i, f in enumerate(findings)}})
    trained = sum(r.metric("train_seconds") or 0.0 for r in results.rows)
    return StudyReport(name, study.title, mode, findings, report, result.parent_run_id, seconds, trained, plan.setting)


def _points(name: str, plan: Plan, sweep: Callable, echo: Callable[[str], None]) -> tuple[list, dict, dict, dict]:
    """Every point to train, each condition's seeded members, the value tuned per condition and the
    values tried: with ``plan.tune``, trials on :data:`TUNING_SEED` choose the value on validation (the
    grid growing past an end where the best sits there), then every measured seed trains at it."""
    if plan.tune is None:
        points = [_seeded(p, s) for p in plan.points for s in plan.seeds]
        return points, {p.label: [seed_label(p.label, s) for s in plan.seeds] for p in plan.points}, {}, {}
    tune = plan.tune
    echo(f"study {name}: choosing {tune.key} per condition by {tune.metric} on seed {TUNING_SEED}'s validation "
         "split from " + ", ".join(show_value(v) for v in tune.values))
    tried = {p.label: list(tune.values) for p in plan.points}
    trials, chosen = {}, {}
    passes = (tune.extend if plan.grow else 0) + 1
    for attempt in range(passes):
        trials.update({(p.label, v): _seeded(p, TUNING_SEED, tune.key, v) for p in plan.points
                       for v in tried[p.label] if (p.label, v) not in trials})
        result = sweep(list(trials.values()))
        score = {r.label: r.metric(tune.metric) for r in result.comparison.rows}
        grown = False
        for p in plan.points:
            values = tried[p.label]
            best = min(values, key=lambda v: _rank(score.get(trials[p.label, v].label), tune.lower))
            chosen[p.label] = best
            grown |= attempt + 1 < passes and _grow(values, best)
        if not grown:
            break
    members = {p.label: [seed_label(p.label, s, _tuned(tune.key, chosen[p.label])) for s in plan.seeds]
               for p in plan.points}
    points = list(trials.values()) + [_seeded(p, s, tune.key, chosen[p.label]) for p in plan.points
                                      for s in plan.seeds]
    return points, members, chosen, tried


def _grow(values: list, best) -> bool:
    """Add the next value past the end of ``values`` where ``best`` sits (geometric steps); False when
    ``best`` is inside or the grid is not numeric."""
    if len(values) < 2 or not all(isinstance(v, (int, float)) and v > 0 for v in values):
        return False
    ordered = sorted(values)
    if best == ordered[0]:
        values.insert(0, float(f"{ordered[0] ** 2 / ordered[1]:.3g}"))
    elif best == ordered[-1]:
        values.append(float(f"{ordered[-1] ** 2 / ordered[-2]:.3g}"))
    else:
        return False
    return True


def _rank(value: float | None, lower: bool) -> float:
    """Sort key: smaller is better; a trial without the metric last."""
    if value is None:
        return math.inf
    return value if lower else -value


def _seeded(point: Point, seed: int, key: str | None = None, value=None) -> Point:
    overrides = {**point.overrides, "train.seed": seed}
    tuned = ""
    if key is not None:
        overrides[key] = value
        tuned = _tuned(key, value)
    return Point(seed_label(point.label, seed, tuned), overrides, point.probes)
