"""What follows a sweep when asked: its best point registered, by the ordinary champion rule, and the
champion exported, each with the plan of the run that trained it."""
from __future__ import annotations

import copy
from typing import Callable

from ... import tracking
from ...config.schema import Config
from ...evaluation.evaluate import run_rescorer
from ...export.stage import export_champion
from ...trained import plan_of
from .compare import Comparison


def register_best(comparison: Comparison, cfg: Config, echo: Callable[[str], None],
                  export: bool = False) -> tracking.Registration | None:
    """Register the point with the best validation accuracy (a tie: the lower validation loss) under its run's
    registered model; it becomes champion only if it beats the current one. With ``export``, the champion of
    that registered model is exported afterwards. None when no point finished."""
    best = comparison.best_by_validation()
    if best is None:
        echo("--register-best: no point finished; nothing registered")
        return None
    name = plan_of(tracking.run_model_uri(best.run_id), cfg).config.tracking.registered_model
    registration = tracking.register(best.run_id, name, run_rescorer(best.run_id))
    echo(f"best point {best.label} (run {best.run_id}, {tracking.SELECTION_METRIC} "
         f"{best.metric(tracking.SELECTION_METRIC):.4f}): {registration.message}")
    if export:
        named = copy.deepcopy(cfg)
        named.tracking.registered_model = name
        path, written = export_champion(named)
        echo(f"{'exported' if written else 'export already at'} {path} ({name} champion)")
    return registration
