"""The configured network, built from ``model.*``: what the plan checks (a build it throws away) and what
training builds (:mod:`.training.model`). Every failure is a ConfigError naming the key at fault."""
from __future__ import annotations

import warnings

import keras

from trainlab.models import OptionError, create_model, list_models
from trainlab.models.parts import copy_backbone

from . import pretrained as pretraining
from .data.dataset import DatasetInfo
from .errors import ConfigError, one_line


def build_model(name: str, options: dict, info: DatasetInfo) -> keras.Model:
    """Model ``name`` with ``options`` on the dataset's image shape and classes, or a ConfigError naming
    the ``model.*`` key at fault."""
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


def copy_pretrained(model: keras.Model, source: keras.Model, spec: str) -> None:
    """``source``'s backbone copied into ``model``, or a ConfigError saying why it does not fit."""
    try:
        copy_backbone(source, model, spec)
    except OptionError as e:
        raise ConfigError(f"model.pretrained: {e}") from None


def checked_parameters(name: str, options: dict, info: DatasetInfo, source: keras.Model | None = None,
                       spec: str = "") -> int:
    """The parameter count of the network ``name`` with ``options`` (the backbone of ``source``, the trainlab
    model ``spec`` names, copied in, to check that it fits): built on the default device and thrown away."""
    model = build_model(name, options, info)
    if source is not None:
        copy_pretrained(model, source, spec)
    return int(model.count_params())
