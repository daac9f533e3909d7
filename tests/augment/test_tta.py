"""Test-time augmentation: each view exact on a tiny image, eagerly and inside tf.data; the wrapped
model averages the views' probabilities; bad view lists are config errors; the export can serve it."""
import numpy as np
import pytest
import tensorflow as tf

from trainlab.augment.tta import VIEWS, TTAViews, views, with_tta
from trainlab.pipeline.config.loading import load_config
from trainlab.pipeline.errors import ConfigError

IMAGE = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)   # rows 0 1 2 / 3 4 5 / 6 7 8
EXPECTED = {  # view name -> the views of IMAGE, in order
    "shift": [[[3, 4, 5], [6, 7, 8], [6, 7, 8]],     # content up one pixel, the bottom row repeated
              [[0, 1, 2], [0, 1, 2], [3, 4, 5]],     # down
              [[1, 2, 2], [4, 5, 5], [7, 8, 8]],     # left
              [[0, 0, 1], [3, 3, 4], [6, 6, 7]]],    # right
    "flip_horizontal": [[[2, 1, 0], [5, 4, 3], [8, 7, 6]]],
}


def test_every_view_has_an_exact_expectation():
    assert set(EXPECTED) == set(VIEWS)


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_views_are_exact_eagerly_and_inside_tf_data(name):
    spec = [{"name": name, **({"pixels": 1} if name == "shift" else {})}]
    expected = [np.asarray(e, np.float32)[None, ..., None] for e in EXPECTED[name]]
    eager = [np.asarray(v(tf.constant(IMAGE))) for v in views(spec)]
    np.testing.assert_array_equal(np.stack(eager), np.stack(expected))
    layer = TTAViews(spec)
    ds = tf.data.Dataset.from_tensors(IMAGE).map(lambda x: tuple(layer(x)))
    (piped,) = list(ds.as_numpy_iterator())
    np.testing.assert_array_equal(np.stack(piped[1:]), np.stack(expected))
    np.testing.assert_array_equal(piped[0], IMAGE)


def test_the_wrapped_model_averages_the_views_probabilities():
    import keras
    inputs = keras.Input((3, 3, 1), name="image")
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(keras.layers.Flatten()(inputs)))
    spec = [{"name": "shift", "pixels": 1}, {"name": "flip_horizontal"}]
    x = np.random.default_rng(0).normal(size=(5, 3, 3, 1)).astype(np.float32)
    expected = np.mean([model(x)] + [model(v(tf.constant(x))) for v in views(spec)], axis=0)
    np.testing.assert_allclose(with_tta(model, spec).predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("value, message", [
    ("[{name: spin}]", "unknown view 'spin'; known: flip_horizontal, shift"),
    ("[{name: shift, pixels: 0}]", "shift.pixels must be an integer in [1, 8]"),
    ("[{name: shift, step: 2}]", "unexpected keyword argument 'step'"),
    ("[shift]", "must be a mapping with a name"),
])
def test_bad_view_lists_are_config_errors(value, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(None, {"evaluate.tta": value})


def test_an_export_can_serve_the_averaged_views(trained, mnist, tmp_path):
    from trainlab.pipeline.export.stage import export_champion
    cfg, result, _ = trained
    spec = [{"name": "shift", "pixels": 1}]
    served_cfg = load_config(None, {"tracking.tracking_uri": cfg.tracking.tracking_uri, "export.dir": str(tmp_path),
                                    "evaluate.tta": spec, "export.tta": True})
    path, _ = export_champion(served_cfg)
    loaded = tf.saved_model.load(str(path)).signatures["serving_uint8"]
    got = loaded(image=tf.constant(mnist.x_test[:50]))["probabilities"].numpy()
    expected = with_tta(result.model, spec).predict(mnist.x_test[:50].astype(np.float32), verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert '"tta"' in (path / "assets.extra/trainlab.json").read_text()
