"""Starting from a pretrained backbone: the keras.applications table, weights from a file and from an
earlier run (exact), the frozen phase (exact), the switch, resume across it, and ImageNet offline."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from tests.conftest import fresh_store, smoke_config
from trainlab.models import create_model
from trainlab.models.backbones import BACKBONES
from trainlab.models.parts import backbone_layers, block_pattern, blocks, classifier, set_phase
from trainlab.pipeline.errors import ConfigError
from trainlab.pipeline.plan import Plan, resolve_plan
from trainlab.pipeline.training import checkpoints
from trainlab.pipeline.training.faults import Interrupted
from trainlab.pipeline.training.finetune import phases_of
from trainlab.pipeline.training.model import build
from trainlab.pipeline.training.stage import train

SMALL = {"model.name": "mobilenet_v3_small", "data.image_size": [32, 32]}


def config(tmp_path, **overrides):
    """A small run on MNIST against a store in ``tmp_path`` (no preset: its model options are the cnn's)."""
    from trainlab.pipeline.config.loading import load_config
    return load_config(None, {"tracking.tracking_uri": fresh_store(tmp_path), "data.limit_train": 600,
                              "data.validation_size": 100, "data.limit_test": 200, "train.epochs": 1,
                              "train.batch_size": 64, "train.precision": "float32", **overrides})


def beside(trained, tmp_path, **overrides):
    """The smoke config on a copy of the shared trained run's store (its runs:/ URI resolves there; the
    runs made here stay out of the shared store)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(trained[0].tracking.tracking_uri.removeprefix("sqlite:///"), tmp_path / "mlflow.db")
    return smoke_config(tmp_path, **overrides)


def backbone_values(model) -> list[np.ndarray]:
    """Every variable of the backbone (kernels and batch-norm moving statistics), in order."""
    return [np.array(w) for layer in backbone_layers(classifier(model)) for w in layer.weights]


def assert_same(a: list, b: list) -> None:
    assert len(a) == len(b) and len(a) > 0
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_each_backbone_matches_its_table_row_and_takes_a_step_on_gray_images(name):
    model = create_model(name, input_shape=(32, 32, 1), num_classes=3)
    assert model.get_layer("backbone").count_params() == BACKBONES[name].parameters
    model.compile(optimizer="sgd", loss="categorical_crossentropy", run_eagerly=True)  # 1 s, traced 6-12 s
    before = [np.array(w) for w in model.get_layer("probabilities").weights]
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 1)).astype("float32")
    model.train_on_batch(images, np.eye(3)[[0, 2]])
    assert model.predict(images, verbose=0).shape == (2, 3)
    assert not np.array_equal(before[0], model.get_layer("probabilities").weights[0])
    assert len(blocks(backbone_layers(model), block_pattern(name))) > 5  # train.unfreeze: K counts real blocks


def test_trainlab_models_lists_the_backbones_with_parameters_and_native_size():
    from trainlab.pipeline.cli import cli
    out = CliRunner().invoke(cli, ["models"]).output
    assert "mobilenet_v3_small" in out and "0.9M parameters, native 224x224" in out
    assert all(name in out for name in BACKBONES)


def test_weights_from_a_file_are_exactly_what_was_saved_and_a_misfit_names_the_file(tmp_path):
    saved = create_model("mobilenet_v3_small", input_shape=(32, 32, 3), num_classes=10)
    path = tmp_path / "backbone.weights.h5"
    saved.get_layer("backbone").save_weights(path)
    model = build(resolve_plan(config(tmp_path, **SMALL, **{"model.pretrained": str(path)})))
    assert_same(backbone_values(model), backbone_values(saved))
    other = tmp_path / "large.weights.h5"
    create_model("mobilenet_v3_large", input_shape=(32, 32, 3)).get_layer("backbone").save_weights(other)
    with pytest.raises(ConfigError, match=rf"^model.pretrained: the weights in {other} do not fit mobilenet_v3_small"):
        resolve_plan(config(tmp_path, **SMALL, **{"model.pretrained": str(other)}))


def test_images_below_the_backbones_smallest_size_are_a_plan_error_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"mobilenet_v3_small needs images of at least 32x32, got 28x28: set "
                                          r"data.image_size"):
        resolve_plan(config(tmp_path, **{"model.name": "mobilenet_v3_small"}))


def test_a_backbone_from_a_model_of_another_shape_names_the_layer_and_both_shapes(tmp_path):
    wider = create_model("cnn", input_shape=(28, 28, 1), num_classes=10, width=16)
    wider.save(tmp_path / "wider.keras")
    with pytest.raises(ConfigError, match=r"^model.pretrained: layer block0_conv0: weights of shape \(3, 3, 1, 16\) "
                                          r"in .*wider.keras do not fit its \(3, 3, 1, 8\)$"):
        resolve_plan(smoke_config(tmp_path, **{"model.pretrained": str(tmp_path / "wider.keras")}))


def test_the_switch_thaws_the_last_blocks_and_batch_norm_stays_frozen():
    model = create_model("resnet", input_shape=(28, 28, 1), num_classes=10, width=4)
    network = classifier(model)
    set_phase(network, frozen=True)
    assert [v.path for v in model.trainable_variables] == ["probabilities/kernel", "probabilities/bias"]
    set_phase(network, frozen=False, unfreeze=1)
    thawed = {v.path.split("/")[0] for v in model.trainable_variables}
    assert thawed == {"stage2_block2_conv0", "stage2_block2_conv1", "probabilities"}
    set_phase(network, frozen=False, unfreeze="all")
    norms = [layer for layer in backbone_layers(network) if isinstance(layer, keras.layers.BatchNormalization)]
    assert not any(layer.trainable for layer in norms)
    set_phase(network, frozen=False, unfreeze=1, train_bn=True)  # train.backbone_bn: train
    assert [layer.name for layer in norms if layer.trainable] == ["stage2_block2_conv0_bn", "stage2_block2_conv1_bn"]
    set_phase(network, frozen=False, unfreeze="all")
    assert len(model.trainable_variables) == 2 + sum(len(layer.weights) for layer in backbone_layers(network)
                                                     if isinstance(layer, keras.layers.Conv2D))


def test_a_linear_probe_keeps_the_earlier_runs_backbone_and_its_normalization_exactly(trained, tmp_path):
    cfg, source, _ = trained
    probe = beside(trained, tmp_path, **{"model.pretrained": f"runs:/{source.run_id}/model", "train.freeze_epochs": 1,
                                      "data.limit_train": 600, "data.validation_size": 100, "train.ema": 0.9})
    plan = resolve_plan(probe)
    assert plan.config.data.normalization == "none" and any("normalization of its pretrained" in n for n in plan.notes)
    assert Plan.from_dict(yaml.safe_load(yaml.safe_dump(plan.as_dict()))) == plan  # its normalization too
    result = train(plan, echo=lambda line: None)
    assert_same(backbone_values(result.model), backbone_values(source.model))  # batch-norm statistics too
    assert result.model.get_layer("normalize").get_config() == source.model.get_layer("normalize").get_config()
    head, before = (np.array(classifier(m).get_layer("probabilities").weights[0]) for m in (result.model, source.model))
    assert not np.array_equal(head, before)


def test_resume_across_the_switch_gives_the_straight_runs_weights(trained, tmp_path):
    _, source, _ = trained
    settings = {"model.pretrained": f"runs:/{source.run_id}/model", "train.freeze_epochs": 1, "train.epochs": 2,
                "train.deterministic": True, "data.limit_train": 600, "data.validation_size": 100}
    lines = []
    straight = train(resolve_plan(beside(trained, tmp_path / "a", **settings)), echo=lines.append)
    assert any("lr_backbone 0.0000" in line for line in lines)

    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise Interrupted()

    cfg = beside(trained, tmp_path / "b", **settings)
    with pytest.raises(Interrupted):
        train(resolve_plan(cfg), echo=lambda line: None, callbacks=[StopAfterFirstEpoch()])
    [saved] = checkpoints.root_for(cfg.tracking.tracking_uri).glob("*/checkpoint.npz")
    resumed = train(resolve_plan(cfg), echo=lambda line: None, resume=saved)
    from trainlab.pipeline.runtime.distribute import weights_digest
    assert weights_digest(resumed.model.get_weights()) == weights_digest(straight.model.get_weights())
    assert phases_of(cfg).set_epoch(resumed.model, 0)  # it ended unfrozen: epoch 0's phase is another


def test_imagenet_offline_without_a_cached_copy_is_one_line_saying_which_file_to_fetch_and_import(tmp_path):
    home = tmp_path / "keras_home"
    home.mkdir()
    closed = "http://127.0.0.1:9"  # the download is refused here, even where a network exists
    env = {**os.environ, "KERAS_HOME": str(home), "https_proxy": closed, "HTTPS_PROXY": closed, "http_proxy": closed,
           "HTTP_PROXY": closed, "no_proxy": "", "NO_PROXY": ""}
    trainlab = Path(sys.executable).with_name("trainlab")
    done = subprocess.run([str(trainlab), "train", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db",
                           "--set", "model.name=mobilenet_v3_small", "--set", "model.pretrained=imagenet",
                           "--set", "data.image_size=[32, 32]", "--limit-train", "600"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = [line for line in done.stderr.splitlines() if "model.pretrained" in line]
    assert "Traceback" not in done.stderr
    name = "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"
    origin = f"https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/{name}"
    assert f"download {origin} elsewhere" in line
    assert f"run `trainlab weights import {name}` here (or put it into {home}/models/)" in line
    assert not list(home.glob("models/*")) and not list(home.glob("models/.*"))
