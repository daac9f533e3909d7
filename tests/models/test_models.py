import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from trainlab.models import ACTIVATIONS, INITIALIZERS, NORMALIZATIONS, create_model, list_models
from trainlab.models.backbones import BACKBONES

pytestmark = pytest.mark.slow  # ~150 build-train-save round trips: minutes together, so the module starts early

TINY = {"mlp_small": {"width": 8}, "mlp_deep": {"width": 8, "depth": 2}, "cnn": {"width": 4},
        "cnn_keras": {"width": 4}, "cnn_deep": {"width": 4}, "rnn_simple": {"width": 8}, "rnn_lstm": {"width": 8},
        "rnn_gru": {"width": 8},
        "resnet": {"width": 4, "depth": 8, "input_shape": (28, 28, 1)},
        "mobilenet_v3_small": {"input_shape": (32, 32, 1)}}
# The pretrained backbones build and take a step in tests/test_pretrained.py (their table row each); the
# smallest goes through the round trip here, the others would add a minute for the same Keras code.
BUILT_HERE = [name for name in list_models() if name not in BACKBONES or name in TINY]
FAMILIES = ["mlp_small", "cnn", "rnn_simple"]  # one of each family for the full option product


def batch(n=8, seed=0, shape=(28, 28, 1)):
    x = np.random.default_rng(seed).normal(size=(n, *shape)).astype("float32")
    return x, keras.utils.to_categorical(np.arange(n) % 10, 10)


def test_every_registered_model_has_tiny_options():
    assert set(TINY) == set(BUILT_HERE) and set(list_models()) - set(BUILT_HERE) <= set(BACKBONES)


def round_trip(model, tmp_path, export=False):
    x, y = batch(shape=model.input_shape[1:])
    # SGD: Adam's per-variable update took 12 s to trace for MobileNetV3 (3 s with SGD); the step is the same check
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    assert np.isfinite(model.train_on_batch(x, y))
    probabilities = model(x, training=False).numpy()  # eager: no predict function to trace per model
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    model.save(tmp_path / "m.keras")
    restored = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(restored(x, training=False).numpy(), probabilities, atol=1e-5)
    if export:
        model.export(str(tmp_path / "saved"), verbose=False)
        loaded = tf.saved_model.load(str(tmp_path / "saved"))  # keep a reference: it owns the variables
        served = loaded.serve(tf.constant(x))
        np.testing.assert_allclose(served.numpy(), probabilities, atol=1e-5)


@pytest.mark.parametrize("name", BUILT_HERE)
def test_every_model_builds_trains_saves_and_exports(name, tmp_path):
    model = create_model(name, **TINY[name])
    assert model.inputs[0].name == "image" and model.output_shape == (None, 10)
    round_trip(model, tmp_path, export=True)


@pytest.mark.parametrize("shape", [(32, 32, 3), (20, 26, 3), (64, 48, 1)])
@pytest.mark.parametrize("name", [name for name in list_models() if name not in BACKBONES])
def test_every_model_adapts_to_the_image_shape(name, shape):
    options = {k: v for k, v in TINY[name].items() if k != "input_shape"}
    model = create_model(name, input_shape=shape, num_classes=7, **options)
    assert model.input_shape == (None, *shape) and model.output_shape == (None, 7)
    x = np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")
    np.testing.assert_allclose(model(x).numpy().sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("size, blocks", [(8, 1), (28, 2), (32, 3), (64, 4), (224, 5)])
def test_cnn_takes_as_many_pooling_stages_as_the_size_allows(size, blocks):
    model = create_model("cnn", input_shape=(size, size, 3), width=4)
    pools = [layer for layer in model.layers if "pool" in layer.name]
    assert len(pools) == blocks
    assert pools[-1].output.shape[1] >= 4 or blocks == 1


def test_resnet_20_is_he_et_al_cifar_network():
    model = create_model("resnet", input_shape=(32, 32, 3), num_classes=10)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D) and "proj" not in layer.name]
    assert len(convs) + 1 == 20  # 19 convolutions and the softmax layer
    assert model.count_params() == pytest.approx(0.27e6, rel=0.02)
    with pytest.raises(ValueError, match="depth must be 6n\\+2"):
        create_model("resnet", depth=21)


@pytest.mark.parametrize("name, activation, normalization",
                         list(itertools.product(FAMILIES, ACTIVATIONS, NORMALIZATIONS)))
def test_family_activation_normalization_product(name, activation, normalization, tmp_path):
    """Each combination trains a step and survives a .keras save and load; the SavedModel export is the
    same Keras code for built-in layers (every model is exported above), so only the custom maxout layer
    is exported here in every combination."""
    model = create_model(name, activation=activation, normalization=normalization, dropout=0.1, **TINY[name])
    round_trip(model, tmp_path, export=activation == "maxout")


@pytest.mark.parametrize("name", ["cnn", "cnn_keras"])
def test_fractional_pooling_models_export(name, tmp_path):
    model = create_model(name, pooling="fractional", pool_ratio=1.5, **TINY[name])
    round_trip(model, tmp_path, export=True)


def test_cnn_keras_is_the_official_example():
    model = create_model("cnn_keras")
    assert model.count_params() == 34826  # keras.io "Simple MNIST convnet"
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer", "Conv2D", "Activation", "MaxPooling2D", "Conv2D", "Activation", "MaxPooling2D",
        "Flatten", "Dropout", "Dense"]


def test_cnn_has_batch_norm():
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in create_model("cnn").layers)


def test_options_set_to_none_keep_the_defaults():
    a, b = create_model("mlp_small", width=None, activation=None), create_model("mlp_small")
    assert a.count_params() == b.count_params() == 784 * 256 + 256 + 256 * 10 + 10


def test_maxout_doubles_the_hidden_parameters():
    relu = create_model("mlp_small", width=32)
    maxout = create_model("mlp_small", width=32, activation="maxout")
    hidden = 784 * 32 + 32
    assert maxout.count_params() - relu.count_params() == hidden  # k=2: twice the hidden layer
    assert create_model("mlp_small", width=32, activation="maxout", maxout_pieces=3).count_params() == \
        relu.count_params() + 2 * hidden


def test_selu_pairs_with_lecun_normal_and_alpha_dropout():
    model = create_model("mlp_small", activation="selu", dropout=0.1)
    assert any(isinstance(layer, keras.layers.AlphaDropout) for layer in model.layers)
    init = model.get_layer("dense_0").kernel_initializer
    assert isinstance(init, keras.initializers.LecunNormal)


def test_l2_adds_a_loss_term():
    model = create_model("mlp_small", width=4, l2=0.01)
    assert len(model.losses) == 2  # the hidden and the output kernels
    assert float(sum(model.losses)) > 0


def test_small_random_init_std():
    kernel = create_model("mlp_small", width=64, initializer="small_random", init_std=0.001).get_layer(
        "dense_0").kernel.numpy()
    assert 0.0008 < kernel.std() < 0.0012


def test_mlp_depth_and_width():
    model = create_model("mlp_deep", width=32, depth=3)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [32, 32, 32, 10]


@pytest.mark.parametrize("init", INITIALIZERS)
def test_every_initializer_builds(init):
    model = create_model("mlp_small", initializer=init, width=4)
    kernel = model.get_layer("dense_0").kernel.numpy()
    assert (np.abs(kernel).max() == 0) == (init == "zeros")


def test_unknown_model_names_the_known_ones():
    with pytest.raises(KeyError, match="known models: cnn, cnn_deep, cnn_keras"):
        create_model("resnet9000")


@pytest.mark.parametrize("options, message", [
    ({"activation": "swishy"}, "activation must be one of sigmoid, tanh, relu"),
    ({"initializer": "ones"}, "initializer must be one of zeros, constant, small_random"),
    ({"normalization": "group"}, "normalization must be one of none, batch, layer"),
    ({"dropout": 1.0}, r"dropout must be in \[0.0, 1.0\)"),
    ({"dropout": -0.1}, r"dropout must be in \[0.0, 1.0\)"),
    ({"width": 0}, "width must be a positive integer"),
    ({"depth": 3}, "depth is not an option of model 'cnn'"),
    ({"maxout_pieces": 1, "activation": "maxout"}, "maxout_pieces must be an integer >= 2"),
    ({"pooling": "average"}, "pooling must be one of max, fractional"),
    ({"pool_ratio": 2.5, "pooling": "fractional"}, r"pool_ratio must be in \[1.01, 2.0\]"),
    ({"l2": -1.0}, r"l2 must be in \[0.0, 1.0\)"),
])
def test_bad_options_are_clear_errors(options, message):
    with pytest.raises(ValueError, match=message):
        create_model("cnn", **options)


def test_the_technique_table_names_every_registered_family():
    """docs/training.md's families row is how a reader finds the models: it left resnet out."""
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| families |"))
    assert set(list_models()) <= set(re.findall(r"`(\w+)`", row))
