"""Checks on a loaded config that types alone do not catch: choices, ranges, and combinations of keys.
Each failure is a ConfigError naming the key and what it accepts."""
from __future__ import annotations

import math

from ..errors import ConfigError
from .schema import (
    LOSSES,
    LR_SCALINGS,
    NORMALIZATIONS,
    OPTIMIZERS,
    PRECISIONS,
    RESIZE_MODES,
    SCHEDULES,
    STRATEGIES,
    Config,
    DataConfig,
    ModelConfig,
    TrainConfig,
)
from .sizes import parse_duration, parse_size


def validate(cfg: Config, registries: bool = True) -> None:
    """Check values that types alone do not catch, section by section.

    ``registries``: also check names against the model and augmentation registries, which loads Keras
    (and TensorFlow); the commands that train nothing (``ui``, ``server``) skip that.
    """
    _check_data(cfg.data)
    if cfg.export.tta and not cfg.evaluate.tta:
        raise ConfigError("export.tta serves the evaluate.tta views: set evaluate.tta too")
    _check_train(cfg.train)
    _check_sizes(cfg.data, cfg.train)
    _check_model(cfg.model)
    _check_schedule(cfg.train)
    _check_finetuning(cfg.model, cfg.train)
    if not cfg.tracking.registered_model.strip() or not cfg.tracking.experiment.strip():
        raise ConfigError("tracking.registered_model and tracking.experiment must not be empty")
    if registries:
        _check_registries(cfg)


def _check_data(d: DataConfig) -> None:
    _choice("data.normalization", d.normalization, NORMALIZATIONS)
    if d.resize is not None:
        _choice("data.resize", d.resize, RESIZE_MODES)
    _choice("data.on_bad_file", d.on_bad_file, ("skip", "error"))
    _choice("data.cifar_labels", d.cifar_labels, ("fine", "coarse"))
    if d.channels is not None and d.channels not in (1, 3):
        raise ConfigError(f"data.channels must be 1 (gray) or 3 (RGB), got {d.channels}")
    if d.image_size is not None and not (len(d.image_size) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096 for v in d.image_size)):
        raise ConfigError(f"data.image_size must be [H, W] with sizes from 1 to 4096, got {d.image_size}")
    if not 0 < d.test_size < 1:
        raise ConfigError(f"data.test_size must be a fraction in (0, 1), got {d.test_size}")


def _check_train(t: TrainConfig) -> None:
    _choice("train.optimizer", t.optimizer, OPTIMIZERS)
    _choice("train.loss", t.loss, LOSSES)
    _choice("train.lr_schedule", t.lr_schedule, SCHEDULES)
    _choice("train.strategy", t.strategy, STRATEGIES)
    _choice("train.lr_scaling", t.lr_scaling, LR_SCALINGS)
    _choice("train.precision", t.precision, PRECISIONS)
    if t.devices is not None and t.devices < 1:
        raise ConfigError(f"train.devices must be at least 1, got {t.devices}")


def _check_sizes(d: DataConfig, t: TrainConfig) -> None:
    v = d.validation_size
    if v is not None and not (0 < v < 1 or (v >= 1 and float(v).is_integer())):
        raise ConfigError(f"data.validation_size must be a count of images (500), a fraction of the training "
                          f"images in (0, 1) (0.1), or none (10% of them, at most 5,000), got {v}")
    for key, value in (("data.limit_train", d.limit_train),
                       ("data.limit_test", d.limit_test), ("train.epochs", t.epochs),
                       ("train.batch_size", t.batch_size), ("train.steps_per_execution", t.steps_per_execution),
                       ("train.shuffle_buffer", t.shuffle_buffer)):
        if value is not None and value < 1:
            raise ConfigError(f"{key} must be at least 1, got {value}")
    if d.limit_train is not None and v is not None and v >= 1 and v >= d.limit_train:
        raise ConfigError(f"data.validation_size ({d.validation_size}) must be smaller than "
                          f"data.limit_train ({d.limit_train})")
    if d.memory_budget is not None:
        try:
            parse_size(d.memory_budget)
        except ValueError as e:
            raise ConfigError(f"data.memory_budget: {e}") from None
    if not (t.learning_rate > 0 and math.isfinite(t.learning_rate)):
        raise ConfigError(f"train.learning_rate must be > 0, got {t.learning_rate}")
    if t.bn_momentum is not None and not 0 <= t.bn_momentum < 1:
        raise ConfigError(f"train.bn_momentum must be in [0, 1), got {t.bn_momentum}")
    if not 0 <= t.label_smoothing < 1:
        raise ConfigError(f"train.label_smoothing must be in [0, 1), got {t.label_smoothing}")


def _check_model(m: ModelConfig) -> None:
    if m.dropout is not None and not 0 <= m.dropout < 1:
        raise ConfigError(f"model.dropout must be in [0, 1), got {m.dropout}")
    for key, value in (("model.width", m.width), ("model.depth", m.depth)):
        if value is not None and value < 1:
            raise ConfigError(f"{key} must be at least 1, got {value}")


def _check_finetuning(m: ModelConfig, t: TrainConfig) -> None:
    if m.pretrained is not None and not str(m.pretrained).strip():
        raise ConfigError("model.pretrained must be imagenet, a file, runs:/RUN_ID/model, models:/NAME@ALIAS or none")
    if t.freeze_epochs < 0:
        raise ConfigError(f"train.freeze_epochs must be at least 0, got {t.freeze_epochs}")
    if t.unfreeze != "all" and not (isinstance(t.unfreeze, int) and not isinstance(t.unfreeze, bool)
                                    and t.unfreeze >= 1):
        raise ConfigError(f"train.unfreeze must be all or a number of blocks >= 1, got {t.unfreeze!r}")
    _choice("train.backbone_bn", t.backbone_bn, ("frozen", "train"))
    if not (0 < t.backbone_lr_scale <= 1):
        raise ConfigError(f"train.backbone_lr_scale must be in (0, 1], got {t.backbone_lr_scale}")
    if m.pretrained in (None, "none") and t.backbone_bn != "frozen":
        raise ConfigError("train.backbone_bn: train is about a pretrained backbone: set model.pretrained")
    if m.pretrained in (None, "none") and t.freeze_epochs:
        raise ConfigError(f"train.freeze_epochs ({t.freeze_epochs}) keeps a pretrained backbone: set model.pretrained")


def _check_schedule(t: TrainConfig) -> None:
    for key, value, low, high in (("train.warmup_epochs", t.warmup_epochs, 0, t.epochs),
                                  ("train.step_gamma", t.step_gamma, 1e-6, 1),
                                  ("train.momentum", t.momentum, 0, 0.9999),
                                  ("train.weight_decay", t.weight_decay, 0, 1)):
        if not low <= value <= high:
            raise ConfigError(f"{key} must be in [{low}, {high}], got {value}")
    if t.step_epochs < 1:
        raise ConfigError(f"train.step_epochs must be at least 1, got {t.step_epochs}")
    if t.early_stopping < 0:
        raise ConfigError(f"train.early_stopping must be at least 0, got {t.early_stopping}")
    if t.ema is not None and not 0 < t.ema < 1:
        raise ConfigError(f"train.ema must be a decay in (0, 1), e.g. 0.999 (or null: off), got {t.ema}")
    if t.clip_norm is not None and not (t.clip_norm > 0 and math.isfinite(t.clip_norm)):
        raise ConfigError(f"train.clip_norm must be a number > 0 (or null: off), got {t.clip_norm}")
    if t.class_weight is not None and t.class_weight != "balanced" and not (
            isinstance(t.class_weight, dict) and all(isinstance(k, int) and not isinstance(k, bool) and k >= 0
                                                      and isinstance(v, (int, float)) and v >= 0
                                                      for k, v in t.class_weight.items())):
        raise ConfigError("train.class_weight must be balanced or a mapping of class index to weight >= 0, "
                          f"got {t.class_weight!r}")
    if t.mixing_off_epochs < 0:
        raise ConfigError(f"train.mixing_off_epochs must be at least 0, got {t.mixing_off_epochs}")
    if t.time_budget is not None:
        parse_duration(t.time_budget)
        clash = ("train.strategy", t.strategy) if t.strategy == "multi_worker" else \
            ("train.mixing_off_epochs", t.mixing_off_epochs) if t.mixing_off_epochs else None
        if clash:
            raise ConfigError(f"train.time_budget does not go with {clash[0]}: {clash[1]} (it counts epochs that a "
                              "budget does not know in advance); drop one")


def _check_registries(cfg: Config) -> None:
    """The model's name, the augmentation chain and the test-time views, against their registries."""
    from trainlab.augment import validate_specs  # Keras: only when registries are checked
    from trainlab.augment.tta import TTAError, views  # (the same)
    from trainlab.models import list_models  # models/ does not know about the config; the check lives here
    _choice("model.name", cfg.model.name, list_models())
    try:
        if cfg.augment != "auto":
            validate_specs(cfg.augment)
        if cfg.evaluate.tta is not None:
            views(cfg.evaluate.tta)
    except (TTAError, ValueError) as e:
        raise ConfigError(str(e)) from None


def _choice(key: str, value: str, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(allowed)}; got {value!r}")
