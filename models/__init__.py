"""Keras model factories, registered by name.

``create_model("cnn", activation="relu")`` builds a model; ``list_models()`` lists the names.
"""
from models import cnn, mlp, recurrent  # noqa: F401  (register the families)
from models.blocks import ACTIVATIONS, INITIALIZERS, NORMALIZATIONS
from models.layers import ChannelMaxout, FractionalMaxPooling2D, Maxout
from models.registry import create_model, list_models, register_model

__all__ = ["ACTIVATIONS", "INITIALIZERS", "NORMALIZATIONS", "ChannelMaxout", "FractionalMaxPooling2D", "Maxout",
           "create_model", "list_models", "register_model"]
