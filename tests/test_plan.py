"""The resolved run plan: every option checked before any work, derived values computed once, option
names derived from the config, MLflow's environment variables honoured."""
import dataclasses

import numpy as np
import pytest
import yaml

from tests.conftest import fresh_store, smoke_config
from trainlab.pipeline.config.loading import load_config
from trainlab.pipeline.config.recipes import PRESETS
from trainlab.pipeline.config.schema import MODEL_OPTIONS, config_keys, key_help
from trainlab.pipeline.errors import ConfigError, DataError
from trainlab.pipeline.plan import Plan, resolve_plan
from trainlab.pipeline.training.model import build


def test_smoke_plan_states_the_data_facts_and_derived_values(tmp_path):
    plan = resolve_plan(smoke_config(tmp_path))
    assert plan.image_shape == (28, 28, 1) and plan.data.num_classes == 10
    assert (plan.train_size, plan.val_size, plan.test_size) == (1500, 500, 1000)
    assert plan.steps_per_epoch == 24  # ceil(1500 / 64)
    assert plan.dtype_policy == "float32" and plan.replicas == 1
    assert plan.effective_learning_rate == plan.config.train.learning_rate
    assert plan.model_options == {"width": 8}
    assert plan.parameters > 0
    as_yaml = yaml.safe_load(yaml.safe_dump(plan.as_dict()))  # plain data, as the run's plan.yaml
    assert as_yaml["derived"]["steps_per_epoch"] == 24 and as_yaml["config"]["model"]["name"] == "cnn"


def through_yaml(plan: Plan) -> Plan:
    """``plan`` written as a run's plan.yaml and read back."""
    return Plan.from_dict(yaml.safe_load(yaml.safe_dump(plan.as_dict())))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_plan_round_trips_through_its_plan_yaml(preset, tmp_path):
    cfg = load_config(None, {"tracking.tracking_uri": fresh_store(tmp_path), "data.limit_train": 1200}, preset=preset)
    plan = resolve_plan(cfg)
    assert through_yaml(plan) == plan and plan.as_dict() == through_yaml(plan).as_dict()


@pytest.mark.parametrize("kind", ["npz", "cifar archive", "folder in memory", "folder streamed", "mixed-size folder"])
def test_every_dataset_kind_round_trips_through_its_plan_yaml(kind, tmp_path):
    from tests.files import make_cifar10
    from tests.photos import encoded
    from tests.shapes import make_shapes_folder
    overrides = {"data.limit_train": "none", "data.validation_size": 40, "data.cache_dir": str(tmp_path / "cache")}
    if kind == "npz":
        np.savez(tmp_path / "d.npz", x_train=np.zeros((300, 8, 8), np.uint8), y_train=np.arange(300) % 3,
                 x_test=np.zeros((30, 8, 8), np.uint8), y_test=np.arange(30) % 3)
        overrides.update({"data.dataset": str(tmp_path / "d.npz"), "model.name": "mlp_small"})
    elif kind == "cifar archive":
        overrides["data.dataset"] = str(make_cifar10(tmp_path / "cifar-10-python.tar.gz"))
    elif kind == "mixed-size folder":
        for i, (h, w) in enumerate([(40, 56), (48, 48), (64, 40)] * 40):
            path = tmp_path / "mixed" / ("a" if i % 2 else "b") / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encoded(np.full((h, w, 3), i * 2, np.uint8), "PNG"))
        overrides["data.dataset"] = str(tmp_path / "mixed")
    else:
        overrides["data.dataset"] = str(make_shapes_folder(tmp_path / "shapes", per_class=30, size=16))
        overrides["data.memory_budget"] = 0 if kind == "folder streamed" else None
    plan = resolve_plan(smoke_config(tmp_path, **overrides))
    assert (plan.data.storage == "stream") == (kind == "folder streamed")
    assert through_yaml(plan) == plan


@pytest.mark.parametrize("overrides, message", [
    ({"model.activation": "nope"}, r"model\.activation must be one of .*relu.*got 'nope'"),
    ({"model.initializer": "random"}, r"model\.initializer must be one of"),
    ({"model.normalization": "group"}, r"model\.normalization must be one of none, batch, layer"),
    ({"model.pooling": "avg"}, r"model\.pooling must be one of max, fractional"),
    ({"model.depth": 3}, r"model\.depth is not an option of model 'cnn'"),
    ({"model.dropout": 0.5, "model.maxout_pieces": 1}, r"model\.maxout_pieces must be an integer >= 2"),
    ({"data.validation_size": 0.001}, r"data\.validation_size \(0\.001: 2\) must be at least the number of classes"),
    ({"data.limit_train": "none", "data.validation_size": 60000},
     r"data\.validation_size \(60000\) must be smaller than the 60000 training images of mnist"),
    ({"data.dataset": "no-such-data"}, r"unknown dataset 'no-such-data'"),
])
def test_bad_options_fail_at_resolution_naming_the_key(tmp_path, overrides, message):
    with pytest.raises((ConfigError, DataError), match=message):
        resolve_plan(smoke_config(tmp_path, **overrides))


def test_the_validation_split_and_the_batch_fit_small_data(tmp_path):
    """By default 10% of the training images validate (at most 5,000); a fraction or a count is taken as
    given; a batch larger than the training split shrinks to it, with a line saying so."""
    small = {"data.limit_train": 300, "data.validation_size": "none"}
    plan = resolve_plan(smoke_config(tmp_path, **small, **{"train.batch_size": 1000}))
    assert (plan.train_size, plan.val_size, plan.steps_per_epoch) == (270, 30, 1)
    assert plan.config.train.batch_size == 270
    assert plan.notes[0] == "train.batch_size 1000 is more than the 270 training images: batches of 270"
    assert plan.as_dict()["derived"]["notes"] == list(plan.notes)
    assert resolve_plan(smoke_config(tmp_path, **{**small, "data.validation_size": 0.2})).val_size == 60
    assert resolve_plan(smoke_config(tmp_path, **{**small, "data.validation_size": 45})).val_size == 45
    full = resolve_plan(smoke_config(tmp_path, **{"data.limit_train": "none", "data.validation_size": "none"}))
    assert (full.train_size, full.val_size, full.notes) == (55000, 5000, ())


def test_batch_norm_momentum_follows_the_steps_per_epoch(tmp_path):
    import keras

    from trainlab.pipeline.plan import batch_norm_momentum
    assert [batch_norm_momentum(s) for s in (1, 2, 4, 100, 430)] == [0.5, 0.5, 0.75, 0.99, 0.99]
    assert batch_norm_momentum(4, configured=0.9) == 0.9
    small = {"data.limit_train": 600, "data.validation_size": 88, "train.batch_size": 128, "model.name": "cnn"}
    plan = resolve_plan(smoke_config(tmp_path, **small))
    norms = [layer for layer in build(plan).layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and {layer.momentum for layer in norms} == {0.75} and plan.steps_per_epoch == 4
    assert plan.notes == ("batch norm momentum 0.75 (Keras: 0.99): with 4 steps per epoch its moving "
                          "statistics follow the last epoch instead of the first steps",)
    kept = resolve_plan(smoke_config(tmp_path, **small, **{"train.bn_momentum": 0.99}))
    assert kept.notes == () and {layer.momentum for layer in build(kept).layers
                                 if isinstance(layer, keras.layers.BatchNormalization)} == {0.99}


def test_a_class_too_small_to_split_is_named(tmp_path):
    from trainlab.pipeline.data.inputs import load_splits
    y = np.array([0] * 10 + [1])  # 6 of 11 validate: class 1's share rounds up to its one image
    np.savez(tmp_path / "few.npz", x_train=np.zeros((11, 8, 8), np.uint8), y_train=y,
             x_test=np.zeros((2, 8, 8), np.uint8), y_test=np.arange(2))
    cfg = smoke_config(tmp_path, **{"data.dataset": str(tmp_path / "few.npz"), "data.limit_train": "none",
                                    "data.validation_size": 0.5})
    with pytest.raises(DataError, match=r"^class '1' has only 1 image\(s\): too few to keep any for training"):
        load_splits(cfg)


def test_a_network_too_deep_for_the_images_fails_at_resolution(tmp_path):
    np.savez(tmp_path / "tiny.npz", x_train=np.zeros((300, 6, 6), np.uint8), y_train=np.arange(300) % 10,
             x_test=np.zeros((50, 6, 6), np.uint8), y_test=np.arange(50) % 10)
    cfg = smoke_config(tmp_path, **{"data.dataset": str(tmp_path / "tiny.npz"), "model.name": "cnn_keras",
                                    "data.limit_train": "none", "data.validation_size": 50})
    with pytest.raises(ConfigError, match=r"model cnn_keras cannot be built for tiny images \(6, 6, 1\)"):
        resolve_plan(cfg)


def test_user_files_are_described_from_their_headers(tmp_path):
    from trainlab.pipeline.data.sources import describe_dataset
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "mine.npz", x_train=rng.integers(0, 255, (120, 20, 24), dtype=np.uint8),
             y_train=np.arange(120) % 10, x_test=np.zeros((30, 20, 24), np.uint8), y_test=np.arange(30) % 10)
    info = describe_dataset(str(tmp_path / "mine.npz"))
    assert (info.name, info.image_shape, info.train_size, info.test_size) == ("mine", (20, 24, 1), 120, 30)
    np.savez(tmp_path / "broken.npz", x_train=np.zeros((5, 4, 4), np.uint8))
    with pytest.raises(DataError, match="lacks array"):
        describe_dataset(str(tmp_path / "broken.npz"))


def test_idx_folder_is_described_from_its_headers(tmp_path):
    import gzip

    from trainlab.pipeline.data.sources import describe_dataset

    def idx(path, array):
        header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
        with gzip.open(path, "wb") as f:
            f.write(header + array.tobytes())
    for prefix, n in (("train", 40), ("t10k", 12)):
        idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", np.zeros((n, 7, 9), np.uint8))
        idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    info = describe_dataset(str(tmp_path))
    assert (info.image_shape, info.train_size, info.test_size) == ((7, 9, 1), 40, 12)


def test_tracking_precedence_cli_over_environment_over_file_over_default(tmp_path):
    file = tmp_path / "mlflow.yml"
    file.write_text("tracking:\n  tracking_uri: sqlite:///file.db\n  experiment: from-file\n")
    env = {"MLFLOW_TRACKING_URI": "http://env-host:5000", "MLFLOW_EXPERIMENT_NAME": "from-env"}
    assert load_config(None, environ={}).tracking.tracking_uri == "sqlite:///mlflow.db"
    assert load_config(file, environ={}).tracking.experiment == "from-file"
    from_env = load_config(file, environ=env).tracking
    assert (from_env.tracking_uri, from_env.experiment) == ("http://env-host:5000", "from-env")
    cli = load_config(file, {"tracking.tracking_uri": "sqlite:///cli.db", "tracking.experiment": "cli"},
                      environ=env).tracking
    assert (cli.tracking_uri, cli.experiment) == ("sqlite:///cli.db", "cli")


def test_every_config_key_is_documented_once_in_the_dataclasses():
    undocumented = [k for k in config_keys() if not key_help(k)]
    assert undocumented == []


def test_command_line_options_derive_from_the_config_keys():
    from trainlab.pipeline.cli import cli
    train = cli.commands["train"]
    helps = {opt.name: opt.help for opt in train.params}
    assert "[train.learning_rate]" in helps["train__learning_rate"]
    assert key_help("train.learning_rate") in helps["train__learning_rate"]
    flags = {f for opt in train.params for f in opt.opts}
    assert {"--lr", "--learning-rate", "--model", "--model-norm", "--epochs", "--tracking-uri"} <= flags


VALID = {"activation": "gelu", "initializer": "he_uniform", "init_std": 0.02, "normalization": "layer", "width": 8,
         "depth": 1, "dropout": 0.1, "l2": 1e-4, "leaky_alpha": 0.2, "maxout_pieces": 3, "pooling": "max",
         "pool_ratio": 1.5, "members": 2}


@pytest.mark.parametrize("option", MODEL_OPTIONS)
def test_every_model_option_of_the_config_is_taken_by_some_model(option):
    """ModelConfig (pipeline) and the model factories (models/, which do not know the config) name the
    same options: each config option builds at least one registered model."""
    from trainlab.models import OptionError, create_model, list_models
    from trainlab.models.backbones import BACKBONES
    taken = []
    for name in [n for n in list_models() if n not in BACKBONES]:  # 28x28 is below their 32x32
        try:
            create_model(name, input_shape=(28, 28, 1), num_classes=3, **{option: VALID[option]})
            taken.append(name)
        except OptionError:
            pass
    assert taken, f"no model takes model.{option}"


def test_sweep_fails_before_training_naming_the_point_and_key(tmp_path, monkeypatch):
    import mlflow

    from trainlab.pipeline.experiments.sweeps import load_spec, run_sweep
    monkeypatch.chdir(tmp_path)
    grid = tmp_path / "grid.yml"
    grid.write_text("name: bad-third\npreset: smoke\n"
                    "points:\n  - {model.width: 4}\n  - {model.width: 6}\n  - {model.activation: nope}\n")
    uri = f"sqlite:///{tmp_path}/sweep.db"
    with pytest.raises(ConfigError, match=r"sweep point 3 of 3 \('activation=nope'\): model\.activation must be"):
        run_sweep(load_spec(grid), {"tracking.tracking_uri": uri}, echo=lambda _: None)
    assert not (tmp_path / "sweep.db").exists()  # not even the store was opened: nothing trained
    assert mlflow.get_tracking_uri() != uri


def test_configuring_a_store_does_not_pass_it_off_as_the_users_environment(tmp_path, monkeypatch):
    """mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; trainlab reads that variable as the user's
    choice, so a second config loaded in the same process must still get its own file's store."""
    from trainlab.pipeline import tracking
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking.configure(smoke_config(tmp_path).tracking)
    assert "MLFLOW_TRACKING_URI" not in __import__("os").environ
    file = tmp_path / "other.yml"
    file.write_text("tracking:\n  tracking_uri: sqlite:///other.db\n")
    assert load_config(file).tracking.tracking_uri == "sqlite:///other.db"


@pytest.mark.parametrize("dataset, chain", [
    ("mnist", [{"name": "random_crop", "padding": 2}, {"name": "rotate", "degrees": 10, "p": 0.5}]),
    ("fashion_mnist", [{"name": "flip_horizontal", "p": 0.5}, {"name": "random_crop", "padding": 2}]),
])
def test_auto_augmentation_is_the_recipe_for_the_kind_of_images(tmp_path, dataset, chain):
    plan = resolve_plan(smoke_config(tmp_path, **{"augment": "auto", "data.dataset": dataset}))
    assert plan.config.augment == chain  # concrete in the plan, so the run logs what it used
    assert plan.as_dict()["config"]["augment"] == chain


def test_auto_augmentation_for_photos_pads_an_eighth_of_the_side(tmp_path):
    from tests.files import make_cifar10
    archive = make_cifar10(tmp_path / "cifar-10-python.tar.gz")
    plan = resolve_plan(smoke_config(tmp_path, **{"augment": "auto", "data.dataset": str(archive),
                                                  "data.limit_train": "none", "data.validation_size": 40}))
    assert plan.image_shape == (32, 32, 3) and plan.data.kind == "natural"
    assert plan.config.augment == [{"name": "flip_horizontal", "p": 0.5}, {"name": "random_crop", "padding": 4}]


def test_the_plan_holds_no_model_and_each_training_builds_the_same_one(store):
    import keras

    from trainlab.pipeline.training.prepare import prepare
    plan = resolve_plan(store)
    assert not any(isinstance(getattr(plan, f.name), (keras.Model, keras.layers.Layer))
                   for f in dataclasses.fields(plan))
    prepared = prepare(plan)
    assert plan.parameters == prepared.model.count_params()
    again = build(plan)  # a second training of the same plan: a new model with the same initial weights
    assert again is not prepared.model
    for a, b in zip(again.get_weights(), prepared.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_data_that_changed_since_the_plan_is_refused_before_training(tmp_path):
    from trainlab.pipeline.training.prepare import prepare
    arrays = {"x_train": np.zeros((300, 8, 8), np.uint8), "y_train": np.arange(300) % 3,
              "x_test": np.zeros((30, 8, 8), np.uint8), "y_test": np.arange(30) % 3}
    np.savez(tmp_path / "d.npz", **arrays)
    cfg = smoke_config(tmp_path, **{"data.dataset": str(tmp_path / "d.npz"), "data.limit_train": None,
                                    "data.validation_size": 60, "model.name": "mlp_small"})
    plan = resolve_plan(cfg)
    np.savez(tmp_path / "d.npz", **{**arrays, "x_train": arrays["x_train"][:200], "y_train": arrays["y_train"][:200]})
    with pytest.raises(DataError, match=r"changed since the run was planned: .* 140/60/30, planned 240/60/30"):
        prepare(plan)
