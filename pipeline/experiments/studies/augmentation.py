"""Data augmentation: the lecture's label-preserving transforms (crops, rotation, contrast) on digits,
flips on clothes, and flips on digits as the caveat of "always"."""
from __future__ import annotations

from ..sweeps import Point
from .base import Claim, Plan, Results, Study, register_study, small_cnn_base
from .rules import exceeds

SIZES = {  # mode -> (training images, validation, epochs, CNN width)
    "smoke": (300, 300, 1, 8),
    "default": (3000, 2000, 8, 16),
}
SIZES["full"] = SIZES["default"]   # the default's budgets on five seeds (base.SEEDS)
TRANSFORMS = {  # label -> augment ops (each alone)
    "crops": [{"name": "random_crop", "padding": 3}],
    "rotation": [{"name": "rotate", "degrees": 12}],
    "contrast": [{"name": "contrast", "factor": 0.5}],
    "magnitude": [{"name": "brightness", "delta": 0.2}],
    "flips": [{"name": "flip_horizontal", "p": 0.5}],
}
# Each dataset at the Adam rate it was first measured with (Fashion-MNIST's recipe rate, the built-in one).
DATASETS = {"clothes": {"data.dataset": "fashion_mnist", "train.learning_rate": 0.004},
            "digits": {"data.dataset": "mnist"}}
CONDITIONS = {"digits": ("none", "crops", "rotation", "contrast", "magnitude", "flips"), "clothes": ("none", "flips")}


@register_study
class Augmentation(Study):
    """The same CNN (no normalization) on a small training set of digits (MNIST) and of clothes
    (Fashion-MNIST), without augmentation and with one transform of the lecture's list at a time:
    random crops (a 3-pixel pad, then a random 28x28 window per image), rotation (up to 12 degrees),
    contrast change (a factor in [0.5, 1.5] per image) and magnitude change (a brightness offset of up to
    20% of the pixel range per image) on digits, random horizontal flips on clothes. A mirrored shirt is
    still a shirt; a mirrored 2 or 7 is not a digit anyone writes, so flips on digits are kept as a
    labelled caveat of "always": a transform that changes the label."""

    name = "augmentation"
    title = "Data augmentation"
    claims = {
        "crops-help": Claim("Data augmentation is a good idea: random crops help", "best validation accuracy on "
                            "MNIST, random crops minus none, per seed", "augment-transforms"),
        "rotation-helps": Claim("Data augmentation is a good idea: rotation helps", "best validation accuracy on "
                                "MNIST, rotation minus none, per seed", "augment-transforms"),
        "contrast-helps": Claim("Data augmentation is a good idea: contrast changes help", "best validation accuracy "
                                "on MNIST, contrast change minus none, per seed", "augment-transforms"),
        "magnitude-helps": Claim("Data augmentation is a good idea: magnitude (brightness) changes help",
                                 "best validation accuracy on MNIST, a brightness offset minus none, per seed",
                                 "augment-transforms"),
        "flip-clothes": Claim("Horizontal flips help on natural-looking objects (clothes)",
                              "best validation accuracy on Fashion-MNIST, flips minus none, per seed",
                              "augment-always"),
        "flip-digits": Claim("Caveat of \"always\": horizontal flips (a transform that changes a digit's meaning) "
                             "help on digits too", "best validation accuracy on MNIST, flips minus none, per seed",
                             "augment-always", "the lecture's own examples are label-preserving; this one is not"),
    }

    def plan(self, mode: str, overrides: dict | None = None) -> Plan:
        train, val, epochs, width = SIZES[mode]
        base = small_cnn_base(train, val, epochs, width)
        points = [Point(f"{kind}, {t}", {**DATASETS[kind], **({"augment": TRANSFORMS[t]} if t != "none" else {})})
                  for kind, transforms in CONDITIONS.items() for t in transforms]
        return Plan(base, points, f"{train} training images and {val} validation images of each dataset, {epochs} "
                                  f"epochs of Adam (cosine schedule), CNN width {width} without normalization")

    def findings(self, r: Results) -> list:
        def gain(kind: str, transform: str, claim: str):
            with_, none = (r.stat(f"{kind}, {t}", "best_val_accuracy") for t in (transform, "none"))
            return self.trained(r, claim, f"validation with {transform} {with_.show(3, 100, '%')}, without "
                                          f"{none.show(3, 100, '%')}", exceeds(with_, none),
                                f"{kind}, {transform}", f"{kind}, none")
        return [gain("digits", "crops", "crops-help"), gain("digits", "rotation", "rotation-helps"),
                gain("digits", "contrast", "contrast-helps"), gain("digits", "magnitude", "magnitude-helps"),
                gain("clothes", "flips", "flip-clothes"),
                gain("digits", "flips", "flip-digits")]

    def figures(self, r: Results) -> dict:
        return {"val_accuracy.png": ("Best validation accuracy (mean and range over seeds)",
                                     r.bars(list(r.members), "best_val_accuracy", "validation accuracy"))}
