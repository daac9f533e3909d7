import numpy as np
import pytest
import tensorflow as tf

from trainlab.pipeline.data.inputs import Normalizer, make_dataset
from trainlab.pipeline.data.splits import make_splits, stratified_split
from trainlab.pipeline.errors import DataError


def test_stratified_split_exact_size_and_proportions():
    labels = np.repeat(np.arange(3), [50, 30, 20])
    train, val = stratified_split(labels, 10, seed=0)
    assert len(val) == 10 and len(train) == 90
    assert np.bincount(labels[val]).tolist() == [5, 3, 2]
    assert not set(train) & set(val)


def test_stratified_split_largest_remainder_adds_up():
    labels = np.repeat(np.arange(3), [1, 1, 1])
    assert len(stratified_split(labels, 2, seed=0)[1]) == 2


def test_stratified_split_is_seeded():
    labels = np.arange(1000) % 10
    a, b, c = (stratified_split(labels, 100, seed=s)[1] for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("size", [0, 100])
def test_stratified_split_bad_size(size):
    with pytest.raises(DataError, match="validation size"):
        stratified_split(np.arange(100) % 10, size, seed=0)


def test_mnist_splits(mnist):
    s = make_splits(mnist, 5000, seed=42)
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (55000, 5000, 10000)
    assert s.x_train.shape[1:] == (28, 28, 1) and s.x_train.dtype == np.uint8
    # Stratified: each class within one image of its share of the 60k.
    expected = 5000 * np.bincount(mnist.y_train) / 60000
    assert np.all(np.abs(np.bincount(s.y_val) - expected) < 1)
    np.testing.assert_array_equal(s.y_test, mnist.y_test)  # the test set is untouched


def test_limits_shrink_train_and_test(mnist):
    s = make_splits(mnist, 100, seed=0, limit_train=1000, limit_test=50)
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (900, 100, 50)


def test_normalizer_statistics_and_formula():
    x = np.array([[0, 255], [51, 102]], np.uint8).reshape(1, 2, 2, 1)
    n = Normalizer.fit("standardize", x)
    scaled = x / 255.0
    assert n.mean == pytest.approx((scaled.mean(),)) and n.std == pytest.approx((scaled.std(),))
    np.testing.assert_allclose(n(tf.constant(x)).numpy(), (scaled - scaled.mean()) / scaled.std(), rtol=1e-5)
    np.testing.assert_allclose(Normalizer.fit("scale", x)(tf.constant(x)).numpy(), scaled, rtol=1e-6)
    np.testing.assert_array_equal(Normalizer.fit("none", x)(tf.constant(x)).numpy(), x)


def test_normalizer_statistics_are_per_channel():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (9, 5, 4, 3)).astype(np.uint8)
    n = Normalizer.fit("standardize", x)
    scaled = x.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(n.mean, scaled.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(n.std, scaled.std(axis=0), rtol=1e-9)
    np.testing.assert_allclose(n(tf.constant(x)).numpy(), (x / 255.0 - scaled.mean(0)) / scaled.std(0), atol=1e-6)
    assert n.as_params()["mean"].count(",") == 2


def test_pipeline_batches_normalized_images_and_one_hot_targets():
    x = np.full((5, 28, 28, 1), 255, np.uint8)
    y = np.array([0, 1, 2, 3, 9])
    ds = make_dataset(x, y, num_classes=10, batch_size=2, normalizer=Normalizer("scale"))
    batches = list(ds)
    assert [b[0].shape[0] for b in batches] == [2, 2, 1]
    images, targets = batches[0]
    assert images.dtype == tf.float32 and float(tf.reduce_max(images)) == 1.0
    np.testing.assert_array_equal(targets.numpy(), np.eye(10)[[0, 1]])


def test_label_smoothing_targets_sum_to_one():
    ds = make_dataset(np.zeros((4, 28, 28, 1), np.uint8), np.arange(4), num_classes=10, batch_size=4,
                      normalizer=Normalizer("scale"), label_smoothing=0.1)
    targets = next(iter(ds))[1].numpy()
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-6)
    assert targets[0, 0] == pytest.approx(0.91) and targets[0, 1] == pytest.approx(0.01)


def test_training_order_is_a_function_of_seed_and_epoch():
    x = np.arange(100, dtype=np.uint8).reshape(100, 1, 1, 1)
    epoch = tf.Variable(0, dtype=tf.int64)
    ds = make_dataset(x, np.zeros(100, int), num_classes=10, batch_size=10, normalizer=Normalizer("none"),
                      training=True, seed=1, epoch=epoch)
    order = lambda: np.concatenate([b[0].numpy().ravel() for b in ds])  # noqa: E731
    zero, _, one = order(), epoch.assign(1), order()
    assert not np.array_equal(zero, one) and sorted(one) == list(range(100))
    epoch.assign(0)
    np.testing.assert_array_equal(order(), zero)  # a resumed run replays epoch k exactly
    assert len(ds) == 10


def test_training_shuffle_is_seeded():
    x = np.arange(100, dtype=np.uint8).reshape(100, 1, 1, 1)
    order = lambda seed: np.concatenate([b[0].numpy().ravel() for b in make_dataset(  # noqa: E731
        x, np.zeros(100, int), num_classes=10, batch_size=10, normalizer=Normalizer("none"), training=True,
        seed=seed)])
    np.testing.assert_array_equal(order(1), order(1))
    assert not np.array_equal(order(1), order(2))
    assert sorted(order(1)) == list(range(100))


def _augmented(training, seed=3, epoch=None):
    from trainlab.augment import AugmentChain
    x = np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1)).astype(np.uint8)
    chain = AugmentChain([{"name": "random_crop", "padding": 2}, {"name": "mixup"}])
    ds = make_dataset(x, np.arange(8), num_classes=10, batch_size=8, normalizer=Normalizer("none"),
                      training=training, augment=chain, seed=seed, shuffle_buffer=1, epoch=epoch)
    return x, ds


def test_augmentation_only_in_training():
    x, ds = _augmented(training=False)
    images, targets = next(iter(ds))
    np.testing.assert_array_equal(images.numpy(), x.astype(np.float32))
    np.testing.assert_array_equal(targets.numpy(), np.eye(10)[:8])


def test_augmented_pipeline_is_a_function_of_seed_and_epoch():
    epoch = tf.Variable(0, dtype=tf.int64)
    _, ds = _augmented(training=True, epoch=epoch)
    first = next(iter(ds))[0].numpy()
    epoch.assign(1)
    second = next(iter(ds))[0].numpy()
    epoch.assign(0)
    np.testing.assert_array_equal(next(iter(ds))[0].numpy(), first)  # epoch 0 again: the same draws
    assert not np.array_equal(first, second)       # a new draw each epoch
    again = next(iter(_augmented(training=True)[1]))[0].numpy()
    np.testing.assert_array_equal(first, again)     # the same draws for the same seed (no variable: epoch 0)
    other = next(iter(_augmented(training=True, seed=4)[1]))[0].numpy()
    assert not np.array_equal(first, other)
    targets = next(iter(ds))[1].numpy()
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-5)
