"""The contract every op keeps: sample per-image parameters from a seed, then apply them purely.

Ops work on whole batches of float32 images (B, H, W, C) in raw pixel units (0-255) and float
targets (B, classes). Randomness is stateless: the same seed gives the same batch, in eager code
and inside ``tf.data`` alike, however many threads the map uses.
"""
from __future__ import annotations

import tensorflow as tf

PIXEL_MAX = 255.0


def check_probability(p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    return float(p)


def check_number(name: str, value, low: float, high: float, integer: bool = False):
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
        raise ValueError(f"{name} must be {'an integer' if integer else 'a number'} in [{low}, {high}], "
                         f"got {value!r}")
    return value


def check_choice(name: str, value, allowed) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def uniform(seed, shape, low=0.0, high=1.0):
    return tf.random.stateless_uniform(shape, seed=seed, minval=low, maxval=high)


def split_seed(seed, n: int):
    """``n`` independent seeds from one (shape (2,) int32/int64)."""
    return tf.unstack(tf.random.experimental.stateless_split(seed, n))


class Augmentation:
    """Base op. Subclasses implement ``sample`` and ``apply``; mixing ops also ``apply_targets``."""

    name = "augmentation"
    mixes_labels = False

    def __init__(self, p: float = 1.0):
        self.p = check_probability(p)

    def config(self) -> dict:
        return {"name": self.name, **{k: v for k, v in vars(self).items() if not k.startswith("_")}}

    def sample(self, seed, images) -> dict:
        """Per-image random parameters; always includes ``apply`` (B,) bool drawn with probability p."""
        shape = tf.shape(images)
        return self.sample_shaped(seed, shape[0], shape[1], shape[2], images)

    def sample_shaped(self, seed, batch, height, width, images=None) -> dict:
        """:meth:`sample` for ``batch`` images of ``height`` x ``width`` (pixels not needed by every op: a
        random-resized crop is drawn from the size alone, so it can be drawn before decoding)."""
        gate_seed, own_seed = split_seed(seed, 2)
        params = self.sample_params(own_seed, batch, height, width, images)
        params["apply"] = uniform(gate_seed, [batch]) < self.p
        return params

    def sample_params(self, seed, batch, height, width, images) -> dict:
        return {}

    def apply(self, images, params):
        """Pure: the same images and parameters give the same output."""
        raise NotImplementedError

    def apply_targets(self, targets, params):
        return targets

    def __call__(self, images, targets, seed):
        params = self.sample(seed, images)
        return self.transform(images, targets, params)

    def transform(self, images, targets, params):
        """Apply ``params``, keeping the original image where ``apply`` is False."""
        out = self.apply(images, params)
        keep = tf.reshape(params["apply"], [-1, 1, 1, 1])
        return tf.where(keep, out, images), self.apply_targets(targets, params)
