"""Test-time augmentation: fixed views of each test image, whose predicted probabilities are averaged.

Views come from a registry filled by decorators, built from the config's ``evaluate.tta`` list::

    evaluate.tta: [{name: shift, pixels: 1}, {name: flip_horizontal}]

is the image itself, the four one-pixel shifts (up, down, left, right; edges repeated) and the mirror
image: six views. :func:`with_tta` wraps a model so that it does this inside its own graph (one Keras
layer makes the views, the model runs on each, an average joins them), so an exported SavedModel can
serve it too (``export.tta``).
"""
from __future__ import annotations

from typing import Callable

import keras

from trainlab.augment.base import check_number

VIEWS: dict[str, Callable[..., list[Callable]]] = {}


class TTAError(ValueError):
    """A view list that cannot be built: unknown name, bad parameter."""


def register_view(name: str):
    def decorate(fn):
        if name in VIEWS:
            raise ValueError(f"test-time view {name!r} is already registered")
        VIEWS[name] = fn
        return fn
    return decorate


def _shifted(x, dy: int, dx: int):
    """Move the image content by (dy, dx) pixels, repeating the edge rows/columns it uncovers."""
    p = max(abs(dy), abs(dx))
    padded = keras.ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="symmetric")
    height, width = x.shape[1], x.shape[2]
    return padded[:, p - dy:p - dy + height, p - dx:p - dx + width, :]


@register_view("shift")
def shift(pixels: int = 1) -> list[Callable]:
    """Four views: the image moved ``pixels`` up, down, left and right."""
    check_number("shift.pixels", pixels, 1, 8, integer=True)
    return [lambda x, d=d: _shifted(x, *d) for d in ((-pixels, 0), (pixels, 0), (0, -pixels), (0, pixels))]


@register_view("flip_horizontal")
def flip_horizontal() -> list[Callable]:
    """One view: the mirror image (only where the classes are mirror-symmetric: clothes, not digits)."""
    return [lambda x: keras.ops.flip(x, axis=2)]


def views(specs) -> list[Callable]:
    """The transforms of ``specs`` (the identity not included); raises TTAError on a bad list."""
    if not isinstance(specs, list):
        raise TTAError(f"evaluate.tta must be a list of {{name: ..., ...}} mappings, got {specs!r}")
    found = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or "name" not in spec:
            raise TTAError(f"evaluate.tta[{i}] must be a mapping with a name, got {spec!r}")
        params = {k: v for k, v in spec.items() if k != "name"}
        if spec["name"] not in VIEWS:
            raise TTAError(f"evaluate.tta[{i}]: unknown view {spec['name']!r}; known: {', '.join(sorted(VIEWS))}")
        try:
            found += VIEWS[spec["name"]](**params)
        except TypeError as e:
            raise TTAError(f"evaluate.tta[{i}] ({spec['name']}): {e}") from None
        except ValueError as e:
            raise TTAError(f"evaluate.tta[{i}]: {e}") from None
    return found


@keras.saving.register_keras_serializable(package="trainlab")
class TTAViews(keras.layers.Layer):
    """(N, H, W, C) -> [the images, view 1, view 2, ...], each (N, H, W, C)."""

    def __init__(self, specs: list, **kwargs):
        super().__init__(**kwargs)
        self.specs = [dict(s) for s in specs]
        self._views = views(self.specs)

    def call(self, images):
        return [images] + [view(images) for view in self._views]

    def compute_output_shape(self, input_shape):
        return [tuple(input_shape)] * (1 + len(self._views))

    def get_config(self):
        return {**super().get_config(), "specs": self.specs}


def with_tta(model: keras.Model, specs: list) -> keras.Model:
    """``model`` averaging its probabilities over the views of ``specs`` (and the image itself)."""
    inputs = keras.Input(shape=model.input_shape[1:], name="image")
    outputs = [model(view) for view in TTAViews(specs, name="tta_views")(inputs)]
    averaged = keras.layers.Average(name="tta_average")(outputs) if len(outputs) > 1 else outputs[0]
    return keras.Model(inputs, averaged, name=f"{model.name}_tta")
