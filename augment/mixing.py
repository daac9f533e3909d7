"""Mixing ops: mixup and cutmix. They own the label maths on float (one-hot or smoothed) targets.

Each image is mixed with a partner from the same batch (a random permutation). The label weight
of the image itself is ``lam``; mixed targets stay distributions (they sum to 1).
"""
from __future__ import annotations

import tensorflow as tf

from .base import PIXEL_MAX, Augmentation, check_number, split_seed, uniform
from .erasing import box_mask
from .registry import register_op


def sample_beta(seed, shape, alpha: float):
    """Beta(alpha, alpha) from two stateless gamma draws."""
    s1, s2 = split_seed(seed, 2)
    a = tf.random.stateless_gamma(shape, seed=s1, alpha=alpha)
    b = tf.random.stateless_gamma(shape, seed=s2, alpha=alpha)
    return a / (a + b)


class _Mixing(Augmentation):
    mixes_labels = True

    def __init__(self, alpha: float, p: float):
        super().__init__(p)
        self.alpha = check_number("alpha", alpha, 1e-3, 100)

    def partner(self, seed, batch):
        return tf.argsort(uniform(seed, [batch]))

    def transform(self, images, targets, params):
        # Not mixing an image means weight 1 on itself: `apply` folds into lam, no tf.where needed.
        lam = tf.where(params["apply"], params["lam"], 1.0)
        params = {**params, "lam": lam}
        return self.apply(images, params), self.apply_targets(targets, params)

    def apply_targets(self, targets, params):
        lam = params["lam"][:, None]
        return lam * targets + (1.0 - lam) * tf.gather(targets, params["partner"])


@register_op("mixup")
class Mixup(_Mixing):
    """x = lam * x + (1 - lam) * x_partner, lam ~ Beta(alpha, alpha) per image; targets alike."""

    def __init__(self, alpha: float = 0.2, p: float = 1.0):
        super().__init__(alpha, p)

    def sample_params(self, seed, batch, height, width, images):
        s_lam, s_perm = split_seed(seed, 2)
        return {"lam": sample_beta(s_lam, [batch], self.alpha), "partner": self.partner(s_perm, batch)}

    def apply(self, images, params):
        lam = tf.reshape(params["lam"], [-1, 1, 1, 1])
        mixed = lam * images + (1.0 - lam) * tf.gather(images, params["partner"])
        return tf.clip_by_value(mixed, 0.0, PIXEL_MAX)  # float rounding can step past 255


@register_op("cutmix")
class CutMix(_Mixing):
    """Paste a box from the partner; the box is sized by lam ~ Beta(alpha, alpha), and the label
    weight is then exactly the kept-area fraction of the image after clipping the box."""

    def __init__(self, alpha: float = 1.0, p: float = 1.0):
        super().__init__(alpha, p)

    def sample_params(self, seed, batch, height, width, images):
        s_lam, s_perm, s_y, s_x = split_seed(seed, 4)
        lam = sample_beta(s_lam, [batch], self.alpha)
        h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
        cut = tf.sqrt(1.0 - lam)
        box_h, box_w = tf.cast(tf.round(h * cut), tf.int32), tf.cast(tf.round(w * cut), tf.int32)
        cy = tf.random.stateless_uniform([batch], seed=s_y, maxval=height, dtype=tf.int32)
        cx = tf.random.stateless_uniform([batch], seed=s_x, maxval=width, dtype=tf.int32)
        top, left = tf.maximum(cy - box_h // 2, 0), tf.maximum(cx - box_w // 2, 0)
        bottom, right = tf.minimum(cy - box_h // 2 + box_h, height), tf.minimum(cx - box_w // 2 + box_w, width)
        area = tf.cast((bottom - top) * (right - left), tf.float32)
        return {"top": top, "left": left, "bottom": bottom, "right": right,
                "lam": 1.0 - area / (h * w), "partner": self.partner(s_perm, batch)}

    def transform(self, images, targets, params):
        # A box is pasted only where `apply` holds; an empty box leaves lam at exactly 1.
        keep = params["apply"]
        params = {**params, "bottom": tf.where(keep, params["bottom"], params["top"])}
        area = tf.cast((params["bottom"] - params["top"]) * (params["right"] - params["left"]), tf.float32)
        h, w = tf.cast(tf.shape(images)[1], tf.float32), tf.cast(tf.shape(images)[2], tf.float32)
        params["lam"] = 1.0 - area / (h * w)
        return self.apply(images, params), self.apply_targets(targets, params)

    def apply(self, images, params):
        mask = box_mask(params["top"], params["left"], params["bottom"], params["right"],
                        tf.shape(images)[1], tf.shape(images)[2])
        return images * (1.0 - mask) + tf.gather(images, params["partner"]) * mask
