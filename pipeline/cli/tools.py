"""Looking around: the MLflow UI, the model and augmentation registries, augmentation previews.

Each command imports its stage inside itself (the CLI's start-up time: ``trainlab --help`` and every
command start without loading TensorFlow, Keras or MLflow until the command needs them).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .options import cli, config_options, resolve_config


@cli.command()
@config_options("tracking.tracking_uri")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to bind.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="Server processes (MLflow's own default is 4: each imports MLflow, for a UI one person reads).")
def ui(host, port, workers, **kwargs):
    """Open the MLflow UI on the configured tracking store."""
    cfg = resolve_config(kwargs, registries=False)  # the UI needs the store only: no TensorFlow
    bin_dir = os.path.dirname(sys.executable)  # mlflow execs its server from the venv's bin
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    click.echo(f"MLflow UI for {cfg.tracking.tracking_uri} at http://{host}:{port}", err=True)
    os.execve(sys.executable, [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri",
                               cfg.tracking.tracking_uri, "--host", host, "--port", str(port),
                               "--workers", str(workers)], env)


@cli.command()
def augmentations():
    """List the augmentation ops and their parameters (defaults shown)."""
    from trainlab.augment import describe_augmentation, list_augmentations, list_prefixes, op_parameters
    for name in list_augmentations():
        params = ", ".join(f"{k}={v!r}" for k, v in op_parameters(name).items())
        click.echo(f"{name:<16} {params}\n{'':<16} {describe_augmentation(name)}")
    for prefix in list_prefixes():
        click.echo(f"{prefix + '.<Layer>':<16} {describe_augmentation(prefix)}")


@cli.command("augment-preview")
@config_options("augment", "data.dataset", "train.seed")
@click.option("--out", type=click.Path(dir_okay=False), default="outputs/augmentation.png", show_default=True,
              help="Where to write the PNG grid.")
@click.option("--draws", type=click.IntRange(1, 12), default=5, show_default=True, help="Augmented draws per image.")
def augment_preview(out, draws, **kwargs):
    """Write a PNG grid: sample images beside augmented draws, labels with their mixed weights."""
    from trainlab.augment import AugmentChain

    from ..data.sizing import source_options
    from ..data.sources import describe_dataset, load_dataset
    from ..evaluation import plots
    from ..evaluation.preview import augment_preview as preview
    from ..plan import with_concrete_augment
    cfg = resolve_config(kwargs)
    cfg = with_concrete_augment(cfg, describe_dataset(cfg.data.dataset, source_options(cfg.data),
                                                      cfg.data.cache_dir))
    if not cfg.augment:
        raise click.UsageError("the augmentation chain is empty: nothing to preview")
    ds = load_dataset(cfg.data.dataset, cfg.data.cache_dir, source_options(cfg.data))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    plots.save(preview(ds.x_train[:2000], ds.y_train[:2000], AugmentChain(cfg.augment), ds.class_names,
                       draws=draws, seed=cfg.train.seed), out)
    click.echo(f"augmentation preview ({len(cfg.augment)} op(s)) written to {out}")


@cli.command()
def models():
    """List the registered model factories (the pretrained backbones with parameters and native size)."""
    from trainlab.models import describe_model, list_models
    for name in list_models():
        click.echo(f"{name:<19} {describe_model(name)}")


@cli.group(invoke_without_command=True)
@click.pass_context
def weights(ctx):
    """The backbones' ImageNet weights: whether each is in Keras's cache, and where (import: place a file
    downloaded on another machine)."""
    if ctx.invoked_subcommand is not None:
        return
    from trainlab.models.backbones import BACKBONES

    from ..imagenet import cache_dir, status
    click.echo(f"Keras's cache: {cache_dir()}")
    for name in BACKBONES:
        cached = status(name)
        where = f"cached: {cached.path}" if cached.present else f"not cached: {cached.weights.origin}"
        click.echo(f"{name:<19} {cached.weights.algorithm} {cached.weights.file_hash}  {where}")


@weights.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def import_weights(file):
    """Check FILE against the hash Keras expects of a backbone's ImageNet weights and place it in Keras's cache."""
    from ..imagenet import import_file
    cached = import_file(file)
    click.echo(f"{file}: the ImageNet weights of {cached.backbone} ({cached.weights.algorithm} matches Keras's); "
               f"placed at {cached.path}")


@cli.command()
@click.option("--backend-store-uri", default="sqlite:///mlflow.db", show_default=True,
              help="Where runs and the registry live: sqlite:///FILE, or postgresql://USER:PASSWORD@HOST/DB for teams "
                   "(pip install 'trainlab[postgres]'; docs/team.md).")
@click.option("--artifacts-destination", default="./mlartifacts", show_default=True,
              help="Where the server stores the artifacts it receives (a folder, s3://..., gs://...): clients "
                   "upload and download through the server.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; 0.0.0.0 to serve a team.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Port to bind.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Server worker processes.")
@click.option("--jobs/--no-jobs", default=False, show_default=True,
              help="Also start MLflow's background job runner (not needed for training runs).")
@click.option("--auth/--no-auth", default=None,
              help="MLflow's logins (basic-auth); default: on unless the server binds a loopback address only. The "
                   "first start creates the admin with MLFLOW_AUTH_ADMIN_PASSWORD.")
@click.option("--auth-dir", default=".", show_default=True, type=click.Path(file_okay=False),
              help="With logins: the folder of the users' database (mlflow-auth.db), its ini and session secret.")
@click.option("--auth-database-uri", help="With logins: the users' database (default: sqlite in --auth-dir).")
@click.option("--default-permission", default="EDIT", show_default=True,
              type=click.Choice(["READ", "EDIT", "MANAGE", "NO_PERMISSIONS"]),
              help="With logins: what a new user may do with others' experiments and models.")
def server(**settings):
    """Start an MLflow tracking server that several machines and processes log to (docs/team.md).

    Clients point at it with --tracking-uri http://HOST:PORT (or tracking.tracking_uri in mlflow.yml), with
    MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD when it has logins.
    """
    from ..tracking.server import ServerSettings, command
    s = ServerSettings(**settings)
    argv, env = command(s)
    shown = "localhost" if s.host in ("0.0.0.0", "::") else s.host
    logins = ("; logins on: clients set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" if s.logins
              else "; no logins: anyone who reaches the port may change runs and the champion")
    click.echo(f"MLflow tracking server for {s.backend_store_uri}, artifacts in {s.artifacts_destination}{logins}\n"
               f"clients: --tracking-uri http://{shown}:{s.port}  (or export MLFLOW_TRACKING_URI=http://{shown}:{s.port})",
               err=True)
    os.execve(sys.executable, argv, env)
