"""Weight initialization in a deep MLP: activation statistics at init and whether the net trains."""
from __future__ import annotations

import numpy as np

from .. import plots
from .base import Plan, Results, at_least, at_most, finding, fmt, register_study, within
from ..sweeps import Point

SIZES = {  # mode -> (training images incl. validation, validation, epochs, depth, width)
    "smoke": (1500, 500, 1, 6, 32),
    "default": (None, 5000, 2, 8, 256),
    "full": (None, 5000, 10, 10, 256),
}
POINTS = {  # label -> (initializer, activation)
    "zeros/tanh": ("zeros", "tanh"),
    "small_random/tanh": ("small_random", "tanh"),
    "glorot/tanh": ("glorot_normal", "tanh"),
    "glorot/relu": ("glorot_normal", "relu"),
    "he/relu": ("he_normal", "relu"),
}


@register_study
class Init:
    """A deep MLP initialized with zeros, small random numbers (std 0.01), Glorot and He: the mean
    and spread of every hidden layer's outputs on the same batch before training, whether the units of
    a layer ever become different from each other, and how far SGD gets in the same budget."""

    name = "init"
    title = "Weight initialization"

    def plan(self, mode: str) -> Plan:
        limit, val, epochs, depth, width = SIZES[mode]
        base = {"model.name": "mlp_deep", "model.depth": depth, "model.width": width, "model.init_std": 0.01,
                "train.optimizer": "sgd", "train.learning_rate": 0.01, "train.momentum": 0.9,
                "train.lr_schedule": "constant", "train.epochs": epochs, "train.batch_size": 64,
                "data.limit_train": limit, "data.validation_size": val}
        probes = ({"name": "activations_at_init"}, {"name": "unit_spread"})
        points = [Point(label, {"model.initializer": init, "model.activation": act}, probes)
                  for label, (init, act) in POINTS.items()]
        return Plan(base, points, f"{(limit or 60000) - val} training images, {epochs} epoch(s) of SGD (lr 0.01, "
                                  f"momentum 0.9), a {depth}-layer MLP of {width} units")

    def findings(self, r: Results) -> list:
        ratio = {p: r.metric(p, "probe.act_std_last_over_first") for p in POINTS}
        val = {p: r.metric(p, "best_val_accuracy") for p in POINTS}
        spread = r.metric("zeros/tanh", "probe.min_unit_spread")
        out = [finding("Zero init: every unit of a layer computes the same thing, and training never breaks "
                       "the symmetry", f"smallest spread between units' weights after training: {fmt(spread)}; "
                       f"validation accuracy {fmt(val['zeros/tanh'])}", spread, at_most, 1e-6, 1e-3)]
        small = ratio["small_random/tanh"]
        out.append(finding("Small random init (std 0.01): activations collapse toward zero with depth",
                           f"last/first hidden layer output std at init: {fmt(small)}", small, at_most, 0.01, 0.5))
        out.append(finding("Glorot init keeps tanh activations alive through the layers",
                           f"last/first hidden layer output std at init: {fmt(ratio['glorot/tanh'])}",
                           ratio["glorot/tanh"], at_least, 0.2, 0.05))
        out.append(finding("Glorot init with ReLU halves the variance per layer: activations shrink with depth",
                           f"last/first hidden layer output std at init: {fmt(ratio['glorot/relu'])}",
                           ratio["glorot/relu"], at_most, 0.5, 0.9))
        out.append(finding("He init keeps ReLU activations at the same scale through the layers",
                           f"last/first hidden layer output std at init: {fmt(ratio['he/relu'])}",
                           ratio["he/relu"], within, 0.5, 2.0))
        good = [v for v in (val["glorot/tanh"], val["he/relu"]) if v is not None]
        bad = [v if v is not None else 0.0 for v in (val["zeros/tanh"], val["small_random/tanh"])]
        margin = min(good) - max(bad) if len(good) == 2 else None
        out.append(finding("Only a well-scaled init trains the deep net", "best validation accuracy: " +
                           ", ".join(f"{p} {fmt(v)}" for p, v in val.items()), margin, at_least, 0.2, 0.0))
        return out

    def figures(self, r: Results) -> dict:
        figures = {
            "activation_std.png": ("Std of each hidden layer's outputs at initialization", plots.overlaid(
                {p: [(s + 1, v) for s, v in r.series(p, "probe.act_std")] for p in POINTS}, "hidden layer",
                "output std", log_y=True)),
            "val_accuracy.png": ("Best validation accuracy", plots.bars(
                {p: r.metric(p, "best_val_accuracy") for p in POINTS}, "validation accuracy")),
        }
        histograms = {p: (r.artifact(p, "probes/activations_at_init.json") or {}).get("layers", []) for p in POINTS}
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
