"""Geometric ops: flips, per-image random crops with padding, rotation, translation, zoom."""
from __future__ import annotations

import math

import tensorflow as tf

from .base import Augmentation, check_choice, check_number, split_seed, uniform
from .registry import register_op


@register_op("flip_horizontal")
class FlipHorizontal(Augmentation):
    """Mirror left-right (not for digits: a mirrored 2 is not a 2)."""

    def apply(self, images, params):
        return tf.reverse(images, axis=[2])


@register_op("flip_vertical")
class FlipVertical(Augmentation):
    """Mirror top-bottom."""

    def apply(self, images, params):
        return tf.reverse(images, axis=[1])


@register_op("random_crop")
class RandomCrop(Augmentation):
    """Zero-pad by ``padding`` pixels, then crop back at an offset drawn per image."""

    def __init__(self, padding: int = 2, p: float = 1.0):
        super().__init__(p)
        self.padding = check_number("padding", padding, 1, 64, integer=True)

    def sample_params(self, seed, batch, height, width, images):
        offsets = tf.random.stateless_uniform([batch, 2], seed=seed, minval=0, maxval=2 * self.padding + 1,
                                              dtype=tf.int32)
        return {"offset_y": offsets[:, 0], "offset_x": offsets[:, 1]}

    def apply(self, images, params):
        pad = self.padding
        height, width = tf.shape(images)[1], tf.shape(images)[2]
        padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        rows = params["offset_y"][:, None] + tf.range(height)[None, :]       # (B, H)
        cols = params["offset_x"][:, None] + tf.range(width)[None, :]        # (B, W)
        picked_rows = tf.gather(padded, rows, axis=1, batch_dims=1)          # (B, H, W + 2p, C)
        return tf.gather(picked_rows, cols, axis=2, batch_dims=1)            # (B, H, W, C)


def _affine_transforms(angle, scale, dx, dy, height, width):
    """(B, 8) projective transforms mapping each output pixel to its input pixel.

    Output = rotate by ``angle`` and scale by ``scale`` about the centre, then shift by (dx, dy).
    """
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    # input = R^-1 (output - centre - shift) / scale + centre
    a0, a1 = cos, sin
    b0, b1 = -sin, cos
    a2 = cx - a0 * (cx + dx) - a1 * (cy + dy)
    b2 = cy - b0 * (cx + dx) - b1 * (cy + dy)
    zeros = tf.zeros_like(angle)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


class _Affine(Augmentation):
    INTERPOLATIONS = ("bilinear", "nearest")

    def __init__(self, p: float = 1.0, interpolation: str = "bilinear"):
        super().__init__(p)
        self.interpolation = check_choice("interpolation", interpolation, self.INTERPOLATIONS)

    def apply(self, images, params):
        height, width = tf.shape(images)[1], tf.shape(images)[2]
        batch = tf.shape(images)[0]
        zeros, ones = tf.zeros([batch]), tf.ones([batch])
        transforms = _affine_transforms(params.get("angle", zeros), params.get("scale", ones),
                                        params.get("dx", zeros), params.get("dy", zeros), height, width)
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=images, transforms=transforms, output_shape=tf.stack([height, width]),
            fill_value=0.0, interpolation=self.interpolation.upper(), fill_mode="CONSTANT")


@register_op("rotate")
class Rotate(_Affine):
    """Rotate each image by an angle drawn uniformly from [-degrees, degrees]; corners fill with 0."""

    def __init__(self, degrees: float = 10.0, p: float = 1.0, interpolation: str = "bilinear"):
        super().__init__(p, interpolation)
        self.degrees = check_number("degrees", degrees, 0, 180)

    def sample_params(self, seed, batch, height, width, images):
        limit = math.radians(self.degrees)
        return {"angle": uniform(seed, [batch], -limit, limit)}


@register_op("translate")
class Translate(_Affine):
    """Shift each image by up to ``fraction`` of its size along each axis."""

    def __init__(self, fraction: float = 0.1, p: float = 1.0, interpolation: str = "bilinear"):
        super().__init__(p, interpolation)
        self.fraction = check_number("fraction", fraction, 0, 1)

    def sample_params(self, seed, batch, height, width, images):
        sy, sx = split_seed(seed, 2)
        h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
        return {"dy": uniform(sy, [batch], -1, 1) * self.fraction * h,
                "dx": uniform(sx, [batch], -1, 1) * self.fraction * w}


@register_op("zoom")
class Zoom(_Affine):
    """Scale each image about its centre by a factor drawn from [1 - factor, 1 + factor]."""

    def __init__(self, factor: float = 0.1, p: float = 1.0, interpolation: str = "bilinear"):
        super().__init__(p, interpolation)
        self.factor = check_number("factor", factor, 0, 0.9)

    def sample_params(self, seed, batch, height, width, images):
        return {"scale": uniform(seed, [batch], 1 - self.factor, 1 + self.factor)}
