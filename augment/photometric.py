"""Photometric ops: contrast, brightness ("magnitude change"), gaussian noise. Output stays in [0, 255]."""
from __future__ import annotations

import tensorflow as tf

from .base import PIXEL_MAX, Augmentation, check_number, uniform
from .registry import register_op


@register_op("contrast")
class Contrast(Augmentation):
    """Scale each image's deviation from its mean by a factor in [1 - factor, 1 + factor]."""

    def __init__(self, factor: float = 0.3, p: float = 1.0):
        super().__init__(p)
        self.factor = check_number("factor", factor, 0, 1)

    def sample_params(self, seed, batch, height, width, images):
        return {"contrast": uniform(seed, [batch], 1 - self.factor, 1 + self.factor)}

    def apply(self, images, params):
        mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
        factor = tf.reshape(params["contrast"], [-1, 1, 1, 1])
        return tf.clip_by_value((images - mean) * factor + mean, 0.0, PIXEL_MAX)


@register_op("brightness")
class Brightness(Augmentation):
    """Add a per-image offset in [-delta, delta] x 255."""

    def __init__(self, delta: float = 0.2, p: float = 1.0):
        super().__init__(p)
        self.delta = check_number("delta", delta, 0, 1)

    def sample_params(self, seed, batch, height, width, images):
        return {"offset": uniform(seed, [batch], -self.delta, self.delta) * PIXEL_MAX}

    def apply(self, images, params):
        return tf.clip_by_value(images + tf.reshape(params["offset"], [-1, 1, 1, 1]), 0.0, PIXEL_MAX)


@register_op("gaussian_noise")
class GaussianNoise(Augmentation):
    """Add pixel noise with standard deviation ``std`` x 255."""

    def __init__(self, std: float = 0.05, p: float = 1.0):
        super().__init__(p)
        self.std = check_number("std", std, 0, 1)

    def sample_params(self, seed, batch, height, width, images):
        return {"noise": tf.random.stateless_normal(tf.shape(images), seed=seed) * self.std * PIXEL_MAX}

    def apply(self, images, params):
        return tf.clip_by_value(images + params["noise"], 0.0, PIXEL_MAX)
