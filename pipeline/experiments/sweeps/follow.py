"""What follows a sweep when asked: its best point registered, by the ordinary champion rule, and the
champion exported; each with the plan of the run that trained it."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ... import tracking
from ...config.schema import Config
from ...evaluation.evaluate import run_rescorer
from ...export.stage import export
from ...trained import plan_of
from .compare import Comparison


def register_best(comparison: Comparison, cfg: Config, echo: Callable[[str], None]) -> tracking.Registration | None:
    """Register the point with the best validation accuracy (a tie: the lower validation loss) under its run's
    registered model; it becomes champion only if it beats the current one. None when no point finished."""
    best = comparison.best_by_validation()
    if best is None:
        echo("--register-best: no point finished; nothing registered")
        return None
    plan = plan_of(tracking.run_model_uri(best.run_id), cfg)
    name = plan.config.tracking.registered_model
    registration = tracking.register(best.run_id, name, run_rescorer(best.run_id))
    echo(f"best point {best.label} (run {best.run_id}, {tracking.SELECTION_METRIC} "
         f"{best.metric(tracking.SELECTION_METRIC):.4f}): {registration.message}")
    return registration


def export_best(comparison: Comparison, cfg: Config, echo: Callable[[str], None]) -> Path | None:
    """Export the champion of the best point's registered model (the sweep's winner if it became champion)."""
    best = comparison.best_by_validation()
    if best is None:
        return None
    name = plan_of(tracking.run_model_uri(best.run_id), cfg).config.tracking.registered_model
    uri = tracking.champion_uri(name)
    path, written = export(plan_of(uri, cfg), uri)
    echo(f"{'exported' if written else 'export already at'} {path} ({name} champion)")
    return path
