"""Keras model factories, registered by name.

``create_model("cnn", activation="relu")`` builds a model; ``list_models()`` lists the names.
"""
from models.registry import create_model, list_models, register_model
from models import cnn, mlp  # noqa: F401  (register the families)

__all__ = ["create_model", "list_models", "register_model"]
