"""Exact expectations on tiny hand-made images, with injected parameters."""
import numpy as np
import pytest
import tensorflow as tf

from trainlab.augment import create_op

ON = tf.constant([True])


def image(h=5, w=5):
    """A 1-image batch with pixel values 1..h*w, so every pixel is identifiable."""
    return tf.constant(np.arange(1, h * w + 1, dtype="float32").reshape(1, h, w, 1))


def apply(name, params, x=None, targets=None, **options):
    op = create_op({"name": name, **options})
    x = image() if x is None else x
    targets = tf.one_hot([0] * x.shape[0], 10) if targets is None else targets
    out, t = op.transform(x, targets, {"apply": tf.ones([x.shape[0]], bool), **params})
    return out.numpy()[..., 0], t.numpy()


def test_flips_move_the_known_pixel():
    x = np.zeros((1, 3, 3, 1), "float32")
    x[0, 0, 0, 0] = 255
    h, _ = apply("flip_horizontal", {}, tf.constant(x))
    v, _ = apply("flip_vertical", {}, tf.constant(x))
    assert h[0, 0, 2] == 255 and h.sum() == 255
    assert v[0, 2, 0] == 255 and v.sum() == 255


def test_random_crop_offsets():
    base = image()[0, ..., 0].numpy()
    same, _ = apply("random_crop", {"offset_y": tf.constant([2]), "offset_x": tf.constant([2])}, padding=2)
    np.testing.assert_array_equal(same[0], base)
    shifted, _ = apply("random_crop", {"offset_y": tf.constant([0]), "offset_x": tf.constant([4])}, padding=2)
    expected = np.zeros_like(base)
    expected[2:, :3] = base[:3, 2:]  # padded by 2: offset 0 moves content down 2, offset 4 moves it left 2
    np.testing.assert_array_equal(shifted[0], expected)


def test_random_crop_offsets_differ_across_one_batch():
    op = create_op({"name": "random_crop", "padding": 2})
    params = op.sample(tf.constant([1, 2], tf.int64), tf.zeros((32, 28, 28, 1)))
    offsets = set(zip(params["offset_y"].numpy(), params["offset_x"].numpy()))
    assert len(offsets) > 10 and all(0 <= v <= 4 for pair in offsets for v in pair)


def test_random_resized_crop_boxes():
    """The whole-image box is the identity; a quarter box is the top-left quarter stretched (bilinear is exact
    on these pixels, which are linear in the position: 1 + 5y + x)."""
    whole, _ = apply("random_resized_crop", {"box": tf.constant([[0.0, 0.0, 1.0, 1.0]])})
    np.testing.assert_allclose(whole[0], image()[0, ..., 0], atol=1e-5)
    quarter, _ = apply("random_resized_crop", {"box": tf.constant([[0.0, 0.0, 0.5, 0.5]])})
    y, x = np.mgrid[:5, :5] * 0.5
    np.testing.assert_allclose(quarter[0], 1 + 5 * y + x, atol=1e-4)


def test_random_resized_crop_draws_inside_its_ranges_and_falls_back_to_a_centred_box():
    op = create_op({"name": "random_resized_crop", "scale": [0.25, 0.5], "ratio": [0.5, 2.0]})
    box = op.sample(tf.constant([1, 2], tf.int64), tf.zeros((64, 20, 40, 3)))["box"].numpy()
    h, w = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
    assert box.min() >= 0 and box.max() <= 1 + 1e-6 and len({tuple(b) for b in box.round(4)}) == 64
    assert np.all((h * w >= 0.25 - 1e-5) & (h * w <= 0.5 + 1e-5))
    assert np.all((w * 40 / (h * 20) >= 0.5 - 1e-4) & (w * 40 / (h * 20) <= 2.0 + 1e-4))
    never = create_op({"name": "random_resized_crop", "scale": [1.0, 1.0], "ratio": [2.0, 3.0]})  # nothing fits
    box = never.sample(tf.constant([1, 2], tf.int64), tf.zeros((3, 10, 10, 1)))["box"].numpy()
    np.testing.assert_allclose(box, [[0.25, 0.0, 0.75, 1.0]] * 3, atol=1e-6)  # ratio 2: half the height
    with pytest.raises(ValueError, match=r"scale must be a \[min, max\] pair with min <= max"):
        create_op({"name": "random_resized_crop", "scale": [0.9, 0.1]})


def test_rotate_180_is_both_flips():
    out, _ = apply("rotate", {"angle": tf.constant([np.pi])}, interpolation="nearest")
    np.testing.assert_allclose(out[0], image()[0, ::-1, ::-1, 0].numpy(), atol=1e-4)


def test_translate_by_whole_pixels():
    out, _ = apply("translate", {"dx": tf.constant([1.0]), "dy": tf.constant([0.0])}, interpolation="nearest")
    expected = np.zeros((5, 5), "float32")
    expected[:, 1:] = image()[0, :, :4, 0].numpy()
    np.testing.assert_array_equal(out[0], expected)


def test_zoom_by_one_is_identity():
    out, _ = apply("zoom", {"scale": tf.constant([1.0])})
    np.testing.assert_allclose(out[0], image()[0, ..., 0].numpy(), atol=1e-4)


def test_contrast_and_brightness_formulas():
    x = tf.constant(np.array([0, 100, 200, 250], "float32").reshape(1, 2, 2, 1))
    out, _ = apply("contrast", {"contrast": tf.constant([2.0])}, x)
    np.testing.assert_allclose(out[0].ravel(), np.clip((x.numpy().ravel() - 137.5) * 2 + 137.5, 0, 255))
    out, _ = apply("brightness", {"offset": tf.constant([10.0])}, x)
    np.testing.assert_array_equal(out[0].ravel(), [10, 110, 210, 255])


def test_cutout_zeroes_exactly_the_box():
    box = {"top": tf.constant([1]), "left": tf.constant([2]), "bottom": tf.constant([3]), "right": tf.constant([5])}
    out, _ = apply("cutout", {**box, "fill": tf.zeros((1, 5, 5, 1))})
    expected = image()[0, ..., 0].numpy().copy()
    expected[1:3, 2:5] = 0
    np.testing.assert_array_equal(out[0], expected)


def test_cutout_sampled_box_has_the_size_inside_the_image():
    op = create_op({"name": "cutout", "size": 6, "fill": "mean"})
    x = tf.fill((16, 28, 28, 1), 100.0)
    params = op.sample(tf.constant([0, 1], tf.int64), x)
    h = (params["bottom"] - params["top"]).numpy()
    w = (params["right"] - params["left"]).numpy()
    assert np.all((h >= 3) & (h <= 6) & (w >= 3) & (w <= 6))  # clipped at most to half at a border
    np.testing.assert_array_equal(op.transform(x, tf.zeros((16, 10)), params)[0], x)  # mean fill of a flat image


def test_mixup_matches_the_formula():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(0, 255, (3, 4, 4, 1)).astype("float32"))
    t = tf.one_hot([0, 1, 2], 10)
    lam, partner = np.array([0.7, 0.5, 1.0], "float32"), np.array([1, 2, 0])
    out, targets = apply("mixup", {"lam": tf.constant(lam), "partner": tf.constant(partner)}, x, t)
    expected = lam[:, None, None] * x.numpy()[..., 0] + (1 - lam[:, None, None]) * x.numpy()[partner, ..., 0]
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_allclose(targets[0, :3], [0.7, 0.3, 0.0], rtol=1e-6)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-6)


def test_cutmix_label_weight_is_the_kept_area():
    x = tf.constant(np.stack([np.zeros((10, 10)), np.full((10, 10), 255.0)])[..., None].astype("float32"))
    t = tf.one_hot([0, 1], 10)
    box = {"top": tf.constant([0, 0]), "left": tf.constant([0, 0]), "bottom": tf.constant([5, 0]),
           "right": tf.constant([4, 0]), "lam": tf.constant([0.0, 0.0]), "partner": tf.constant([1, 0])}
    out, targets = apply("cutmix", box, x, t)
    assert out[0].sum() == 5 * 4 * 255 and np.all(out[0][:5, :4] == 255)
    np.testing.assert_allclose(targets[0, :2], [0.8, 0.2], rtol=1e-6)   # 20 of 100 pixels pasted
    np.testing.assert_allclose(targets[1, :2], [0.0, 1.0], rtol=1e-6)   # empty box: unchanged


def test_cutmix_sampled_weights_equal_pasted_fraction():
    op = create_op({"name": "cutmix", "alpha": 1.0})
    # Ten constant images of distinct classes: the kept fraction is readable from the pixels.
    x = tf.constant(np.repeat(np.arange(10, dtype="float32"), 28 * 28).reshape(10, 28, 28, 1) + 1)
    t = tf.one_hot(tf.range(10), 10)
    for seed in range(5):
        out, targets = op(x, t, tf.constant([seed, 8], tf.int64))
        kept = np.mean(out.numpy() == x.numpy(), axis=(1, 2, 3))
        np.testing.assert_allclose(np.diag(targets.numpy()), kept, rtol=1e-6)
        np.testing.assert_allclose(targets.numpy().sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("fill", ["zero", "mean", "noise"])
def test_random_erasing_stays_inside(fill):
    op = create_op({"name": "random_erasing", "fill": fill, "p": 1.0})
    params = op.sample(tf.constant([1, 1], tf.int64), tf.zeros((32, 28, 28, 1)))
    assert np.all(params["top"].numpy() >= 0) and np.all(params["bottom"].numpy() <= 28)
    assert np.all(params["left"].numpy() >= 0) and np.all(params["right"].numpy() <= 28)
    area = (params["bottom"] - params["top"]) * (params["right"] - params["left"])
    assert np.all(area.numpy() >= 1) and np.all(area.numpy() <= 0.4 * 784)
