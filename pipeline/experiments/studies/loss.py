"""The loss for classification: cross-entropy on the softmax against L2 on one-hot targets, under plain
SGD with momentum, each at its own rate; and whether the loss approaches zero during training."""
from __future__ import annotations

import math

from ...evaluation import plots
from ..sweeps import Point
from .base import Claim, Plan, Results, Study, Tuning, register_study
from .rules import above, at_most, exceeds, paired_ratio

SIZES = {  # mode -> (training images incl. validation, validation, epochs, training-accuracy target, rates)
    "smoke": (1500, 500, 2, 0.5, (0.01, 0.1)),
    "default": (12000, 2000, 6, 0.95, (0.01, 0.03, 0.1)),
}
SIZES["full"] = SIZES["default"]   # the default's budgets on five seeds (base.SEEDS)
LOSSES = {"cross-entropy": "categorical_crossentropy", "L2": "mse"}
CE_SETTING = ("the notes only list cross-entropy after L2; the lecture's slides recommend it for classification, "
              "the claim measured here")
MUCH = 1.2   # "faster": at least 1.2x the epochs on average


@register_study
class Loss(Study):
    """The same 2-layer ReLU MLP trained with SGD (momentum 0.9, constant rate) on the softmax's
    cross-entropy and on the squared error between the softmax and the one-hot target, each at the rate
    that reached the training-accuracy target in the fewest epochs (tuned per loss on a seed of its own:
    an L2 loss has gradients about ten times smaller, so one shared rate, or Adam's rescaling of the
    gradients, would hide the difference). The squared error's gradient through the softmax vanishes
    when a prediction is confidently wrong; the cross-entropy's does not. The notes call the L2 loss the
    most used; the lecture's slides use cross-entropy for classification."""

    name = "loss"
    title = "Loss for classification"
    claims = {
        "ce-faster": Claim("Cross-entropy trains a classifier faster than an L2 loss on the probabilities",
                           f"epochs to a training-accuracy target, L2 over cross-entropy per seed (at least {MUCH}x), "
                           "rates tuned per loss for speed", "loss-ce", CE_SETTING),
        "ce-better": Claim("Cross-entropy ends better than L2 in the same budget",
                           "best validation accuracy, cross-entropy minus L2 per seed", "loss-ce", CE_SETTING),
        "loss-to-zero": Claim("The training loss approaches zero during training",
                              "cross-entropy's last-epoch training loss over its value for a uniform guess "
                              "(ln of the number of classes): at most 0.2", "loss-zero"),
    }

    unmeasured = {
        "l2-most-used": Claim("L2 is the most used loss function", "a statement about what the field uses, not about "
                              "training: no run can settle it (the claims above compare L2 with cross-entropy for "
                              "classification, which the notes list next without a claim)", "loss-l2"),
    }

    def plan(self, mode: str, overrides: dict | None = None) -> Plan:
        limit, val, epochs, threshold, rates = SIZES[mode]
        base = {"model.name": "mlp_deep", "model.depth": 2, "model.width": 128 if mode != "smoke" else 32,
                "model.activation": "relu", "train.optimizer": "sgd", "train.momentum": 0.9,
                "train.lr_schedule": "constant", "train.epochs": epochs, "train.batch_size": 64,
                "data.limit_train": limit, "data.validation_size": val}
        points = [Point(label, {"train.loss": loss}, ({"name": "epochs_to_accuracy", "threshold": threshold},))
                  for label, loss in LOSSES.items()]
        return Plan(base, points, f"{(limit or 60000) - val} training images, {epochs} epochs of SGD (momentum 0.9, "
                                  f"constant rate tuned per loss), a 2-layer ReLU MLP; target {threshold:.0%} "
                                  "training accuracy",
                    tune=Tuning("train.learning_rate", rates, metric="probe.epochs_to_accuracy", lower=True))

    def findings(self, r: Results) -> list:
        seeds = [row.label.rsplit("#", 1)[-1] for row in r.seeds_of("cross-entropy")]
        by_seed = {p: {row.label.rsplit("#", 1)[-1]: row for row in r.seeds_of(p)} for p in LOSSES}
        common = [s for s in seeds if s in by_seed["L2"]]

        def get(p, key):
            return [by_seed[p][s].metric(key) for s in common]
        slower, bound = paired_ratio(get("L2", "probe.epochs_to_accuracy"), get("cross-entropy",
                                     "probe.epochs_to_accuracy"), get("L2", "probe.epochs_run"), common)
        val = {p: r.stat(p, "best_val_accuracy") for p in LOSSES}
        classes = 10
        left = r.stat("cross-entropy", "loss").map(lambda v: v / math.log(classes))
        return [self.found("ce-faster", f"L2 needed {'at least ' if bound else ''}{slower.show(3, unit='x')} the "
                                        "epochs of cross-entropy", above(slower, MUCH)),
                self.trained(r, "ce-better", "best validation accuracy: cross-entropy "
                                             f"{val['cross-entropy'].show(3, 100, '%')}, L2 "
                                             f"{val['L2'].show(3, 100, '%')}",
                             exceeds(val["cross-entropy"], val["L2"]), "cross-entropy"),
                self.found("loss-to-zero", f"last-epoch training loss over ln(10): {left.show(3)}",
                           at_most(left, 0.2))]

    def figures(self, r: Results) -> dict:
        return {"convergence.png": ("Training accuracy over the last quarter epoch, per step (first seed)",
                                    plots.overlaid({p: r.series(p, "probe.train_accuracy_window") for p in LOSSES},
                                                   "step", "training accuracy"))}
