"""The resolved run plan: a config turned, once and before any data is loaded or any step trained,
into everything a run will do, every option checked.

``resolve_plan(cfg)`` reads the dataset's facts (from the registry or the files' headers, not the
pixels), checks the split sizes against them, builds the configured model on the planned input
shape (so a bad ``model.*`` option, or a network too deep for the images, fails here and names its
key; the model is kept for the stage that trains it: :meth:`Plan.take_model`), and derives the
values the stages would otherwise each compute: steps per epoch, effective learning rate, dtype
policy, the distribution strategy and its replicas. The strategy is
set up here, first of all TensorFlow work, as logical devices and multi-worker collectives require.
Train, lr-find, sweeps (every point before the first trains), studies and ``run`` take it (never a
bare config); each run logs it whole as ``plan.yaml``.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field

from trainlab import __version__

from . import pretrained as pretraining
from .config.recipes import augment_recipe, transfer_notes
from .config.schema import MODEL_OPTIONS, Config
from .data.dataset import DatasetInfo, SourceOptions
from .data.sizing import folder_choice
from .data.sources import describe_dataset
from .data.splits import validation_count
from .errors import ConfigError, one_line


@dataclass(frozen=True)
class Plan:
    """A validated config and what follows from it. Build it with :func:`resolve_plan`."""

    config: Config
    data: DatasetInfo
    train_size: int               # images per split after data.limit_* and the validation carve-out
    val_size: int
    test_size: int
    model_options: dict           # what the model factory receives (unset options left out)
    parameters: int               # of the model as planned (float32, one replica)
    steps_per_epoch: int
    effective_learning_rate: float
    dtype_policy: str             # the Keras policy train.precision resolves to on this machine
    distribution: object = field(repr=False, compare=False, default=None)  # distribute.Distribution
    pretrained: object = field(repr=False, compare=False, default=None)  # pretrained.Pretrained, or None
    notes: tuple[str, ...] = ()   # values the plan changed to fit the data, one line each (the run echoes them)
    _built: list = field(repr=False, compare=False, default_factory=list)  # the model built when resolved

    def take_model(self):
        """The model built when the plan was resolved (seeded by ``train.seed``, under the strategy's scope
        and the dtype policy), handed out once; a later call builds a new one the same way, so a plan
        trained twice starts from the same initial weights both times."""
        if self._built:
            return self._built.pop()
        return _build(self.config, self.data, self.model_options, self.distribution, self.dtype_policy,
                      self.steps_per_epoch, self.pretrained)

    @property
    def replicas(self) -> int:
        return self.distribution.replicas

    @property
    def image_shape(self) -> tuple[int, ...]:
        return self.data.image_shape

    def as_dict(self) -> dict:
        """The whole plan as plain data, for the run's ``plan.yaml``."""
        cfg = dataclasses.asdict(self.config)
        return {
            "trainlab_version": __version__,
            "config": cfg,
            "data": {"name": self.data.name, "source": self.data.source, "kind": self.data.kind,
                     "image_shape": list(self.data.image_shape),
                     "num_classes": self.data.num_classes, "class_names": list(self.data.class_names),
                     "train_size": self.train_size, "val_size": self.val_size, "test_size": self.test_size,
                     "storage": self.data.storage, "storage_reason": self.data.storage_reason},
            "model": {"name": self.config.model.name, "options": dict(self.model_options),
                      "parameters": self.parameters,
                      "pretrained": self.pretrained.described if self.pretrained else None},
            "derived": {"steps_per_epoch": self.steps_per_epoch, "replicas": self.replicas,
                        "effective_learning_rate": self.effective_learning_rate,
                        "dtype_policy": self.dtype_policy, "strategy": self.config.train.strategy,
                        "workers": self.distribution.workers, "notes": list(self.notes)},
        }


def resolve_plan(cfg: Config) -> Plan:
    """Check ``cfg`` against the data, the registries and this machine; return the plan.

    Raises:
        ConfigError: a value that cannot run, naming its key.
        DataError: the dataset is unknown or unreadable.
    """
    from .runtime import distribute, dtype_policy
    d, t = cfg.data, cfg.train
    dist = distribute.setup(t.strategy, t.devices)  # before any other TensorFlow work (decoding image folders too)
    cfg, size_notes = with_chosen_size(cfg)
    d = cfg.data
    info = describe_dataset(d.dataset, SourceOptions.of(d), d.cache_dir)
    cfg = with_concrete_augment(cfg, info)
    train_size, val_size, test_size = split_sizes(cfg, info)
    notes = transfer_notes(cfg) + size_notes + ([f"data: {info.storage_reason}"] if info.storage == "stream" else [])
    pretrained = pretraining.resolve(cfg)
    cfg, backbone_notes = _fit_backbone(cfg, info, pretrained, dist)
    notes += backbone_notes
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
    options = {k: v for k in MODEL_OPTIONS if (v := getattr(cfg.model, k)) is not None}
    if pretrained and pretrained.weights:
        options["weights"] = pretrained.weights
    policy = dtype_policy.resolve(t.precision)
    steps = math.ceil(train_size / t.batch_size)
    momentum = batch_norm_momentum(steps, t.bn_momentum)
    if momentum != KERAS_BN_MOMENTUM and t.bn_momentum is None:
        notes.append(f"batch norm momentum {momentum:.3g} (Keras: {KERAS_BN_MOMENTUM}): with {steps} steps per "
                     f"epoch its moving statistics follow the last epoch instead of the first steps")
    model = _build(cfg, info, options, dist, policy, steps, pretrained)
    return Plan(cfg, info, train_size, val_size, test_size, options, int(model.count_params()),
                steps_per_epoch=steps,
                effective_learning_rate=effective_learning_rate(cfg, dist.replicas),
                dtype_policy=policy, distribution=dist, pretrained=pretrained, notes=tuple(notes), _built=[model])


def _fit_backbone(cfg: Config, info: DatasetInfo, pretrained, dist) -> tuple[Config, list[str]]:
    """A keras.applications model normalizes inside itself and a backbone copied from a trainlab model
    brings its normalization: ``data.normalization`` becomes ``none`` (the notes say so, and what an image
    size other than the backbone's native one costs). Phases need Keras ``fit``."""
    from trainlab.models.backbones import BACKBONES
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


def _build(cfg: Config, info: DatasetInfo, options: dict, dist, policy: str, steps_per_epoch: int, pretrained=None):
    """The planned model: seeded, built where the strategy places its variables, in the dtype policy, its
    batch norm's momentum fitted to the steps per epoch and synchronized across replicas (not under JAX,
    which computes it on the global batch); a pretrained backbone copied in and set for the first epoch."""
    import keras

    from .runtime import dtype_policy
    keras.utils.set_random_seed(cfg.train.seed)
    with dist.scope(), dtype_policy.policy(policy):
        model = build_model(cfg.model.name, options, info)
        momentum = batch_norm_momentum(steps_per_epoch, cfg.train.bn_momentum)
        for layer in _nested_layers(model):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = momentum
        if dist.replicas > 1 and dist.kind != "data_parallel":
            model = synchronized_batch_norm(model)
        if pretrained:
            _start_from(model, cfg, pretrained)
    return model


def _start_from(model, cfg: Config, pretrained) -> None:
    """The pretrained backbone in ``model``, frozen for ``train.freeze_epochs`` (the first phase)."""
    from trainlab.models import OptionError
    from trainlab.models.parts import block_pattern, copy_backbone, set_phase
    if pretrained.source is not None:
        try:
            copy_backbone(pretrained.source, model, pretrained.spec)
        except OptionError as e:
            raise ConfigError(f"model.pretrained: {e}") from None
    set_phase(model, frozen=cfg.train.freeze_epochs > 0, unfreeze=cfg.train.unfreeze,
              pattern=block_pattern(cfg.model.name), train_bn=cfg.train.backbone_bn == "train")


def _nested_layers(model):
    """Every layer of ``model``, inside nested models (ensemble members) too."""
    for layer in getattr(model, "layers", []):
        yield layer
        yield from _nested_layers(layer)


def build_model(name: str, options: dict, info: DatasetInfo):
    """Model ``name`` with ``options`` on the dataset's image shape and classes, or a ConfigError naming
    the ``model.*`` key at fault."""
    from trainlab.models import OptionError, create_model, list_models  # Keras: loaded when a plan is made
    if name not in list_models():
        raise ConfigError(f"model.name must be one of {', '.join(list_models())}; got {name!r}")
    shape = tuple(info.image_shape)
    try:
        if not options.get("weights"):
            return create_model(name, input_shape=shape, num_classes=info.num_classes, **options)
        with warnings.catch_warnings(record=True) as caught:  # Keras warns, and goes on, on weights it skips
            warnings.simplefilter("always")
            model = create_model(name, input_shape=shape, num_classes=info.num_classes, **options)
        skipped = [str(w.message) for w in caught if "Skipping" in str(w.message)]
        if skipped:
            raise pretraining.weights_error(name, options["weights"], Exception(skipped[0]))
        for w in caught:  # the others (e.g. a size its weights were not made for) are the user's to see
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return model
    except ConfigError:
        raise
    except OptionError as e:
        message = f"model.{e}"
        raise ConfigError(message if repr(name) in message else f"{message} (model {name})") from None
    except Exception as e:  # Keras Applications raise bare Exceptions for a failed download
        if options.get("weights"):
            raise pretraining.weights_error(name, options["weights"], e) from None
        if not isinstance(e, ValueError):
            raise
        # a shape the network cannot take, e.g. images too small for its pooling
        raise ConfigError(f"model {name} cannot be built for {info.name} images {shape}: {one_line(e)}") from None


def synchronized_batch_norm(model):
    """``model`` rebuilt with every batch norm layer computing its statistics over the global batch of
    all replicas (nested models, ensemble members, included), so every replica keeps the same averages."""
    config = model.get_config()
    _synchronize(config)
    return model.__class__.from_config(config)


def _synchronize(config: dict) -> None:
    for layer in config["layers"]:
        if layer["class_name"] == "BatchNormalization":
            layer["config"]["synchronized"] = True
        elif "layers" in layer.get("config", {}):
            _synchronize(layer["config"])


def effective_learning_rate(cfg: Config, replicas: int) -> float:
    """The peak rate for ``replicas``: ``train.lr_scaling: linear`` multiplies it by their number."""
    t = cfg.train
    return t.learning_rate * (replicas if t.lr_scaling == "linear" else 1)
