"""Learning rates: the U-curve of the final result over the rate, and the lecture's default for Adam."""
from __future__ import annotations

import math

from ...evaluation import plots
from ..sweeps import Point
from .base import Claim, Plan, Results, Study, register_study
from .rules import Stat, at_least, both, exceeds, fact, judge, no_worse

SIZES = {  # mode -> (training images incl. validation, validation, epochs, rates)
    "smoke": (1500, 500, 1, (1e-5, 5e-4, 1.0)),
    "default": (12000, 2000, 2, (1e-5, 1e-4, 5e-4, 1e-3, 1e-2, 1e-1, 1.0)),
}
SIZES["full"] = SIZES["default"]   # the default's budgets on five seeds (base.SEEDS)
DEFAULT_RATE = 5e-4


def label(rate: float) -> str:
    return f"lr {rate:g}"


@register_study
class LearningRate(Study):
    """One MLP trained with Adam (constant rate) at rates from far too small to far too large: where
    validation accuracy ends for each (the lecture's U-shaped curve, upside down), the per-batch loss
    curves of the lecture's figure, divergence caught by the run's non-finite-loss guard, and how the
    lecture's suggested rate for Adam (1e-3 or 5e-4) compares with the best rate found."""

    name = "learning-rate"
    title = "Learning rate"
    claims = {
        "u-curve": Claim("The final result is best at an intermediate rate: worse both below and above",
                         "best validation accuracy over rates: the best rate is interior and beats both ends "
                         "beyond the seed-to-seed spread", "lr-large"),
        "too-small": Claim("Too small a rate: the loss falls, but slowly; the budget ends short of a good model",
                           "best validation accuracy, the lecture's default rate minus the smallest, at least 5 "
                           "points", "lr-slow"),
        "too-large": Claim("Too large a rate: the loss blows up",
                           "final over first batch loss at the largest rate (diverged counts as infinite)", "lr-large"),
        "adam-default": Claim("Adam with a learning rate of 1e-3 or 5e-4 is a great starting point",
                              f"best validation accuracy at {DEFAULT_RATE:g}, within 1 point of the best rate's",
                              "lr-small", "the notes give 0.0005 as an example; the slides say Adam at 1e-3 or 5e-4"),
    }

    def plan(self, mode: str, overrides: dict | None = None) -> Plan:
        limit, val, epochs, rates = SIZES[mode]
        base = {"model.name": "mlp_deep", "model.depth": 2, "model.width": 128 if mode != "smoke" else 32,
                "model.activation": "relu", "train.optimizer": "adam", "train.lr_schedule": "constant",
                "train.epochs": epochs, "train.batch_size": 64, "data.limit_train": limit,
                "data.validation_size": val}
        points = [Point(label(rate), {"train.learning_rate": rate}, ({"name": "batch_loss", "every": 5},))
                  for rate in rates]
        return Plan(base, points, f"{(limit or 60000) - val} training images, {epochs} epoch(s) of Adam, a 2-layer "
                                  "MLP, rates " + ", ".join(f"{r:g}" for r in rates))

    def _rates(self, r: Results) -> list[float]:
        return sorted(float(row_label[3:]) for row_label in r.members)

    def findings(self, r: Results) -> list:
        rates = self._rates(r)
        val = {rate: self._val(r, rate) for rate in rates}
        shown = ", ".join(f"{rate:g} {val[rate].show(3, 100, '%')}" for rate in rates)
        best = max(rates, key=lambda rate: val[rate].mean if val[rate].n else -1.0)
        interior = rates[0] < best < rates[-1]
        u_curve = judge(fact("best rate inside the grid (1: yes, 0: at an end)", float(interior), 1.0),
                        *both(exceeds(val[best], val[rates[0]]), exceeds(val[best], val[rates[-1]])).tests)
        out = [self.trained(r, "u-curve", f"best validation accuracy by rate: {shown}; best {best:g}", u_curve,
                            label(best))]
        default = val.get(DEFAULT_RATE, Stat())
        out.append(self.trained(r, "too-small", f"{DEFAULT_RATE:g}: {default.show(3, 100, '%')}, {rates[0]:g}: "
                                                f"{val[rates[0]].show(3, 100, '%')}",
                                exceeds(default, val[rates[0]], 0.05), label(DEFAULT_RATE)))
        growth = Stat.of(self._growth(r, rates[-1], seed) for seed in range(len(r.seeds_of(label(rates[-1])))))
        diverged = r.diverged(label(rates[-1]))
        out.append(self.found("too-large", f"final/first batch loss at {rates[-1]:g}: {growth.show(3)}"
                                           + (f" ({diverged} seed(s) diverged)" if diverged else ""),
                              at_least(growth, 1.0)))
        out.append(self.trained(r, "adam-default", f"{DEFAULT_RATE:g}: {default.show(3, 100, '%')}; best rate "
                                                   f"{best:g}: {val[best].show(3, 100, '%')}",
                                no_worse(default, val[best], 0.01), label(DEFAULT_RATE), label(best)))
        return out

    def _val(self, r: Results, rate: float) -> Stat:
        """Best validation accuracy per seed; a diverged seed counts as chance (it learned nothing usable)."""
        values = []
        for row in r.seeds_of(label(rate)):
            v = row.metric("best_val_accuracy")
            values.append(0.1 if row.fit == "diverged" and v is None else v)
        return Stat.of(values)

    def _growth(self, r: Results, rate: float, seed: int) -> float | None:
        row = r.seeds_of(label(rate))[seed]
        if row.fit == "diverged":
            return math.inf
        loss = r.series_of(row, "probe.batch_loss")
        return loss[-1][1] / loss[0][1] if loss and loss[0][1] else None

    def figures(self, r: Results) -> dict:
        rates = self._rates(r)
        return {
            "loss_curves.png": ("Training loss per batch (first seed)", plots.overlaid(
                {label(rate): r.series(label(rate), "probe.batch_loss") for rate in rates}, "step", "batch loss",
                log_y=True)),
            "u_curve.png": ("Best validation accuracy by learning rate (mean and range over seeds)",
                            r.bars([label(rate) for rate in rates], "best_val_accuracy", "validation accuracy")),
        }
