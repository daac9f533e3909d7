"""Grad-CAM (Selvaraju et al. 2017): where a network looked for the class it chose, as a map over the image.

For each network in a model (the one classifier, or every member of an ensemble, inside any wrapper such as
the served model's normalization and calibration), the feature map is the output of its last layer with a
spatial (rank-4) output that does not only pool or drop: the last convolutional block's activation in the
trainlab CNNs and ResNets, the nested backbone of the keras.applications models. The map is
``relu(sum_k w_k A_k)`` with ``w_k`` the spatial mean of the gradient of the chosen class's score (the
head's input times its kernel: the logit before softmax) with respect to channel ``k`` of ``A``; members'
maps are averaged; the result is resized to the image and scaled to [0, 1] per image. Everything is
TensorFlow ops, so the exported SavedModel carries it as a signature (``serving_explain``) and answers the
same wherever an image enters.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from trainlab import compat

from .errors import OptionError
from .layers import FractionalMaxPooling2D
from .parts import HEAD

SIGNATURE = "serving_explain"  # the name of the export's Grad-CAM signature (pipeline/export/stage.py)

# Layers after a block's last activation that only pool or drop: the map is taken before them, at the block's
# full resolution (the cnn's 8x8 instead of its pooled 4x4 for 32x32 images).
PASSING = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D, keras.layers.Dropout,
           keras.layers.SpatialDropout2D, FractionalMaxPooling2D)


def _rank(tensor) -> int:
    return len(tensor.shape)


def _networks(model: keras.Model, into=None) -> list[tuple]:
    """``(into, network)`` for each network with a head inside ``model``: ``into`` maps ``model``'s input to the
    network's (None: the same tensor)."""
    if any(layer.name == HEAD for layer in model.layers):
        return [(into, model)]
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            step = keras.Model(model.inputs, compat.node_tensors(layer, "input"))
            found += _networks(layer, step if into is None else _Chain(into, step))
    return found


class _Chain:
    def __init__(self, first, then):
        self.first, self.then = first, then

    def __call__(self, x):
        return self.then(self.first(x))


class GradCam:
    """``GradCam(model)(images)`` -> ``(probabilities, maps)``: the model's class probabilities for raw
    images (B, H, W, C) and a Grad-CAM map (B, H, W) in [0, 1] for the class each image gets.

    Raises:
        OptionError: a network in ``model`` has no spatial feature map (an MLP, a recurrent network), or Keras
            runs on another backend than TensorFlow.
    """

    def __init__(self, model: keras.Model):
        if keras.backend.backend() != "tensorflow":  # its gradients are a tf.GradientTape's
            raise OptionError(f"Grad-CAM runs on the TensorFlow backend, not {keras.backend.backend()}")
        self.model, self.parts, self.feature_layers = model, [], []  # feature_layers: each network's map
        for into, network in _networks(model):
            spatial = [layer for layer in network.layers[1:] if _rank(compat.node_tensors(layer, "output")) == 4
                       and not isinstance(layer, PASSING)]
            if not spatial:
                raise OptionError(f"model {network.name!r} has no convolutional feature map: Grad-CAM needs a CNN, "
                                  "a ResNet or a pretrained backbone")
            head = network.get_layer(HEAD)
            features = keras.Model(network.inputs, [compat.node_tensors(spatial[-1], "output"),
                                                    compat.node_tensors(head, "input")])
            self.parts.append((into, features, head))
            self.feature_layers.append(spatial[-1].name)
        if not self.parts:
            raise OptionError(f"model {model.name!r} has no classification head (a dense layer named {HEAD!r})")

    def __call__(self, images, classes=None):
        images = tf.cast(images, tf.float32)
        probabilities = tf.cast(self.model(images, training=False), tf.float32)
        classes = tf.argmax(probabilities, axis=-1) if classes is None else classes
        maps = [self._map(into, features, head, images, classes) for into, features, head in self.parts]
        cam = tf.add_n(maps) / len(maps)
        cam = tf.image.resize(cam[..., None], tf.shape(images)[1:3], method="bilinear")[..., 0]
        peak = tf.reduce_max(cam, axis=[1, 2], keepdims=True)
        return probabilities, tf.math.divide_no_nan(cam, peak)

    @staticmethod
    def _map(into, features, head, images, classes):
        x = images if into is None else into(images)
        with tf.GradientTape() as tape:
            activations, pooled = features(x, training=False)
            activations = tf.cast(activations, tf.float32)
            tape.watch(activations)
            kernel = tf.gather(tf.cast(head.kernel, tf.float32), classes, axis=1)  # (D, B)
            score = tf.reduce_sum(tf.cast(pooled, tf.float32) * tf.transpose(kernel), axis=-1)
        gradients = tape.gradient(score, activations)  # (B, h, w, K)
        weights = tf.reduce_mean(gradients, axis=[1, 2], keepdims=True)
        return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))  # (B, h, w)


def overlay(images, maps, alpha: float = 0.45):
    """uint8 (B, H, W, 3): each image (gray repeated to RGB) under its map coloured blue (0) to red (1)."""
    images = tf.cast(images, tf.float32)
    rgb = tf.image.grayscale_to_rgb(images) if images.shape[-1] == 1 else images
    m = maps[..., None]
    red, green, blue = tf.clip_by_value(2 * m - 0.5, 0, 1), 1 - tf.abs(2 * m - 1), tf.clip_by_value(1.5 - 2 * m, 0, 1)
    colour = tf.concat([red, green, blue], axis=-1) * 255
    blended = (1 - alpha * m) * rgb + alpha * m * colour  # the map's colour where it is high, the photo elsewhere
    return tf.cast(tf.clip_by_value(tf.round(blended), 0, 255), tf.uint8)


def explainer(model: keras.Model):
    """``explain(images) -> uint8 overlays`` (B, H, W, 3) for raw images of ``model``, in batches of 64; None for a
    model without a convolutional feature map."""
    try:
        cam = GradCam(model)
    except OptionError:
        return None

    def explain(images):
        out = []
        for start in range(0, len(images), 64):
            batch = tf.convert_to_tensor(images[start:start + 64], tf.float32)
            out.append(overlay(batch, cam(batch)[1]).numpy())
        return np.concatenate(out) if out else np.zeros((0, *images.shape[1:3], 3), np.uint8)
    return explain
