"""Regularization on a small training set, where overfitting shows: each technique alone, more data,
and dropout in a wide fully-connected net."""
from __future__ import annotations

from ...evaluation import plots
from ..sweeps import Point
from .base import Claim, Plan, Results, Study, register_study, small_cnn_base
from .rules import Stat, both, exceeds, per_seed

SIZES = {  # mode -> (training images, validation, epochs, CNN width)
    "smoke": (300, 300, 1, 8),
    "default": (2000, 2000, 12, 16),
}
SIZES["full"] = SIZES["default"]   # the default's budgets on five seeds (base.SEEDS)
CROP_ROTATE = [{"name": "random_crop", "padding": 2}, {"name": "rotate", "degrees": 10, "p": 0.5}]
TECHNIQUES = {
    "dropout 0.5": {"model.dropout": 0.5},
    "L2 1e-4": {"model.l2": 0.0001},
    "L2 1e-3": {"model.l2": 0.001},
    "L2 1e-2": {"model.l2": 0.01},
    "augmentation": {"augment": CROP_ROTATE},
    "cutout": {"augment": [{"name": "cutout", "size": 8}]},
    "mixup": {"augment": [{"name": "mixup", "alpha": 0.2}]},
    "cutmix": {"augment": [{"name": "cutmix", "alpha": 1.0}]},
    "label smoothing 0.1": {"train.label_smoothing": 0.1},
    "fractional pooling": {"model.pooling": "fractional"},
}
SMOKE_TECHNIQUES = ("dropout 0.5", "mixup")
def _quote(technique: str) -> str:
    if technique.startswith("L2"):
        return "l2-penalty"
    if technique == "augmentation":
        return "augment-transforms"
    return "regularization" if technique.startswith("dropout") else "regularizers"


WIDE = {"model.name": "mlp_deep", "model.depth": 2, "model.width": 1024}


@register_study
class Regularization(Study):
    """The CNN, without BatchNorm (itself a regularizer), trained far past its best validation epoch on a
    small training set, without regularization and with each technique of the lecture alone (L2 at three
    strengths); the same CNN on four times the training images; and a
    wide two-layer MLP (1,024 units) with and without dropout. A technique counts as regularization only
    if validation accuracy improves beyond the seed-to-seed spread *and* the train-validation gap
    shrinks: a smaller gap bought by a worse model is not regularization. The gap uses accuracy on clean
    (un-augmented) training images with the weights of the best validation epoch, so mixing methods are
    measured like the rest. (Smoke mode runs only a few techniques.)"""

    name = "regularization"
    title = "Regularization"
    claims = {
        **{f"reg-{p}": Claim(f"{p} regularizes: better validation accuracy and a smaller train-validation gap "
                             "than no regularization", "best validation accuracy and clean train minus validation "
                                                       "accuracy, each against the unregularized CNN per seed",
                             _quote(p)) for p in TECHNIQUES},
        "more-data": Claim("More training data is the best regularizer",
                           "the same, four times the training images against the unregularized CNN", "more-data"),
        "dropout-fc": Claim("Dropout is most common in large fully-connected layers, where it regularizes",
                            "the same, dropout 0.5 against none in a 1,024-unit two-layer MLP trained to 100% training "
                            "accuracy", "dropout-fc"),
    }

    def plan(self, mode: str, overrides: dict | None = None) -> Plan:
        train, val, epochs, width = SIZES[mode]
        base = small_cnn_base(train, val, epochs, width)
        probe = ({"name": "clean_train_eval"},)
        techniques = {p: TECHNIQUES[p] for p in (SMOKE_TECHNIQUES if mode == "smoke" else TECHNIQUES)}
        points = [Point("none", {}, probe)] + [Point(p, o, probe) for p, o in techniques.items()]
        points += [Point("4x data", {"data.limit_train": 4 * train + val}, probe),
                   Point("wide MLP", WIDE, probe),
                   Point("wide MLP + dropout 0.5", {**WIDE, "model.dropout": 0.5}, probe)]
        return Plan(base, points, f"{train} training images ({4 * train} for 4x data), {val} validation images, "
                                  f"{epochs} epochs of Adam (cosine schedule), CNN width {width} without normalization")

    def findings(self, r: Results) -> list:
        out = []
        for p in TECHNIQUES:
            out.append(self._against(f"reg-{p}", r, p, "none"))
        out.append(self._against("more-data", r, "4x data", "none"))
        out.append(self._against("dropout-fc", r, "wide MLP + dropout 0.5", "wide MLP"))
        return out

    def _against(self, claim: str, r: Results, label: str, baseline: str):
        val, base_val = r.stat(label, "best_val_accuracy"), r.stat(baseline, "best_val_accuracy")
        gap, base_gap = _gap(r, label), _gap(r, baseline)
        best = r.stat(baseline, "best_epoch")
        return self.trained(r, claim, f"validation {val.show(3, 100, '%')} vs {base_val.show(3, 100, '%')}; gap "
                                      f"{gap.show(3, 100, ' pt')} vs {base_gap.show(3, 100, ' pt')} (the baseline's "
                                      f"best epoch {best.show(3)} of {r.metric(baseline, 'epochs_run') or 0:.0f})",
                            both(exceeds(val, base_val), exceeds(base_gap, gap)), label, baseline)

    def figures(self, r: Results) -> dict:
        labels = list(r.members)
        return {
            "gap.png": ("Clean train minus validation accuracy (mean and range over seeds)", plots.bars(
                {p: _gap(r, p).mean for p in labels}, "train - validation accuracy",
                ranges={p: (_gap(r, p).low, _gap(r, p).high) for p in labels if _gap(r, p).n > 1})),
            "val_accuracy.png": ("Best validation accuracy (mean and range over seeds)",
                                 r.bars(labels, "best_val_accuracy", "validation accuracy")),
            "val_curves.png": ("Validation accuracy per epoch (first seed)", plots.overlaid(
                {p: [(s + 1, v) for s, v in r.series(p, "val_accuracy")] for p in labels}, "epoch",
                "validation accuracy")),
        }


def _gap(r: Results, label: str) -> Stat:
    return per_seed(lambda t, v: t - v, r.stat(label, "probe.train_accuracy"), r.stat(label, "best_val_accuracy"))
