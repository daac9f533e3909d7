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


# `--pretrained imagenet` (or a keras.applications weights file, `.h5`): the transfer recipe, one per
# backbone, going over the dataset's recipe and under the file, the preset and the command line. Without
# a `model.name` from any of them, the default backbone: the fastest here (MobileNetV3 Small: 70 training
# and 366 inference images/s at 224x224 on 2 CPU cores, 2.7x the next; docs/performance.md, Transfer).
DEFAULT_BACKBONE = "mobilenet_v3_small"
# What every backbone's recipe holds: each value with why (the plan prints both).
TRANSFER: dict[str, tuple[Any, str]] = {
    "data.resize": ("center_crop", "the aspect kept: the largest centred square, as ImageNet evaluation crops"),
    "augment": ([{"name": "random_resized_crop", "scale": [0.35, 1.0]}, {"name": "flip_horizontal", "p": 0.5}],
                "random-resized crop and flip, the ImageNet training crop; evaluation sees the centre crop"),
    "train.epochs": (10, "the head trains, then the backbone with it"),
    "train.freeze_epochs": (2, "the new head first, the backbone frozen (the Keras guide's first phase)"),
    "train.batch_size": (32, "a few hundred photos give at least a few steps per epoch"),
    # Rate, backbone rate and batch norm chosen on validation among 12 settings (benchmarks/transfer.py
    # --network mobilenet_v3_small: its backbone pretrained on 5 Fashion-MNIST classes, 10 images of each of 5
    # others, seeds 42/7/1): 0.872 validation, where the Keras guide's 0.001 / x0.1 / frozen had 0.685.
    "train.learning_rate": (0.003, "chosen on validation: 0.872 vs the Keras guide's 0.685 (docs/performance.md)"),
    "train.backbone_lr_scale": (1.0, "the backbone fine-tunes at the head's rate (chosen on validation)"),
    "train.backbone_bn": ("train", "the backbone's batch norm follows the new photos (chosen on validation)"),
}
# One per keras.applications backbone, named here so that loading a config imports no Keras
# (tests/training/test_transfer_photos.py keeps the names and sizes equal to models.backbones.BACKBONES).
TRANSFER_RECIPES: dict[str, dict[str, tuple[Any, str]]] = {
    name: {**TRANSFER, "data.image_size": ([224, 224], "its native size: the size its ImageNet weights know")}
    for name in ("mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "efficientnet_v2_b0",
                 "resnet50_v2", "convnext_tiny")
}


def transfers(pretrained: Any) -> bool:
    """Whether ``model.pretrained`` is a keras.applications backbone's weights (ImageNet, or a file of them):
    what the transfer recipe is for (a trainlab model's backbone keeps its own network and size)."""
    return pretrained == "imagenet" or (isinstance(pretrained, str) and pretrained.endswith(".h5"))


def transfer_recipe(pretrained: Any, model_name: str | None) -> dict[str, Any]:
    """The transfer recipe for ``model.pretrained`` and the ``model.name`` set above it (None: none set, so
    :data:`DEFAULT_BACKBONE`); empty where it does not apply (another source, or a network that is no
    keras.applications backbone: the plan says which are)."""
    name = model_name or DEFAULT_BACKBONE
    if not transfers(pretrained) or name not in TRANSFER_RECIPES:
        return {}
    chosen = {"model.name": name} if model_name is None else {}
    return {**chosen, **{key: value for key, (value, _) in TRANSFER_RECIPES[name].items()}}


def transfer_notes(config: Any) -> list[str]:
    """One line per value of the transfer recipe that the config kept (and why): the plan prints them."""
    name, pretrained = config.model.name, config.model.pretrained
    if not transfers(pretrained) or name not in TRANSFER_RECIPES:
        return []
    flat = config.flat()
    notes = [f"model.name: {name} (the transfer recipe of model.pretrained {pretrained}: "
             + ("the default backbone, the fastest on these CPUs)" if name == DEFAULT_BACKBONE else "as set)")]
    for key, (value, why) in TRANSFER_RECIPES[name].items():
        if flat.get(key) == value:
            notes.append(f"{key}: {value if not isinstance(value, list) or key != 'augment' else 'crop + flip'} "
                         f"(transfer recipe: {why})")
    return notes
