import pytest

from tests.conftest import fresh_store
from trainlab.pipeline.config.loading import load_config
from trainlab.pipeline.config.recipes import DATASET_PRESETS, PRESETS
from trainlab.pipeline.config.schema import Config
from trainlab.pipeline.errors import ConfigError


def test_defaults_match_the_shipped_mlflow_yml():
    assert load_config("mlflow.yml") == load_config(None)
    resolved = Config()
    resolved.tracking.registered_model = "trainlab-mnist"  # auto, for the default dataset
    # its recipe
    resolved.train.epochs, resolved.train.lr_schedule, resolved.train.learning_rate = 8, "one_cycle", 0.004
    assert load_config(None) == resolved


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("train:\n  epochs: 3\nmodel:\n  name: mlp_small\n")
    cfg = load_config(path, {"train.epochs": "5", "train.learning_rate": "1e-4", "model.width": None})
    assert (cfg.train.epochs, cfg.model.name, cfg.train.learning_rate, cfg.model.width) == (5, "mlp_small", 1e-4, None)


@pytest.mark.parametrize("preset, dataset", [*((p, "mnist") for p in sorted(PRESETS)),
                                             *((p, d) for d, own in DATASET_PRESETS.items() for p in own)])
def test_every_preset_is_valid(preset, dataset):
    load_config("mlflow.yml", {"data.dataset": dataset}, preset=preset)


def test_a_preset_resolves_to_the_datasets_own_version_under_what_the_user_sets(tmp_path):
    own = DATASET_PRESETS["fashion_mnist"]["best"]
    fashion = load_config(None, {"data.dataset": "fashion_mnist"}, preset="best")
    assert (fashion.model.members, fashion.train.time_budget) == (3, "45m")
    assert fashion.augment == "auto" and fashion.train.label_smoothing == 0  # not MNIST's best chain
    assert (fashion.train.batch_size, fashion.train.learning_rate) == (256, 0.004)  # the dataset's recipe under it
    mnist = load_config(None, preset="best")  # MNIST keeps the preset chosen on it
    assert (mnist.model.members, mnist.train.epochs, mnist.train.time_budget) == (5, 12, None)
    path = tmp_path / "c.yml"
    path.write_text("data:\n  dataset: fashion_mnist\n")
    assert load_config(path, preset="best").model.members == own["model.members"]  # the dataset from the file
    assert load_config(path, {"model.members": 2}, preset="best").model.members == 2  # the command line wins


def test_smoke_preset_is_tiny():
    cfg = load_config(None, preset="smoke")
    assert cfg.train.epochs == 1 and cfg.data.limit_train <= 5000


def test_flat_holds_every_key():
    flat = Config().flat()
    assert flat["train.epochs"] == 15 and flat["tracking.tracking_uri"] == "sqlite:///mlflow.db"
    sections = ("data", "model", "train", "tracking", "evaluate", "export")
    assert len(flat) == 1 + sum(len(vars(getattr(Config(), s))) for s in sections)
    assert flat["augment"] == "auto"


def test_augment_from_file_and_cli(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("augment:\n  - {name: cutout, size: 6, p: 0.5}\n  - name: mixup\n    alpha: 0.4\n")
    assert load_config(path).augment == [{"name": "cutout", "size": 6, "p": 0.5}, {"name": "mixup", "alpha": 0.4}]
    assert load_config(path, {"augment": "none"}).augment == []
    assert load_config(None, {"augment": "[{name: rotate, degrees: 5}]"}).augment == [{"name": "rotate", "degrees": 5}]


@pytest.mark.parametrize("chain, message", [
    ("[{name: spin}]", "augment.0.: unknown augmentation 'spin'; known: brightness"),
    ("[{name: cutout, p: 1.5}]", r"p must be a probability in \[0, 1\], got 1.5"),
    ("[{name: cutout, colour: red}]", "has no parameter colour; parameters: size, fill, p"),
    ("[{name: cutout, fill: plaid}]", "fill must be one of zero, mean, noise"),
    ("[{name: random_crop, padding: -1}]", "padding must be an integer"),
    ("[{name: mixup, alpha: 0}]", "alpha must be a number"),
    ("{name: [}", "cannot parse"),
    ("[3]", "a mapping with a 'name' key"),
    ("[{name: keras.NoSuchLayer}]", "keras.layers has no layer 'NoSuchLayer'"),
    ("[{name: keras.RandomRotation, bogus: 1}]", "keras.RandomRotation: "),
])
def test_bad_augmentation_is_named(chain, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, {"augment": chain})


@pytest.mark.parametrize("overrides, message", [
    ({"train.foo": 1}, "unknown config key 'train.foo'; keys of train: epochs"),
    ({"trian.epochs": 1}, "unknown config section 'trian'"),
    ({"train.epochs": "many"}, "train.epochs must be a int"),
    ({"train.epochs": 2.5}, "train.epochs must be a int"),
    ({"train.epochs": 0}, "train.epochs must be at least 1"),
    ({"train.batch_size": 0}, "train.batch_size must be at least 1"),
    ({"train.learning_rate": 0}, "train.learning_rate must be > 0"),
    ({"train.learning_rate": -1e-3}, "train.learning_rate must be > 0"),
    ({"data.validation_size": 0}, r"data.validation_size must be a count of images \(500\), a fraction"),
    ({"data.validation_size": 2.5}, r"data.validation_size must be a count .* got 2.5"),
    ({"data.validation_size": "many"}, "data.validation_size must be a count or a fraction, got 'many'"),
    ({"data.normalization": "zscore"}, "data.normalization must be one of none, scale, center, standardize"),
    ({"model.name": "vgg"}, "model.name must be one of cnn, cnn_deep, cnn_keras"),
    ({"train.optimizer": "lbfgs"}, "train.optimizer must be one of"),
    ({"model.dropout": 1.5}, r"model.dropout must be in \[0, 1\)"),
    ({"train.epochs": None, "data.dataset": True}, "data.dataset must be a str"),
])
def test_bad_values_are_named(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("no/such.yml")


@pytest.mark.parametrize("text, message", [
    ("train: [1, 2", "cannot parse"),
    ("- a\n- b\n", "must hold a mapping"),
    ("train: 3\n", "section 'train' must be a mapping"),
])
def test_unparsable_file(tmp_path, text, message):
    path = tmp_path / "bad.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_a_dataset_recipe_goes_under_everything_the_user_sets(tmp_path):
    recipe = load_config(None, {"data.dataset": "fashion_mnist"}).train
    assert (recipe.epochs, recipe.batch_size, recipe.learning_rate) == (30, 256, 0.004)  # the recipe
    mnist = load_config(None).train
    assert (mnist.epochs, mnist.lr_schedule, mnist.learning_rate) == (8, "one_cycle", 0.004)  # MNIST's recipe
    assert load_config(None, {"data.dataset": "cifar.tar.gz"}).train.epochs == 15  # no recipe: the defaults
    assert load_config(None, preset="smoke").train.lr_schedule == "cosine"  # smoke pins its optimizer
    assert load_config(None, {"data.dataset": "fashion_mnist", "train.epochs": 3}).train.epochs == 3
    path = tmp_path / "c.yml"
    path.write_text("data:\n  dataset: fashion_mnist\ntrain:\n  epochs: 7\n")
    assert load_config(path).train.epochs == 7
    assert load_config(path, preset="smoke").train.epochs == 1


@pytest.mark.parametrize("dataset, name", [("mnist", "trainlab-mnist"), ("fashion_mnist", "trainlab-fashion_mnist"),
                                           ("data/my photos/", "trainlab-my-photos"),
                                           ("/x/cifar-10-python.tar.gz", "trainlab-cifar-10-python")])
def test_each_dataset_registers_under_its_own_name(tmp_path, dataset, name):
    from trainlab.pipeline.config.schema import registered_model_name
    assert registered_model_name(dataset) == name
    assert load_config(None, {"tracking.registered_model": "mine"}).tracking.registered_model == "mine"


# --- "none" is a value of a string key; null unsets it ---------------------------------------------

NORMALIZATION_LAYERS = ("BatchNormalization", "LayerNormalization")


def _normalization_layers(model) -> list[str]:
    found = []
    for layer in model._flatten_layers(include_self=False):
        if type(layer).__name__ in NORMALIZATION_LAYERS:
            found.append(type(layer).__name__)
    return found


@pytest.mark.parametrize("family", ["cnn", "cnn_deep", "resnet", "mlp_deep"])
@pytest.mark.parametrize("given", ["--set", "yaml"])
def test_model_normalization_none_builds_a_network_without_normalization(tmp_path, family, given):
    """``model.normalization: none`` was read as unset (the family's default: BatchNorm in the CNNs), so
    runs with and without it trained the same network."""
    from trainlab.models import create_model
    from trainlab.pipeline.plan import resolve_plan
    overrides = {"model.name": family, "tracking.tracking_uri": fresh_store(tmp_path, "m.db")}
    if given == "yaml":
        (tmp_path / "c.yml").write_text("model:\n  normalization: none\n")
        cfg = load_config(tmp_path / "c.yml", overrides, preset="smoke")
    else:
        cfg = load_config(None, {**overrides, "model.normalization": "none"}, preset="smoke")
    assert cfg.model.normalization == "none"
    plan = resolve_plan(cfg)
    assert plan.model_options["normalization"] == "none"
    model = create_model(family, input_shape=plan.image_shape, num_classes=10, **plan.model_options)
    assert _normalization_layers(model) == []
    batch = create_model(family, input_shape=plan.image_shape, num_classes=10,
                         **{**plan.model_options, "normalization": "batch"})
    assert _normalization_layers(batch)  # the check sees the layers when they are there


@pytest.mark.parametrize("key", ["model.activation", "model.initializer", "model.normalization", "model.pooling",
                                 "tracking.run_name", "data.cache_dir"])
def test_null_unsets_an_optional_string_key_and_none_is_a_value(key):
    assert load_config(None, {key: "null"}).flat()[key] is None
    assert load_config(None, {key: "~"}).flat()[key] is None
    if key in ("tracking.run_name", "data.cache_dir", "model.normalization"):  # "none" is a valid value there
        assert load_config(None, {key: "none"}).flat()[key] == "none"


@pytest.mark.parametrize("key, message", [("model.activation", "model.activation must be one of"),
                                          ("model.initializer", "model.initializer must be one of"),
                                          ("model.pooling", "model.pooling must be one of")])
def test_none_where_it_is_not_a_choice_is_named_instead_of_ignored(tmp_path, key, message):
    from trainlab.pipeline.plan import resolve_plan
    cfg = load_config(None, {key: "none", "model.name": "cnn", "tracking.tracking_uri": fresh_store(tmp_path, "m.db")},
                      preset="smoke")
    with pytest.raises(ConfigError, match=message):
        resolve_plan(cfg)


def test_limits_still_take_none_as_unset():
    assert load_config(None, {"data.limit_train": "none"}).data.limit_train is None
