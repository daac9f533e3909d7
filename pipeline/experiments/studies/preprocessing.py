"""Input preprocessing: zero-centering at the same scale, and standardizing."""
from __future__ import annotations

from ..sweeps import Point
from .base import Claim, Plan, Results, Study, Tuning, convergence_figure, register_study
from .rules import above, exceeds, paired_ratio, per_seed

SIZES = {  # mode -> (training images incl. validation, validation, epochs, accuracy threshold, rates)
    "smoke": (1500, 500, 1, 0.3, (0.01, 0.03)),
    "default": (12000, 2000, 1, 0.9, (0.003, 0.01, 0.03)),
    "full": (None, 5000, 4, 0.97, (0.001, 0.003, 0.01, 0.03)),
}
POINTS = {"scaled": "scale", "centered": "center", "standardized": "standardize"}


@register_study
class Preprocessing(Study):
    """The same MLP and SGD settings on pixels scaled to [0, 1] (all positive, mean about 0.13 on
    MNIST), the same pixels minus their training mean (zero-centered, at the same scale), and
    standardized pixels (centered, divided by the std): how far the loss at initialization moves when
    every weight matrix gets 1% noise (the lecture: data far from the origin makes the loss very
    sensitive to small weight changes), and how fast each reaches a training-accuracy target with the
    learning rate tuned per condition on validation, so that a difference of scale is not mistaken for
    the effect of centering. (Raw 0-255 pixels against standardized ones would differ in scale 255x and
    settle nothing about centering with one shared rate.)"""

    name = "preprocessing"
    title = "Data preprocessing"
    claims = {
        "sensitivity": Claim("Data not centered at the origin makes the loss very sensitive to small changes in "
                             "the weights", "mean |loss change| for 1% weight noise at init, scaled over centered"),
        "centering-faster": Claim("Zero-centered inputs are easier to optimize: training converges faster",
                                  "steps to a training-accuracy target, scaled over centered, rates tuned per "
                                  "condition"),
        "centering-better": Claim("Zero-centered inputs end better in the same budget",
                                  "best validation accuracy, centered minus scaled"),
        "standardizing": Claim("Dividing by the std as well (standardizing) helps beyond centering",
                               "steps to the target, centered over standardized, rates tuned per condition"),
    }

    def plan(self, mode: str) -> Plan:
        limit, val, epochs, threshold, rates = SIZES[mode]
        base = {"model.name": "mlp_deep", "model.depth": 2, "model.width": 128 if mode != "smoke" else 32,
                "model.activation": "relu", "train.optimizer": "sgd", "train.momentum": 0.9,
                "train.lr_schedule": "constant", "train.epochs": epochs, "train.batch_size": 64,
                "data.limit_train": limit, "data.validation_size": val}
        probes = ({"name": "loss_sensitivity", "noise": 0.01}, {"name": "steps_to_accuracy", "threshold": threshold})
        points = [Point(label, {"data.normalization": mode_}, probes) for label, mode_ in POINTS.items()]
        return Plan(base, points, f"{(limit or 60000) - val} training images, {epochs} epoch(s) of SGD (momentum "
                                  f"0.9), a 2-layer ReLU MLP; target {threshold:.0%} smoothed training accuracy",
                    tune=Tuning("train.learning_rate", rates))

    def findings(self, r: Results) -> list:
        sens = {p: r.stat(p, "probe.loss_sensitivity") for p in POINTS}
        ratio = _ratio(sens["scaled"], sens["centered"])
        out = [self.found("sensitivity", "mean |loss change|: " + ", ".join(f"{p} {s.show(3)}" for p, s in sens.items())
                          + f"; scaled over centered {ratio.show(3, unit='x')}", above(ratio, 1.0))]
        steps = {p: [row.metric("probe.steps_to_accuracy") for row in r.seeds_of(p)] for p in POINTS}
        ran = {p: [row.metric("probe.steps_run") for row in r.seeds_of(p)] for p in POINTS}
        slower, bound = paired_ratio(steps["scaled"], steps["centered"], ran["scaled"])
        out.append(self.found("centering-faster", f"scaled needed {'at least ' if bound else ''}"
                                                  f"{slower.show(3, unit='x')} the steps of centered",
                              above(slower, 1.0)))
        val = {p: r.stat(p, "best_val_accuracy") for p in POINTS}
        out.append(self.found("centering-better", "best validation accuracy: centered "
                                                  f"{val['centered'].show(3, 100, '%')}"
                                                  f", scaled {val['scaled'].show(3, 100, '%')}",
                              exceeds(val["centered"], val["scaled"])))
        slower, bound = paired_ratio(steps["centered"], steps["standardized"], ran["centered"])
        out.append(self.found("standardizing", f"centered needed {'at least ' if bound else ''}"
                                               f"{slower.show(3, unit='x')} the steps of standardized",
                              above(slower, 1.0)))
        return out

    def figures(self, r: Results) -> dict:
        return {
            "convergence.png": convergence_figure(r, POINTS),
            "sensitivity.png": ("Mean |loss change| for 1% weight noise at initialization",
                                r.bars(list(POINTS), "probe.loss_sensitivity", "|loss change|", log_y=True)),
        }


def _ratio(a, b):
    return per_seed(lambda x, y: x / y if y else None, a, b)
