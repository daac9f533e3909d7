"""Data augmentation is not free: a horizontal flip on clothes and on digits."""
from __future__ import annotations

from ..sweeps import Point
from .base import Claim, Plan, Results, Study, register_study, small_cnn_base
from .rules import exceeds

SIZES = {  # mode -> (training images, validation, epochs, CNN width)
    "smoke": (300, 300, 1, 8),
    "default": (3000, 2000, 8, 16),
    "full": (10000, 5000, 20, 32),
}
FLIP = [{"name": "flip_horizontal", "p": 0.5}]   # a random flip: half the images mirrored
# Each dataset at the Adam rate it was first measured with (Fashion-MNIST's recipe rate, the built-in one).
DATASETS = {"clothes": {"data.dataset": "fashion_mnist", "train.learning_rate": 0.004},
            "digits": {"data.dataset": "mnist"}}


@register_study
class Augmentation(Study):
    """The same CNN on a small training set of clothes (Fashion-MNIST) and of digits (MNIST), without
    augmentation and with random horizontal flips (each training image mirrored with probability 0.5).
    A mirrored shirt is still a shirt; a mirrored 2 or 7
    is not a digit anyone writes. The lecture calls data augmentation "always a good idea" and shows
    horizontal flips first: this measures whether one and the same transform helps on both."""

    name = "augmentation"
    title = "Data augmentation: flips on clothes and on digits"
    claims = {
        "flip-clothes": Claim("Horizontal flips help on natural-looking objects (clothes)",
                              "best validation accuracy on Fashion-MNIST, flips minus none"),
        "flip-digits": Claim("Data augmentation is always a good idea: horizontal flips help on digits too",
                             "best validation accuracy on MNIST, flips minus none"),
    }

    def plan(self, mode: str) -> Plan:
        train, val, epochs, width = SIZES[mode]
        base = small_cnn_base(train, val, epochs, width)
        points = []
        for kind, dataset in DATASETS.items():
            points += [Point(f"{kind}, none", dict(dataset)), Point(f"{kind}, flips", {**dataset, "augment": FLIP})]
        return Plan(base, points, f"{train} training images and {val} validation images of each dataset, {epochs} "
                                  f"epochs of Adam (cosine schedule), CNN width {width}")

    def findings(self, r: Results) -> list:
        out = []
        for kind in DATASETS:
            flips, none = r.stat(f"{kind}, flips", "best_val_accuracy"), r.stat(f"{kind}, none", "best_val_accuracy")
            out.append(self.found(f"flip-{kind}", f"validation with flips {flips.show(3, 100, '%')}, without "
                                                  f"{none.show(3, 100, '%')}", exceeds(flips, none)))
        return out

    def figures(self, r: Results) -> dict:
        return {"val_accuracy.png": ("Best validation accuracy (mean and range over seeds)",
                                     r.bars(list(r.members), "best_val_accuracy", "validation accuracy"))}
