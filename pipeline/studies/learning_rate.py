"""Learning rates: too small, good, too large."""
from __future__ import annotations

import math

from .. import plots
from .base import Plan, Results, at_least, finding, fmt, register_study
from ..sweeps import Point

SIZES = {  # mode -> (training images incl. validation, validation, epochs)
    "smoke": (1500, 500, 1),
    "default": (None, 5000, 2),
    "full": (None, 5000, 10),
}
RATES = {"too small": 1e-4, "good": 0.03, "too large": 5.0}


@register_study
class LearningRate:
    """One MLP trained with plain SGD (momentum 0.9, constant rate) at a rate that is too small, a good
    one and one that is too large: the per-batch loss curves of the lecture's figure, final accuracy,
    and divergence caught by the run's non-finite-loss guard."""

    name = "learning-rate"
    title = "Learning rate"

    def plan(self, mode: str) -> Plan:
        limit, val, epochs = SIZES[mode]
        base = {"model.name": "mlp_deep", "model.depth": 2, "model.width": 128 if mode != "smoke" else 32,
                "model.activation": "relu", "train.optimizer": "sgd", "train.momentum": 0.9,
                "train.lr_schedule": "constant", "train.epochs": epochs, "train.batch_size": 64,
                "data.limit_train": limit, "data.validation_size": val}
        points = [Point(label, {"train.learning_rate": lr}, ({"name": "batch_loss", "every": 5},))
                  for label, lr in RATES.items()]
        return Plan(base, points, f"{(limit or 60000) - val} training images, {epochs} epoch(s) of SGD, momentum 0.9, "
                                  "rates " + ", ".join(f"{k} {v:g}" for k, v in RATES.items()))

    def findings(self, r: Results) -> list:
        val = {p: r.metric(p, "best_val_accuracy") for p in RATES}
        shown = ", ".join(f"{p} ({RATES[p]:g}) {fmt(v)}" for p, v in val.items())
        gap = val["good"] - val["too small"] if val["good"] is not None and val["too small"] is not None else None
        out = [finding("Too small a rate: the loss falls, but slowly; the budget ends short of a good model",
                       f"best validation accuracy: {shown}", gap, at_least, 0.05, 0.0)]
        loss = r.series("too large", "probe.batch_loss")
        if r.diverged("too large"):
            growth, what = math.inf, f"diverged: {r.row('too large').reason or 'non-finite loss'}"
        elif loss:
            growth = loss[-1][1] / loss[0][1]
            what = f"final/first batch loss {fmt(growth)} ({fmt(loss[0][1])} -> {fmt(loss[-1][1])})"
        else:
            growth, what = None, "no loss recorded"
        out.append(finding("Too large a rate: the loss blows up and training diverges", what, growth,
                           at_least, 1.0, 0.5))
        rest = [v for p, v in val.items() if p != "good"]
        margin = (val["good"] - max(v if v is not None else 0.0 for v in rest)) if val["good"] is not None else None
        out.append(finding("A good rate does best", f"best validation accuracy: {shown}", margin, at_least, 0.01, 0.0))
        return out

    def figures(self, r: Results) -> dict:
        return {"loss_curves.png": ("Training loss per batch", plots.overlaid(
            {f"{p} ({lr:g})": r.series(p, "probe.batch_loss") for p, lr in RATES.items()}, "step", "batch loss",
            log_y=True))}
