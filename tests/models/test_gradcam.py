"""Grad-CAM: a trained toy model's map is high on a generated image's object and low on its background; every
convolutional family (and an ensemble, averaged) gets a map, eagerly and inside a tf.function as the export
runs it; the export's serving_explain signature and `trainlab predict --explain` write the overlays."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from tests.shapes import trained_shape_classifier
from trainlab.models import OptionError, create_model, list_models
from trainlab.models.backbones import BACKBONES
from trainlab.models.gradcam import GradCam, explainer, overlay
from trainlab.pipeline.cli import cli

CONVOLUTIONAL = ["cnn", "cnn_deep", "cnn_keras", "resnet", "mobilenet_v3_small"]


def served(network, scale=1 / 255):
    """``network`` behind a normalization layer, as the served model holds it."""
    inputs = keras.Input(network.input_shape[1:], name="raw_image")
    return keras.Model(inputs, network(keras.layers.Rescaling(scale, name="normalize")(inputs)))


def box(mask: np.ndarray) -> np.ndarray:
    """The bounding box of ``mask``'s pixels (a ring's hole is part of its object)."""
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    out = np.zeros_like(mask)
    out[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1] = True
    return out


def test_the_map_of_a_trained_toy_model_is_high_on_the_object_and_low_on_the_background():
    model, images, labels = trained_shape_classifier()
    probabilities, maps = GradCam(model)(images)
    right = np.argmax(probabilities, axis=1) == labels
    assert right.mean() > 0.9
    shape = np.stack([box(bright) for bright in images.max(axis=-1) > 110])  # the shape: 120-255 on < 85
    inside = np.array([m[s].mean() for m, s in zip(maps.numpy(), shape)])[right]
    outside = np.array([m[~s].mean() for m, s in zip(maps.numpy(), shape)])[right]
    print(f"Grad-CAM on the object {inside.mean():.3f}, on the background {outside.mean():.3f}")
    assert np.mean(inside > outside) > 0.9 and inside.mean() > 2 * outside.mean()


@pytest.mark.parametrize("name", CONVOLUTIONAL)
def test_every_convolutional_family_gets_a_map_eagerly_and_inside_a_tf_function(name):
    options = {} if name in BACKBONES else {"width": 4}
    network = create_model(name, input_shape=(32, 32, 3), num_classes=3, **options)
    cam = GradCam(served(network))
    assert cam.feature_layers == (["backbone"] if name in BACKBONES else cam.feature_layers)
    images = tf.random.stateless_uniform((2, 32, 32, 3), (1, 2), 0, 255)
    probabilities, maps = cam(images)
    graph_probabilities, graph_maps = tf.function(cam)(images)
    assert maps.shape == (2, 32, 32) and 0 <= float(tf.reduce_min(maps)) and float(tf.reduce_max(maps)) <= 1
    np.testing.assert_allclose(graph_maps, maps, atol=1e-4)
    np.testing.assert_allclose(probabilities, network(images / 255), atol=1e-5)
    assert overlay(images, maps).shape == (2, 32, 32, 3) and overlay(images, maps).dtype == tf.uint8


def test_the_map_sits_on_the_last_activation_before_pooling_and_an_ensemble_averages_its_members():
    network = create_model("cnn", input_shape=(32, 32, 1), num_classes=3, width=4)
    [layer] = GradCam(network).feature_layers
    assert layer == [lay.name for lay in network.layers if len(lay.output.shape) == 4
                     and not isinstance(lay, (keras.layers.MaxPooling2D, keras.layers.Dropout))][-1]
    ensemble = create_model("cnn", input_shape=(32, 32, 1), num_classes=3, width=4, members=2)
    cam = GradCam(served(ensemble))
    assert len(cam.parts) == 2
    images = tf.random.stateless_uniform((3, 32, 32, 1), (3, 4), 0, 255)
    probabilities, maps = cam(images)
    classes = tf.argmax(probabilities, axis=-1)
    members = [GradCam(member) for member in ensemble.layers if isinstance(member, keras.Model)]
    raw = tf.add_n([m._map(*m.parts[0], images / 255, classes) for m in members]) / 2  # each for the ensemble's class
    expected = tf.image.resize(raw[..., None], (32, 32))[..., 0]
    expected = expected / tf.reduce_max(expected, axis=[1, 2], keepdims=True)
    np.testing.assert_allclose(maps, expected, atol=1e-5)


@pytest.mark.parametrize("name", [n for n in list_models() if n.startswith(("mlp", "rnn"))])
def test_a_network_without_a_feature_map_is_one_clear_error_and_no_explainer(name):
    network = create_model(name, input_shape=(28, 28, 1), num_classes=3)
    with pytest.raises(OptionError, match="has no convolutional feature map: Grad-CAM needs a CNN"):
        GradCam(network)
    assert explainer(network) is None


def test_predict_explain_writes_the_exports_overlays(exported, tmp_path, mnist):
    _, _, path, _ = exported
    files = []
    for i in (0, 1):
        files.append(tmp_path / f"digit{i}.png")
        files[-1].write_bytes(tf.io.encode_png(mnist.x_test[i]).numpy())
    out = tmp_path / "why"
    ran = CliRunner().invoke(cli, ["predict", *map(str, files), "--model-dir", str(path.parent), "--explain", str(out),
                                   "--output", "json"])
    assert ran.exit_code == 0, ran.output
    rows = [json.loads(line) for line in ran.stdout.splitlines()]
    assert [r["explanation"] for r in rows] == [str(out / "digit0.gradcam.png"), str(out / "digit1.gradcam.png")]
    overlays = [tf.io.decode_png((out / f"digit{i}.gradcam.png").read_bytes()).numpy() for i in (0, 1)]
    assert all(o.shape == (28, 28, 3) for o in overlays)
    signature = tf.saved_model.load(str(path)).signatures["serving_explain"]
    again = signature(image_bytes=tf.constant([f.read_bytes() for f in files]))["overlay_bytes"].numpy()
    assert [tf.io.decode_png(o).numpy().tolist() for o in again] == [o.tolist() for o in overlays]
    assert "Grad-CAM overlays: 2 written to" in ran.stderr
