"""Weight initialization: activation statistics at init, symmetry, and whether the net trains."""
from __future__ import annotations

import numpy as np

from ...evaluation import plots
from ..sweeps import Point
from .base import Claim, Plan, Results, Study, register_study
from .rules import at_least, at_most, both, exceeds, no_worse, per_seed, within

SIZES = {  # mode -> (training images incl. validation, validation, epochs, depth, width)
    "smoke": (1500, 500, 1, 6, 32),
    "default": (12000, 2000, 2, 8, 256),
}
SIZES["full"] = SIZES["default"]   # the default's budgets on five seeds (base.SEEDS)
POINTS = {  # label -> model overrides; deep nets unless the label says shallow
    "constant/relu": {"model.initializer": "constant", "model.activation": "relu"},
    "small_random/tanh": {"model.initializer": "small_random", "model.activation": "tanh"},
    "glorot/tanh": {"model.initializer": "glorot_normal", "model.activation": "tanh"},
    "glorot/relu": {"model.initializer": "glorot_normal", "model.activation": "relu"},
    "he/relu": {"model.initializer": "he_normal", "model.activation": "relu"},
    "small_random/tanh, shallow": {"model.initializer": "small_random", "model.activation": "tanh", "model.depth": 2},
    "glorot/tanh, shallow": {"model.initializer": "glorot_normal", "model.activation": "tanh", "model.depth": 2},
}
AS_GOOD = 0.01   # "works": within 1 point of Glorot's accuracy in the same 2-layer MLP
SLIDES = "Glorot and He init are on the lecture's slides, not in the notes"
DEEP = [p for p in POINTS if "shallow" not in p]


@register_study
class Init(Study):
    """MLPs initialized with one constant (0.01 for every weight), small random numbers (std 0.01),
    Glorot and He: the spread of every hidden layer's outputs on the same batch before training, whether
    the units of a layer ever become different from each other, and how far SGD gets in the same budget,
    in a deep MLP and (small random numbers with tanh) in a 2-layer one. A constant init is the
    lecture's symmetry problem; zeros with tanh would only show tanh(0) = 0 stopping every gradient."""

    name = "init"
    title = "Weight initialization"
    claims = {
        "symmetry": Claim("Constant init: every unit of a layer computes the same thing and gets the same update; "
                          "training never breaks the symmetry",
                          "the largest over the layers of the spread between a layer's units' incoming weights "
                          "after training (0: identical)",
                          "init-zero", "the notes ask about zeros; a constant of 0.01 shows the same symmetry "
                                       "without tanh(0) = 0 stopping every gradient",
                          construction="units with identical weights receive identical gradients: arithmetic, up "
                                       "to the order of floating-point sums"),
        "small-collapses": Claim("Small random init (std 0.01): activations collapse toward zero in a deep net",
                                 "last/first hidden layer output std at init", "init-small",
                                 construction="at init each layer scales the output std by about std x sqrt(fan-in) "
                                              "x the activation's slope, far below 1 at std 0.01"),
        "small-ok-shallow": Claim("Small random init works for small networks, not for big ones",
                                  "best validation accuracy with small random init and tanh: within 1 point of "
                                  "Glorot's in a 2-layer MLP (per seed), and at chance (at most 20%) in the deep one",
                                  "init-small"),
        "glorot-tanh": Claim("Glorot (Xavier) init keeps tanh activations alive through the layers",
                             "last/first hidden layer output std at init", "init-small", SLIDES,
                             construction="Glorot's variance keeps that factor near 1 for tanh's unit slope at "
                                          "0: the formula's own derivation"),
        "glorot-relu": Claim("Glorot init with ReLU halves the variance per layer: activations shrink with depth",
                             "last/first hidden layer output std at init", "init-small", SLIDES,
                             construction="ReLU zeroes half the variance, so Glorot's factor is about 1/2 per "
                                          "layer: He et al.'s derivation"),
        "he-relu": Claim("He (Kaiming) init keeps ReLU activations at the same scale through the layers",
                         "last/first hidden layer output std at init, in [0.5, 2]", "init-small", SLIDES,
                         construction="He's variance 2/fan-in undoes ReLU's halving: its derivation"),
        "scaled-trains": Claim("Only a well-scaled init trains the deep net",
                               "best validation accuracy, the worse of Glorot/tanh and He/relu minus the better of "
                               "constant and small random, per seed", "init-small"),
    }

    def plan(self, mode: str, overrides: dict | None = None) -> Plan:
        limit, val, epochs, depth, width = SIZES[mode]
        base = {"model.name": "mlp_deep", "model.depth": depth, "model.width": width, "model.init_std": 0.01,
                "train.optimizer": "sgd", "train.learning_rate": 0.01, "train.momentum": 0.9,
                "train.lr_schedule": "constant", "train.epochs": epochs, "train.batch_size": 64,
                "data.limit_train": limit, "data.validation_size": val}
        probes = ({"name": "activations_at_init"}, {"name": "unit_spread"})
        points = [Point(label, overrides, probes) for label, overrides in POINTS.items()]
        return Plan(base, points, f"{(limit or 60000) - val} training images, {epochs} epoch(s) of SGD (lr 0.01, "
                                  f"momentum 0.9), a {depth}-layer MLP of {width} units (2 layers for the shallow "
                                  "points)")

    def findings(self, r: Results) -> list:
        ratio = {p: r.stat(p, "probe.act_std_last_over_first") for p in POINTS}
        val = {p: r.stat(p, "best_val_accuracy") for p in POINTS}
        spread = r.stat("constant/relu", "probe.max_unit_spread")   # every layer still symmetric: the largest
        out = [self.found("symmetry", f"largest spread between a layer's units after training {spread.show(3)}; "
                                      f"validation accuracy {val['constant/relu'].show(3, 100, '%')}",
                          at_most(spread, 1e-6))]
        out.append(self.found("small-collapses", f"last/first std {ratio['small_random/tanh'].show(3)}",
                              at_most(ratio["small_random/tanh"], 0.01)))
        shallow, deep = val["small_random/tanh, shallow"], val["small_random/tanh"]
        glorot = val["glorot/tanh, shallow"]
        out.append(self.trained(r, "small-ok-shallow", f"small random init, tanh: 2-layer MLP "
                                                       f"{shallow.show(3, 100, '%')} (Glorot "
                                                       f"{glorot.show(3, 100, '%')}), deep MLP "
                                                       f"{deep.show(3, 100, '%')} (chance 10%)",
                                both(no_worse(shallow, glorot, AS_GOOD, "2-layer MLP, small random minus Glorot"),
                                     at_most(deep, 0.2, "deep MLP per seed")),
                                "small_random/tanh, shallow", "glorot/tanh, shallow"))
        out.append(self.found("glorot-tanh", f"last/first std {ratio['glorot/tanh'].show(3)}",
                              at_least(ratio["glorot/tanh"], 0.2)))
        out.append(self.found("glorot-relu", f"last/first std {ratio['glorot/relu'].show(3)}",
                              at_most(ratio["glorot/relu"], 0.5)))
        out.append(self.found("he-relu", f"last/first std {ratio['he/relu'].show(3)}",
                              within(ratio["he/relu"], 0.5, 2.0)))
        good = per_seed(min, val["glorot/tanh"], val["he/relu"])
        bad = per_seed(max, val["constant/relu"], val["small_random/tanh"])
        out.append(self.trained(r, "scaled-trains", "best validation accuracy: " + ", ".join(
            f"{p} {val[p].show(3, 100, '%')}" for p in DEEP), exceeds(good, bad, 0.2), "glorot/tanh", "he/relu"))
        return out

    def figures(self, r: Results) -> dict:
        figures = {
            "activation_std.png": ("Std of each hidden layer's outputs at initialization (first seed)", plots.overlaid(
                {p: [(s + 1, v) for s, v in r.series(p, "probe.act_std")] for p in DEEP}, "hidden layer",
                "output std", log_y=True)),
            "val_accuracy.png": ("Best validation accuracy (mean and range over seeds)",
                                 r.bars(list(POINTS), "best_val_accuracy", "validation accuracy")),
        }
        histograms = {p: (r.artifact(p, "probes/activations_at_init.json") or {}).get("layers", []) for p in DEEP}
        if any(histograms.values()):
            figures["activation_histograms.png"] = ("Histograms of hidden layer outputs at initialization",
                                                    histogram_grid(histograms))
        return figures


def histogram_grid(layers_by_point: dict):
    """One row per point, one column per hidden layer (as the lecture's figure)."""
    rows = len(layers_by_point)
    cols = max(len(v) for v in layers_by_point.values())
    fig, axes = plots.figure(rows, cols, figsize=(1.6 * cols, 1.4 * rows), squeeze=False)
    for i, (label, layers) in enumerate(layers_by_point.items()):
        for j in range(cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(layers):
                edges = np.asarray(layers[j]["edges"])
                ax.stairs(layers[j]["counts"], edges, fill=True)
                ax.set_title(f"L{j + 1} std {layers[j]['std']:.2g}", fontsize=6)
            if j == 0:
                ax.set_ylabel(label, fontsize=7)
    fig.tight_layout()
    return fig
