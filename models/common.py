"""Building blocks shared by the model families: inputs, activations, initializers."""
from __future__ import annotations

import keras

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu")
INITIALIZERS = {
    "zeros": lambda: keras.initializers.Zeros(),
    "small_random": lambda: keras.initializers.RandomNormal(stddev=0.01),
    "glorot_uniform": lambda: keras.initializers.GlorotUniform(),
    "glorot_normal": lambda: keras.initializers.GlorotNormal(),
    "he_uniform": lambda: keras.initializers.HeUniform(),
    "he_normal": lambda: keras.initializers.HeNormal(),
    "lecun_normal": lambda: keras.initializers.LecunNormal(),
}


def image_input(input_shape: tuple[int, ...]) -> keras.KerasTensor:
    """The model input, named ``image`` so exported signatures read well."""
    return keras.Input(shape=input_shape, name="image")


def check_choice(option: str, value: str, allowed) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise a ValueError naming them."""
    if value not in allowed:
        raise ValueError(f"{option} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def check_range(option: str, value: float, low: float, high: float, high_open: bool = True) -> float:
    """Raise a ValueError unless ``low <= value < high`` (or ``<= high`` when ``high_open`` is False)."""
    ok = low <= value < high if high_open else low <= value <= high
    if not ok:
        bracket = ")" if high_open else "]"
        raise ValueError(f"{option} must be in [{low}, {high}{bracket}; got {value}")
    return value


def check_positive(option: str, value: int) -> int:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{option} must be a positive integer; got {value!r}")
    return value


def activation_layer(name: str) -> keras.layers.Layer:
    """A fresh activation layer for ``name`` (one of ACTIVATIONS)."""
    check_choice("activation", name, ACTIVATIONS)
    if name == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=0.01)
    return keras.layers.Activation(name)


def make_initializer(name: str) -> keras.initializers.Initializer:
    """A fresh kernel initializer for ``name`` (one of INITIALIZERS)."""
    check_choice("initializer", name, tuple(INITIALIZERS))
    return INITIALIZERS[name]()


def classifier_head(x, num_classes: int, init: str):
    """Softmax output layer: the models return class probabilities."""
    return keras.layers.Dense(num_classes, activation="softmax", kernel_initializer=make_initializer(init),
                              bias_initializer="zeros", name="probabilities")(x)
