"""The ``trainlab`` command line: one thin command per stage.

Each command parses its options into config overrides, loads the one typed config and calls a
stage function. Problems a user can fix print one line and exit with status 2.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from pipeline.config import PRESETS, Config, load_config
from pipeline.errors import TrainlabError

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


def _model_names():
    from models import list_models
    return list_models()


# option name -> config key; options left unset (None) do not override the file
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
    path = kwargs.pop("config_path", None)
    if path is None and Path(DEFAULT_CONFIG).is_file():
        path = DEFAULT_CONFIG
    overrides = {OVERRIDES[k]: kwargs.pop(k) for k in list(kwargs) if k in OVERRIDES}
    for item in kwargs.pop("sets", ()):
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        overrides[key.strip()] = value
    return load_config(path, overrides, kwargs.pop("preset", "default"))


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """trainlab: train image classifiers, every technique a switch, every run tracked in MLflow."""


@cli.command()
@config_options("dataset", "validation_size", "limit_train", "limit_test", "seed")
@click.option("--grid", type=click.Path(dir_okay=False), default="outputs/data_samples.png", show_default=True,
              help="Where to write a PNG grid of sample images.")
def data(grid, **kwargs):
    """Load and verify the dataset, print its facts and write a sample grid."""
    from pipeline import plots
    from pipeline.datasets import load_dataset
    from pipeline.inputs import Normalizer, make_splits
    cfg = resolve_config(kwargs)
    ds = load_dataset(cfg.data.dataset, cfg.data.cache_dir)
    s = make_splits(ds, cfg.data.validation_size, cfg.train.seed, cfg.data.limit_train, cfg.data.limit_test)
    stats = Normalizer.fit("standardize", s.x_train)
    click.echo(f"dataset      {ds.name}  ({ds.source})\n"
               f"images       {ds.image_shape} uint8, {ds.num_classes} classes\n"
               f"split        {len(s.y_train)} train / {len(s.y_val)} validation / {len(s.y_test)} test\n"
               f"train pixels mean {stats.mean:.4f}  std {stats.std:.4f}  (scaled to [0, 1])\n"
               f"loaded in    {ds.facts['load_seconds']:.2f}s")
    click.echo("class counts (train / validation / test):")
    for c, name in enumerate(ds.class_names):
        counts = [(y == c).sum() for y in (s.y_train, s.y_val, s.y_test)]
        click.echo(f"  {name:>12}  {counts[0]:>6} / {counts[1]:>5} / {counts[2]:>5}")
    Path(grid).parent.mkdir(parents=True, exist_ok=True)
    plots.save(plots.sample_grid(s.x_train, s.y_train, ds.class_names), grid)
    click.echo(f"sample grid  {grid}")


TRAIN_OPTIONS = ("augment", "dataset", "validation_size", "normalization", "limit_train", "limit_test", "model",
                 "activation", "initializer", "model_norm", "width", "depth", "dropout", "l2", "epochs", "batch_size",
                 "optimizer", "learning_rate", "schedule", "loss", "label_smoothing", "early_stopping", "seed",
                 "tracking_uri", "experiment", "registered_model")


@cli.command()
@config_options(*TRAIN_OPTIONS)
@click.option("--register/--no-register", default=False, show_default=True,
              help="Register the model and make it champion if it beats the current one.")
def train(register, **kwargs):
    """Train a model as one MLflow run."""
    from pipeline.train import train as train_stage
    train_stage(resolve_config(kwargs), register=register, echo=click.echo)


@cli.command()
@config_options("dataset", "limit_test", "tracking_uri", "registered_model")
@click.option("--model-uri", help="Model to evaluate (default: the champion), e.g. runs:/<id>/model.")
@click.option("--run-id", help="Evaluate the model logged by this run.")
def evaluate(model_uri, run_id, **kwargs):
    """Evaluate a model on the test set: accuracy, per-class accuracy, confusion matrix."""
    from pipeline.evaluate import evaluate_uri
    from pipeline.tracking import run_model_uri
    if model_uri and run_id:
        raise click.UsageError("give --model-uri or --run-id, not both")
    uri, report = evaluate_uri(resolve_config(kwargs), model_uri or (run_id and run_model_uri(run_id)))
    click.echo(f"model {uri}\n{report.summary()}")


@cli.command()
@config_options("tracking_uri", "experiment", "registered_model")
@click.option("--run-id", help="Run whose model to register (default: the latest finished run).")
def register(run_id, **kwargs):
    """Register a run's model; it becomes `champion` only if it beats the current one on validation."""
    from pipeline import tracking
    cfg = resolve_config(kwargs)
    experiment_id = tracking.configure(cfg.tracking)
    click.echo(tracking.register(run_id or tracking.latest_finished_run(experiment_id),
                                 cfg.tracking.registered_model).message)


@cli.command("lr-find")
@config_options(*TRAIN_OPTIONS)
@click.option("--steps", type=click.IntRange(20, 5000), default=200, show_default=True, help="Sweep length.")
@click.option("--start", type=click.FloatRange(1e-10, 10, min_open=False), default=1e-6, show_default=True)
@click.option("--end", type=click.FloatRange(1e-9, 100), default=1.0, show_default=True)
def lr_find(steps, start, end, **kwargs):
    """Sweep the learning rate exponentially, log a loss-vs-lr plot and suggest a rate."""
    from pipeline.lr_find import find_lr
    if start >= end:
        raise click.BadParameter(f"--start ({start}) must be below --end ({end})", param_hint="--start")
    find_lr(resolve_config(kwargs), steps=steps, start=start, end=end, echo=click.echo)


@cli.command()
@config_options("tracking_uri", "registered_model", "export_dir")
@click.option("--model-uri", help="Model to export (default: the champion).")
@click.option("--format", "formats", type=click.Choice(["savedmodel", "tflite"]), multiple=True,
              default=("savedmodel",), show_default=True, help="tflite also writes <version>.tflite (repeatable).")
def export(model_uri, formats, **kwargs):
    """Export a model as a TF Serving SavedModel: <export-dir>/<name>/<version>/."""
    from pipeline.export import export_model
    path, written = export_model(resolve_config(kwargs), model_uri, tflite="tflite" in formats)
    if not written:
        click.echo(f"{path} holds this version already; left as it is")
        return
    click.echo(f"exported to {path}")
    if "tflite" in formats:
        click.echo(f"exported to {path.with_suffix('.tflite')} (predictions checked against the SavedModel)")


def _served_model(cfg, model_dir):
    from pipeline.export import champion_export
    from pipeline.serving.model import ServedModel
    return ServedModel(model_dir or champion_export(cfg), name=cfg.tracking.registered_model if not model_dir
                       else None)


@cli.command()
@config_options("tracking_uri", "registered_model", "export_dir")
@click.option("--model-dir", type=click.Path(exists=True, file_okay=False),
              help="An export folder <dir>/<name> or <dir>/<name>/<version> (default: the champion's export).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8501, show_default=True, type=click.IntRange(0, 65535), help="Port to bind.")
def serve(model_dir, host, port, **kwargs):
    """Serve the SavedModel over the TensorFlow Serving REST API."""
    from pipeline.serving.app import serve as run_server
    model = _served_model(resolve_config(kwargs), model_dir)
    click.echo(f"serving {model.name} versions {', '.join(sorted(model.versions, key=int))} at "
               f"http://{host}:{port}/v1/models/{model.name}", err=True)
    run_server(model, host, port)


@cli.command()
@config_options("tracking_uri", "registered_model", "export_dir")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model-dir", type=click.Path(exists=True, file_okay=False),
              help="An export folder (default: the champion's export).")
@click.option("--invert/--no-invert", default=None,
              help="Invert dark-on-white drawings (default: detect from the image border).")
def predict(paths, model_dir, invert, **kwargs):
    """Predict the class of image files (PNG/JPEG/GIF/BMP, any size, RGB or gray) or folders of them."""
    from pipeline.serving.images import predict_files
    model = _served_model(resolve_config(kwargs), model_dir)
    rows = predict_files(list(paths), model.version(), invert)
    if not rows:
        raise click.UsageError("no files to predict")
    width = max(len(r.file) for r in rows)
    click.echo(f"{'file':<{width}}  {'class':<12} {'probability':>11}")
    for r in rows:
        if r.error:
            click.echo(f"{r.file:<{width}}  error: {r.error}")
        else:
            note = "  (inverted)" if r.inverted else ""
            click.echo(f"{r.file:<{width}}  {r.label:<12} {r.probability:>11.4f}{note}")
    if all(r.error for r in rows):
        raise click.UsageError("none of the files could be read as an image")


@cli.command()
@config_options(*TRAIN_OPTIONS, "export_dir")
def run(**kwargs):
    """The whole pipeline: data -> train -> evaluate -> register -> export."""
    from pipeline.evaluate import evaluate_uri
    from pipeline.export import export_model
    from pipeline.train import train as train_stage
    start = time.perf_counter()
    cfg = resolve_config(kwargs)
    result = train_stage(cfg, register=True, echo=click.echo)
    uri, report = evaluate_uri(cfg)
    click.echo(f"champion {uri}: test accuracy {report.accuracy:.4f}")
    path, written = export_model(cfg)
    click.echo(f"{'exported to' if written else 'export already at'} {path}")
    click.echo(f"done in {time.perf_counter() - start:.0f}s (training {result.train_seconds:.0f}s); "
               f"this run's test accuracy {result.test.accuracy:.4f}")


@cli.command()
@config_options("tracking_uri")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to bind.")
def ui(host, port, **kwargs):
    """Open the MLflow UI on the configured tracking store."""
    cfg = resolve_config(kwargs)
    bin_dir = os.path.dirname(sys.executable)  # mlflow execs its server from the venv's bin
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    click.echo(f"MLflow UI for {cfg.tracking.tracking_uri} at http://{host}:{port}", err=True)
    os.execve(sys.executable, [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri",
                               cfg.tracking.tracking_uri, "--host", host, "--port", str(port)], env)


@cli.command()
def augmentations():
    """List the augmentation ops and their parameters (defaults shown)."""
    from augment import list_augmentations, op_parameters
    from augment.registry import _OPS
    for name in list_augmentations():
        params = ", ".join(f"{k}={v!r}" for k, v in op_parameters(name).items())
        doc = (_OPS[name].__doc__ or "").strip().splitlines()[0]
        click.echo(f"{name:<16} {params}\n{'':<16} {doc}")
    click.echo("keras.<Layer> / keras_cv.<Layer>  any keras (or keras-cv) preprocessing layer, with its arguments")


@cli.command("augment-preview")
@config_options("augment", "dataset", "seed")
@click.option("--out", type=click.Path(dir_okay=False), default="outputs/augmentation.png", show_default=True,
              help="Where to write the PNG grid.")
@click.option("--draws", type=click.IntRange(1, 12), default=5, show_default=True, help="Augmented draws per image.")
def augment_preview(out, draws, **kwargs):
    """Write a PNG grid: sample images beside augmented draws, labels with their mixed weights."""
    from augment import AugmentChain
    from pipeline import plots
    from pipeline.datasets import load_dataset
    from pipeline.preview import augment_preview as preview
    cfg = resolve_config(kwargs)
    if not cfg.augment:
        raise click.UsageError("the augmentation chain is empty: nothing to preview")
    ds = load_dataset(cfg.data.dataset, cfg.data.cache_dir)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    plots.save(preview(ds.x_train[:2000, ..., None], ds.y_train[:2000], AugmentChain(cfg.augment), ds.class_names,
                       draws=draws, seed=cfg.train.seed), out)
    click.echo(f"augmentation preview ({len(cfg.augment)} op(s)) written to {out}")


@cli.command()
def models():
    """List the registered model factories."""
    from models.registry import _MODELS
    for name in _model_names():
        doc = (_MODELS[name].__doc__ or "").strip().splitlines()[0]
        click.echo(f"{name:<12} {doc}")


def main():
    cli(prog_name="trainlab")
