import math

import keras
import numpy as np
import pytest

from trainlab.pipeline.config.schema import TrainConfig
from trainlab.pipeline.training.optim import OneCycle, StepDecay, WarmupCosine, make_loss, make_optimizer, make_schedule


def at(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_step_decay_formula():
    s = StepDecay(0.1, every=10, gamma=0.5)
    assert [at(s, k) for k in (0, 9, 10, 25)] == pytest.approx([0.1, 0.1, 0.05, 0.025])


def test_warmup_cosine_formula():
    s = WarmupCosine(1.0, total=110, warmup=10)
    assert at(s, 0) == 0 and at(s, 5) == pytest.approx(0.5)
    assert at(s, 10) == pytest.approx(1.0)
    assert at(s, 60) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert at(s, 110) == pytest.approx(0.0, abs=1e-7)


def test_one_cycle_formula():
    s = OneCycle(1.0, total=100, pct=0.3, div=25, final_div=1e4)
    assert at(s, 0) == pytest.approx(1 / 25)
    assert at(s, 15) == pytest.approx(1 / 25 + (1 - 1 / 25) * 0.5)
    assert at(s, 30) == pytest.approx(1.0)
    end = 1 / 25 / 1e4
    assert at(s, 65) == pytest.approx(end + (1 - end) * 0.5, rel=1e-5)
    assert at(s, 100) == pytest.approx(end, rel=1e-4)


@pytest.mark.parametrize("schedule", [StepDecay(0.1, 3, 0.5), WarmupCosine(0.1, 50, 5), OneCycle(0.1, 50)])
def test_schedules_serialize(schedule):
    clone = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert at(clone, 7) == at(schedule, 7)


@pytest.mark.parametrize("name, cls", [("constant", float), ("step", StepDecay), ("cosine", WarmupCosine),
                                       ("one_cycle", OneCycle)])
def test_make_schedule(name, cls):
    assert isinstance(make_schedule(TrainConfig(lr_schedule=name, epochs=3), steps_per_epoch=10), cls)


@pytest.mark.parametrize("name, cls, check", [
    ("sgd", keras.optimizers.SGD, lambda o: o.momentum == 0.9 and o.nesterov),
    ("adam", keras.optimizers.Adam, lambda o: True),
    ("adamw", keras.optimizers.AdamW, lambda o: o.weight_decay == pytest.approx(1e-4)),
    ("rmsprop", keras.optimizers.RMSprop, lambda o: True),
])
def test_make_optimizer(name, cls, check):
    optimizer = make_optimizer(TrainConfig(optimizer=name, nesterov=True, lr_schedule="constant"), 10)
    assert type(optimizer) is cls and check(optimizer)


def test_losses():
    y = np.eye(3, dtype="float32")[[0, 1]]
    p = np.array([[0.8, 0.1, 0.1], [0.2, 0.6, 0.2]], "float32")
    mse = float(make_loss(TrainConfig(loss="mse"))(y, p))
    assert mse == pytest.approx(np.mean((y - p) ** 2))
    ce = float(make_loss(TrainConfig())(y, p))
    assert ce == pytest.approx(-np.mean(np.log([0.8, 0.6])), rel=1e-5)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop"])
def test_clip_norm_is_set_on_every_optimizer(name):
    assert make_optimizer(TrainConfig(optimizer=name, clip_norm=2.5), 10).global_clipnorm == 2.5
    assert make_optimizer(TrainConfig(optimizer=name), 10).global_clipnorm is None


def test_clip_norm_scales_the_step_to_the_global_norm():
    optimizer = make_optimizer(TrainConfig(optimizer="sgd", momentum=0.0, learning_rate=1.0,
                                           lr_schedule="constant", clip_norm=1.0), 10)
    a, b = keras.Variable([0.0]), keras.Variable([0.0])
    optimizer.apply_gradients([(np.array([30.0], "float32"), a), (np.array([40.0], "float32"), b)])  # norm 50
    np.testing.assert_allclose([float(a.numpy()[0]), float(b.numpy()[0])], [-0.6, -0.8], rtol=1e-6)


def test_class_weights():
    from trainlab.pipeline.errors import ConfigError
    from trainlab.pipeline.training.optim import class_weights
    labels = np.array([0, 0, 0, 1])
    assert class_weights(None, labels, 2) is None
    assert class_weights("balanced", labels, 3) == pytest.approx({0: 4 / 9, 1: 4 / 3, 2: 0.0})
    assert class_weights({1: 5}, labels, 2) == {0: 1.0, 1: 5.0}
    with pytest.raises(ConfigError, match=r"names class\(es\) \[4\]"):
        class_weights({4: 1.0}, labels, 2)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop"])
def test_ema_is_kept_by_every_optimizer(name):
    optimizer = make_optimizer(TrainConfig(optimizer=name, ema=0.999), 10)
    assert optimizer.use_ema and optimizer.ema_momentum == 0.999 and isinstance(optimizer, keras.optimizers.Optimizer)
    assert not make_optimizer(TrainConfig(optimizer=name), 10).use_ema


def test_ema_decay_warms_up_as_min_of_decay_and_1_plus_t_over_10_plus_t():
    optimizer = make_optimizer(TrainConfig(optimizer="sgd", momentum=0.0, learning_rate=1.0, ema=0.5,
                                           lr_schedule="constant"), 10)
    w = keras.Variable(np.array([10.0], np.float32))
    optimizer.build([w])
    averages = []
    for _ in range(4):  # gradient 1 at rate 1: w goes 9, 8, 7, 6
        optimizer.apply([np.array([1.0], np.float32)], [w])
        averages.append(float(keras.ops.convert_to_numpy(optimizer._model_variables_moving_average[0])[0]))
    expected, average = [], None
    for t, value in enumerate([9.0, 8.0, 7.0, 6.0]):
        decay = 0.0 if t == 0 else min(0.5, (1 + t) / (10 + t))
        average = value if t == 0 else decay * average + (1 - decay) * value
        expected.append(average)
    assert averages == pytest.approx(expected, rel=1e-6)       # 9, 8.1818, 7.2955, 6.3986


def test_averaged_weights_swap_in_the_averages_and_keep_the_rest():
    from trainlab.pipeline.training.optim import averaged_weights
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.BatchNormalization()(keras.layers.Dense(2)(inputs)))
    model.compile(optimizer=make_optimizer(TrainConfig(optimizer="sgd", ema=0.9), 10), loss="mse")
    model.fit(np.ones((8, 3)), np.zeros((8, 2)), epochs=1, verbose=0)
    found, raw = averaged_weights(model), model.get_weights()
    averages = [keras.ops.convert_to_numpy(a) for a in model.optimizer._model_variables_moving_average]
    assert len(found) == len(raw) == 6                       # kernel, bias, gamma, beta, moving mean and variance
    trainable = [i for i, w in enumerate(model.weights) if w.trainable]
    for i, average in zip(trainable, averages):
        np.testing.assert_array_equal(found[i], average)
    for i in set(range(6)) - set(trainable):                 # batch-norm statistics: the model's own
        np.testing.assert_array_equal(found[i], raw[i])
