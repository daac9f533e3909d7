import keras
import numpy as np
import pytest

from models import create_model, list_models
from models.common import ACTIVATIONS, INITIALIZERS


@pytest.mark.parametrize("name", list_models())
def test_every_model_builds_trains_and_round_trips(name, tmp_path):
    model = create_model(name, width=8) if name != "cnn_keras" else create_model(name, width=4)
    assert model.inputs[0].name == "image"
    assert model.output_shape == (None, 10)
    x = np.random.default_rng(0).normal(size=(16, 28, 28, 1)).astype("float32")
    y = keras.utils.to_categorical(np.arange(16) % 10, 10)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    probabilities = model.predict(x, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    model.save(tmp_path / "m.keras")
    restored = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(restored.predict(x, verbose=0), probabilities, atol=1e-6)


def test_cnn_keras_is_the_official_example():
    model = create_model("cnn_keras")
    # keras.io "Simple MNIST convnet": 34,826 parameters.
    assert model.count_params() == 34826
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer", "Conv2D", "Activation", "MaxPooling2D", "Conv2D", "Activation", "MaxPooling2D",
        "Flatten", "Dropout", "Dense"]


def test_cnn_has_batch_norm():
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in create_model("cnn").layers)


def test_options_set_to_none_keep_the_defaults():
    a, b = create_model("mlp_small", width=None, activation=None), create_model("mlp_small")
    assert a.count_params() == b.count_params() == 784 * 256 + 256 + 256 * 10 + 10


def test_mlp_depth_and_width():
    model = create_model("mlp_deep", width=32, depth=3)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [32, 32, 32, 10]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_builds(activation):
    assert create_model("mlp_small", activation=activation, width=4).count_params() > 0


@pytest.mark.parametrize("init", sorted(INITIALIZERS))
def test_every_initializer_builds(init):
    model = create_model("mlp_small", initializer=init, width=4)
    kernel = model.get_layer("dense_0").kernel.numpy()
    assert (np.abs(kernel).max() == 0) == (init == "zeros")


def test_unknown_model_names_the_known_ones():
    with pytest.raises(KeyError, match="known models: cnn, cnn_keras"):
        create_model("resnet9000")


@pytest.mark.parametrize("options, message", [
    ({"activation": "swishy"}, "activation must be one of"),
    ({"initializer": "ones"}, "initializer must be one of"),
    ({"dropout": 1.0}, r"dropout must be in \[0.0, 1.0\)"),
    ({"width": 0}, "width must be a positive integer"),
    ({"depth": 3}, "takes no option 'depth'"),
])
def test_bad_options_are_clear_errors(options, message):
    with pytest.raises(ValueError, match=message):
        create_model("cnn", **options)
