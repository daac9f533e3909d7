"""Model registry: a plain dict from name to factory, filled by a decorator."""
from __future__ import annotations

import re
from typing import Callable

import keras

from .ensemble import ensemble
from .errors import OptionError

_MODELS: dict[str, Callable[..., keras.Model]] = {}


def register_model(fn: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
    """Register ``fn`` under its own name; a duplicate name is a programming error."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered")
    _MODELS[name] = fn
    return fn


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_MODELS)


def describe_model(name: str) -> str:
    """The first line of the model's docstring."""
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return (_MODELS[name].__doc__ or "").strip().splitlines()[0]


def create_model(name: str, **options) -> keras.Model:
    """Build the registered model ``name``.

    Options set to ``None`` are dropped, so an unset CLI flag never overrides a model's default.
    ``members=N`` (N > 1) builds an ensemble of N such networks as one model (``models.ensemble``).

    Raises:
        KeyError: ``name`` is not registered (the message lists the known names).
        OptionError: an option has a bad value or is not the model's (the message starts with its name).
    """
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    options = {k: v for k, v in options.items() if v is not None}
    members = options.pop("members", 1)
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise OptionError(f"members must be a positive integer, got {members!r}")
    if members > 1:
        return ensemble(lambda: create_model(name, **options), members, name)
    try:
        return _MODELS[name](**options)
    except TypeError as e:
        match = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        if match is None:
            raise
        raise OptionError(f"{match.group(1)} is not an option of model {name!r}") from None
