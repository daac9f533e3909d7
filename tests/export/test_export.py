import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from trainlab.pipeline import tracking
from trainlab.pipeline.errors import TrackingError
from trainlab.pipeline.export.stage import export, export_champion
from trainlab.pipeline.trained import plan_of


def test_tf_serving_layout(exported):
    cfg, _, path, written = exported
    assert written and path == Path(cfg.export.dir) / cfg.tracking.registered_model / "1"
    assert (path / "saved_model.pb").is_file() and (path / "variables").is_dir()
    meta = json.loads((path / "assets.extra" / "trainlab.json").read_text())
    assert meta["class_names"] == [str(i) for i in range(10)]
    assert meta["normalization"]["mode"] == "standardize"
    card = (path / "assets.extra" / "model_card.md").read_text()  # the training run's card, copied
    assert card.startswith(f"# {cfg.tracking.registered_model}: cnn on mnist") and "## Known limitations" in card


def test_saved_model_cli_describes_it(exported):
    path = exported[2]
    cli = Path(sys.executable).parent / "saved_model_cli"
    out = subprocess.run([str(cli), "show", "--all", "--dir", str(path)], capture_output=True, text=True,
                         check=True).stdout
    assert "signature_def['serving_default']" in out and "signature_def['serving_uint8']" in out
    assert "signature_def['serving_b64']" in out and "DT_STRING" in out
    assert "outputs['probabilities']" in out and "outputs['classes']" in out


def test_export_predicts_what_the_keras_model_predicts(exported, mnist):
    cfg, result, path, _ = exported
    keras_model = tracking.load_model(tracking.run_model_uri(result.run_id))
    images = mnist.x_test[:64, ..., 0]  # (N, 28, 28): the gray form signatures also take
    expected = keras_model.predict(images[..., None].astype("float32"), verbose=0)
    loaded = tf.saved_model.load(str(path))
    by_float = loaded.signatures["serving_default"](image=tf.constant(images, tf.float32))
    by_uint8 = loaded.signatures["serving_uint8"](image=tf.constant(images[..., None]))
    pngs = tf.constant([tf.io.encode_png(image[..., None]).numpy() for image in images])
    by_png = loaded.signatures["serving_b64"](image_bytes=pngs)
    for out in (by_float, by_uint8, by_png):
        np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
        np.testing.assert_array_equal(out["classes"].numpy(), expected.argmax(1))


@pytest.mark.parametrize("shape", [(2, 28), (2, 28, 28, 3), (28, 28), (), (1, 27, 28), (1, 28, 28, 1, 1)])
def test_wrong_shapes_raise_instead_of_aborting(exported, shape):
    loaded = tf.saved_model.load(str(exported[2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="image must have shape"):
        loaded.signatures["serving_default"](image=tf.zeros(shape))


def test_exporting_the_champion_again_keeps_the_folder(exported):
    cfg, _, path, _ = exported
    stamp = (path / "saved_model.pb").stat().st_mtime_ns
    again, written = export_champion(cfg)
    assert again == path and not written and (path / "saved_model.pb").stat().st_mtime_ns == stamp


def test_a_run_uri_gets_the_next_version(exported, tmp_path):
    import copy
    cfg, result, _, _ = exported
    cfg = copy.deepcopy(cfg)
    cfg.export.dir = str(tmp_path)
    uri = tracking.run_model_uri(result.run_id)
    assert [export(plan_of(uri, cfg), uri)[0].name for _ in range(2)] == ["1", "2"]


def test_export_without_champion(store):
    with pytest.raises(TrackingError, match="no champion yet"):
        export_champion(store)


def test_tflite_predicts_like_the_saved_model(exported, mnist):
    _, _, path, _ = exported
    tflite = path.with_suffix(".tflite")
    interpreter = tf.lite.Interpreter(model_path=str(tflite))
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    interpreter.resize_tensor_input(inp["index"], [1, 28, 28, 1])
    interpreter.allocate_tensors()
    loaded = tf.saved_model.load(str(path))
    image = mnist.x_test[:1].astype("float32")
    interpreter.set_tensor(inp["index"], image)
    interpreter.invoke()
    expected = loaded.signatures["serving_default"](image=tf.constant(image))["probabilities"].numpy()
    np.testing.assert_allclose(interpreter.get_tensor(out["index"]), expected, atol=1e-4)


def test_png_of_another_size_is_resized_in_graph(exported, mnist):
    loaded = tf.saved_model.load(str(exported[2]))
    big = tf.image.resize(mnist.x_test[:1].astype("float32"), [56, 56], method="nearest")
    png = tf.io.encode_png(tf.cast(big[0], tf.uint8))
    out = loaded.signatures["serving_b64"](image_bytes=tf.stack([png]))
    direct = loaded.signatures["serving_default"](image=tf.constant(mnist.x_test[:1], tf.float32))
    assert out["classes"].numpy()[0] == direct["classes"].numpy()[0]


def test_onnx_and_int8_tflite_match_the_saved_model(exported, mnist):
    from trainlab.pipeline.export.formats import onnx_predict, target_of, tflite_predict
    cfg, _, path, _ = exported
    lines = []
    again, written = export_champion(cfg, formats=("savedmodel", "onnx", "tflite-int8"), echo=lines.append)
    assert again == path and written            # the SavedModel stays; the two new files are added
    assert [line.split()[1] for line in lines] == ["onnx", "tflite-int8"]
    images, labels = mnist.x_test[:1000], mnist.y_test[:1000]
    saved = tf.saved_model.load(str(path)).signatures["serving_uint8"]
    expected = saved(image=tf.constant(images))["probabilities"].numpy()
    assert np.abs(onnx_predict(target_of(path, "onnx"), images) - expected).max() <= 1e-4
    int8 = tflite_predict(target_of(path, "tflite-int8"), images)
    float_accuracy, int8_accuracy = (expected.argmax(1) == labels).mean(), (int8.argmax(1) == labels).mean()
    assert abs(int8_accuracy - float_accuracy) <= 0.005, (int8_accuracy, float_accuracy)
    assert target_of(path, "tflite-int8").stat().st_size < 0.5 * target_of(path, "tflite").stat().st_size
    assert export_champion(cfg, formats=("onnx",)) == (path, False)    # nothing left to write


def test_unknown_format_is_a_config_error(store):
    from trainlab.pipeline.errors import ConfigError
    with pytest.raises(ConfigError, match="unknown export format"):
        export_champion(store, formats=("coreml",))
