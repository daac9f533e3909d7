"""Building blocks shared by the model families: the input, and linear -> norm -> activation layers
configured by one :class:`LayerOptions` (activation, initializer, normalization, dropout, L2)."""
from __future__ import annotations

from dataclasses import dataclass

import keras

from .errors import OptionError
from .layers import ChannelMaxout, Maxout

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "maxout")
NORMALIZATIONS = ("none", "batch", "layer")
INITIALIZERS = ("zeros", "constant", "small_random", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                "lecun_normal")
# The lecture's pairings when no initializer is given: He for the ReLU family, Glorot for the
# saturating ones, LeCun normal for SELU (self-normalization needs it).
DEFAULT_INITIALIZER = {"sigmoid": "glorot_uniform", "tanh": "glorot_uniform", "relu": "he_normal",
                       "leaky_relu": "he_normal", "elu": "he_normal", "selu": "lecun_normal", "gelu": "he_normal",
                       "maxout": "glorot_uniform"}


def image_input(input_shape: tuple[int, ...]) -> keras.KerasTensor:
    """The model input, named ``image`` so exported signatures read well."""
    return keras.Input(shape=input_shape, name="image")


def check_choice(option: str, value, allowed) -> str:
    if value not in allowed:
        raise OptionError(f"{option} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def check_range(option: str, value, low: float, high: float, high_open: bool = True) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
        low <= value < high if high_open else low <= value <= high)
    if not ok:
        raise OptionError(f"{option} must be in [{low}, {high}{')' if high_open else ']'}; got {value!r}")
    return value


def check_positive(option: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OptionError(f"{option} must be a positive integer; got {value!r}")
    return value


@dataclass
class LayerOptions:
    """How every hidden layer of a model is built. Validated on creation."""

    activation: str = "relu"
    initializer: str | None = None      # None: the activation's pairing (DEFAULT_INITIALIZER)
    init_std: float = 0.01              # standard deviation of "small_random"; the value of "constant"
    normalization: str = "none"         # none | batch | layer, between the linear part and the activation
    dropout: float = 0.0                # AlphaDropout with selu, Dropout otherwise
    l2: float = 0.0                     # L2 penalty on kernels, added to the loss
    leaky_alpha: float = 0.01           # negative slope of leaky_relu
    maxout_pieces: int = 2              # linear pieces per maxout unit

    def __post_init__(self):
        check_choice("activation", self.activation, ACTIVATIONS)
        if self.initializer is not None:
            check_choice("initializer", self.initializer, INITIALIZERS)
        check_choice("normalization", self.normalization, NORMALIZATIONS)
        check_range("dropout", self.dropout, 0.0, 1.0)
        check_range("l2", self.l2, 0.0, 1.0)
        check_range("init_std", self.init_std, 1e-8, 10.0)
        check_range("leaky_alpha", self.leaky_alpha, 0.0, 1.0)
        if isinstance(self.maxout_pieces, bool) or not isinstance(self.maxout_pieces, int) or self.maxout_pieces < 2:
            raise OptionError(f"maxout_pieces must be an integer >= 2; got {self.maxout_pieces!r}")

    # --- pieces
    def kernel_initializer(self):
        name = self.initializer or DEFAULT_INITIALIZER[self.activation]
        if name == "small_random":
            return keras.initializers.RandomNormal(stddev=self.init_std)
        if name == "constant":  # every weight equal: the symmetry no gradient step can break
            return keras.initializers.Constant(self.init_std)
        return keras.initializers.get(name)

    def regularizer(self):
        return keras.regularizers.L2(self.l2) if self.l2 else None

    def activation_layer(self):
        if self.activation == "leaky_relu":
            return keras.layers.LeakyReLU(negative_slope=self.leaky_alpha)
        return keras.layers.Activation(self.activation)

    def norm_layer(self, name: str):
        if self.normalization == "batch":
            return keras.layers.BatchNormalization(name=f"{name}_bn")
        if self.normalization == "layer":
            return keras.layers.LayerNormalization(name=f"{name}_ln")
        return None

    def _finish(self, x, name: str):
        norm = self.norm_layer(name)
        return norm(x) if norm is not None else x

    # --- blocks
    def dense(self, x, units: int, name: str):
        """Linear -> [norm] -> activation; maxout folds the linear part and the max into one layer."""
        linear = dict(kernel_initializer=self.kernel_initializer(), bias_initializer="zeros",
                      kernel_regularizer=self.regularizer())
        if self.activation == "maxout":
            return self._finish(Maxout(units, self.maxout_pieces, name=name, **linear)(x), name)
        x = keras.layers.Dense(units, use_bias=self.normalization != "batch", name=name, **linear)(x)
        return self.activation_layer()(self._finish(x, name))

    def conv(self, x, filters: int, name: str, padding: str = "same"):
        """3x3 convolution -> [norm] -> activation (maxout: filters x pieces channels, max over groups)."""
        channels = filters * self.maxout_pieces if self.activation == "maxout" else filters
        x = keras.layers.Conv2D(channels, 3, padding=padding, use_bias=self.normalization != "batch", name=name,
                                kernel_initializer=self.kernel_initializer(), bias_initializer="zeros",
                                kernel_regularizer=self.regularizer())(x)
        x = self._finish(x, name)
        if self.activation == "maxout":
            return ChannelMaxout(self.maxout_pieces, name=f"{name}_maxout")(x)
        return self.activation_layer()(x)

    def drop(self, x, name: str = "dropout"):
        if not self.dropout:
            return x
        if self.activation == "selu":  # plain dropout breaks SELU's self-normalization
            return keras.layers.AlphaDropout(self.dropout, name=name)(x)
        return keras.layers.Dropout(self.dropout, name=name)(x)

    def head(self, x, num_classes: int):
        """Softmax output layer: the models return class probabilities, computed in float32 under any
        dtype policy (a bf16 softmax would round probabilities to 8 bits of mantissa)."""
        return keras.layers.Dense(num_classes, activation="softmax", name="probabilities", dtype="float32",
                                  kernel_initializer=self.kernel_initializer(), bias_initializer="zeros",
                                  kernel_regularizer=self.regularizer())(x)
