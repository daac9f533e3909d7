"""One typed configuration: a dataclass tree with commented defaults.

Loaded from ``mlflow.yml`` (or ``--config``), overridden by the environment variables of the MLflow
ecosystem and by CLI options as dotted keys (``train.epochs=3``), and validated once. Field names are
written here only: the CLI's options, the model's options and the logged params all derive from them,
and each field's comment is its ``--help`` text. :func:`trainlab.pipeline.plan.resolve_plan` turns the
config into the concrete plan every stage consumes.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

NORMALIZATIONS = ("none", "scale", "center", "standardize")
RESIZE_MODES = ("squash", "pad", "center_crop")  # pipeline/data/resize.py
OPTIMIZERS = ("adam", "sgd", "rmsprop", "adamw")
LOSSES = ("categorical_crossentropy", "mse")
SCHEDULES = ("constant", "step", "cosine", "one_cycle")
STRATEGIES = ("none", "mirrored", "multi_worker", "data_parallel")
LR_SCALINGS = ("none", "linear")
PRECISIONS = ("float32", "mixed_bfloat16", "auto")
EXPORT_FORMATS = ("savedmodel", "tflite", "tflite-int8", "onnx")  # trainlab export --format


@dataclass
class DataConfig:
    dataset: str = "mnist"             # a registered name (mnist, fashion_mnist) or a path: an image folder, a CIFAR-10/100 archive or folder, a keras .npz file, an IDX folder
    validation_size: Optional[int | float] = None  # validation images carved from the training set, stratified and seeded: a count (500), a fraction (0.1), or none: 10% of the training images, at most 5,000
    normalization: str = "standardize"  # none | scale (to [0, 1]) | center (scaled, minus the training mean) | standardize (mean/std)
    limit_train: Optional[int] = None  # keep only this many training images (smoke runs, studies)
    limit_test: Optional[int] = None   # evaluate on only this many test images
    cache_dir: Optional[str] = None    # uint8 cache of converted datasets; None: $TRAINLAB_CACHE or ~/.cache/trainlab
    image_size: Optional[list] = None  # [H, W]: resize every image (antialiased); None keeps the source's size
    resize: Optional[str] = None       # how data.image_size fits an image of another aspect: squash | pad (keep the aspect, pad with black) | center_crop (keep it, crop the longer side); the exported model and predict resize the same way; None: center_crop for a folder of mixed sizes whose size trainlab chose (docs/data.md), else squash
    channels: Optional[int] = None     # 1 (gray) | 3 (RGB): convert; None keeps the source's
    test_size: float = 0.2             # image folders without train/ and test/: fraction held out as the test set
    on_bad_file: str = "skip"          # image folders: skip (with a warning naming them) | error
    cifar_labels: str = "fine"         # CIFAR-100: fine (100 classes) | coarse (20 superclasses)
    memory_budget: Optional[int | str] = None  # image folders: decoded at data.image_size within this many bytes (6GB, 500MB) they are held in memory, else streamed each epoch from an on-disk cache; None: a quarter of the memory limit (the cgroup's, else RAM); 0 streams every folder


@dataclass
class ModelConfig:
    name: str = "cnn_deep"              # a registered model (trainlab models)
    # Every option below left at None keeps the model's own default.
    activation: Optional[str] = None    # sigmoid | tanh | relu | leaky_relu | elu | selu | gelu | maxout
    initializer: Optional[str] = None   # zeros | constant | small_random | glorot_* | he_* | lecun_normal (None: pairs with activation)
    init_std: Optional[float] = None    # std of small_random, value of constant (default 0.01)
    normalization: Optional[str] = None  # none | batch | layer
    width: Optional[int] = None         # units (MLP, RNN) or first-block filters (CNN)
    depth: Optional[int] = None         # hidden layers (MLP only)
    dropout: Optional[float] = None     # rate in [0, 1); AlphaDropout with selu
    l2: Optional[float] = None          # L2 penalty on kernels, added to the loss
    leaky_alpha: Optional[float] = None  # leaky_relu negative slope (default 0.01)
    maxout_pieces: Optional[int] = None  # linear pieces per maxout unit (default 2)
    pooling: Optional[str] = None       # CNN: max | fractional
    pool_ratio: Optional[float] = None  # CNN fractional pooling ratio in (1, 2] (default 1.41)
    members: Optional[int] = None       # N > 1: an ensemble of N such networks averaged, trained and exported as one model
    pretrained: Optional[str] = None    # start the backbone (every layer before the head) from: imagenet (keras.applications models, Keras's download cache) | a weights file (.weights.h5, .h5) or trainlab model (.keras) | runs:/RUN_ID/model | models:/NAME@ALIAS | none


@dataclass
class TrainConfig:
    epochs: int = 15                   # passes over the training split (the schedule's length; with time_budget, what the budget allows replaces it)
    time_budget: Any = None             # train to a time budget (90s, 15m, 1h30m or seconds): the epochs come from the measured speed, so the schedule ends inside it
    batch_size: int = 128              # images per step (the global batch under a distribution strategy)
    optimizer: str = "adam"            # adam | adamw | sgd | rmsprop
    learning_rate: float = 0.002        # peak rate; the schedule shapes it per step
    lr_schedule: str = "cosine"         # constant | step | cosine (with warmup) | one_cycle
    warmup_epochs: float = 0.0          # cosine: linear warmup from 0 over this many epochs
    step_epochs: int = 5                # step: multiply the rate by step_gamma every step_epochs
    step_gamma: float = 0.1            # step: the factor applied every step_epochs
    momentum: float = 0.9               # sgd momentum
    nesterov: bool = False              # sgd
    weight_decay: float = 0.0001        # adamw: decoupled weight decay
    clip_norm: Optional[float] = None   # clip the gradients to this global L2 norm before each step (None: off)
    class_weight: Any = None            # None | balanced (n / (classes x count)) | {class index: weight}: weights the loss per class
    steps_per_execution: int = 1       # batches per compiled call: fewer Python round trips per epoch
    early_stopping: int = 0             # patience in epochs on val_accuracy; 0: off (best epoch is restored anyway)
    loss: str = "categorical_crossentropy"  # categorical_crossentropy | mse (L2 on one-hot targets)
    label_smoothing: float = 0.0       # folded into the one-hot targets, before any mixing
    mixing_off_epochs: int = 0         # turn mixup/cutmix off for the last N epochs
    seed: int = 42                      # data split, shuffling, initialization
    shuffle_buffer: int = 60000         # elements; >= the training size gives a full shuffle
    strategy: str = "none"              # none | mirrored | multi_worker (TF_CONFIG) | data_parallel (JAX backend)
    devices: Optional[int] = None       # mirrored/data_parallel: devices to use (None: all); mirrored on a CPU: logical CPUs
    lr_scaling: str = "none"            # none | linear: learning rate x replicas (batch_size is the global batch)
    precision: str = "auto"             # float32 | mixed_bfloat16 | auto (mixed bf16 where the hardware has native bf16)
    deterministic: bool = False         # same config, same weights: seeds plus TF op determinism (slower: see README)
    bn_momentum: Optional[float] = None  # batch norm's moving-average momentum; None: fitted to the steps per epoch (Keras's 0.99 from 100 steps, else 1 - 1/steps: a memory of one epoch)
    ema: Optional[float] = None         # exponential moving average of the weights with this decay (e.g. 0.999; None: off)
    calibrate: bool = False             # fit a temperature on validation; the logged and exported model carries it
    keep_checkpoints: bool = False      # keep the per-epoch checkpoint once the run has finished
    freeze_epochs: int = 0              # model.pretrained: train only the head for this many epochs (the backbone frozen, its batch norm in inference mode), then fine-tune; >= train.epochs: a linear probe
    unfreeze: Any = "all"               # model.pretrained, after train.freeze_epochs: all | K: the last K blocks of the backbone train (batch norm stays frozen)
    backbone_lr_scale: float = 0.1      # model.pretrained: the backbone's learning rate is the schedule's times this (per variable; the head's is the schedule's)
    backbone_bn: str = "frozen"         # model.pretrained, once unfrozen: frozen (the backbone's batch norm keeps its pretrained statistics, in inference mode: the Keras guide) | train (its statistics and scale follow the new data, as fastai does)


@dataclass
class TrackingConfig:
    tracking_uri: str = "sqlite:///mlflow.db"  # MLflow tracking URI ($MLFLOW_TRACKING_URI wins over the config file)
    experiment: str = "trainlab"       # MLflow experiment name ($MLFLOW_EXPERIMENT_NAME wins over the config file)
    registered_model: str = "auto"     # registered model name, its `champion` the best model; auto: trainlab-<dataset>
    run_name: Optional[str] = None     # MLflow run name (None: MLflow picks one)


@dataclass
class EvaluateConfig:
    tta: Any = None                     # test-time augmentation views, e.g. "[{name: shift, pixels: 1}]" (None: off)


@dataclass
class ExportConfig:
    dir: str = "exports"                # folder for SavedModels: <dir>/<registered_model>/<version>/
    tta: bool = False                   # serve the evaluate.tta views' averaged probabilities from the export


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    augment: Any = "auto"  # a list of ops, or "auto": the recipe for the kind of images (recipes.AUGMENT_RECIPES)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Config":
        """The config ``dataclasses.asdict`` made (a run's ``plan.yaml``); an unknown key is a TypeError."""
        sections = {name: SECTIONS[name](**(d.get(name) or {})) for name in SECTIONS}
        return cls(**sections, augment=d.get("augment", "auto"))

    def flat(self) -> dict[str, Any]:
        """``{"train.epochs": 12, ...}``: every key, for logging as MLflow params."""
        flat = {}
        for section, sub in dataclasses.asdict(self).items():
            if isinstance(sub, dict):
                flat.update({f"{section}.{k}": v for k, v in sub.items()})
            else:
                flat[section] = sub
        return flat


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig, "tracking": TrackingConfig,
            "evaluate": EvaluateConfig, "export": ExportConfig}
# The model's options: every model.* key but the model's name, passed to the model factory.
# model.pretrained is the plan's: it becomes the factory's ``weights`` or a copy of another model's backbone.
MODEL_OPTIONS = tuple(f.name for f in dataclasses.fields(ModelConfig) if f.name not in ("name", "pretrained"))


def config_keys() -> list[str]:
    """Every dotted key, in declaration order (``augment`` is the chain)."""
    return [f"{section}.{f.name}" for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)] + ["augment"]


def key_type(key: str):
    """The Python type of a dotted key's value (``Optional[int]`` -> int; ``augment`` -> list)."""
    if key == "augment":
        return list
    section, _, name = key.partition(".")
    hint = typing.get_type_hints(SECTIONS[section])[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return hint if len(args) > 1 else args[0] if args else hint  # int | float: the config parses the text


@functools.cache
def key_help(key: str) -> str:
    """The comment beside a key's field in this file: its one documentation, shown by ``--help``."""
    if key == "augment":
        return ("augmentation chain as YAML, e.g. \"[{name: random_crop, padding: 2}]\"; none turns it off; "
                "auto: the recipe for the kind of images")
    section, _, name = key.partition(".")
    source = inspect.getsource(SECTIONS[section])
    match = re.search(rf"^\s+{name}: [^#\n]*#\s*(.+)$", source, re.MULTILINE)
    return match.group(1).strip() if match else ""


def registered_model_name(dataset: str) -> str:
    """``trainlab-<dataset>``: models of different data never compete for one champion
    (``trainlab-mnist``; a path gives its base name: ``photos/`` -> ``trainlab-photos``)."""
    stem = Path(dataset).name if ("/" in dataset or Path(dataset).exists()) else dataset
    for suffix in (".tar.gz", ".tgz", ".tar", ".npz"):
        stem = stem[: -len(suffix)] if stem.endswith(suffix) else stem
    return "trainlab-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.") or "data")
