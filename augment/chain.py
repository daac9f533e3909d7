"""An augmentation chain: the configured ops applied in order to each training batch."""
from __future__ import annotations

import tensorflow as tf

from .base import split_seed
from .registry import create_op


class AugmentChain:
    """Ops in order; ``mixing`` is a switch the training loop can turn off for the last epochs."""

    def __init__(self, specs: list[dict]):
        self.ops = [create_op(spec) for spec in specs]
        self.mixing = tf.Variable(True, trainable=False, name="mixing_enabled")

    def __bool__(self) -> bool:
        return bool(self.ops)

    @property
    def mixes_labels(self) -> bool:
        return any(op.mixes_labels for op in self.ops)

    @property
    def per_image_lead(self) -> tuple:
        """The leading ops a streamed input applies per image while decoding (then it calls the chain with
        ``start=len(lead)``): a first random-resized crop (drawn before decoding: only its window is
        decoded) and a horizontal flip right after it (flipping one small uint8 image there is cheaper than a
        float batch later); empty when the chain does not start with the crop."""
        if not self.ops or self.ops[0].name != "random_resized_crop":
            return ()
        return tuple(self.ops[:2]) if len(self.ops) > 1 and self.ops[1].name == "flip_horizontal" else (self.ops[0],)

    def __call__(self, images, targets, seed, start: int = 0):
        """Apply every op (from the ``start``-th) to a batch of float images (B, H, W, C) 0-255 and float
        targets (B, classes). Each op's seed is the same whatever ``start`` is."""
        if len(self.ops) <= start:
            return images, targets
        for op, op_seed in list(zip(self.ops, split_seed(seed, len(self.ops))))[start:]:
            if op.mixes_labels:
                images, targets = tf.cond(self.mixing, lambda o=op, s=op_seed: o(images, targets, s),
                                          lambda: (images, targets))
            else:
                images, targets = op(images, targets, op_seed)
        return images, targets


def validate_specs(specs) -> list[dict]:
    """Check a configured chain (a list of mappings) by building it; raise ValueError naming the problem."""
    if specs is None:
        return []
    if not isinstance(specs, list):
        raise ValueError(f"augment must be a list of {{name: ..., ...}} mappings, got {type(specs).__name__}")
    for i, spec in enumerate(specs):
        try:
            create_op(spec)
        except ValueError as e:
            raise ValueError(f"augment[{i}]: {e}") from None
    return specs
