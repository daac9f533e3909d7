"""data.resize: squash, pad and center_crop on tiny known images, and the same fit in the folder cache, the
exported model's encoded-image signature and trainlab predict."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from trainlab.pipeline.data.resize import fit_image

WIDE = np.tile(np.arange(1, 5, dtype=np.float32), (2, 1))[..., None]  # 2x4, columns 1 2 3 4


@pytest.mark.parametrize("mode, expected", [
    ("pad", [[0, 0, 0, 0], [1, 2, 3, 4], [1, 2, 3, 4], [0, 0, 0, 0]]),   # aspect kept, black rows added
    ("center_crop", [[2, 3], [2, 3]]),                                   # aspect kept, the long side cut
])
def test_pad_and_center_crop_keep_the_aspect(mode, expected):
    expected = np.array(expected, np.float32)
    out = fit_image(tf.constant(WIDE), expected.shape, mode).numpy()[..., 0]
    np.testing.assert_allclose(out, expected, atol=1e-5)
    batched = fit_image(tf.constant(WIDE[None]), expected.shape, mode).numpy()[0, ..., 0]  # (B, H, W, C) too
    np.testing.assert_allclose(batched, expected, atol=1e-5)


def test_squash_ignores_the_aspect_and_every_mode_hits_the_size():
    out = fit_image(tf.constant(WIDE), (2, 2), "squash").numpy()[..., 0]
    np.testing.assert_allclose(out, [[12 / 7, 23 / 7]] * 2, atol=1e-5)  # antialiased: a triangle over the columns
    for mode in ("squash", "pad", "center_crop"):
        for shape in ((37, 50, 3), (50, 37, 1), (7, 7, 3)):
            assert fit_image(tf.zeros(shape), (24, 32), mode).shape == (24, 32, shape[-1])
    with pytest.raises(ValueError, match="resize mode must be one of squash, pad, center_crop"):
        fit_image(tf.constant(WIDE), (2, 2), "stretch")


def test_a_folder_of_mixed_aspects_is_cached_per_mode(tmp_path):
    from trainlab.pipeline.data.dataset import SourceOptions
    from trainlab.pipeline.data.sources import load_dataset
    for name, color in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i, (h, w) in enumerate([(20, 40), (40, 20), (30, 30)] * 4):
            image = np.zeros((h, w, 3), np.uint8) + np.array(color, np.uint8)
            (tmp_path / "photos" / name / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    loaded = {mode: load_dataset(str(tmp_path / "photos"), tmp_path / "cache",
                                 SourceOptions(image_size=(10, 10), resize=mode)) for mode in ("squash", "pad")}
    assert len(list((tmp_path / "cache").glob("folder-photos-*.npz"))) == 2
    squashed, padded = loaded["squash"], loaded["pad"]
    assert squashed.x_train.shape[1:] == padded.x_train.shape[1:] == (10, 10, 3)
    assert (squashed.x_train.reshape(len(squashed.x_train), -1).max(axis=1) == 255).all()
    black = (padded.x_train.sum(axis=-1) == 0).reshape(len(padded.x_train), -1).mean(axis=1)
    assert sorted(set(np.round(black, 2))) == [0.0, 0.5]  # the 2:1 photos padded by half, the square ones not


def test_the_export_and_predict_fit_a_photo_as_the_training_data_was(tmp_path):
    from trainlab.pipeline.export.stage import export_saved_model
    from trainlab.pipeline.serving.images import predict_files
    from trainlab.pipeline.serving.model import ModelVersion
    inputs = keras.Input((4, 4, 1), name="image")
    flat = keras.layers.Flatten()(inputs)  # a fixed model that sees every pixel: weights 1 on the top row
    weights = np.zeros((16, 2), np.float32)
    weights[:4, 0] = 1.0
    head = keras.layers.Dense(2, activation="softmax")
    model = keras.Model(inputs, head(flat))
    head.set_weights([weights, np.zeros(2, np.float32)])
    photo = np.zeros((2, 4, 1), np.uint8) + 200  # wide: padded to 4x4 its top row is black
    (tmp_path / "wide.png").write_bytes(tf.io.encode_png(photo).numpy())
    expected = {mode: model(fit_image(tf.constant(photo, tf.float32), (4, 4), mode)[None]).numpy()[0]
                for mode in ("squash", "pad")}
    assert not np.allclose(expected["squash"], expected["pad"])
    for mode in ("squash", "pad"):
        path = export_saved_model(model, tmp_path / mode, "m", 1, metadata={"resize": mode})
        assert json.loads((path / "assets.extra" / "trainlab.json").read_text())["resize"] == mode
        served = tf.saved_model.load(str(path)).signatures["serving_b64"](
            image_bytes=tf.constant([(tmp_path / "wide.png").read_bytes()]))["probabilities"].numpy()[0]
        np.testing.assert_allclose(served, expected[mode], atol=1e-4)
        [predicted] = predict_files([tmp_path / "wide.png"], ModelVersion(path), invert=False)
        assert predicted.probability == pytest.approx(float(expected[mode].max()), abs=1e-3)
