"""Regularization on a small training set, where overfitting shows."""
from __future__ import annotations

from .. import plots
from .base import Plan, Results, at_least, finding, fmt, register_study
from ..sweeps import Point

SIZES = {  # mode -> (training images incl. validation, validation, epochs, CNN width)
    "smoke": (800, 300, 1, 8),
    "default": (7000, 5000, 30, 16),
    "full": (15000, 5000, 40, 32),
}
CROP_ROTATE = [{"name": "random_crop", "padding": 2}, {"name": "rotate", "degrees": 10, "p": 0.5}]
TECHNIQUES = {
    "none": {},
    "dropout 0.5": {"model.dropout": 0.5},
    "L2 1e-3": {"model.l2": 0.001},
    "augmentation": {"augment": CROP_ROTATE},
    "cutout": {"augment": [{"name": "cutout", "size": 8}]},
    "mixup": {"augment": [{"name": "mixup", "alpha": 0.2}]},
    "cutmix": {"augment": [{"name": "cutmix", "alpha": 1.0}]},
    "label smoothing 0.1": {"train.label_smoothing": 0.1},
    "fractional pooling": {"model.pooling": "fractional"},
}


@register_study
class Regularization:
    """The CNN trained far past the point where it fits a small training set, without regularization
    and with each technique of the lecture alone. The train-validation gap uses accuracy on clean
    (un-augmented) training images with the weights of the best validation epoch, so mixing methods are
    measured like the rest."""

    name = "regularization"
    title = "Regularization"

    def plan(self, mode: str) -> Plan:
        limit, val, epochs, width = SIZES[mode]
        base = {"model.name": "cnn", "model.width": width, "model.dropout": 0.0, "train.epochs": epochs,
                "train.batch_size": 64, "data.limit_train": limit, "data.validation_size": val}
        points = [Point(label, overrides, ({"name": "clean_train_eval"},)) for label, overrides in TECHNIQUES.items()]
        return Plan(base, points, f"{limit - val} training images, {val} validation images, {epochs} epochs of "
                                  f"Adam (cosine schedule), CNN width {width}")

    def findings(self, r: Results) -> list:
        gap = {p: _gap(r, p) for p in TECHNIQUES}
        val = {p: r.metric(p, "best_val_accuracy") for p in TECHNIQUES}
        out = []
        base_gap, base_val = gap["none"], val["none"]
        for p in TECHNIQUES:
            if p == "none":
                continue
            narrowed = base_gap - gap[p] if base_gap is not None and gap[p] is not None else None
            need = max(0.005, 0.25 * base_gap) if base_gap is not None else 0.005
            out.append(finding(
                f"{p} reduces overfitting: a smaller train-validation gap than no regularization",
                f"gap {fmt(gap[p], 3)} vs {fmt(base_gap, 3)} without; validation accuracy {fmt(val[p])} vs "
                f"{fmt(base_val)}", narrowed, _narrows, need))
        return out

    def figures(self, r: Results) -> dict:
        return {
            "gap.png": ("Train (clean) minus validation accuracy", plots.bars(
                {p: _gap(r, p) for p in TECHNIQUES}, "train - validation accuracy")),
            "val_accuracy.png": ("Best validation accuracy", plots.bars(
                {p: r.metric(p, "best_val_accuracy") for p in TECHNIQUES}, "validation accuracy")),
            "val_curves.png": ("Validation accuracy per epoch", plots.overlaid(
                {p: [(s + 1, v) for s, v in r.series(p, "val_accuracy")] for p in TECHNIQUES}, "epoch",
                "validation accuracy")),
        }


def _gap(r: Results, label: str) -> float | None:
    train, val = r.metric(label, "probe.train_accuracy"), r.metric(label, "best_val_accuracy")
    return train - val if train is not None and val is not None else None


def _narrows(value: float | None, need: float):
    """Supported if the gap shrinks by ``need`` (a quarter of the unregularized gap, at least 0.5 points);
    not supported if it does not shrink at all."""
    return at_least(value, need, 1e-9)
