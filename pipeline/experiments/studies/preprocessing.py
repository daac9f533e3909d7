"""Input preprocessing: zero-centering at the same scale, and standardizing."""
from __future__ import annotations

from ..sweeps import Point
from .base import SEEDS, Claim, Plan, Results, Study, Tuning, convergence_figure, register_study
from .measure import linear_sensitivity, mnist_facts, probe_batch
from .rules import above, exceeds, fmt, given, matches, paired_ratio, per_seed, within

SIZES = {  # mode -> (training images incl. validation, validation, epochs, accuracy threshold, rates)
    "smoke": (1500, 500, 1, 0.3, (0.01, 0.03)),
    "default": (12000, 2000, 1, 0.9, (0.003, 0.01, 0.03)),
}
SIZES["full"] = SIZES["default"]   # the default's budgets on five seeds (base.SEEDS)
OFFSET = 4.0   # how far the moved inputs sit from the origin, in pixel stds
FITTED, EQUAL_FIT = 0.9, 0.02   # both classifiers trained to this training accuracy, compared within this
MNIST = {"height": 28, "width": 28, "training images": 60000, "test images": 10000, "classes": 10}
POINTS = {"scaled": "scale", "centered": "center", "standardized": "standardize"}


@register_study
class Preprocessing(Study):
    """The same MLP and SGD settings on pixels scaled to [0, 1] (all positive, mean about 0.13 on
    MNIST), the same pixels minus their training mean (zero-centered, at the same scale), and
    standardized pixels (centered, divided by the std): how fast each reaches a training-accuracy target with the
    learning rate tuned per condition on validation, so that a difference of scale is not mistaken for
    the effect of centering. (Raw 0-255 pixels against standardized ones would differ in scale 255x and
    settle nothing about centering with one shared rate.) The lecture's sensitivity figure is measured as
    drawn: a linear classifier trained on centred inputs and on the same inputs moved far from the origin,
    then the same small change to its weights. And the MNIST the notes describe: its images and split."""

    name = "preprocessing"
    title = "Data preprocessing"
    claims = {
        "mnist": Claim("MNIST: 28x28 pixel images of handwritten digits, 70,000 in all: 60,000 training, 10,000 test",
                       "the images and split trainlab loads (Keras's copy of MNIST)", "mnist",
                       construction="a fact of the dataset, read from its files"),
        "sensitivity": Claim("Data not centered at the origin makes the loss very sensitive to small changes in "
                             "the weights", "a linear classifier's mean |loss change| for the same small weight "
                             f"change, inputs {OFFSET:g} std from the origin over centred ones (at least 2x), each "
                             f"trained to {FITTED:.0%} training accuracy (equal fit: within {EQUAL_FIT:.0%} per seed)",
                             "preprocessing"),
        "centering-faster": Claim("Zero-centered inputs are easier to optimize: training converges faster",
                                  "steps to a training-accuracy target, scaled over centered, rates tuned per "
                                  "condition by the same steps on the tuning seed", "preprocessing"),
        "centering-better": Claim("Zero-centered inputs end better in the same budget",
                                  "best validation accuracy, centered minus scaled", "preprocessing"),
        "standardizing": Claim("Dividing by the std as well (standardizing) helps beyond centering",
                               "steps to the target, centered over standardized, rates tuned per condition",
                               "preprocessing"),
    }

    def plan(self, mode: str, overrides: dict | None = None) -> Plan:
        limit, val, epochs, threshold, rates = SIZES[mode]
        base = {"model.name": "mlp_deep", "model.depth": 2, "model.width": 128 if mode != "smoke" else 32,
                "model.activation": "relu", "train.optimizer": "sgd", "train.momentum": 0.9,
                "train.lr_schedule": "constant", "train.epochs": epochs, "train.batch_size": 64,
                "data.limit_train": limit, "data.validation_size": val}
        probes = ({"name": "steps_to_accuracy", "threshold": threshold},)
        points = [Point(label, {"data.normalization": mode_}, probes) for label, mode_ in POINTS.items()]
        return Plan(base, points, f"{(limit or 60000) - val} training images, {epochs} epoch(s) of SGD (momentum "
                                  f"0.9), a 2-layer ReLU MLP; target {threshold:.0%} smoothed training accuracy",
                    tune=Tuning("train.learning_rate", rates, metric="probe.steps_to_accuracy", lower=True))

    def measurements(self, mode: str, overrides: dict) -> dict:
        limit, val, *_ = SIZES[mode]
        x, y, classes = probe_batch(overrides, 2000 if mode != "smoke" else 300,
                                    {"data.limit_train": limit, "data.validation_size": val})
        return {**linear_sensitivity(x, y, classes, SEEDS[mode], OFFSET, target=FITTED), "mnist": mnist_facts()}

    def findings(self, r: Results) -> list:
        sens = {p: r.stat(p, "sensitivity") for p in ("far", "centred")}
        ratio = _ratio(sens["far"], sens["centred"])
        fitted = {p: r.stat(p, "train_accuracy") for p in sens}
        took = {p: r.stat(p, "steps").show(3) for p in sens}
        equal = within(per_seed(lambda f, c: f - c, fitted["far"], fitted["centred"]), -EQUAL_FIT, EQUAL_FIT,
                       "training accuracy, far minus centred, per seed")
        out = [self.found("sensitivity", "linear classifier, mean |loss change|: " + ", ".join(
            f"{p} {s.show(3)} (training accuracy {fitted[p].show(3, 100, '%')} after {took[p]} steps)"
            for p, s in sens.items()) + f"; far over centred {ratio.show(3, unit='x')}",
            given(above(ratio, 2.0), equal))]
        facts = {k: (r.values("mnist", k) or [None])[0] for k in MNIST}
        out.insert(0, self.found("mnist", ", ".join(f"{k} {fmt(v, 6)}" for k, v in facts.items()),
                                 matches(facts, MNIST)))
        steps = {p: [row.metric("probe.steps_to_accuracy") for row in r.seeds_of(p)] for p in POINTS}
        ran = {p: [row.metric("probe.steps_run") for row in r.seeds_of(p)] for p in POINTS}
        slower, bound = paired_ratio(steps["scaled"], steps["centered"], ran["scaled"])
        out.append(self.found("centering-faster", f"scaled needed {'at least ' if bound else ''}"
                                                  f"{slower.show(3, unit='x')} the steps of centered",
                              above(slower, 1.0)))
        val = {p: r.stat(p, "best_val_accuracy") for p in POINTS}
        out.append(self.trained(r, "centering-better", "best validation accuracy: centered "
                                                       f"{val['centered'].show(3, 100, '%')}"
                                                       f", scaled {val['scaled'].show(3, 100, '%')}",
                                exceeds(val["centered"], val["scaled"]), "centered", "scaled"))
        slower, bound = paired_ratio(steps["centered"], steps["standardized"], ran["centered"])
        out.append(self.found("standardizing", f"centered needed {'at least ' if bound else ''}"
                                               f"{slower.show(3, unit='x')} the steps of standardized",
                              above(slower, 1.0)))
        return out

    def figures(self, r: Results) -> dict:
        return {
            "convergence.png": convergence_figure(r, POINTS),
            "sensitivity.png": ("A trained linear classifier: mean |loss change| for the same small weight change",
                                r.bars(["centred", "far"], "sensitivity", "|loss change|", log_y=True)),
        }


def _ratio(a, b):
    return per_seed(lambda x, y: x / y if y else None, a, b)
