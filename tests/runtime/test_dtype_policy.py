"""Mixed bf16 precision: when `auto` picks it, that the policy is scoped, and that the served model
is float32 whatever trained it."""
from __future__ import annotations

import keras
import numpy as np
import pytest
from mlflow import MlflowClient

from tests.conftest import smoke_config
from trainlab.models import create_model, list_models
from trainlab.models.backbones import BACKBONES
from trainlab.pipeline import tracking
from trainlab.pipeline.config.loading import load_config
from trainlab.pipeline.errors import ConfigError
from trainlab.pipeline.runtime import dtype_policy

ZEN4 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n"
SKYLAKE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n"
SAPPHIRE_RAPIDS = "processor\t: 0\nflags\t\t: fpu avx512f amx_bf16 amx_tile\n"


@pytest.mark.parametrize("cpuinfo, native", [(ZEN4, True), (SAPPHIRE_RAPIDS, True), (SKYLAKE, False), ("", False)])
def test_native_bf16_reads_the_cpu_flags(cpuinfo, native):
    assert dtype_policy.native_bf16(cpuinfo) is native  # no GPU here: only the CPU flags decide


@pytest.mark.parametrize("name", ["float32", "mixed_bfloat16"])
def test_explicit_precisions_resolve_to_themselves(name):
    assert dtype_policy.resolve(name) == name


def test_auto_follows_the_hardware():
    assert dtype_policy.resolve("auto") == ("mixed_bfloat16" if dtype_policy.native_bf16() else "float32")


def test_unknown_precision_is_a_config_error():
    with pytest.raises(ConfigError, match="train.precision must be one of float32, mixed_bfloat16, auto"):
        load_config(None, {"train.precision": "float16"})


def test_policy_is_scoped_and_restored_after_an_error():
    assert keras.config.dtype_policy().name == "float32"
    with pytest.raises(RuntimeError), dtype_policy.policy("mixed_bfloat16"):
        assert keras.layers.Dense(2).dtype_policy.name == "mixed_bfloat16"
        raise RuntimeError
    assert keras.config.dtype_policy().name == "float32"


VARIANTS = [(name, {}) for name in list_models() if name not in BACKBONES] + [  # backbones: test_pretrained.py
    ("cnn", {"pooling": "fractional"}), ("cnn", {"activation": "maxout"}), ("mlp_small", {"activation": "maxout"}),
    ("mlp_small", {"normalization": "layer"})]


@pytest.mark.parametrize("name, options", VARIANTS, ids=[f"{n}-{'-'.join(map(str, o.values())) or 'default'}"
                                                         for n, o in VARIANTS])
def test_every_model_trains_in_mixed_bf16_with_a_float32_head_and_float32_weights(name, options):
    with dtype_policy.policy("mixed_bfloat16"):
        model = create_model(name, input_shape=(28, 28, 1), num_classes=10, width=4, **options)
    hidden = [layer for layer in model.layers if layer.weights and layer.name != "probabilities"]
    assert hidden and all(layer.compute_dtype == "bfloat16" for layer in hidden)
    assert model.get_layer("probabilities").compute_dtype == "float32"
    assert all(w.dtype == "float32" for w in model.weights)
    model.compile(loss="categorical_crossentropy", optimizer="sgd")  # Adam: the same check, slower to trace
    x, y = np.random.default_rng(0).random((8, 28, 28, 1), "float32"), np.eye(10, dtype="float32")[:8]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert model.predict(x, verbose=0).dtype == "float32"


def test_float32_config_rebuilds_every_layer_in_float32_with_the_same_weights():
    with dtype_policy.policy("mixed_bfloat16"):
        mixed = create_model("cnn", input_shape=(8, 8, 1), num_classes=3, width=2)
    rebuilt = keras.Model.from_config(dtype_policy.float32_config(mixed.get_config()))
    rebuilt.set_weights(mixed.get_weights())
    assert {layer.compute_dtype for layer in rebuilt.layers} == {"float32"}
    reference = create_model("cnn", input_shape=(8, 8, 1), num_classes=3, width=2)  # built in float32
    reference.set_weights(mixed.get_weights())
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 1)).astype("float32")
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), reference.predict(x, verbose=0))


def test_training_in_mixed_bf16_logs_the_policy_and_serves_float32(tmp_path, mnist):
    cfg = smoke_config(tmp_path, **{"train.precision": "mixed_bfloat16", "augment": [], "train.epochs": 2})
    from trainlab.pipeline.plan import resolve_plan
    from trainlab.pipeline.training.stage import train
    result = train(resolve_plan(cfg), echo=lambda _: None)
    assert MlflowClient().get_run(result.run_id).data.params["train.dtype_policy"] == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is back
    model = tracking.load_model(tracking.run_model_uri(result.run_id))
    network = model.layers[-1]
    assert {layer.compute_dtype for layer in network.layers} == {"float32"}
    x = mnist.x_test[:1000].astype("float32")
    accuracy = np.mean(model.predict(x, verbose=0).argmax(1) == mnist.y_test[:1000])
    assert accuracy == pytest.approx(result.test.accuracy, abs=1e-6)
    assert result.test.accuracy > 0.3  # two epochs of the smoke model: well above chance (0.1)
