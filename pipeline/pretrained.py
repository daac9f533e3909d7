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

from dataclasses import dataclass
from pathlib import Path

import keras

import trainlab.models  # noqa: F401  registers trainlab's custom layers for loading a .keras source
from trainlab.models import OptionError
from trainlab.models.backbones import BACKBONES
from trainlab.models.parts import classifier

from . import tracking
from .config.schema import Config
from .errors import ConfigError, TrackingError, one_line
from .imagenet import fetch

MODEL_URIS = ("runs:/", "models:/")


@dataclass(frozen=True)
class Pretrained:
    """Where the backbone comes from, as plain values (the plan records it)."""

    spec: str                      # model.pretrained as configured
    described: str                 # for the run's tags, its model card and the registered version
    weights: str | None = None     # what a keras.applications factory's ``weights`` receives
    normalization: tuple | None = None  # (scale, offset) per channel of a trainlab source's input normalization

    @property
    def copies_a_model(self) -> bool:
        """A trainlab model's backbone is copied (:func:`load_source`); else the factory loads ``weights``."""
        return self.weights is None

    def as_dict(self) -> dict:
        normalization = [list(part) for part in self.normalization] if self.normalization else None
        return {"spec": self.spec, "described": self.described, "weights": self.weights,
                "normalization": normalization}

    @classmethod
    def from_dict(cls, d: dict | None) -> "Pretrained | None":
        if not d:
            return None
        normalization = tuple(tuple(part) for part in d["normalization"]) if d.get("normalization") else None
        return cls(d["spec"], d["described"], d.get("weights"), normalization)


def resolve(cfg: Config) -> tuple[Pretrained | None, keras.Model | None]:
    """``model.pretrained`` checked against the model: what the plan records, and for a trainlab source
    the loaded model (for the plan's check build; training loads it again with :func:`load_source`).

    Raises:
        ConfigError: the source is missing, unreadable, or does not suit ``model.name``.
    """
    spec, name = cfg.model.pretrained, cfg.model.name
    if spec in (None, "none"):
        return None, None
    if (cfg.model.members or 1) > 1:
        raise ConfigError("model.pretrained starts one network: drop model.members")
    application = BACKBONES.get(name)
    if spec == "imagenet":
        if application is None:
            raise ConfigError(f"model.pretrained: imagenet weights exist for the keras.applications models "
                              f"({', '.join(BACKBONES)}), not for {name}")
        path = fetch(name)
        return Pretrained(spec, f"ImageNet weights of keras.applications {application.application} ({path.name})",
                          weights=str(path)), None
    path = Path(spec).expanduser()
    if spec.startswith(MODEL_URIS) or path.name.endswith(".keras"):
        source = load_source(spec, cfg.tracking)
        described = spec if spec.startswith(MODEL_URIS) else str(path)
        return Pretrained(spec, f"the backbone of {described} ({_network_name(source)})",
                          normalization=_normalization(source)), source
    if not path.is_file():
        raise _no_file(spec)
    if path.suffix == ".h5":
        if application is None:
            raise ConfigError(f"model.pretrained: a weights file fits the keras.applications models "
                              f"({', '.join(BACKBONES)}); for {name} give a trainlab model (.keras, runs:/RUN_ID/model "
                              "or models:/NAME@ALIAS)")
        return Pretrained(spec, f"weights file {path.resolve()}", weights=str(path.resolve())), None
    raise ConfigError(f"model.pretrained: {spec} is neither a weights file (.h5) nor a model (.keras)")


def load_source(spec: str, tracking_cfg) -> keras.Model:
    """The trainlab model ``spec`` names (a .keras file, ``runs:/...`` or ``models:/...``), whose backbone is copied.

    Raises:
        ConfigError: it is missing or cannot be loaded.
    """
    if spec.startswith(MODEL_URIS):
        tracking.configure(tracking_cfg)
        try:
            return tracking.load_model(spec)
        except TrackingError as e:
            raise ConfigError(f"model.pretrained: {e}") from None
    path = Path(spec).expanduser()
    if not path.is_file():
        raise _no_file(spec)
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:  # Keras raises several types for a file that is not a model
        raise ConfigError(f"model.pretrained: cannot load {spec}: {one_line(e)}") from None


def _no_file(spec: str) -> ConfigError:
    return ConfigError(f"model.pretrained: no file {spec} (imagenet, a weights file, a .keras model, "
                       "runs:/RUN_ID/model or models:/NAME@ALIAS)")


def _normalization(source) -> tuple | None:
    """A trainlab model's normalization layer as its affine map ``(scale, offset)``, per channel."""
    for layer in source.layers:
        if layer.name == "normalize":  # pipeline/training/stage.py with_normalization
            config = layer.get_config()
            return tuple(_floats(config["scale"])), tuple(_floats(config["offset"]))
    return None


def _floats(value) -> list[float]:
    return [float(v) for v in value] if isinstance(value, (list, tuple)) else [float(value)]


def _network_name(model) -> str:
    try:
        return classifier(model).name
    except OptionError:  # not a classifier: copy_backbone will say so
        return model.name


def weights_error(name: str, weights: str, error: Exception) -> ConfigError:
    """The one line for a weights file the factory could not load (ImageNet's come as the cached file)."""
    return ConfigError(f"model.pretrained: the weights in {weights} do not fit {name}: {one_line(error)}")
