"""Input preprocessing: raw pixels, scaled to [0, 1], standardized (zero mean, unit variance)."""
from __future__ import annotations

from .. import plots
from .base import Plan, Results, at_least, finding, fmt, register_study, steps_ratio
from ..sweeps import Point

SIZES = {  # mode -> (training images incl. validation, validation, epochs, accuracy threshold)
    "smoke": (1500, 500, 1, 0.3),
    "default": (None, 5000, 2, 0.95),
    "full": (None, 5000, 10, 0.98),
}
POINTS = {"raw": "none", "scaled": "scale", "standardized": "standardize"}


@register_study
class Preprocessing:
    """The same MLP and SGD settings on raw 0-255 pixels, pixels scaled to [0, 1] and standardized
    pixels: how far the loss at initialization moves when every weight matrix gets 1% noise (the
    lecture: unnormalized data makes the loss very sensitive to small weight changes), and how fast each
    reaches a training-accuracy threshold."""

    name = "preprocessing"
    title = "Data preprocessing"

    def plan(self, mode: str) -> Plan:
        limit, val, epochs, threshold = SIZES[mode]
        base = {"model.name": "mlp_deep", "model.depth": 2, "model.width": 128 if mode != "smoke" else 32,
                "model.activation": "relu", "train.optimizer": "sgd", "train.learning_rate": 0.01,
                "train.momentum": 0.9, "train.lr_schedule": "constant", "train.epochs": epochs,
                "train.batch_size": 64, "data.limit_train": limit, "data.validation_size": val}
        probes = ({"name": "loss_sensitivity", "noise": 0.01}, {"name": "steps_to_accuracy", "threshold": threshold})
        points = [Point(label, {"data.normalization": mode_}, probes) for label, mode_ in POINTS.items()]
        return Plan(base, points, f"{(limit or 60000) - val} training images, {epochs} epoch(s) of SGD (lr 0.01, "
                                  f"momentum 0.9), a 2-layer ReLU MLP; threshold {threshold:.0%} training accuracy")

    def findings(self, r: Results) -> list:
        sens = {p: r.metric(p, "probe.loss_sensitivity") for p in POINTS}
        ratio = sens["raw"] / sens["standardized"] if sens["raw"] is not None and sens["standardized"] else None
        out = [finding("Unnormalized inputs make the loss very sensitive to small changes in the weights",
                       "mean |loss change| for 1% weight noise at init: " +
                       ", ".join(f"{p} {fmt(v)}" for p, v in sens.items()) + f"; raw/standardized {fmt(ratio)}",
                       ratio, at_least, 2.0, 1.0)]
        steps = {p: r.metric(p, "probe.steps_to_accuracy") for p in POINTS}
        if r.diverged("raw"):
            ratio, shown = float("inf"), "raw diverged (non-finite loss), standardized did not"
            if steps["standardized"] is None:
                ratio, shown = None, "raw diverged; standardized never reached the threshold either"
        else:
            ran = {p: r.metric(p, "probe.steps_run") for p in POINTS}
            ratio, shown = steps_ratio(steps["raw"], steps["standardized"], ran["raw"], ran["standardized"])
        out.append(finding("Normalized inputs are easier to optimize: training converges faster",
                           f"steps to the threshold, raw relative to standardized: {shown}", ratio, at_least, 1.5, 1.0))
        ratio, shown = steps_ratio(steps["scaled"], steps["standardized"], r.metric("scaled", "probe.steps_run"),
                                   r.metric("standardized", "probe.steps_run"))
        out.append(finding("Zero-centering helps beyond scaling (standardized vs scaled to [0, 1])",
                           f"steps to the threshold, scaled relative to standardized: {shown}", ratio,
                           at_least, 1.2, 0.8))
        return out

    def figures(self, r: Results) -> dict:
        return {
            "convergence.png": ("Smoothed training accuracy per step", plots.overlaid(
                {p: r.series(p, "probe.train_accuracy_ema") for p in POINTS}, "step", "training accuracy (EMA)")),
            "sensitivity.png": ("Mean |loss change| for 1% weight noise at initialization", plots.bars(
                {p: r.metric(p, "probe.loss_sensitivity") for p in POINTS}, "|loss change|", log_y=True)),
        }
