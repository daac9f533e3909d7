"""Every registered op: eager and tf.data agree, shapes/dtypes/ranges hold, seeds repeat, p gates."""
import numpy as np
import pytest
import tensorflow as tf

from trainlab.augment import AugmentChain, create_op, list_augmentations

SEED = tf.constant([3, 4], tf.int64)


def batch(n=8, seed=0, shape=(28, 28, 1)):
    rng = np.random.default_rng(seed)
    images = tf.constant(rng.integers(0, 256, (n, *shape)).astype("float32"))
    targets = tf.one_hot(tf.range(n) % 10, 10)
    return images, targets


SHAPES = [(28, 28, 1), (20, 13, 3)]  # MNIST, and color that is not square


@pytest.mark.parametrize("shape", SHAPES, ids=["gray", "color-nonsquare"])
@pytest.mark.parametrize("name", list_augmentations())
def test_eager_and_tf_data_agree(name, shape):
    op = create_op({"name": name, "seed": 1} if name == "rand_augment" else {"name": name})
    images, targets = batch(shape=shape)
    eager_x, eager_y = op(images, targets, SEED)
    ds = tf.data.Dataset.from_tensors((images, targets, SEED)).map(op)
    graph_x, graph_y = next(iter(ds))
    assert eager_x.shape == images.shape and eager_x.dtype == tf.float32
    assert float(tf.reduce_min(eager_x)) >= 0 and float(tf.reduce_max(eager_x)) <= 255
    np.testing.assert_allclose(tf.reduce_sum(eager_y, axis=1), 1.0, rtol=1e-5)
    if name != "rand_augment":  # keras layers draw from their own generators
        np.testing.assert_allclose(eager_x, graph_x, atol=1e-3)
        np.testing.assert_allclose(eager_y, graph_y, atol=1e-6)


@pytest.mark.parametrize("name", sorted(set(list_augmentations()) - {"rand_augment", "flip_horizontal",
                                                                      "flip_vertical"}))
def test_seeded_draws_repeat_and_differ(name):
    op = create_op({"name": name})
    images, targets = batch()
    a, _ = op(images, targets, SEED)
    b, _ = op(images, targets, SEED)
    c, _ = op(images, targets, tf.constant([5, 6], tf.int64))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a.numpy(), c.numpy())


@pytest.mark.parametrize("name", sorted(set(list_augmentations()) - {"rand_augment"}))
def test_probability_zero_changes_nothing(name):
    images, targets = batch()
    x, y = create_op({"name": name, "p": 0.0})(images, targets, SEED)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, targets)


# Ops that draw a value per pixel and channel (noise), or keep their own generators (keras layers).
PER_CHANNEL_RANDOM = {"gaussian_noise", "random_erasing", "rand_augment"}


@pytest.mark.parametrize("name", sorted(set(list_augmentations()) - PER_CHANNEL_RANDOM))
def test_color_images_transform_like_their_gray_planes(name):
    """A color batch whose three planes equal a gray batch comes out as three copies of the gray
    result: the op's geometry, box, factor or mixing partner is drawn per image, not per channel."""
    gray, targets = batch(shape=(20, 13, 1))
    color = tf.concat([gray, gray, gray], axis=-1)
    op = create_op({"name": name})
    gray_x, gray_y = op(gray, targets, SEED)
    color_x, color_y = op(color, targets, SEED)
    for c in range(3):
        np.testing.assert_allclose(color_x[..., c], gray_x[..., 0], atol=1e-3)
    np.testing.assert_allclose(color_y, gray_y, atol=1e-6)


def test_mean_fill_is_per_channel():
    images = tf.constant(np.stack([np.full((4, 4), 10.0), np.full((4, 4), 200.0), np.zeros((4, 4))], -1)[None],
                         tf.float32)
    op = create_op({"name": "cutout", "size": 2, "fill": "mean"})
    x, _ = op(images, tf.one_hot([0], 10), SEED)
    np.testing.assert_allclose(np.unique(x[0, ..., 0]), [10.0])
    np.testing.assert_allclose(np.unique(x[0, ..., 1]), [200.0])


def test_probability_gates_each_image():
    images, targets = batch(64)
    x, _ = create_op({"name": "flip_vertical", "p": 0.5})(images, targets, SEED)
    changed = np.any(x.numpy() != images.numpy(), axis=(1, 2, 3))
    assert 10 < changed.sum() < 54


def test_chain_applies_ops_in_order_with_split_seeds():
    images, targets = batch()
    chain = AugmentChain([{"name": "random_crop", "padding": 2}, {"name": "cutout", "size": 4}])
    x, _ = chain(images, targets, SEED)
    y, _ = chain(images, targets, SEED)
    np.testing.assert_array_equal(x, y)
    assert chain.mixes_labels is False and bool(AugmentChain([])) is False


def test_chain_mixing_switch():
    images, targets = batch()
    chain = AugmentChain([{"name": "mixup", "alpha": 1.0}])
    _, mixed = chain(images, targets, SEED)
    assert not np.array_equal(mixed.numpy(), targets.numpy())
    chain.mixing.assign(False)
    x, clean = chain(images, targets, SEED)
    np.testing.assert_array_equal(clean, targets)
    np.testing.assert_array_equal(x, images)


def test_keras_layer_by_name():
    images, targets = batch()
    op = create_op({"name": "keras.RandomRotation", "factor": 0.1, "seed": 1})
    x, y = op(images, targets, SEED)
    assert x.shape == images.shape and not np.array_equal(x.numpy(), images.numpy())


def test_keras_cv_layer_or_install_hint():
    try:
        import keras_cv  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match=r"pip install 'trainlab\[keras-cv\]'"):
            create_op({"name": "keras_cv.RandomCutout", "height_factor": 0.3, "width_factor": 0.3})
        return
    images, targets = batch()
    op = create_op({"name": "keras_cv.RandomCutout", "height_factor": 0.3, "width_factor": 0.3, "seed": 1})
    x, _ = op(images, targets, SEED)
    assert x.shape == images.shape and np.any(x.numpy() != images.numpy())
