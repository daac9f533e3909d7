"""What the studies measure with: unit derivatives (dead, saturated), activation timings, fresh-network
statistics, the centering normalizer and the constant initializer, on tiny inputs with exact answers."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from trainlab.models import ACTIVATIONS, Maxout, create_model
from trainlab.pipeline.data.inputs import Normalizer
from trainlab.pipeline.evaluation.probes import unit_derivatives
from trainlab.pipeline.experiments.studies.measure import activation_seconds, deep_net_statistics


def two_units(activation: str, bias: float = -100.0) -> keras.Model:
    """Two inputs -> two hidden units (unit 0 the identity of input 0, unit 1 the same plus ``bias``)."""
    inputs = keras.Input((2,), name="image")
    if activation == "maxout":
        layer = Maxout(2, 2, name="dense_0")
        hidden = layer(inputs)
        # pieces of unit u are columns 2u and 2u+1: unit 0 = max(x0, -x0); unit 1 = max(x0 + bias, x0 + bias - 1)
        layer.kernel.assign(np.array([[1.0, -1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]], np.float32))
        layer.bias.assign(np.array([0.0, 0.0, bias, bias - 1.0], np.float32))
    else:
        dense = keras.layers.Dense(2, name="dense_0")
        z = dense(inputs)
        dense.kernel.assign(np.array([[1.0, 1.0], [0.0, 0.0]], np.float32))
        dense.bias.assign(np.array([0.0, bias], np.float32))
        hidden = (keras.layers.LeakyReLU(negative_slope=0.01) if activation == "leaky_relu"
                  else keras.layers.Activation(activation))(z)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probabilities")(hidden))


X = np.array([[-1.0, 0.0], [0.5, 0.0], [2.0, 0.0]], np.float32)


@pytest.mark.parametrize("activation, expected", [
    ("relu", [[0, 0], [1, 0], [1, 0]]),                          # unit 1 (bias -100) is dead: 0 for every input
    ("leaky_relu", [[0.01, 0.01], [1, 0.01], [1, 0.01]]),        # never exactly zero
    ("maxout", [[1, 1], [1, 1], [1, 1]]),                        # the winning piece always passes gradient
])
def test_unit_derivatives_are_exact(activation, expected):
    (d,) = unit_derivatives(two_units(activation), X)
    np.testing.assert_allclose(d, expected, rtol=1e-6)


def test_sigmoid_derivatives_show_saturation():
    (d,) = unit_derivatives(two_units("sigmoid", bias=-20.0), X)
    s = 1 / (1 + np.exp(-X[:, 0]))
    np.testing.assert_allclose(d[:, 0], s * (1 - s), rtol=1e-5)
    assert (d[:, 1] < 0.01).all() and (d[:, 1] > 0).all()   # saturated, not dead


def test_activation_timings_cover_every_activation_interleaved():
    found = activation_seconds(ACTIVATIONS, shape=(8, 64), repeats=2, iterations=2)
    assert list(found) == list(ACTIVATIONS)
    assert all(len(v["seconds"]) == 2 and min(v["seconds"]) > 0 for v in found.values())


def test_fresh_network_statistics_per_seed():
    x = np.random.default_rng(0).normal(size=(64, 4, 4, 1)).astype(np.float32)
    y = np.arange(64) % 3
    found = deep_net_statistics(x, y, 3, (1, 2), depth=4, width=16, nets={
        "sigmoid": {"activation": "sigmoid"}, "tanh, large": {"activation": "tanh", "initializer": "small_random",
                                                              "init_std": 3.0}})
    assert all(len(v) == 2 for stats in found.values() for v in stats.values())
    assert min(found["sigmoid"]["first_layer_mean"]) > 0.3       # sigmoid outputs sit around 0.5
    assert min(found["tanh, large"]["saturated_fraction"]) > 0.5


def test_center_subtracts_the_training_mean_without_dividing():
    x = np.array([0, 51, 102, 255], np.uint8).reshape(4, 1, 1, 1)
    n = Normalizer.fit("center", x)
    mean = (0 + 51 + 102 + 255) / 4 / 255
    np.testing.assert_allclose(n(tf.constant(x)).numpy().ravel(), x.ravel() / 255 - mean, rtol=1e-5, atol=1e-7)
    assert n.as_params()["mode"] == "center"


def test_constant_init_makes_every_unit_identical():
    model = create_model("mlp_deep", input_shape=(4, 4, 1), depth=2, width=8, initializer="constant", init_std=0.05)
    kernel = model.get_layer("dense_0").kernel.numpy()
    assert np.all(kernel == np.float32(0.05))
