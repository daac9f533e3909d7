"""Augmentation registry: a plain dict from name to op class, filled by a decorator."""
from __future__ import annotations

import inspect

_OPS: dict[str, type] = {}


def register_op(name: str):
    """Register an op class under ``name``; a duplicate name is a programming error."""
    def wrap(cls):
        if name in _OPS:
            raise ValueError(f"augmentation {name!r} is already registered")
        cls.name = name
        _OPS[name] = cls
        return cls
    return wrap


def list_augmentations() -> list[str]:
    return sorted(_OPS)


def op_parameters(name: str) -> dict[str, object]:
    """``{parameter: default}`` of op ``name``, as its constructor declares them."""
    signature = inspect.signature(_OPS[name].__init__)
    return {p.name: p.default for p in list(signature.parameters.values())[1:]
            if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD}


def create_op(spec: dict):
    """Build an op from ``{"name": ..., "p": ..., **parameters}``.

    Raises:
        ValueError: unknown name (the message lists the known ones) or a bad parameter.
    """
    from .keras_layers import KerasLayer  # layers named "keras.X" / "keras_cv.X"
    if not isinstance(spec, dict) or "name" not in spec:
        raise ValueError(f"an augmentation is a mapping with a 'name' key, got {spec!r}")
    spec = dict(spec)
    name = spec.pop("name")
    if isinstance(name, str) and name.split(".", 1)[0] in ("keras", "keras_cv") and "." in name:
        return KerasLayer(name, **spec)
    if name not in _OPS:
        raise ValueError(f"unknown augmentation {name!r}; known: {', '.join(list_augmentations())}, "
                         "or keras.<Layer> / keras_cv.<Layer>")
    allowed = op_parameters(name)
    unknown = set(spec) - set(allowed)
    if unknown:
        raise ValueError(f"augmentation {name!r} has no parameter {', '.join(sorted(unknown))}; "
                         f"parameters: {', '.join(allowed)}")
    return _OPS[name](**spec)
