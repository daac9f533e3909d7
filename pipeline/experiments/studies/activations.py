"""Activation functions: what each costs, how fast a CNN converges with it, where it ends."""
from __future__ import annotations

from trainlab.models import ACTIVATIONS

from ..sweeps import Point
from .base import Claim, Plan, Results, Study, Tuning, convergence_figure, register_study
from .measure import activation_seconds
from .rules import above, exceeds, paired_ratio, per_seed, similar, within

SIZES = {  # mode -> (dataset, training images incl. validation, validation, epochs, threshold, width, rates)
    "smoke": ("mnist", 1500, 500, 1, 0.3, 8, (0.01, 0.03)),
    "default": ("fashion_mnist", 12000, 2000, 2, 0.8, 16, (0.01, 0.03, 0.1)),
    "full": ("fashion_mnist", None, 5000, 6, 0.85, 32, (0.003, 0.01, 0.03, 0.1)),
}
TIMING = {"smoke": ((64, 4096), 3), "default": ((256, 16384), 9), "full": ((256, 65536), 15)}
RELU_FAMILY = ("relu", "leaky_relu", "elu", "selu", "gelu", "maxout")


@register_study
class Activations(Study):
    """Every activation of the lecture in the same small CNN (two blocks of 3x3 convolutions, no
    normalization, as in Krizhevsky et al.), trained with SGD and momentum at the learning rate that
    gave the best validation accuracy for that activation (chosen per activation from a small grid on
    the first seed): how many steps it takes to reach a training-accuracy target, and where validation
    accuracy ends. On Fashion-MNIST by default (``--dataset PATH`` for a CIFAR-format archive or another
    dataset). Beside it, each activation's forward + backward time on one large tensor."""

    name = "activations"
    title = "Activation functions"
    claims = {
        "relu-faster-than-tanh": Claim("ReLU converges much faster than tanh",
                                       "steps to a training-accuracy target, tanh over ReLU, rates tuned per "
                                       "activation"),
        "relu-6x": Claim("ReLU converges about 6x faster than tanh (Krizhevsky et al. 2012: epochs to 25% training "
                         "error on CIFAR-10)",
                         "the same ratio, judged against a band of 3x-12x around 6x"),
        "relu-faster-than-sigmoid": Claim("ReLU converges much faster than sigmoid",
                                          "steps to the target, sigmoid over ReLU"),
        "exp-sigmoid": Claim("exp() is a bit compute expensive: sigmoid costs more than ReLU",
                             "forward + backward seconds on one tensor, sigmoid over ReLU, per repeat"),
        "exp-elu": Claim("ELU computes exp(): a bit slower than ReLU",
                         "forward + backward seconds, ELU over ReLU, per repeat"),
        "similar": Claim("In practice the ReLU family gives similar results (\"don't think too hard, use ReLU\")",
                         "best validation accuracy of ReLU, Leaky ReLU, ELU, SELU, GELU and maxout, within 1 point"),
        "no-sigmoid": Claim("Don't use sigmoid: it trains worse than the ReLU family",
                            "best validation accuracy, the worst ReLU-family activation minus sigmoid, per seed"),
    }

    def plan(self, mode: str) -> Plan:
        dataset, limit, val, epochs, threshold, width, rates = SIZES[mode]
        base = {"data.dataset": dataset, "model.name": "cnn", "model.width": width, "model.dropout": 0.0,
                "train.optimizer": "sgd", "train.momentum": 0.9, "train.lr_schedule": "constant",
                "train.epochs": epochs, "train.batch_size": 64, "data.limit_train": limit,
                "data.validation_size": val}
        probes = ({"name": "steps_to_accuracy", "threshold": threshold},)
        points = [Point(a, {"model.activation": a}, probes) for a in ACTIVATIONS]
        train_images = (limit or 60000) - val
        return Plan(base, points, f"{dataset}, {train_images} training images, {epochs} epoch(s) of SGD "
                                  f"(momentum 0.9, constant rate), CNN width {width}, target {threshold:.0%} smoothed "
                                  "training accuracy", tune=Tuning("train.learning_rate", rates))

    def measurements(self, mode: str, overrides: dict) -> dict:
        shape, repeats = TIMING[mode]
        return activation_seconds(ACTIVATIONS, shape, repeats)

    def findings(self, r: Results) -> list:
        steps = {a: [row.metric("probe.steps_to_accuracy") for row in r.seeds_of(a)] for a in ACTIVATIONS}
        ran = {a: [row.metric("probe.steps_run") for row in r.seeds_of(a)] for a in ACTIVATIONS}
        target = r.metric("relu", "probe.accuracy_threshold") or 0
        out = []
        tanh, bound = paired_ratio(steps["tanh"], steps["relu"], ran["tanh"])
        shown = f"tanh needed {'at least ' if bound else ''}{tanh.show(3, unit='x')} the steps of ReLU to reach " \
                f"{target:.0%} training accuracy ({_steps(r, 'relu')} for ReLU)"
        out.append(self.found("relu-faster-than-tanh", shown, above(tanh, 1.0)))
        out.append(self.found("relu-6x", shown, within(tanh, 3.0, 12.0, factor=1.0)))
        sigmoid, bound = paired_ratio(steps["sigmoid"], steps["relu"], ran["sigmoid"])
        out.append(self.found("relu-faster-than-sigmoid",
                              f"sigmoid needed {'at least ' if bound else ''}{sigmoid.show(3, unit='x')} the steps of "
                              f"ReLU ({_steps(r, 'sigmoid')} vs {_steps(r, 'relu')})", above(sigmoid, 1.0)))
        for claim, name in (("exp-sigmoid", "sigmoid"), ("exp-elu", "elu")):
            ratio = per_seed(lambda a, b: a / b, r.stat(name, "seconds"), r.stat("relu", "seconds"))
            out.append(self.found(claim, f"{name} {r.stat(name, 'seconds').show(3, 1e3, ' ms')} vs ReLU "
                                         f"{r.stat('relu', 'seconds').show(3, 1e3, ' ms')}: {ratio.show(3, unit='x')}",
                                  above(ratio, 1.0)))
        val = {a: r.stat(a, "best_val_accuracy") for a in ACTIVATIONS}
        shown = ", ".join(f"{a} {val[a].show(3, 100, '%')}" for a in RELU_FAMILY)
        out.append(self.found("similar", f"best validation accuracy: {shown}",
                              similar({a: val[a] for a in RELU_FAMILY}, 0.01)))
        worst = per_seed(lambda *v: min(v), *(val[a] for a in RELU_FAMILY))
        out.append(self.found("no-sigmoid", f"worst of the ReLU family per seed {worst.show(3, 100, '%')} vs sigmoid "
                                            f"{val['sigmoid'].show(3, 100, '%')}",
                              exceeds(worst, val["sigmoid"], 0.01)))
        return out

    def figures(self, r: Results) -> dict:
        return {
            "convergence.png": convergence_figure(r, ACTIVATIONS),
            "val_accuracy.png": ("Best validation accuracy (mean and range over seeds)",
                                 r.bars(ACTIVATIONS, "best_val_accuracy", "validation accuracy")),
            "seconds.png": ("Forward + backward time on one tensor (mean and range over repeats)",
                            r.bars(ACTIVATIONS, "seconds", "milliseconds", scale=1e3)),
        }


def _steps(r: Results, label: str) -> str:
    reached = r.stat(label, "probe.steps_to_accuracy")
    return f"{reached.show(3)} steps" if reached.n == len(r.seeds_of(label)) else \
        f"{reached.n} of {len(r.seeds_of(label))} seeds reached it"
