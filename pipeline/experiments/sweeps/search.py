"""A pruned hyperparameter search with Optuna: a sweep whose points are chosen as it goes.

A grid file with ``search:`` instead of ``grid:``/``random:``/``points:``::

    name: lr-width-search
    base: {train.epochs: 6}
    search:
      trials: 12
      sampler: tpe              # tpe (default) | random
      pruner: median            # median (default) | successive_halving | none
      seed: 0
      storage: null             # an RDB URL; default: a sqlite file beside the tracking store
      space:                    # as random.space
        train.learning_rate: {log_uniform: [0.0003, 0.01]}
        model.width: [8, 16, 32]

Optuna (well kept, and its RDB storage lets several worker processes or machines share one study)
proposes each trial with its sampler; every epoch's validation accuracy is reported to it, and the
pruner stops a trial that is doing worse than the others had at the same epoch. When it ends, Optuna's
parameter importances (fANOVA) go beside the comparison on the parent run (importances.md and .png). A pruned trial is a
finished child run tagged ``trainlab.sweep.pruned``. A proposal equal to a point already trained is
answered with that point's result instead of training it again (on a space of choices the samplers
repeat themselves) and does not count as one of the ``trials``. A list of ordered numbers is asked as a
position in the list (Optuna then stores the position as the parameter), so the sampler learns which way
along it is better. Re-running the same search goes on with
the trials the study still lacks.
"""
from __future__ import annotations

import dataclasses
import math
import threading
from pathlib import Path
from typing import Callable

from trainlab import compat

from ... import progress, tracking
from ...errors import ConfigError, one_line
from .compare import compare
from .parent import SweepResult, finish, parent_run, point_task
from .space import Search, random_points
from .spec import Point, ResolvedPoint, SweepSpec, resolve
from .trials import pruner

REPEAT_ATTR = "trainlab_repeat_of"   # on a trial answered from an earlier one with the same values
MAX_REPEATS_IN_A_ROW = 25            # then the sampler has nothing new to propose: the space is used up


def storage_url(search: Search, tracking_uri: str) -> str:
    """The study's RDB: the search's own URL, else a sqlite file beside a sqlite tracking store
    (``mlflow.db`` -> ``mlflow.optuna.db``), else ``./optuna.db``."""
    if search.storage:
        return search.storage
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri[len("sqlite:///"):]).resolve()
        return f"sqlite:///{db.with_name(db.stem + '.optuna.db')}"
    return f"sqlite:///{Path('optuna.db').resolve()}"


def _study(search: Search, name: str, url: str):
    try:
        import optuna  # the search extra
    except ImportError:
        raise ConfigError("search: needs Optuna: pip install -e '.[search]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # TPE starts from random trials (Optuna's default: 10, all of a small budget); a third of the budget here
    sampler = (optuna.samplers.TPESampler(seed=search.seed, n_startup_trials=min(10, max(3, search.trials // 3)))
               if search.sampler == "tpe" else optuna.samplers.RandomSampler(seed=search.seed))
    return optuna.create_study(study_name=name, storage=url, load_if_exists=True, direction="maximize",
                               sampler=sampler, pruner=pruner(search.pruner))


def ordered(dist) -> bool:
    """A list of two or more numbers in increasing or decreasing order (rates, widths, dropouts)."""
    if not isinstance(dist, list) or len(dist) < 2 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in dist):
        return False
    steps = list(zip(dist, dist[1:]))
    return all(a < b for a, b in steps) or all(a > b for a, b in steps)


def suggest(trial, key: str, dist):
    """One value of ``key`` from its ``random.space`` distribution, asked of the Optuna trial.

    Ordered numbers are asked as a position in the list (an integer parameter), so TPE learns which
    way along the list is better; as a categorical parameter each value would be an unrelated label
    and a good value's neighbours would get no credit from it. Other lists are categorical.
    """
    if ordered(dist):
        return dist[trial.suggest_int(key, 0, len(dist) - 1)]
    if isinstance(dist, list):
        return trial.suggest_categorical(key, dist)
    (kind, (low, high)), = dist.items()
    if kind == "int":
        return trial.suggest_int(key, int(low), int(high))
    return trial.suggest_float(key, float(low), float(high), log=kind == "log_uniform")


def run_search(spec: SweepSpec, search: Search, overrides: dict | None, workers: int, out_dir, echo: Callable,
               run_task: Callable[[dict, ResolvedPoint], dict]) -> SweepResult:
    """Ask, train, tell until the study has ``search.trials`` trials; ``run_task`` trains one point."""
    from optuna.trial import TrialState  # the search extra

    check = Point("space check", random_points({"space": search.space, "samples": 1, "seed": search.seed})[0])
    (first,) = resolve(dataclasses.replace(spec, points=[check]), overrides)   # bad keys fail before any trial
    experiment_id = tracking.configure(first.config.tracking)
    url = storage_url(search, first.config.tracking.tracking_uri)
    study = _study(search, spec.name, url)
    with parent_run(experiment_id, spec.name, {"trainlab.sweep.search": url}) as parent:
        trials = _Trials(spec, search, overrides, study, echo)
        echo(f"search {spec.name}: {search.trials} trial(s) ({search.sampler} sampler, {search.pruner} pruner), "
             f"{len(trials.done)} done already, {trials.todo} to run; study in {url} (parent run {parent})")

        def train(trial, point: ResolvedPoint) -> dict:
            optuna_task = {"storage": url, "study": spec.name, "trial_id": compat.optuna_trial_id(trial),
                           "pruner": search.pruner}
            return run_task({**point_task(point, spec.name, parent), "optuna": optuna_task}, point)
        trials.run(workers, train)
        ordered = [trials.points[n] for n in sorted(trials.points)]
        comparison = compare(dataclasses.replace(spec, points=[p.point for p in ordered]), ordered, experiment_id)
        comparison.importances = parameter_importances(study, echo)
        best = study.best_trial if any(t.state == TrialState.COMPLETE for t in study.trials) else None
        out = finish(parent, comparison, out_dir, spec.name,
                     {"trainlab.sweep.best_trial": best.number if best else "none"})
    failed = sum(r.status not in ("FINISHED",) for r in comparison.rows)
    return SweepResult(parent, comparison, trials.started, len(trials.done), failed, out)


def parameter_importances(study, echo: Callable[[str], None]) -> dict[str, float] | None:
    """Optuna's parameter importances (fANOVA) over the completed trials; None, said in a line, where it cannot
    tell them (fewer than two completed trials, or nothing varied)."""
    import optuna  # the search extra

    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2:
        echo(f"parameter importances: not computed ({len(complete)} completed trial(s); they need 2 or more)")
        return None
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)  # the default, seeded: one table per study
        importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (ValueError, RuntimeError) as e:  # Optuna's word for a space it cannot split
        echo(f"parameter importances: not computed ({one_line(e)})")
        return None
    return {k: float(v) for k, v in importances.items()}


class _Trials:
    """The trials of one search run: proposals asked of the study under a lock, trained by ``workers``
    threads, each result told back to the study."""

    def __init__(self, spec: SweepSpec, search: Search, overrides: dict | None, study, echo: Callable):
        from optuna.trial import TrialState  # the search extra
        self.spec, self.search, self.overrides, self.study, self.echo = spec, search, overrides, study, echo
        self.done = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                     and REPEAT_ATTR not in t.user_attrs]
        self.todo = max(0, search.trials - len(self.done))
        self.points = {t.number: _point(spec, overrides, t.number, values_of(t.params, search.space))
                       for t in self.done}
        self.lock, self.started, self.repeats = threading.Lock(), 0, 0

    def run(self, workers: int, train: Callable) -> None:
        with progress.bar("trials", self.todo) as advance:
            threads = [threading.Thread(target=self._work, args=(train, advance))
                       for _ in range(max(1, min(workers, self.todo)))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

    def next_trial(self):
        """The next trial to train, or None when the budget is spent or the space used up. A proposal
        equal to a finished trial's values gets that trial's result at once (not trained, not counted)."""
        from optuna.trial import TrialState  # the search extra
        with self.lock:
            while self.started < self.todo and self.repeats < MAX_REPEATS_IN_A_ROW:
                trial = self.study.ask()
                values = {key: suggest(trial, key, dist) for key, dist in self.search.space.items()}
                earlier = _same_values(self.study, trial.params)
                if earlier is None:
                    self.started, self.repeats = self.started + 1, 0
                    return trial, values
                self.repeats += 1
                trial.set_user_attr(REPEAT_ATTR, earlier.number)
                if earlier.state == TrialState.COMPLETE:
                    self.study.tell(trial, earlier.value)
                else:
                    self.study.tell(trial, state=TrialState.PRUNED)
            if self.repeats == MAX_REPEATS_IN_A_ROW:
                self.repeats += 1  # said once
                self.echo(f"search {self.spec.name}: the sampler proposed only points already trained "
                          f"{MAX_REPEATS_IN_A_ROW} times in a row: the space is used up after "
                          f"{len(self.points)} trial(s)")
            return None

    def _work(self, train: Callable, advance) -> None:
        from optuna.trial import TrialState  # the search extra
        while (proposal := self.next_trial()) is not None:
            trial, values = proposal
            point = _point(self.spec, self.overrides, trial.number, values)
            with self.lock:
                self.points[trial.number] = point
            result = train(trial, point)
            if result["status"] == "FINISHED" and result.get("pruned"):
                self.study.tell(trial, state=TrialState.PRUNED)
            elif result["status"] == "FINISHED" and result.get("best_val_accuracy") is not None:
                self.study.tell(trial, result["best_val_accuracy"])
            else:
                self.study.tell(trial, state=TrialState.FAIL)
            note = "pruned" if result.get("pruned") else result["status"]
            best = result.get("best_val_accuracy")
            self.echo(f"[trial {trial.number}] {point.point.label}: {note} in {result.get('seconds', 0):.0f}s"
                      + (f", {best:.4f} best val accuracy" if best else ""))
            advance(note=f"trial {trial.number}: {note}")


def values_of(params: dict, space: dict) -> dict:
    """A trial's config values from its Optuna parameters (positions for ordered lists)."""
    return {key: space[key][v] if ordered(space.get(key)) else v for key, v in params.items()}


def _same_values(study, params: dict):
    """A finished (complete or pruned) trial of ``study`` that had exactly ``params``, or None."""
    from optuna.trial import TrialState  # the search extra
    return next((t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
                 if t.params == params), None)


def _point(spec: SweepSpec, overrides: dict | None, number: int, values: dict) -> ResolvedPoint:
    label = f"trial {number}: " + ", ".join(f"{k.rsplit('.', 1)[-1]}={_short(v)}" for k, v in values.items())
    (point,) = resolve(dataclasses.replace(spec, points=[Point(label, dict(values))]), overrides)
    return point


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) and math.isfinite(value) else str(value)


