"""Loading the config: defaults, the dataset's recipe, a YAML file, a preset, the environment and
command-line overrides, layered in that order, each value converted to its field's type, then validated.
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from .recipes import DATASET_RECIPES, PRESETS, preset_overrides, transfer_recipe
from .schema import Config, registered_model_name
from .validation import validate

# The MLflow ecosystem's own variables, as MLflow users expect them honoured: over the config file,
# under the command line.
ENVIRONMENT = {"MLFLOW_TRACKING_URI": "tracking.tracking_uri", "MLFLOW_EXPERIMENT_NAME": "tracking.experiment"}


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None,
                preset: str = "default", environ: dict[str, str] | None = None, registries: bool = True) -> Config:
    """Defaults <- the dataset's recipe (:data:`DATASET_RECIPES`) <- the transfer recipe (``model.pretrained``
    ImageNet or a weights file: :func:`transfer_recipe`) <- YAML file <- preset (the dataset's own where it
    has one: :func:`preset_overrides`) <- environment (:data:`ENVIRONMENT`) <- overrides; then validate.

    Args:
        environ: the environment to read (default ``os.environ``).
        registries: check model and augmentation names too (loads Keras; see ``validation.validate``).

    Raises:
        ConfigError: missing/unparsable file, unknown key, wrong type or bad value.
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
    environ = os.environ if environ is None else environ
    layers = [list(_read_yaml(Path(path)).items()) if path is not None else [], list(PRESETS[preset].items()),
              [(key, environ[variable]) for variable, key in ENVIRONMENT.items() if environ.get(variable)],
              [(key, value) for key, value in (overrides or {}).items() if value is not None]]
    # The dataset is known only once every layer is read: then its recipe goes under all of them and the
    # preset becomes the dataset's own, where it has one (no preset sets the dataset).
    # So is the pretrained source, and whether any layer names the network: the transfer recipe goes under them.
    dataset = _layered(layers).data.dataset
    layers[1] = list(preset_overrides(preset, dataset).items())
    above = _layered(layers)
    named = above.model.name if any(key == "model.name" for layer in layers for key, _ in layer) else None
    transfer = transfer_recipe(above.model.pretrained, named)
    cfg = _layered([list(DATASET_RECIPES.get(dataset, {}).items()), list(transfer.items()), *layers])
    if cfg.tracking.registered_model == "auto":
        cfg.tracking.registered_model = registered_model_name(cfg.data.dataset)
    validate(cfg, registries)
    return cfg


def _layered(layers: list[list[tuple[str, Any]]]) -> Config:
    cfg = Config()
    for layer in layers:
        for key, value in layer:
            set_key(cfg, key, value)
    return cfg


def read_yaml(path: Path, kind: str = "config") -> Any:
    """A YAML file's document; a missing or unparsable ``kind`` file is a ConfigError saying so."""
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{kind} file {path} does not exist") from None
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot parse {kind} file {path}: {' '.join(str(e).split())}") from None


def file_keys(path: str | Path) -> list[str]:
    """The dotted keys a config file sets."""
    return list(_read_yaml(Path(path)))


def _read_yaml(path: Path) -> dict[str, Any]:
    doc = read_yaml(path)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, not {type(doc).__name__}")
    flat = {}
    for section, values in doc.items():
        if section == "augment":
            flat["augment"] = values
            continue
        if values is None:  # a section whose keys are all commented out
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: section {section!r} must be a mapping of keys")
        flat.update({f"{section}.{k}": v for k, v in values.items()})
    return flat


def set_key(cfg: Config, key: str, value: Any) -> None:
    """Set dotted ``key`` to ``value``, converting it to the field's type."""
    if key == "augment":
        cfg.augment = _augment_list(value)
        return
    section, _, name = key.partition(".")
    sections = {f.name: f for f in dataclasses.fields(cfg)}
    if section not in sections or section == "augment":
        raise ConfigError(f"unknown config section {section!r} in {key!r}; sections: {', '.join(sections)}")
    sub = getattr(cfg, section)
    hints = typing.get_type_hints(type(sub))
    if name not in hints:
        raise ConfigError(f"unknown config key {key!r}; keys of {section}: {', '.join(hints)}")
    setattr(sub, name, _coerce(key, value, hints[name]))


def _augment_list(value: Any) -> list | str:
    """The augmentation chain: a list of mappings, given as such or as YAML text (``none``: empty), or
    ``"auto"``."""
    if isinstance(value, str):
        if value.strip().lower() in ("none", "[]", ""):
            return []
        if value.strip().lower() == "auto":
            return "auto"
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise ConfigError(f"augment: cannot parse {value!r}: {' '.join(str(e).split())}") from None
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f"augment must be a list of {{name: ..., ...}} mappings, got {value!r}")
    return value


def _coerce(key: str, value: Any, hint) -> Any:
    if hint is Any:  # a free-form value (train.class_weight): CLI strings are YAML, "none" is None
        if isinstance(value, str):
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError as e:
                raise ConfigError(f"{key}: cannot parse {value!r}: {' '.join(str(e).split())}") from None
        return None if isinstance(value, str) and value.lower() in ("none", "null") else value
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    optional = union and type(None) in typing.get_args(hint)
    bases = tuple(a for a in typing.get_args(hint) if a is not type(None)) if union else (hint,)
    if set(bases) == {int, str}:  # a size (data.memory_budget): bytes or "6GB", checked by validation
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "~")):
            return None
        return int(value) if isinstance(value, str) and value.strip().isdigit() else value
    if len(bases) > 1:  # a count or a fraction (int | float): whichever the value is
        return _coerce_number(key, value, optional)
    base = bases[0]
    # "none" unsets a number (``--set data.limit_train=none``) but is a value of a string key
    # (``model.normalization: none``: no normalization layer, not the family's default); null unsets either.
    unset = ("null", "~") if base is str else ("none", "null", "~")
    if value is None or (optional and isinstance(value, str) and value.lower() in unset):
        if optional:
            return None
        raise ConfigError(f"{key} must be set (a {base.__name__})")
    if isinstance(value, str) and base is not str:
        try:
            value = yaml.safe_load(value)  # CLI strings: "3" -> 3, "1e-3" -> 0.001, "true" -> True
        except yaml.YAMLError:
            pass
        if isinstance(value, str) and base is float:
            try:
                value = float(value)
            except ValueError:
                pass
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, base) or (base is int and isinstance(value, bool)):
        raise ConfigError(f"{key} must be a {base.__name__}, got {value!r}")
    return value


def _coerce_number(key: str, value: Any, optional: bool) -> int | float | None:
    """A count or a fraction (``data.validation_size``): ``500`` stays an int, ``0.1`` a float; none unsets."""
    if isinstance(value, str):
        if optional and value.lower() in ("none", "null", "~"):
            return None
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            pass
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key} must be a count or a fraction, got {value!r}")
    return int(value) if isinstance(value, float) and value >= 1 and value.is_integer() else value
