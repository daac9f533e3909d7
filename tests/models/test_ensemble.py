"""Ensembles as one model (``model.members``): the output is the members' mean, each member learns from
its own cross-entropy (not from the ensemble's error), and an ensemble trains, is tracked and is
exported as one model."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from trainlab.models import EnsembleAverage, OptionError, create_model
from trainlab.pipeline.training.optim import ProbabilityCrossentropy

A = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]], np.float32)
B = np.array([[0.1, 0.7, 0.2], [0.0, 0.0, 1.0]], np.float32)


@pytest.mark.parametrize("training", [False, True])
def test_the_output_is_the_members_mean(training):
    out = EnsembleAverage()([tf.constant(A), tf.constant(B)], training=training)
    np.testing.assert_allclose(np.asarray(out), [[0.3, 0.6, 0.1], [0.5, 0.0, 0.5]], atol=1e-7)


def _member_logit_gradients(loss, targets):
    logits = [tf.Variable([[2.0, -1.0, 0.5], [0.1, 0.3, -0.2]]), tf.Variable([[-0.5, 1.5, 0.0], [1.0, -1.0, 0.2]])]
    with tf.GradientTape() as tape:
        out = EnsembleAverage()([tf.nn.softmax(z) for z in logits], training=True)
        value = loss(targets, out)
    return [g.numpy() for g in tape.gradient(value, logits)], [tf.nn.softmax(z).numpy() for z in logits]


@pytest.mark.parametrize("targets", [[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],            # one-hot
                                     [[0.9, 0.05, 0.05], [0.3, 0.2, 0.5]]])          # smoothed / mixed
def test_each_member_gets_the_gradient_of_its_own_cross_entropy(targets):
    y = tf.constant(targets)
    grads, probs = _member_logit_gradients(ProbabilityCrossentropy(), y)
    for g, p in zip(grads, probs):  # d(mean over 2 images of CE(y, p_i) / 2) / d logits_i = (p_i - y) / 4
        np.testing.assert_allclose(g, (p - np.asarray(targets)) / 4, atol=1e-6)


def test_keras_renormalizing_cross_entropy_would_hand_each_member_the_ensembles_error():
    y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.float32)
    grads, probs = _member_logit_gradients(keras.losses.CategoricalCrossentropy(), tf.constant(y))
    mean = (probs[0] + probs[1]) / 2
    np.testing.assert_allclose(grads[0], (mean - y) / 4, atol=1e-6)   # why ensembles train on ProbabilityCrossentropy
    assert not np.allclose(grads[0], (probs[0] - y) / 4, atol=1e-3)


def test_probability_cross_entropy_equals_keras_on_softmax_outputs():
    y = tf.constant([[0.0, 1.0, 0.0], [0.2, 0.3, 0.5]])
    p = tf.nn.softmax(tf.constant([[2.0, -1.0, 0.5], [0.1, 0.3, -0.2]]))
    assert float(ProbabilityCrossentropy()(y, p)) == pytest.approx(float(keras.losses.CategoricalCrossentropy()(y, p)),
                                                                   rel=1e-6)


def test_members_builds_that_many_networks_averaged():
    keras.utils.set_random_seed(0)
    model = create_model("mlp_small", input_shape=(4, 4, 1), num_classes=3, width=5, members=3)
    members = [layer for layer in model.layers if layer.name.startswith("member")]
    assert len(members) == 3 and model.count_params() == 3 * members[0].count_params()
    x = np.random.default_rng(0).random((2, 4, 4, 1), np.float32)
    np.testing.assert_allclose(model(x), np.mean([m(x) for m in members], axis=0), atol=1e-6)
    assert not np.allclose(members[0](x), members[1](x))          # each its own initialization
    assert create_model("mlp_small", input_shape=(4, 4, 1), num_classes=3, members=1).name == "mlp_small"


@pytest.mark.parametrize("members", [0, -2, True, 2.5, "3"])
def test_bad_member_counts_are_option_errors(members):
    with pytest.raises(OptionError, match="members must be a positive integer"):
        create_model("mlp_small", input_shape=(4, 4, 1), num_classes=3, members=members)


def test_an_ensemble_needs_the_cross_entropy_loss(tmp_path):
    from tests.conftest import smoke_config
    from trainlab.pipeline.errors import ConfigError
    from trainlab.pipeline.plan import resolve_plan
    with pytest.raises(ConfigError, match="model.members \\(2\\) needs train.loss: categorical_crossentropy"):
        resolve_plan(smoke_config(tmp_path, **{"model.members": 2, "train.loss": "mse"}))


def test_an_ensemble_trains_and_is_logged_and_exported_as_one_model(tmp_path):
    from tests.conftest import smoke_config
    from trainlab.pipeline import tracking
    from trainlab.pipeline.plan import resolve_plan
    from trainlab.pipeline.training.stage import train
    cfg = smoke_config(tmp_path, **{"model.members": 2, "train.epochs": 1, "augment": []})
    result = train(resolve_plan(cfg), echo=lambda line: None)
    assert result.test.accuracy > 0.3  # it learned: chance is 0.1 (one smoke epoch gives about 0.45)
    x = np.random.default_rng(1).integers(0, 256, (4, 28, 28, 1)).astype(np.float32)
    logged = tracking.load_model(tracking.run_model_uri(result.run_id))
    np.testing.assert_allclose(logged.predict(x, verbose=0), result.model(x), atol=1e-5)
    path = tmp_path / "saved"
    result.model.export(str(path), verbose=False)
    served = tf.saved_model.load(str(path))  # kept alive: its functions use its variables
    np.testing.assert_allclose(served.serve(tf.constant(x)), result.model(x), atol=1e-5)
    network = result.model.layers[-1]  # behind the input normalization
    assert [layer.name for layer in network.layers if layer.name.startswith("member")] == ["member0", "member1"]
