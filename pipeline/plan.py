"""The resolved run plan: a config turned, once and before any data is loaded or any step trained,
into everything a run will do, every option checked, as a plain value.

``resolve_plan(cfg)`` reads the dataset's facts (from the registry or the files' headers, not the
pixels), checks the split sizes against them, checks the configured model on the planned input shape
with a build it throws away (so a bad ``model.*`` option, or a network too deep for the images, fails
here and names its key), and derives the values the stages would otherwise each compute: steps per
epoch, effective learning rate, dtype policy, batch-norm momentum, where it trains (strategy kind,
replicas, workers). The plan holds no TensorFlow or Keras object: it is exactly what the run logs as
``plan.yaml``, and :meth:`Plan.from_dict` reads that back. Every stage takes a plan (never a bare
config): training builds the model from it (:mod:`.training.model`), evaluation and export read a
registered model's own (:mod:`.evaluation.evaluate`, :mod:`.export.stage`).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from trainlab import __version__
from trainlab.models.backbones import BACKBONES

from . import networks
from . import pretrained as pretraining
from .config.recipes import augment_recipe, transfer_notes
from .config.schema import MODEL_OPTIONS, Config
from .data.dataset import DatasetInfo, SourceOptions
from .data.sizing import folder_choice
from .data.sources import describe_dataset
from .data.splits import validation_count
from .errors import ConfigError, DataError
from .pretrained import Pretrained
from .runtime import distribute, dtype_policy
from .runtime.distribute import DistributionSpec


@dataclass(frozen=True)
class Plan:
    """A validated config and what follows from it. Build it with :func:`resolve_plan`; read a run's back
    with :meth:`from_dict`."""

    config: Config
    data: DatasetInfo
    train_size: int               # images per split after data.limit_* and the validation carve-out
    val_size: int
    test_size: int
    model_options: dict           # what the model factory receives (unset options left out)
    parameters: int               # of the model as planned (one replica)
    steps_per_epoch: int
    effective_learning_rate: float
    dtype_policy: str             # the Keras policy train.precision resolves to on this machine
    bn_momentum: float            # batch norm's moving-average momentum (batch_norm_momentum)
    distribution: DistributionSpec = DistributionSpec()
    pretrained: Pretrained | None = None
    notes: tuple[str, ...] = ()   # values the plan changed to fit the data, one line each (the run echoes them)
    trainlab_version: str = __version__

    @property
    def replicas(self) -> int:
        return self.distribution.replicas

    @property
    def image_shape(self) -> tuple[int, ...]:
        return self.data.image_shape

    def as_dict(self) -> dict:
        """The whole plan as plain data, for the run's ``plan.yaml``."""
        info = self.data
        return {
            "trainlab_version": self.trainlab_version,
            "config": dataclasses.asdict(self.config),
            "data": {"name": info.name, "source": info.source, "kind": info.kind,
                     "image_shape": list(info.image_shape),
                     "num_classes": info.num_classes, "class_names": list(info.class_names),
                     "train_size": self.train_size, "val_size": self.val_size, "test_size": self.test_size,
                     "available": {"train": info.train_size, "test": info.test_size},
                     "storage": info.storage, "storage_reason": info.storage_reason},
            "model": {"name": self.config.model.name, "options": dict(self.model_options),
                      "parameters": self.parameters,
                      "pretrained": self.pretrained.as_dict() if self.pretrained else None},
            "derived": {"steps_per_epoch": self.steps_per_epoch,
                        "effective_learning_rate": self.effective_learning_rate,
                        "dtype_policy": self.dtype_policy, "bn_momentum": self.bn_momentum,
                        "distribution": {**dataclasses.asdict(self.distribution),
                                         "devices": list(self.distribution.devices)},
                        "notes": list(self.notes)},
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Plan":
        """The plan :meth:`as_dict` wrote (a run's ``plan.yaml``).

        Raises:
            DataError: ``d`` is not a plan this trainlab can read (written by another version, or damaged).
        """
        try:
            data, model, derived = d["data"], d["model"], d["derived"]
            info = DatasetInfo(data["name"], data["source"], tuple(data["image_shape"]), tuple(data["class_names"]),
                               data["available"]["train"], data["available"]["test"], data["kind"],
                               data["storage"], data["storage_reason"])
            spec = derived["distribution"]
            return cls(Config.from_dict(d["config"]), info, data["train_size"], data["val_size"],
                       data["test_size"], dict(model["options"]), model["parameters"], derived["steps_per_epoch"],
                       derived["effective_learning_rate"], derived["dtype_policy"], derived["bn_momentum"],
                       DistributionSpec(**{**spec, "devices": tuple(spec["devices"])}),
                       Pretrained.from_dict(model["pretrained"]), tuple(derived["notes"]), d["trainlab_version"])
        except (KeyError, TypeError) as e:
            version = d.get("trainlab_version", "unknown") if isinstance(d, dict) else "unknown"
            raise DataError(f"not a plan this trainlab reads (written by trainlab {version}): "
                            f"{type(e).__name__} {e}") from None


def resolve_plan(cfg: Config) -> Plan:
    """Check ``cfg`` against the data, the registries and this machine; return the plan.

    Raises:
        ConfigError: a value that cannot run, naming its key.
        DataError: the dataset is unknown or unreadable.
    """
    t = cfg.train
    dist = distribute.spec_for(t.strategy, t.devices)  # before any other TensorFlow work (decoding image folders too)
    cfg, size_notes = with_chosen_size(cfg)
    d = cfg.data
    info = describe_dataset(d.dataset, SourceOptions.of(d), d.cache_dir)
    cfg = with_concrete_augment(cfg, info)
    train_size, val_size, test_size = split_sizes(cfg, info)
    notes = transfer_notes(cfg) + size_notes + ([f"data: {info.storage_reason}"] if info.storage == "stream" else [])
    pretrained, source = pretraining.resolve(cfg)
    cfg, backbone_notes = _fit_backbone(cfg, info, pretrained, dist)
    cfg, training_notes = _fit_training(cfg, info, dist, train_size)
    notes += backbone_notes + training_notes
    t = cfg.train
    options = {k: v for k in MODEL_OPTIONS if (v := getattr(cfg.model, k)) is not None}
    if pretrained and pretrained.weights:
        options["weights"] = pretrained.weights
    steps = math.ceil(train_size / t.batch_size)
    momentum = batch_norm_momentum(steps, t.bn_momentum)
    if momentum != KERAS_BN_MOMENTUM and t.bn_momentum is None:
        notes.append(f"batch norm momentum {momentum:.3g} (Keras: {KERAS_BN_MOMENTUM}): with {steps} steps per "
                     f"epoch its moving statistics follow the last epoch instead of the first steps")
    parameters = networks.checked_parameters(cfg.model.name, options, info, source, cfg.model.pretrained or "")
    return Plan(cfg, info, train_size, val_size, test_size, options, parameters, steps_per_epoch=steps,
                effective_learning_rate=effective_learning_rate(cfg, dist.replicas),
                dtype_policy=dtype_policy.resolve(t.precision), bn_momentum=momentum, distribution=dist,
                pretrained=pretrained, notes=tuple(notes))


def _fit_training(cfg: Config, info: DatasetInfo, dist: DistributionSpec, train_size: int) -> tuple[Config, list]:
    """The ``train.*`` values checked against the data and the strategy; a batch larger than the training
    split becomes the split (a note says so)."""
    t, notes = cfg.train, []
    if t.batch_size > train_size:  # as Keras's fit does: one batch of every training image
        notes.append(f"train.batch_size {t.batch_size} is more than the {train_size} training images: "
                     f"batches of {train_size}")
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(t, batch_size=train_size))
        t = cfg.train
    if dist.input_share(info.storage == "stream"):
        if dist.kind == "data_parallel" and t.batch_size % dist.workers:
            raise ConfigError(f"train.batch_size ({t.batch_size}) must split evenly among the {dist.workers} "
                              "processes")
        notes.append(f"data: each of the {dist.workers} workers reads its own share of every training batch")
    if isinstance(t.class_weight, dict) and max(t.class_weight, default=0) >= info.num_classes:
        raise ConfigError(f"train.class_weight names class {max(t.class_weight)} but {info.name} has "
                          f"{info.num_classes} classes (0 to {info.num_classes - 1})")
    if (cfg.model.members or 1) > 1 and t.loss != "categorical_crossentropy":
        raise ConfigError(f"model.members ({cfg.model.members}) needs train.loss: categorical_crossentropy "
                          f"(the ensemble trains each member on its own cross-entropy); got {t.loss}")
    if t.class_weight is not None and dist.custom_loop:
        raise ConfigError(f"train.class_weight is not supported under train.strategy: {t.strategy}")
    return cfg, notes


def _fit_backbone(cfg: Config, info: DatasetInfo, pretrained: Pretrained | None,
                  dist: DistributionSpec) -> tuple[Config, list[str]]:
    """A keras.applications model normalizes inside itself and a backbone copied from a trainlab model
    brings its normalization: ``data.normalization`` becomes ``none`` (the notes say so, and what an image
    size other than the backbone's native one costs). Phases need Keras ``fit``."""
    notes, spec = [], BACKBONES.get(cfg.model.name)
    t = cfg.train
    phased = pretrained and (t.freeze_epochs or t.unfreeze != "all")
    if phased and (dist.custom_loop or dist.kind == "data_parallel"):
        raise ConfigError(f"train.freeze_epochs and train.unfreeze are not supported under train.strategy: "
                          f"{t.strategy}")
    inside = "normalizes its input inside itself" if spec else (
        "uses the normalization of its pretrained backbone" if pretrained and pretrained.normalization else None)
    if inside and cfg.data.normalization != "none":
        notes.append(f"data.normalization: none ({cfg.model.name} {inside})")
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, normalization="none"))
    side = info.image_shape[:2]
    if spec and tuple(side) != (spec.native_size,) * 2:
        cost = spec.native_size ** 2 / (side[0] * side[1])
        notes.append(f"model.name: {cfg.model.name} was made for {spec.native_size}x{spec.native_size} images; at "
                     f"{side[0]}x{side[1]} it computes {cost:.3g}x {'less' if cost > 1 else 'more'} per image, but "
                     f"ImageNet features transfer less well away from their size (data.image_size: "
                     f"[{spec.native_size}, {spec.native_size}] trains at the native size)")
    return cfg, notes


def with_chosen_size(cfg: Config) -> tuple[Config, list[str]]:
    """``data.image_size`` and ``data.resize`` made concrete: for an image folder of mixed sizes without a size,
    what :mod:`.data.sizing` chooses (said in a note), else ``data.resize`` squash when unset. The run logs these
    values and the export fits served images by them."""
    d = cfg.data
    chosen = None if d.image_size else folder_choice(d.dataset, d.resize)
    size = list(chosen.size) if chosen else d.image_size
    data = dataclasses.replace(d, image_size=size, resize=d.resize or (chosen.resize if chosen else "squash"))
    return dataclasses.replace(cfg, data=data), [f"data: {chosen.why}"] if chosen else []


def with_concrete_augment(cfg: Config, info: DatasetInfo) -> Config:
    """``augment: auto`` made the recipe for these images (the run logs the chain it used)."""
    if cfg.augment != "auto":
        return cfg
    return dataclasses.replace(cfg, augment=augment_recipe(info.kind, info.image_shape))


def split_sizes(cfg: Config, info: DatasetInfo) -> tuple[int, int, int]:
    """``(train, validation, test)`` image counts the config asks of this dataset, checked."""
    d = cfg.data
    available = info.train_size if d.limit_train is None else min(d.limit_train, info.train_size)
    val = validation_count(d.validation_size, available, info.num_classes)
    shown = (f"unset: 10%, {val}" if d.validation_size is None else d.validation_size if d.validation_size >= 1
             else f"{d.validation_size}: {val}")
    if val >= available:
        raise ConfigError(f"data.validation_size ({shown}) must be smaller than the "
                          f"{available} training images of {info.name}"
                          + (" kept by data.limit_train" if d.limit_train is not None else ""))
    if val < info.num_classes:
        raise ConfigError(f"data.validation_size ({shown}) must be at least the number of "
                          f"classes ({info.num_classes})")
    test = info.test_size if d.limit_test is None else min(d.limit_test, info.test_size)
    return available - val, val, test


KERAS_BN_MOMENTUM = 0.99


def batch_norm_momentum(steps_per_epoch: int, configured: float | None = None) -> float:
    """``train.bn_momentum``, or if unset the moving-average momentum of batch norm for this many steps per
    epoch: Keras's 0.99 (a memory of about 100 steps) where an epoch has at least 100 steps, else
    ``1 - 1/steps``, a memory of one epoch. With a few steps per epoch (a folder of a few hundred photos)
    0.99 would leave the statistics that validation and serving use near their initial values."""
    if configured is not None:
        return configured
    return min(KERAS_BN_MOMENTUM, 1.0 - 1.0 / max(steps_per_epoch, 2))


def effective_learning_rate(cfg: Config, replicas: int) -> float:
    """The peak rate for ``replicas``: ``train.lr_scaling: linear`` multiplies it by their number."""
    t = cfg.train
    return t.learning_rate * (replicas if t.lr_scaling == "linear" else 1)
