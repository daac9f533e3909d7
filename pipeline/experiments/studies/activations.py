"""Activation functions: what each costs, how fast a CNN without normalization converges with it, where
it ends, and what maxout costs in parameters."""
from __future__ import annotations

from pathlib import Path

from trainlab.models import ACTIVATIONS

from ...evaluation import plots
from ..sweeps import Point
from .base import Claim, Plan, Results, Study, Tuning, register_study
from .measure import activation_seconds, parameter_ratios
from .rules import above as above_rule
from .rules import (
    at_least,
    at_most,
    both,
    exceeds,
    fact,
    given,
    judge,
    no_worse,
    paired_ratio,
    per_seed,
    similar,
    within,
)

SIZES = {  # mode -> (dataset, training images incl. validation, validation, epochs, target, width, rates)
    "smoke": ("mnist", 1500, 500, 2, 0.5, 8, (0.01, 0.03)),
    "default": ("fashion_mnist", 12000, 2000, 8, 0.85, 16, (0.01, 0.03, 0.1)),
}
SIZES["full"] = SIZES["default"]   # the default's budgets on five seeds (base.SEEDS)
TIMING = {"smoke": ((64, 4096), 3), "default": ((256, 16384), 9)}
TIMING["full"] = TIMING["default"]
RELU_FAMILY = ("relu", "leaky_relu", "elu", "selu", "gelu", "maxout")
WITH_BN = ("relu", "tanh", "sigmoid")   # the speed claims again, with BatchNorm: a second, labelled condition
MUCH = 1.5                              # "much faster": at least 1.5x the epochs on average
AS_FAST = 1.2                           # "as fast": at most 1.2x the epochs
LECTURE_TARGET = 0.75                   # Krizhevsky et al.'s 25% training error, run where the data is CIFAR-10
NOT_THE_LECTURES = ("; not measured in the lecture's setting (CIFAR-10 to 25% training error: --dataset a CIFAR-10 "
                    "archive runs it)")


def bn(activation: str) -> str:
    return f"{activation}, batch norm"


@register_study
class Activations(Study):
    """Every activation of the lecture in the same small CNN (two blocks of 3x3 convolutions) *without
    normalization*, as Krizhevsky et al. trained theirs, and ReLU, tanh and sigmoid again with BatchNorm
    as a second, labelled condition (BatchNorm keeps tanh and sigmoid out of saturation). SGD with
    momentum 0.9 at a constant rate tuned per activation *for speed* (the fewest epochs to the training
    accuracy target, on a tuning seed of its own; the grid grows past an end where the best rate sits).
    Speed is counted as Krizhevsky et al. count it: epochs until the training accuracy (the plain mean
    over the last quarter epoch of batches) reaches the target. Fashion-MNIST by default (``--dataset
    PATH`` for a CIFAR-format archive). Beside it, each activation's forward + backward time on one large
    tensor, and the parameters maxout adds."""

    name = "activations"
    title = "Activation functions"
    claims = {
        "relu-faster-than-tanh": Claim("ReLU converges much faster than tanh",
                                       f"epochs to the training-accuracy target, tanh over ReLU per seed (at least "
                                       f"{MUCH}x on average), no normalization, rates tuned per activation for speed",
                                       "relu-faster", "a four-layer CNN without normalization on CIFAR-10, epochs to "
                                                      "25% training error, rates tuned per network for speed"),
        "relu-6x": Claim("ReLU converges about 6x faster than tanh (Krizhevsky et al. 2012)",
                         "the same ratio, judged against a band of 3x-12x around 6x", "relu-faster",
                         "Krizhevsky et al. 2012, Figure 1: 6x fewer epochs to 25% training error on CIFAR-10"),
        "relu-faster-than-sigmoid": Claim("ReLU converges much faster than sigmoid",
                                          f"epochs to the target, sigmoid over ReLU per seed (at least {MUCH}x)",
                                          "relu-faster"),
        "exp-sigmoid": Claim("exp() is a bit compute expensive: sigmoid costs more than ReLU",
                             "forward + backward seconds on one tensor, sigmoid over ReLU, per repeat", "sigmoid-exp"),
        "exp-elu": Claim("ELU computes exp(): a bit slower than ReLU",
                         "forward + backward seconds, ELU over ReLU, per repeat", "elu-exp"),
        "similar": Claim("In practice the ReLU family gives similar results (\"don't think too hard, use ReLU\")",
                         "best validation accuracy of ReLU, Leaky ReLU, ELU, SELU, GELU and maxout: every pair "
                         "within 1 point per seed", "similar"),
        "no-sigmoid": Claim("Don't use sigmoid: it trains worse than the ReLU family",
                            "best validation accuracy, the worst ReLU-family activation minus sigmoid per seed (at "
                            "least 1 point)", "no-sigmoid"),
        "tanh-usable": Claim("tanh is usable, but ReLU is better in most cases",
                             "tanh's best validation accuracy (usable: at least 80%) and ReLU minus tanh per seed",
                             "tanh-usable"),
        "leaky-keeps-advantages": Claim("Leaky ReLU has all the benefits of ReLU",
                                        f"epochs to the target, Leaky ReLU over ReLU per seed (at most {AS_FAST}x: as "
                                        "fast), and best validation accuracy within 1 point of ReLU's",
                                        "leaky-advantages"),
        "relu-first": Claim("Use ReLU first: it is the default to start from",
                            "best validation accuracy, ReLU within 1 point of the best of the ReLU family per seed",
                            "relu-first"),
        "maxout-params": Claim("Maxout doubles the number of parameters",
                               "parameters of the maxout network over the ReLU network, for each network the studies "
                               "train (CNN, 2- and 4-layer MLPs), in the band 1.8x-2.2x", "maxout-params",
                               construction="a maxout unit has two weight vectors where ReLU's has one: the count "
                                            "follows from the layer definitions"),
    }

    def plan(self, mode: str, overrides: dict | None = None) -> Plan:
        dataset, limit, val, epochs, target, width, rates = SIZES[mode]
        if _cifar((overrides or {}).get("data.dataset")):   # the lecture's setting: Krizhevsky et al.'s target
            dataset, target = "CIFAR-10", LECTURE_TARGET
        base = {"data.dataset": dataset, "model.name": "cnn", "model.width": width, "model.dropout": 0.0,
                "model.normalization": "none", "train.optimizer": "sgd", "train.momentum": 0.9,
                "train.lr_schedule": "constant", "train.epochs": epochs, "train.batch_size": 64,
                "data.limit_train": limit, "data.validation_size": val}
        probes = ({"name": "epochs_to_accuracy", "threshold": target},)
        points = [Point(a, {"model.activation": a}, probes) for a in ACTIVATIONS]
        points += [Point(bn(a), {"model.activation": a, "model.normalization": "batch"}, probes) for a in WITH_BN]
        train_images = (limit or 60000) - val
        return Plan(base, points, f"{dataset}, {train_images} training images, {epochs} epochs of SGD (momentum 0.9, "
                                  f"constant rate), CNN width {width} without normalization (and with BatchNorm where "
                                  f"labelled), target {target:.0%} training accuracy",
                    tune=Tuning("train.learning_rate", rates, metric="probe.epochs_to_accuracy", lower=True))

    def measurements(self, mode: str, overrides: dict) -> dict:
        shape, repeats = TIMING[mode]
        return {**activation_seconds(ACTIVATIONS, shape, repeats),
                "maxout over relu": {"parameters": parameter_ratios("maxout", "relu")}}

    def findings(self, r: Results) -> list:
        target = r.metric("relu", "probe.accuracy_threshold") or 0
        lecture = _cifar(r.base.get("data.dataset")) and target == LECTURE_TARGET
        tanh, tanh_bound = self._ratio(r, "tanh", "relu")
        tanh_bn, _ = self._ratio(r, bn("tanh"), bn("relu"))
        shown = (f"tanh needed {'at least ' if tanh_bound else ''}{tanh.show(3, unit='x')} the epochs of ReLU to reach "
                 f"{target:.0%} training accuracy ({_epochs(r, 'relu')} for ReLU); with BatchNorm "
                 f"{tanh_bn.show(3, unit='x')}")
        out = [self.found("relu-faster-than-tanh", shown, above_rule(tanh, MUCH)),
               self.found("relu-6x", shown + ("" if lecture else NOT_THE_LECTURES),
                          given(within(tanh, 3.0, 12.0), judge(fact(
                              "the lecture's setting: CIFAR-10, target 75% (1: yes)", float(lecture), 1.0))))]
        sigmoid, bound = self._ratio(r, "sigmoid", "relu")
        sigmoid_bn, _ = self._ratio(r, bn("sigmoid"), bn("relu"))
        out.append(self.found("relu-faster-than-sigmoid",
                              f"sigmoid needed {'at least ' if bound else ''}{sigmoid.show(3, unit='x')} the epochs of "
                              f"ReLU ({_epochs(r, 'sigmoid')} vs {_epochs(r, 'relu')}); with BatchNorm "
                              f"{sigmoid_bn.show(3, unit='x')}", above_rule(sigmoid, MUCH)))
        for claim, name in (("exp-sigmoid", "sigmoid"), ("exp-elu", "elu")):
            ratio = per_seed(lambda a, b: a / b, r.stat(name, "seconds"), r.stat("relu", "seconds"))
            out.append(self.found(claim, f"{name} {r.stat(name, 'seconds').show(3, 1e3, ' ms')} vs ReLU "
                                         f"{r.stat('relu', 'seconds').show(3, 1e3, ' ms')}: {ratio.show(3, unit='x')}",
                                  above_rule(ratio, 1.0)))
        val = {a: r.stat(a, "best_val_accuracy") for a in ACTIVATIONS}
        shown = ", ".join(f"{a} {val[a].show(3, 100, '%')}" for a in RELU_FAMILY)
        out.append(self.trained(r, "similar", f"best validation accuracy: {shown}",
                                similar({a: val[a] for a in RELU_FAMILY}, 0.01), *RELU_FAMILY))
        worst = per_seed(lambda *v: min(v), *(val[a] for a in RELU_FAMILY))
        out.append(self.trained(r, "no-sigmoid", f"worst of the ReLU family per seed {worst.show(3, 100, '%')} vs "
                                                 f"sigmoid {val['sigmoid'].show(3, 100, '%')}",
                                exceeds(worst, val["sigmoid"], 0.01), *RELU_FAMILY))
        out.append(self.trained(r, "tanh-usable", f"best validation accuracy: tanh {val['tanh'].show(3, 100, '%')}, "
                                                  f"ReLU {val['relu'].show(3, 100, '%')}",
                                both(at_least(val["tanh"], 0.8, "tanh's accuracy per seed"),
                                     exceeds(val["relu"], val["tanh"])), "relu"))
        leaky, _ = self._ratio(r, "leaky_relu", "relu")
        out.append(self.trained(r, "leaky-keeps-advantages", f"Leaky ReLU needed {leaky.show(3, unit='x')} the epochs "
                                                             f"of ReLU; best validation accuracy Leaky ReLU "
                                                             f"{val['leaky_relu'].show(3, 100, '%')}, ReLU "
                                                             f"{val['relu'].show(3, 100, '%')}",
                                both(at_most(leaky, AS_FAST, "epochs, Leaky ReLU over ReLU, per seed"),
                                     no_worse(val["leaky_relu"], val["relu"], 0.01)), "relu", "leaky_relu"))
        best = per_seed(lambda *v: max(v), *(val[a] for a in RELU_FAMILY))
        out.append(self.trained(r, "relu-first", f"ReLU {val['relu'].show(3, 100, '%')}, the best of the ReLU "
                                                 f"family per seed {best.show(3, 100, '%')}",
                                no_worse(val["relu"], best, 0.01), *RELU_FAMILY))
        params = r.stat("maxout over relu", "parameters")
        out.append(self.found("maxout-params", f"maxout over ReLU parameters: {params.show(3, unit='x')}",
                              within(params, 1.8, 2.2)))
        return out

    @staticmethod
    def _ratio(r: Results, slow: str, fast: str):
        rows = {label: r.seeds_of(label) for label in (slow, fast)}
        seeds = [row.label.rsplit("#", 1)[-1] for row in rows[fast]]
        by_seed = {label: {row.label.rsplit("#", 1)[-1]: row for row in rows[label]} for label in rows}
        common = [s for s in seeds if s in by_seed[slow]]

        def get(label, key):
            return [by_seed[label][s].metric(key) for s in common]
        return paired_ratio(get(slow, "probe.epochs_to_accuracy"), get(fast, "probe.epochs_to_accuracy"),
                            get(slow, "probe.epochs_run"), common)

    def figures(self, r: Results) -> dict:
        labels = list(ACTIVATIONS) + [bn(a) for a in WITH_BN]
        return {
            "convergence.png": _convergence(r, labels),
            "val_accuracy.png": ("Best validation accuracy (mean and range over seeds)",
                                 r.bars(labels, "best_val_accuracy", "validation accuracy")),
            "seconds.png": ("Forward + backward time on one tensor (mean and range over repeats)",
                            r.bars(ACTIVATIONS, "seconds", "milliseconds", scale=1e3)),
        }


def _convergence(r: Results, labels) -> tuple:
    return ("Training accuracy over the last quarter epoch, per step (first seed, tuned rates)", plots.overlaid(
        {label: r.series(label, "probe.train_accuracy_window") for label in labels}, "step", "training accuracy"))


def _epochs(r: Results, label: str) -> str:
    reached = r.stat(label, "probe.epochs_to_accuracy")
    return f"{reached.show(3)} epochs" if reached.n == len(r.seeds_of(label)) else \
        f"{reached.n} of {len(r.seeds_of(label))} seeds reached it"


def _cifar(dataset) -> bool:
    """Whether ``data.dataset`` names a CIFAR-10 archive or folder (the lecture's setting for the 6x claim)."""
    from ...data.cifar import is_cifar
    return isinstance(dataset, str) and "100" not in Path(dataset).name and is_cifar(Path(dataset))
