"""What the augmentation chain does to real images, as a PNG grid (CLI and each training run)."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from trainlab.augment import AugmentChain

from . import plots


def augment_preview(images: np.ndarray, labels: np.ndarray, chain: AugmentChain, class_names,
                    count: int = 8, draws: int = 5, seed: int = 0):
    """A figure: ``count`` images (one per class first) beside ``draws`` augmented versions each."""
    picks = [int(np.flatnonzero(labels == c)[0]) for c in range(len(class_names)) if np.any(labels == c)][:count]
    originals, picked = images[picks], labels[picks]
    x = tf.constant(originals, tf.float32)
    targets = tf.one_hot(picked, len(class_names))
    results = []
    for d in range(draws):
        out, out_targets = chain(x, targets, tf.constant([seed, d], tf.int64))
        results.append((out.numpy(), out_targets.numpy()))
    return plots.augment_grid(originals, picked, results, class_names)
