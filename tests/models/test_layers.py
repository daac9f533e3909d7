"""Exact small-input tests of the custom layers."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from trainlab.models.layers import ChannelMaxout, FractionalMaxPooling2D, Maxout


def test_maxout_keeps_the_max_of_its_pieces():
    layer = Maxout(units=2, pieces=2)
    layer.build((None, 2))
    # Pieces per unit are adjacent columns: unit 0 <- columns 0, 1; unit 1 <- columns 2, 3.
    layer.kernel.assign(np.array([[1.0, -1.0, 2.0, 0.0], [0.0, 1.0, 0.0, -3.0]], "float32"))
    layer.bias.assign(np.array([0.0, 0.5, 0.0, 1.0], "float32"))
    x = np.array([[1.0, 2.0], [-1.0, 0.0]], "float32")
    z = x @ layer.kernel.numpy() + layer.bias.numpy()
    expected = np.stack([z[:, :2].max(1), z[:, 2:].max(1)], axis=1)
    np.testing.assert_allclose(layer(x).numpy(), expected)
    np.testing.assert_allclose(expected, [[1.5, 2.0], [1.5, 1.0]])


def test_maxout_parameters_double_for_two_pieces():
    dense, maxout = keras.layers.Dense(16), Maxout(16, pieces=2)
    dense.build((None, 10))
    maxout.build((None, 10))
    assert maxout.count_params() == 2 * dense.count_params() == 2 * (10 * 16 + 16)


def test_channel_maxout():
    x = np.arange(8, dtype="float32").reshape(1, 1, 2, 4) * np.array([1, -1, 1, -1], "float32")
    out = ChannelMaxout(2)(x).numpy()
    np.testing.assert_array_equal(out, [[[[0, 2], [4, 6]]]])
    with pytest.raises(ValueError, match=r"maxout units \(3 channels\) are not divisible by pieces \(2\)"):
        ChannelMaxout(2)(np.zeros((1, 2, 2, 3), "float32"))


def test_fractional_pooling_shape_and_inference_determinism():
    layer = FractionalMaxPooling2D(ratio=1.5)
    x = tf.constant(np.random.default_rng(0).random((2, 12, 12, 3)).astype("float32"))
    a, b = layer(x, training=False), layer(x, training=False)
    assert a.shape == (2, 8, 8, 3) == tuple(layer.compute_output_shape((2, 12, 12, 3)))
    np.testing.assert_array_equal(a, b)
    draws = {layer(x, training=True).numpy().tobytes() for _ in range(6)}
    assert len(draws) > 1  # random pooling regions in training


def test_fractional_pooling_takes_maxima_of_the_input():
    x = tf.constant(np.random.default_rng(1).permutation(36).reshape(1, 6, 6, 1).astype("float32"))
    out = FractionalMaxPooling2D(ratio=2.0)(x, training=False).numpy()
    assert out.shape == (1, 3, 3, 1)
    assert set(out.ravel()) <= set(x.numpy().ravel()) and out.max() == 35


@pytest.mark.parametrize("layer", [Maxout(3, pieces=2), ChannelMaxout(2), FractionalMaxPooling2D(1.41)])
def test_layers_serialize(layer):
    clone = layer.__class__.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_models_saved_before_the_trainlab_namespace_still_load(tmp_path):
    """Saved models name the custom layers by their registered name (trainlab>Maxout); a file written
    when the package was the top-level `models` (module "models.layers") loads the same."""
    import json
    import zipfile
    inputs = keras.Input((6,), name="image")
    model = keras.Model(inputs, Maxout(3, pieces=2, name="maxout")(inputs))
    model.save(tmp_path / "new.keras")
    with zipfile.ZipFile(tmp_path / "new.keras") as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    (layer,) = [layer for layer in config["config"]["layers"] if layer["class_name"] == "Maxout"]
    assert layer["registered_name"] == "trainlab>Maxout"
    files["config.json"] = json.dumps(config).replace('"trainlab.models.layers"', '"models.layers"').encode()
    assert b'"models.layers"' in files["config.json"]
    with zipfile.ZipFile(tmp_path / "old.keras", "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    old = keras.saving.load_model(tmp_path / "old.keras")
    x = np.arange(12, dtype="float32").reshape(2, 6)
    np.testing.assert_allclose(old(x), model(x))
