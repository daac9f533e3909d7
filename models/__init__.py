"""Keras model factories, registered by name.

``create_model("cnn", activation="relu")`` builds a model; ``list_models()`` lists the names.
"""
from . import backbones, cnn, mlp, recurrent, resnet  # noqa: F401  (register the families)
from .blocks import ACTIVATIONS, INITIALIZERS, NORMALIZATIONS
from .errors import OptionError
from .layers import ChannelMaxout, EnsembleAverage, FractionalMaxPooling2D, Maxout, TemperatureScaling
from .registry import create_model, describe_model, list_models, register_model

__all__ = ["ACTIVATIONS", "INITIALIZERS", "NORMALIZATIONS", "ChannelMaxout", "EnsembleAverage",
           "FractionalMaxPooling2D", "Maxout", "OptionError", "TemperatureScaling", "create_model", "describe_model",
           "list_models", "register_model"]
