"""Fitting an image of any size and aspect to the model's H x W, the same way everywhere: when a dataset
is decoded, in the exported model's encoded-image signature, and in ``trainlab predict``.

``squash`` resizes to H x W whatever the aspect (the default: what trainlab always did); ``pad`` resizes
the longer side to fit and pads the shorter one with black, keeping the aspect; ``center_crop`` resizes
the shorter side to fit and crops the longer one about the centre (the evaluation resize of ImageNet
models). Resizing is antialiased; pixels stay float.
"""
from __future__ import annotations

import tensorflow as tf

from ..config.schema import RESIZE_MODES


def to_pixels(images: tf.Tensor) -> tf.Tensor:
    """Float pixels (after a resize) back to uint8: rounded, clipped to 0-255."""
    return tf.cast(tf.clip_by_value(tf.round(images), 0, 255), tf.uint8)


def fit_image(images: tf.Tensor, size, mode: str = "squash") -> tf.Tensor:
    """float ``images`` (H, W, C) or (B, H, W, C) fitted to ``size`` (H, W) by ``mode``."""
    height, width = int(size[0]), int(size[1])
    if mode == "squash":
        return tf.image.resize(images, [height, width], antialias=True)
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {', '.join(RESIZE_MODES)}, got {mode!r}")
    shape = tf.cast(tf.shape(images)[-3:-1], tf.float32)
    ratios = tf.constant([height, width], tf.float32) / shape
    scale = tf.reduce_min(ratios) if mode == "pad" else tf.reduce_max(ratios)
    # round, then keep within the target on the side that must fit (pad) or at least the target (crop)
    scaled = tf.cast(tf.round(shape * scale), tf.int32)
    target = tf.constant([height, width], tf.int32)
    scaled = tf.minimum(scaled, target) if mode == "pad" else tf.maximum(scaled, target)
    resized = tf.image.resize(images, scaled, antialias=True)
    return tf.image.resize_with_crop_or_pad(resized, height, width)
