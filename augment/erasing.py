"""Erasing ops: cutout (a fixed-size square per image) and random erasing (random area and aspect)."""
from __future__ import annotations

import math

import tensorflow as tf

from .base import PIXEL_MAX, Augmentation, check_choice, check_number, split_seed, uniform
from .registry import register_op

FILLS = ("zero", "mean", "noise")


def box_mask(top, left, bottom, right, height, width):
    """(B, H, W, 1) float mask, 1 inside each image's box [top, bottom) x [left, right)."""
    rows = tf.range(height)[None, :, None]
    cols = tf.range(width)[None, None, :]
    inside = ((rows >= top[:, None, None]) & (rows < bottom[:, None, None])
              & (cols >= left[:, None, None]) & (cols < right[:, None, None]))
    return tf.cast(inside, tf.float32)[..., None]


def fill_values(fill: str, seed, images):
    if fill == "zero":
        return tf.zeros_like(images)
    if fill == "mean":
        return tf.broadcast_to(tf.reduce_mean(images, axis=[1, 2], keepdims=True), tf.shape(images))  # per channel
    return tf.random.stateless_uniform(tf.shape(images), seed=seed, maxval=PIXEL_MAX)


class _Erase(Augmentation):
    def __init__(self, p: float, fill: str):
        super().__init__(p)
        self.fill = check_choice("fill", fill, FILLS)

    def apply(self, images, params):
        mask = box_mask(params["top"], params["left"], params["bottom"], params["right"],
                        tf.shape(images)[1], tf.shape(images)[2])
        return images * (1.0 - mask) + params["fill"] * mask


@register_op("cutout")
class Cutout(_Erase):
    """Erase a ``size`` x ``size`` square centred anywhere in the image (clipped at the borders)."""

    def __init__(self, size: int = 8, fill: str = "zero", p: float = 1.0):
        super().__init__(p, fill)
        self.size = check_number("size", size, 1, 1024, integer=True)

    def sample_params(self, seed, batch, height, width, images):
        s_pos, s_fill = split_seed(seed, 2)
        cy = tf.random.stateless_uniform([batch], seed=s_pos, maxval=height, dtype=tf.int32)
        cx = tf.random.stateless_uniform([batch], seed=tf.reverse(s_pos, [0]), maxval=width, dtype=tf.int32)
        half = self.size // 2
        return {"top": tf.maximum(cy - half, 0), "left": tf.maximum(cx - half, 0),
                "bottom": tf.minimum(cy - half + self.size, height), "right": tf.minimum(cx - half + self.size, width),
                "fill": fill_values(self.fill, s_fill, images)}


@register_op("random_erasing")
class RandomErasing(_Erase):
    """Erase a box of random area (fraction of the image) and aspect ratio, placed fully inside."""

    def __init__(self, area: tuple = (0.02, 0.33), ratio: tuple = (0.3, 3.3), fill: str = "noise", p: float = 0.5):
        super().__init__(p, fill)
        self.area = self._range("area", area, 0.0, 1.0)
        self.ratio = self._range("ratio", ratio, 0.01, 100.0)

    @staticmethod
    def _range(name, value, low, high):
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ValueError(f"{name} must be a [min, max] pair, got {value!r}")
        a, b = (check_number(name, v, low, high) for v in value)
        if a > b:
            raise ValueError(f"{name} must be [min, max] with min <= max, got {value!r}")
        return (float(a), float(b))

    def sample_params(self, seed, batch, height, width, images):
        s_area, s_ratio, s_y, s_x, s_fill = split_seed(seed, 5)
        h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
        area = uniform(s_area, [batch], *self.area) * h * w
        ratio = tf.exp(uniform(s_ratio, [batch], math.log(self.ratio[0]), math.log(self.ratio[1])))
        box_h = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(area * ratio)), tf.int32), 1, height)
        box_w = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(area / ratio)), tf.int32), 1, width)
        top = tf.cast(uniform(s_y, [batch]) * tf.cast(height - box_h + 1, tf.float32), tf.int32)
        left = tf.cast(uniform(s_x, [batch]) * tf.cast(width - box_w + 1, tf.float32), tf.int32)
        return {"top": top, "left": left, "bottom": top + box_h, "right": left + box_w,
                "fill": fill_values(self.fill, s_fill, images)}
