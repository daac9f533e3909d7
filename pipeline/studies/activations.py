"""Activation functions on one net and budget: convergence speed, gradients at init, dead units."""
from __future__ import annotations

from trainlab.models import ACTIVATIONS
from .. import plots
from .base import Plan, Results, at_least, at_most, finding, fmt, register_study, steps_ratio
from ..sweeps import Point

SIZES = {  # mode -> (training images incl. validation, validation, epochs, accuracy threshold, probe depth, width)
    "smoke": (1500, 500, 1, 0.5, 6, 32),
    "default": (None, 5000, 2, 0.95, 8, 256),
    "full": (None, 5000, 10, 0.98, 8, 256),
}


@register_study
class Activations:
    """Every activation of the lecture on the same 4-layer MLP, SGD with momentum and the same budget:
    how many steps each needs to reach a training-accuracy threshold, where its validation accuracy
    ends, how gradients reach the first layers of a deeper MLP at initialization, and how many hidden
    units end up dead (never positive on 1,000 training images)."""

    name = "activations"
    title = "Activation functions"

    def plan(self, mode: str) -> Plan:
        limit, val, epochs, threshold, depth, width = SIZES[mode]
        base = {"model.name": "mlp_deep", "model.depth": 4, "model.width": 128 if mode != "smoke" else 32,
                "train.optimizer": "sgd", "train.learning_rate": 0.01, "train.momentum": 0.9,
                "train.lr_schedule": "constant", "train.epochs": epochs, "train.batch_size": 64,
                "data.limit_train": limit, "data.validation_size": val, "data.normalization": "standardize"}
        probes = ({"name": "steps_to_accuracy", "threshold": threshold},
                  {"name": "grad_norms_at_init", "depth": depth, "width": width},
                  {"name": "activations_at_init"}, {"name": "dead_units"})
        points = [Point(a, {"model.activation": a}, probes) for a in ACTIVATIONS]
        train_images = (limit or 60000) - val
        return Plan(base, points, f"{train_images} training images, {epochs} epoch(s) of SGD (lr 0.01, momentum 0.9), "
                                  f"threshold {threshold:.0%} smoothed training accuracy; gradients probed in a "
                                  f"{depth}-layer, {width}-unit MLP")

    def findings(self, r: Results) -> list:
        steps = {a: r.metric(a, "probe.steps_to_accuracy") for a in ACTIVATIONS}
        ran = {a: r.metric(a, "probe.steps_run") for a in ACTIVATIONS}
        threshold = r.metric("relu", "probe.accuracy_threshold") or 0
        ratio, shown = steps_ratio(steps["tanh"], steps["relu"], ran["tanh"], ran["relu"])
        out = [finding("ReLU converges much faster than tanh (Krizhevsky et al.: about 6x)",
                       f"tanh needed {shown} the steps of ReLU to reach {threshold:.0%} training accuracy "
                       f"(lecture: about 6x)", ratio, at_least, 1.5, 1.0)]

        g = {a: r.metric(a, "probe.grad_first_over_last") for a in ACTIVATIONS}
        rel = g["sigmoid"] / g["relu"] if g["sigmoid"] is not None and g["relu"] else None
        out.append(finding("Sigmoid saturates and kills gradients: the first layers of a deep net barely learn",
                           f"first/last-layer gradient norm at init: sigmoid {fmt(g['sigmoid'])}, tanh {fmt(g['tanh'])}, "
                           f"relu {fmt(g['relu'])}; sigmoid relative to relu {fmt(rel)}", rel, at_most, 0.1, 1.0))

        m_sig = _first(r.series("sigmoid", "probe.act_mean"))
        m_tanh = _first(r.series("tanh", "probe.act_mean"))
        gap = m_sig - abs(m_tanh) if m_sig is not None and m_tanh is not None else None
        out.append(finding("Sigmoid outputs are not zero-centered; tanh outputs are",
                           f"mean first-layer output at init: sigmoid {fmt(m_sig)}, tanh {fmt(m_tanh)}", gap,
                           at_least, 0.3, 0.1))

        dead = r.metric("relu", "probe.dead_fraction")
        out.append(finding("ReLU units can die: some never activate again",
                           f"dead ReLU units after training: {fmt(None if dead is None else 100 * dead, 3)}% "
                           f"(leaky ReLU {fmt(_pct(r.metric('leaky_relu', 'probe.dead_fraction')), 3)}%, "
                           f"ELU {fmt(_pct(r.metric('elu', 'probe.dead_fraction')), 3)}%)", dead, at_least, 0.01, 1e-12))

        val = {a: r.metric(a, "best_val_accuracy") for a in ACTIVATIONS}
        others = [v for a, v in val.items() if a != "sigmoid" and v is not None]
        margin = min(others) - val["sigmoid"] if others and val["sigmoid"] is not None else None
        out.append(finding("Do not use sigmoid: it trains worst of all",
                           "best validation accuracy: " + ", ".join(f"{a} {fmt(v)}" for a, v in val.items()),
                           margin, at_least, 0.01, 0.0))
        return out

    def figures(self, r: Results) -> dict:
        return {
            "convergence.png": ("Smoothed training accuracy per step", plots.overlaid(
                {a: r.series(a, "probe.train_accuracy_ema") for a in ACTIVATIONS}, "step", "training accuracy (EMA)")),
            "grad_norms.png": ("Kernel gradient norm per layer at initialization (deep MLP)", plots.overlaid(
                {a: r.series(a, "probe.grad_norm") for a in ACTIVATIONS}, "layer", "gradient norm", log_y=True)),
            "val_accuracy.png": ("Best validation accuracy", plots.bars(
                {a: r.metric(a, "best_val_accuracy") for a in ACTIVATIONS}, "validation accuracy")),
            "dead_units.png": ("Fraction of dead hidden units after training", plots.bars(
                {a: r.metric(a, "probe.dead_fraction") for a in ACTIVATIONS}, "dead fraction")),
        }


def _first(series):
    return series[0][1] if series else None


def _pct(value):
    return None if value is None else 100 * value
