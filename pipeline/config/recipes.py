"""Recipes: what trainlab trains when told little. Presets (``--preset``), the augmentation recipe for
each kind of images (``augment: auto``) and what a dataset changes of the defaults, each chosen on
validation accuracy (README: Performance, Recipes) and written here as data.
"""
from __future__ import annotations

from typing import Any

# The MNIST recipe: shifts of up to 2 pixels and small rotations help digits; flips do not
# (a mirrored 2 is not a 2). Each entry is {name: <op>, p: <probability>, **parameters}.
DEFAULT_AUGMENT = [{"name": "random_crop", "padding": 2}, {"name": "rotate", "degrees": 10, "p": 0.5}]
# `augment: auto` picks the recipe for the kind of images (the resolved plan records the chain):
AUGMENT_RECIPES = {
    "digits": DEFAULT_AUGMENT,                             # MNIST and MNIST-like .npz / IDX files
    "clothing": [{"name": "flip_horizontal", "p": 0.5},    # Fashion-MNIST: a mirrored shirt is a shirt
                 {"name": "random_crop", "padding": 2}],
    "natural": [{"name": "flip_horizontal", "p": 0.5},     # photos (image folders, CIFAR): the standard
                {"name": "random_crop", "padding": "1/8"}],  # CIFAR recipe, padding 1/8 of the side (4 for 32)
}


# What a dataset changes of the built-in defaults; anything set in the file, a preset, the environment
# or on the command line still wins. Chosen on validation accuracy (README, "Recipes").
DATASET_RECIPES: dict[str, dict[str, Any]] = {
    # The main job (`make run`): cnn_deep for 8 epochs of a one-cycle schedule peaking at 0.004, chosen on
    # validation accuracy and training time over the earlier 15 epochs of cosine at 0.002 (README, Performance).
    "mnist": {"train.epochs": 8, "train.lr_schedule": "one_cycle", "train.learning_rate": 0.004},
    "fashion_mnist": {"train.epochs": 30, "train.batch_size": 256, "train.learning_rate": 0.004},
}


def augment_recipe(kind: str, image_shape) -> list[dict]:
    """The chain ``augment: auto`` means for images of ``kind`` (digits | clothing | natural)."""
    side = min(image_shape[:2])
    return [{**op, "padding": max(1, round(side / 8))} if op.get("padding") == "1/8" else dict(op)
            for op in AUGMENT_RECIPES[kind]]


# A preset is a set of overrides applied over the file's values and under the CLI's.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # Fastest to 99% test accuracy on 2 CPU cores (benchmarks/time_to_accuracy.py), on every seed: 3 epochs
    # (validation 98.96% over 2 epochs' 98.87%, seeds 42/7/1; test 99.21%, 99.17-99.28, where 2 epochs ended
    # at 99.06-99.10%, a hair above the target). float32: a model this small is slower in bf16 (0.76-0.94x
    # per step, benchmarks/precision.py). One epoch reaches 99.0% on every seed only with `cnn_deep` in bf16
    # (99.03%, 0.15-0.17x the Keras example's time to 99%) and ends below 99.1%, so it is a documented override.
    "fast": {"augment": [], "model.name": "cnn", "model.width": 16, "train.epochs": 3, "train.batch_size": 128,
             "train.lr_schedule": "one_cycle", "train.learning_rate": 0.008, "train.precision": "float32"},
    # Highest accuracy, chosen on validation over seeds 42, 7, 1 (README, Performance): an ensemble of 5
    # cnn_deep networks (`model.members`) for 12 epochs, zoom joining crop + rotate, label smoothing 0.1.
    # MNIST: validation 99.55% (99.48-99.60) over 3 such networks' 99.52%, one network's 99.42% and 3
    # networks of the default recipe's 99.46%; test 99.70% (99.67-99.73); 894 s of training on 2 CPU cores.
    "best": {"augment": [{"name": "random_crop", "padding": 2}, {"name": "rotate", "degrees": 10, "p": 0.5},
                         {"name": "zoom", "factor": 0.1, "p": 0.5}],
             "model.name": "cnn_deep", "model.members": 5, "train.epochs": 12, "train.label_smoothing": 0.1},
    # Tiny and fast, for tests and a first look: a small subset, one epoch.
    # Its optimizer is pinned, so a dataset's recipe does not change what the smoke runs train.
    "smoke": {"augment": [{"name": "random_crop", "padding": 2}], "model.name": "cnn", "data.limit_train": 2000,
              "data.validation_size": 500, "data.limit_test": 1000, "model.width": 8, "train.epochs": 1,
              "train.batch_size": 64, "train.precision": "float32",
              "train.lr_schedule": "cosine", "train.learning_rate": 0.002},
}


# A preset chosen on one dataset can mean other settings on another: a dataset's own version of a preset
# replaces the preset's entry above for that dataset (the dataset's recipe still goes under it).
DATASET_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "fashion_mnist": {
        # An ensemble of 3 of the recipe's networks (flips + crops, batch 256, cosine at 0.004) in a 45-minute
        # budget: each member gets about the recipe's 30 epochs. Label smoothing 0.1 with random erasing, and
        # one-cycle with label smoothing, each lost to the plain recipe on validation at 15 minutes (seed 42:
        # 93.50% and 93.32% vs 93.98%), and so did EMA 0.999 (seeds 42, 7, 1 on a slower machine: 93.34% vs
        # 93.43%), so the members are the recipe's. A network of WRN-16-4's size trains ~2 epochs in 45 minutes.
        # Measured: docs/training.md, Training to a time budget.
        "best": {"model.members": 3, "train.time_budget": "45m"},
    },
}


def preset_overrides(preset: str, dataset: str) -> dict[str, Any]:
    """What ``--preset`` sets for ``dataset``: the dataset's own version of the preset, else the preset."""
    return DATASET_PRESETS.get(dataset, {}).get(preset, PRESETS[preset])
