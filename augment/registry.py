"""Augmentation registry: plain dicts from name to op class, filled by decorators.

Besides named ops, a family of ops can claim a name prefix (``keras.X``, ``keras_cv.X``): the
registry hands such names to the family's class and knows nothing else about it.
"""
from __future__ import annotations

import inspect

_OPS: dict[str, type] = {}
_PREFIXES: dict[str, type] = {}


def register_op(name: str):
    """Register an op class under ``name``; a duplicate name is a programming error."""
    def wrap(cls):
        if name in _OPS:
            raise ValueError(f"augmentation {name!r} is already registered")
        cls.name = name
        _OPS[name] = cls
        return cls
    return wrap


def register_prefix(prefix: str):
    """Register an op class for every name ``<prefix>.<anything>``; it is built as ``cls(name, **parameters)``."""
    def wrap(cls):
        if prefix in _PREFIXES:
            raise ValueError(f"augmentation prefix {prefix!r} is already registered")
        _PREFIXES[prefix] = cls
        return cls
    return wrap


def list_augmentations() -> list[str]:
    """Names of the registered ops, sorted."""
    return sorted(_OPS)


def list_prefixes() -> list[str]:
    """Registered name prefixes (``keras`` for ``keras.RandomZoom``), sorted."""
    return sorted(_PREFIXES)


def describe_augmentation(name: str) -> str:
    """The first line of the op's (or the prefix family's) docstring."""
    cls = _OPS.get(name) or _PREFIXES.get(name)
    if cls is None:
        raise KeyError(f"unknown augmentation {name!r}; known: {', '.join(list_augmentations())}")
    return (cls.__doc__ or "").strip().splitlines()[0]


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
    if not isinstance(spec, dict) or "name" not in spec:
        raise ValueError(f"an augmentation is a mapping with a 'name' key, got {spec!r}")
    spec = dict(spec)
    name = spec.pop("name")
    prefix, dot, _ = name.partition(".") if isinstance(name, str) else ("", "", "")
    if dot and prefix in _PREFIXES:
        return _PREFIXES[prefix](name, **spec)
    if name not in _OPS:
        families = " / ".join(f"{p}.<Layer>" for p in list_prefixes())
        raise ValueError(f"unknown augmentation {name!r}; known: {', '.join(list_augmentations())}"
                         + (f", or {families}" if families else ""))
    allowed = op_parameters(name)
    unknown = set(spec) - set(allowed)
    if unknown:
        raise ValueError(f"augmentation {name!r} has no parameter {', '.join(sorted(unknown))}; "
                         f"parameters: {', '.join(allowed)}")
    return _OPS[name](**spec)
