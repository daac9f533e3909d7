"""Custom layers of the lecture: Maxout and fractional max pooling. Both serialize (save/load, export)."""
from __future__ import annotations

import keras
import tensorflow as tf

from trainlab import compat


@keras.saving.register_keras_serializable(package="trainlab")
class Maxout(keras.layers.Layer):
    """Maxout unit (Goodfellow et al. 2013): ``pieces`` linear functions per unit, keep the max.

    ``units`` outputs from ``units * pieces`` affine pieces: for ``pieces=2`` it has exactly twice the
    parameters of ``Dense(units)``. Works on the last axis, for dense features (B, F).
    """

    def __init__(self, units: int, pieces: int = 2, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"maxout units must be a positive integer, got {units!r}")
        if not isinstance(pieces, int) or pieces < 2:
            raise ValueError(f"maxout pieces must be an integer >= 2, got {pieces!r}")
        self.units, self.pieces = units, pieces
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units * self.pieces),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer)
        self.bias = self.add_weight(name="bias", shape=(self.units * self.pieces,), initializer=self.bias_initializer)

    def call(self, inputs):
        z = keras.ops.matmul(inputs, self.kernel) + self.bias
        z = keras.ops.reshape(z, (-1, self.units, self.pieces))
        return keras.ops.max(z, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "pieces": self.pieces,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer)}


@keras.saving.register_keras_serializable(package="trainlab")
class ChannelMaxout(keras.layers.Layer):
    """Maxout across channel groups: (..., C) -> (..., C // pieces), max over each group of ``pieces``.

    Put after a convolution with ``filters * pieces`` channels to make a maxout convolution.
    """

    def __init__(self, pieces: int = 2, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(pieces, int) or pieces < 2:
            raise ValueError(f"maxout pieces must be an integer >= 2, got {pieces!r}")
        self.pieces = pieces

    def build(self, input_shape):
        if input_shape[-1] % self.pieces:
            raise ValueError(f"maxout units ({input_shape[-1]} channels) are not divisible by pieces ({self.pieces})")

    def call(self, inputs):
        shape = keras.ops.shape(inputs)
        grouped = keras.ops.reshape(inputs, (*shape[:-1], shape[-1] // self.pieces, self.pieces))
        return keras.ops.max(grouped, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // self.pieces)

    def get_config(self):
        return {**super().get_config(), "pieces": self.pieces}


@keras.saving.register_keras_serializable(package="trainlab")
class FractionalMaxPooling2D(keras.layers.Layer):
    """Fractional max pooling (Graham 2014): shrink H and W by ``ratio`` (1 < ratio < 2), NHWC.

    Training draws random pooling regions for every batch; inference uses one fixed,
    seeded region sequence, so predictions are deterministic. TensorFlow backend only.
    """

    def __init__(self, ratio: float = 1.41, pseudo_random: bool = True, overlapping: bool = True, seed: int = 7,
                 **kwargs):
        super().__init__(**kwargs)
        if keras.backend.backend() != "tensorflow":
            raise ValueError("FractionalMaxPooling2D needs the TensorFlow backend")
        if not isinstance(ratio, (int, float)) or not 1.0 < ratio < 2.0 + 1e-9:
            raise ValueError(f"fractional pooling ratio must be in (1, 2], got {ratio!r}")
        self.ratio, self.pseudo_random, self.overlapping, self.seed = float(ratio), pseudo_random, overlapping, seed

    def _pool(self, inputs, seed, fixed=False):
        # The op has no bfloat16 kernel: pool in float32 (a max of bf16 values is exact there) and cast back.
        value, ratio = tf.cast(inputs, tf.float32), [1.0, self.ratio, self.ratio, 1.0]
        if fixed:  # both of the op's seeds given, its regions drawn once: every process, every call and every
            # export pools the same regions (tf.nn's wrapper mixes in the global seed, which differs)
            output, _, _ = tf.raw_ops.FractionalMaxPool(
                value=value, pooling_ratio=ratio, pseudo_random=self.pseudo_random, overlapping=self.overlapping,
                deterministic=True, seed=seed, seed2=seed)
        else:
            output, _, _ = tf.nn.fractional_max_pool(value, ratio, pseudo_random=self.pseudo_random,
                                                     overlapping=self.overlapping, seed=seed)
        return tf.cast(output, inputs.dtype)

    def call(self, inputs, training=False):
        if training:  # seed 0: fresh random regions at every call; under TF op determinism a fixed
            # non-zero seed (the op's generator still moves on from call to call, reproducibly)
            return self._pool(inputs, seed=self.seed + 1 if _op_determinism() else 0)
        return self._pool(inputs, seed=self.seed, fixed=True)

    def compute_output_shape(self, input_shape):
        scale = lambda n: None if n is None else int(n / self.ratio)  # noqa: E731
        return (input_shape[0], scale(input_shape[1]), scale(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio, "pseudo_random": self.pseudo_random,
                "overlapping": self.overlapping, "seed": self.seed}


def _op_determinism() -> bool:
    """Whether TF op determinism is on (``train.deterministic``); TF exports no public query for it."""
    return compat.op_determinism_enabled()


@keras.saving.register_keras_serializable(package="trainlab")
class TemperatureScaling(keras.layers.Layer):
    """Calibrated probabilities from probabilities: ``softmax(log(p) / temperature)`` (Guo et al. 2017).

    Goes after a softmax head, so a trained model is calibrated without touching its weights; the
    argmax never changes. The temperature is fitted on validation data (``trainlab.pipeline.evaluation.calibration``).
    """

    def __init__(self, temperature: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        self.temperature = float(temperature)

    def call(self, probabilities):
        logits = keras.ops.log(keras.ops.clip(probabilities, 1e-12, 1.0)) / self.temperature
        return keras.ops.softmax(logits, axis=-1)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


@keras.saving.register_keras_serializable(package="trainlab")
class EnsembleAverage(keras.layers.Layer):
    """The mean of N members' class probabilities, whose gradient trains each member as if alone.

    The value is ``mean_i p_i``. Under the loss ``-sum(y * log(output))`` each member receives the
    gradient of its own cross-entropy divided by N, ``-y / (N p_i)``, instead of a share of the
    ensemble's error: the output is written as ``sg(mean) + sum_i sg(mean / (N p_i)) * (p_i - sg(p_i))``
    (``sg``: stop-gradient), equal to the mean in value, so d loss / d p_i = (-y / mean) * mean / (N p_i).
    Members trained on the average itself would learn together and lose the diversity an ensemble lives
    on. Exact for any targets that sum to 1 (smoothed or mixed); probabilities below 1e-7 count as 1e-7.
    Keras's ``CategoricalCrossentropy`` renormalizes its input first, which breaks this: train with
    ``trainlab.pipeline.training.optim.ProbabilityCrossentropy``.
    """

    def call(self, members, training=None):
        mean = keras.ops.mean(keras.ops.stack(members), axis=0)
        if not training:
            return mean
        frozen = keras.ops.stop_gradient(mean)
        out = frozen
        for p in members:
            scale = keras.ops.stop_gradient(frozen / (len(members) * keras.ops.maximum(p, 1e-7)))
            out = out + scale * (p - keras.ops.stop_gradient(p))
        return out
