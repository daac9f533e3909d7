"""Where a pretrained backbone comes from (``model.pretrained``), resolved once when the plan is made.

- ``imagenet``: a keras.applications model's own weights, from Keras's cache (``$KERAS_HOME/models``,
  else ``~/.keras/models``) or downloaded there and checked against Keras's hash first (:mod:`.imagenet`);
  offline without a cached copy, one line says which file to fetch and how to import it.
- a weights file (``.h5``, ``.weights.h5``): a keras.applications backbone's weights, as Keras
  Applications loads them.
- a trainlab model: a ``.keras`` file, ``runs:/RUN_ID/model`` or ``models:/NAME@ALIAS``: its backbone
  (every layer before the head) is copied layer by layer, and its input normalization replaces
  ``data.normalization``, so the copied layers see pixels scaled as they were trained on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .config.schema import Config
from .errors import ConfigError, TrackingError, one_line

MODEL_URIS = ("runs:/", "models:/")


@dataclass(frozen=True)
class Pretrained:
    spec: str                      # model.pretrained as configured
    described: str                 # for the run's tags, its model card and the registered version
    weights: str | None = None     # what a keras.applications factory's ``weights`` receives
    source: object = field(default=None, repr=False, compare=False)  # a Keras model whose backbone is copied
    normalization: tuple | None = None  # (scale, offset) per channel of the source's input normalization


def resolve(cfg: Config) -> Pretrained | None:
    """``model.pretrained`` checked against the model and, for a trainlab source, loaded (the plan keeps it).

    Raises:
        ConfigError: the source is missing, unreadable, or does not suit ``model.name``.
    """
    from trainlab.models.backbones import BACKBONES
    spec, name = cfg.model.pretrained, cfg.model.name
    if spec in (None, "none"):
        return None
    if (cfg.model.members or 1) > 1:
        raise ConfigError("model.pretrained starts one network: drop model.members")
    application = BACKBONES.get(name)
    if spec == "imagenet":
        if application is None:
            raise ConfigError(f"model.pretrained: imagenet weights exist for the keras.applications models "
                              f"({', '.join(BACKBONES)}), not for {name}")
        from .imagenet import fetch
        path = fetch(name)
        return Pretrained(spec, f"ImageNet weights of keras.applications {application.application} ({path.name})",
                          weights=str(path))
    if spec.startswith(MODEL_URIS):
        from . import tracking
        tracking.configure(cfg.tracking)
        try:
            source = tracking.load_model(spec)
        except TrackingError as e:
            raise ConfigError(f"model.pretrained: {e}") from None
        return _from_model(spec, source)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ConfigError(f"model.pretrained: no file {spec} (imagenet, a weights file, a .keras model, "
                          "runs:/RUN_ID/model or models:/NAME@ALIAS)")
    if path.name.endswith(".keras"):
        import keras

        import trainlab.models  # noqa: F401  registers trainlab's custom layers for loading
        try:
            source = keras.saving.load_model(path, compile=False)
        except Exception as e:  # Keras raises several types for a file that is not a model
            raise ConfigError(f"model.pretrained: cannot load {spec}: {one_line(e)}") from None
        return _from_model(str(path), source)
    if path.suffix == ".h5":
        if application is None:
            raise ConfigError(f"model.pretrained: a weights file fits the keras.applications models "
                              f"({', '.join(BACKBONES)}); for {name} give a trainlab model (.keras, runs:/RUN_ID/model "
                              "or models:/NAME@ALIAS)")
        return Pretrained(spec, f"weights file {path.resolve()}", weights=str(path.resolve()))
    raise ConfigError(f"model.pretrained: {spec} is neither a weights file (.h5) nor a model (.keras)")


def _from_model(spec: str, source) -> Pretrained:
    """A trainlab model as the source: its backbone, and its normalization layer's affine map."""
    normalization = None
    for layer in source.layers:
        if layer.name == "normalize":  # pipeline/training/stage.py with_normalization
            config = layer.get_config()
            normalization = (tuple(_floats(config["scale"])), tuple(_floats(config["offset"])))
    return Pretrained(spec, f"the backbone of {spec} ({_network_name(source)})", source=source,
                      normalization=normalization)


def _floats(value) -> list[float]:
    return [float(v) for v in value] if isinstance(value, (list, tuple)) else [float(value)]


def _network_name(model) -> str:
    from trainlab.models import OptionError
    from trainlab.models.parts import classifier
    try:
        return classifier(model).name
    except OptionError:  # not a classifier: copy_backbone will say so
        return model.name


def weights_error(name: str, weights: str, error: Exception) -> ConfigError:
    """The one line for a weights file the factory could not load (ImageNet's come as the cached file)."""
    return ConfigError(f"model.pretrained: the weights in {weights} do not fit {name}: {one_line(error)}")
