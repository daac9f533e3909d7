"""Looking around: the MLflow UI, the model and augmentation registries, augmentation previews."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from pipeline.cli.options import cli, config_options, resolve_config


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
    from models.registry import _MODELS, list_models
    for name in list_models():
        doc = (_MODELS[name].__doc__ or "").strip().splitlines()[0]
        click.echo(f"{name:<12} {doc}")
