"""The CLI's shared parts: the root group, config options defined once, and config resolution."""
from __future__ import annotations

import os
from pathlib import Path

import click

from ..config import PRESETS, Config, load_config
from ..errors import TrainlabError

DEFAULT_CONFIG = "mlflow.yml"


class Group(click.Group):
    """Turns TrainlabError into ``Error: <reason>`` and exit 2, and Ctrl-C into exit 130."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except TrainlabError as e:
            click.echo(f"Error: {e}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


OVERRIDES = {
    "dataset": "data.dataset", "validation_size": "data.validation_size", "normalization": "data.normalization",
    "limit_train": "data.limit_train", "limit_test": "data.limit_test",
    "model": "model.name", "activation": "model.activation", "initializer": "model.initializer",
    "width": "model.width", "depth": "model.depth", "dropout": "model.dropout",
    "epochs": "train.epochs", "batch_size": "train.batch_size", "optimizer": "train.optimizer",
    "learning_rate": "train.learning_rate", "seed": "train.seed", "model_norm": "model.normalization",
    "l2": "model.l2", "loss": "train.loss", "schedule": "train.lr_schedule", "early_stopping": "train.early_stopping",
    "label_smoothing": "train.label_smoothing",
    "tracking_uri": "tracking.tracking_uri", "experiment": "tracking.experiment",
    "registered_model": "tracking.registered_model", "export_dir": "export.dir", "augment": "augment",
}


def config_options(*names: str):
    """``--config``, ``--preset`` and ``--set`` on every command, plus the named overrides."""
    specs = {
        "dataset": click.option("--dataset", help="Dataset name or path of a .npz file / IDX directory."),
        "validation_size": click.option("--validation-size", type=int, help="Validation images (stratified)."),
        "normalization": click.option("--normalization", help="none | scale | standardize."),
        "limit_train": click.option("--limit-train", type=int, help="Use only this many training images."),
        "limit_test": click.option("--limit-test", type=int, help="Evaluate on only this many test images."),
        "model": click.option("--model", help="Registered model name (see `trainlab models`)."),
        "activation": click.option("--activation", help="Activation of the hidden layers."),
        "initializer": click.option("--initializer", help="Kernel initializer."),
        "width": click.option("--width", type=int, help="Units (MLP) or first-block filters (CNN)."),
        "depth": click.option("--depth", type=int, help="Hidden layers (MLP)."),
        "dropout": click.option("--dropout", type=float, help="Dropout rate in [0, 1)."),
        "model_norm": click.option("--model-norm", help="Normalization layers: none | batch | layer."),
        "l2": click.option("--l2", type=float, help="L2 penalty on kernels."),
        "loss": click.option("--loss", help="categorical_crossentropy | mse."),
        "schedule": click.option("--schedule", help="Learning-rate schedule: constant | step | cosine | one_cycle."),
        "early_stopping": click.option("--early-stopping", type=int, help="Patience in epochs (0: off)."),
        "label_smoothing": click.option("--label-smoothing", type=float, help="Label smoothing in [0, 1)."),
        "epochs": click.option("--epochs", type=int, help="Training epochs."),
        "batch_size": click.option("--batch-size", type=int, help="Batch size."),
        "optimizer": click.option("--optimizer", help="adam | adamw | sgd | rmsprop."),
        "learning_rate": click.option("--learning-rate", "--lr", "learning_rate", type=float, help="Peak learning rate."),
        "seed": click.option("--seed", type=int, help="Seed for split, shuffling and initialization."),
        "tracking_uri": click.option("--tracking-uri", help="MLflow tracking URI (default sqlite:///mlflow.db)."),
        "experiment": click.option("--experiment", help="MLflow experiment name."),
        "registered_model": click.option("--registered-model", help="Registered model name."),
        "export_dir": click.option("--export-dir", help="Folder for SavedModel exports."),
        "augment": click.option("--augment", metavar="YAML",
                                help='Augmentation chain, e.g. "[{name: random_crop, padding: 2}, {name: mixup}]"; '
                                     '"none" turns it off.'),
    }
    common = [
        click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     help=f"Config file (default: ./{DEFAULT_CONFIG} if present, else built-in defaults)."),
        click.option("--preset", type=click.Choice(sorted(PRESETS)), default="default", show_default=True,
                     help="Overrides applied over the file's values: `smoke` is tiny and fast."),
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                     help="Override any config key, e.g. --set train.epochs=3 (repeatable)."),
    ]

    def decorate(fn):
        for option in reversed(common + [specs[n] for n in names]):
            fn = option(fn)
        return fn
    return decorate


def resolve_config(kwargs: dict) -> Config:
    """Pop the config options out of a command's kwargs and build the config."""
    path, preset, overrides = resolve_overrides(kwargs)
    return load_config(path, overrides, preset)


def resolve_overrides(kwargs: dict) -> tuple[str | None, str, dict]:
    """Pop the config options out of a command's kwargs: ``(config file, preset, overrides)``."""
    path = kwargs.pop("config_path", None)
    if path is None and Path(DEFAULT_CONFIG).is_file():
        path = DEFAULT_CONFIG
    overrides = {OVERRIDES[k]: v for k in list(kwargs) if k in OVERRIDES and (v := kwargs.pop(k)) is not None}
    for item in kwargs.pop("sets", ()):
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        overrides[key.strip()] = value
    return path, kwargs.pop("preset", "default"), overrides


TRAIN_OPTIONS = ("augment", "dataset", "validation_size", "normalization", "limit_train", "limit_test", "model",
                 "activation", "initializer", "model_norm", "width", "depth", "dropout", "l2", "epochs", "batch_size",
                 "optimizer", "learning_rate", "schedule", "loss", "label_smoothing", "early_stopping", "seed",
                 "tracking_uri", "experiment", "registered_model")


BACKENDS = ("tensorflow", "jax")


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--backend", type=click.Choice(BACKENDS), envvar="KERAS_BACKEND", show_envvar=True,
              help="Keras backend (default tensorflow). jax trains with keras.distribution "
                   "(train.strategy=data_parallel); exports are still TF SavedModels.")
def cli(backend):
    """trainlab: train image classifiers, every technique a switch, every run tracked in MLflow."""
    if backend:
        import sys
        if "keras" in sys.modules and sys.modules["keras"].backend.backend() != backend:
            raise click.UsageError(f"Keras is already loaded with the {sys.modules['keras'].backend.backend()} "
                                   "backend in this process; set KERAS_BACKEND before starting it")
        os.environ["KERAS_BACKEND"] = backend  # read once, when keras is first imported
