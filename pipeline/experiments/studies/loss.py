"""The loss for classification: cross-entropy on the softmax against L2 on one-hot targets."""
from __future__ import annotations

from ...evaluation import plots
from ..sweeps import Point
from .base import Claim, Plan, Results, Study, register_study
from .rules import above, exceeds, paired_ratio

SIZES = {  # mode -> (training images incl. validation, validation, epochs, accuracy threshold)
    "smoke": (1500, 500, 1, 0.3),
    "default": (12000, 2000, 2, 0.9),
    "full": (None, 5000, 6, 0.97),
}
LOSSES = {"cross-entropy": "categorical_crossentropy", "L2": "mse"}


@register_study
class Loss(Study):
    """The same MLP and Adam settings trained on the softmax's cross-entropy and on the squared error
    between the softmax and the one-hot target: the steps each needs to reach a training-accuracy
    target and where validation accuracy ends. The squared error's gradient through the softmax
    vanishes when a prediction is confidently wrong; the cross-entropy's does not."""

    name = "loss"
    title = "Loss for classification"
    claims = {
        "ce-faster": Claim("Cross-entropy trains a classifier faster than an L2 loss on the probabilities",
                           "steps to a training-accuracy target, L2 over cross-entropy"),
        "ce-better": Claim("Cross-entropy ends better than L2 in the same budget",
                           "best validation accuracy, cross-entropy minus L2"),
    }

    def plan(self, mode: str) -> Plan:
        limit, val, epochs, threshold = SIZES[mode]
        base = {"model.name": "mlp_deep", "model.depth": 2, "model.width": 128 if mode != "smoke" else 32,
                "model.activation": "relu", "train.optimizer": "adam", "train.learning_rate": 0.001,
                "train.lr_schedule": "constant", "train.epochs": epochs, "train.batch_size": 64,
                "data.limit_train": limit, "data.validation_size": val}
        points = [Point(label, {"train.loss": loss}, ({"name": "steps_to_accuracy", "threshold": threshold},))
                  for label, loss in LOSSES.items()]
        return Plan(base, points, f"{(limit or 60000) - val} training images, {epochs} epoch(s) of Adam (1e-3), a "
                                  f"2-layer ReLU MLP; target {threshold:.0%} smoothed training accuracy")

    def findings(self, r: Results) -> list:
        steps = {p: [row.metric("probe.steps_to_accuracy") for row in r.seeds_of(p)] for p in LOSSES}
        slower, bound = paired_ratio(steps["L2"], steps["cross-entropy"],
                                     [row.metric("probe.steps_run") for row in r.seeds_of("L2")])
        val = {p: r.stat(p, "best_val_accuracy") for p in LOSSES}
        return [self.found("ce-faster", f"L2 needed {'at least ' if bound else ''}{slower.show(3, unit='x')} the steps "
                                        "of cross-entropy", above(slower, 1.0)),
                self.found("ce-better", "best validation accuracy: cross-entropy "
                                        f"{val['cross-entropy'].show(3, 100, '%')}, L2 {val['L2'].show(3, 100, '%')}",
                           exceeds(val["cross-entropy"], val["L2"]))]

    def figures(self, r: Results) -> dict:
        return {"convergence.png": ("Smoothed training accuracy per step (first seed)", plots.overlaid(
            {p: r.series(p, "probe.train_accuracy_ema") for p in LOSSES}, "step", "training accuracy (EMA)"))}
