"""The main job (``trainlab run``, ``make run``): train -> register -> evaluate -> export, from one plan;
and registration after a training (``trainlab train --register`` too).

Nothing is done twice: the run's own test report stands for the champion when the run became it (an
older champion's test accuracy is read from its run), and the export takes the model the run has
just trained instead of loading it back from the store.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import tracking
from .export.stage import export
from .plan import Plan
from .trained import plan_of
from .training.stage import TrainResult, train


@dataclass
class JobResult:
    train: TrainResult
    champion_version: str | None
    champion_test_accuracy: float | None
    export_path: Path | None
    exported: bool               # False: the champion's export was there already
    seconds: float


def register_result(plan: Plan, result: TrainResult, echo: Callable[[str], None] = print) -> TrainResult:
    """Register the run's model under ``tracking.registered_model``: it becomes ``champion`` only if it
    beats the current one on the validation split this run was selected on (``result.rescorer``)."""
    if result.run_id:  # a worker that is not the chief has nothing to register
        result.registration = tracking.register(result.run_id, plan.config.tracking.registered_model,
                                                result.rescorer)
        echo(result.registration.message)
    return result


def train_and_register(plan: Plan, echo: Callable[[str], None] = print, **options) -> TrainResult:
    """``train`` then :func:`register_result`: what ``trainlab train --register`` does (``options`` go to
    ``train``)."""
    return register_result(plan, train(plan, register=True, echo=echo, **options), echo)


def run_job(plan: Plan, echo: Callable[[str], None] = print) -> JobResult:
    """Train the planned model, register it (champion if it beats the current one), export the champion.

    Under ``multi_worker`` the other workers only train; the chief registers and exports.
    """
    start = time.perf_counter()
    cfg = plan.config
    result = train_and_register(plan, echo)
    if not result.run_id:
        return JobResult(result, None, None, None, False, time.perf_counter() - start)
    name = cfg.tracking.registered_model
    version, champion_run, _ = tracking.champion(name)
    if champion_run == result.run_id:
        accuracy, model = result.test.accuracy, result.model
    else:
        accuracy, model = tracking.run_metrics(champion_run).get("test_accuracy"), None
    shown = "n/a" if accuracy is None else f"{accuracy:.4f}"
    echo(f"champion {name} version {version}: test accuracy {shown}"
         + ("" if champion_run == result.run_id else " (logged by its run)"))
    uri = tracking.champion_uri(name)  # the champion exports with its own run's plan
    path, written = export(plan if champion_run == result.run_id else plan_of(uri, cfg), uri, model=model)
    echo(f"{'exported to' if written else 'export already at'} {path}")
    seconds = time.perf_counter() - start
    echo(f"done in {seconds:.0f}s (training {result.train_seconds:.0f}s); "
         f"this run's test accuracy {result.test.accuracy:.4f}")
    return JobResult(result, version, accuracy, path, written, seconds)
