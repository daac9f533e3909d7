"""Serving commands: serve (TF Serving REST API and the Open Inference Protocol) and predict (image files).

Each command imports its stage inside itself (the CLI's start-up time: ``trainlab --help`` and every
command start without loading TensorFlow, Keras or MLflow until the command needs them).
"""
from __future__ import annotations

from pathlib import Path

import click

from ..serving.limits import Limits
from .options import cli, config_options, given, resolve_config


def _models(cfg, model_dir, named: bool, policy=None) -> list:
    """The models a bare command serves: ``model_dir``'s; else the registered model's champion export when
    the command names it; else every model name under the export folder, the configured model's champion
    exported first when it has one."""
    from ..errors import TrackingError
    from ..export.stage import champion_export
    from ..serving.model import ServedModel, VersionPolicy
    from ..serving.repository import discover
    policy = policy or VersionPolicy()
    if model_dir:
        return discover(model_dir, policy)
    name = cfg.tracking.registered_model
    if named:
        return [ServedModel(champion_export(cfg), name=name, policy=policy)]
    try:
        champion_export(cfg)
    except TrackingError as e:
        if not (Path(cfg.export.dir).is_dir() and any(Path(cfg.export.dir).iterdir())):
            raise TrackingError(f"{e}; and nothing is exported under {cfg.export.dir}/") from None
    return discover(cfg.export.dir, policy)


def _champion_reader(cfg):
    """The registry's champion version of a model name, read from the configured store at each poll."""
    from .. import tracking
    tracking.configure(cfg.tracking)

    def champion_of(name: str) -> str | None:
        found = tracking.champion(name)
        return found[0] if found else None
    return champion_of


@cli.command()
@config_options("tracking.tracking_uri", "tracking.registered_model", "export.dir")
@click.option("--model-dir", type=click.Path(exists=True, file_okay=False),
              help="An export folder: <dir> with several model names, <dir>/<name> or <dir>/<name>/<version> "
                   "(default: every model under the export folder; the registered model's when named).")
@click.option("--model-config", type=click.Path(exists=True, dir_okay=False),
              help="A model config file (YAML, TF Serving's fields): names, base paths, version policies, labels.")
@click.option("--versions", "policy", default="all", show_default=True,
              help="Versions served per model: all, latest:N or specific:V1,V2 (TF Serving's version policy).")
@click.option("--poll-seconds", default=2.0, show_default=True, type=click.FloatRange(min=0),
              help="Re-read the model folders (and the champion alias) this often; 0: never.")
@click.option("--batch-max-size", default=0, show_default=True, type=click.IntRange(0, 1024),
              help="Join concurrent requests into model calls of up to this many images; 0: no batching.")
@click.option("--batch-timeout-ms", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="How long a batch waits for more requests after its first one; 0: it runs as soon as the "
                   "model is free (the requests that arrive meanwhile make the next batch).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8501, show_default=True, type=click.IntRange(0, 65535), help="Port to bind.")
@click.option("--allowed-host", "allowed_hosts", multiple=True,
              help="A Host header value to serve (repeat for more; '*' for any). Default: loopback names when bound "
                   "to a loopback address (DNS rebinding refused), any otherwise.")
@click.option("--max-image-pixels", default=Limits.max_image_pixels, show_default=True, type=click.IntRange(min=1),
              help="Refuse an encoded image whose header claims more pixels (before it is decoded).")
@click.option("--max-connections", default=Limits.max_connections, show_default=True, type=click.IntRange(min=1),
              help="Open connections and requests at once; past them new requests are answered 503.")
@click.option("--max-queued", default=Limits.max_queued, show_default=True, type=click.IntRange(min=1),
              help="Predictions waiting for the model at once; past them 429 with Retry-After.")
@click.option("--header-seconds", default=Limits.header_seconds, show_default=True, type=click.FloatRange(min=0.1),
              help="Close a connection that has not sent a whole request head within this long.")
@click.option("--body-seconds", default=Limits.body_seconds, show_default=True, type=click.FloatRange(min=0.1),
              help="Answer 408 to a request whose body has not arrived within this long.")
@click.option("--drain-seconds", default=Limits.drain_seconds, show_default=True, type=click.FloatRange(min=0),
              help="On SIGTERM, how long requests in flight may take to finish before the server exits.")
def serve(model_dir, model_config, policy, poll_seconds, batch_max_size, batch_timeout_ms, host, port, allowed_hosts,
          max_image_pixels, max_connections, max_queued, header_seconds, body_seconds, drain_seconds, **kwargs):
    """Serve SavedModels over the TensorFlow Serving REST API and the Open Inference Protocol (the limits on what
    a client may cost: docs/serving.md)."""
    from ..serving.app import serve as run_server
    from ..serving.batching import Batcher
    from ..serving.limits import allowed_hosts_for
    from ..serving.model import VersionPolicy
    from ..serving.repository import ModelRepository, from_config_file
    named = given(kwargs, "tracking.registered_model")
    cfg = resolve_config(kwargs)
    policy = VersionPolicy.parse(policy)
    models = from_config_file(model_config, policy) if model_config else _models(cfg, model_dir, named, policy)
    uses_store = not model_dir and not model_config
    repository = ModelRepository(models, _champion_reader(cfg) if uses_store else None)
    batcher = Batcher(batch_max_size, batch_timeout_ms / 1000) if batch_max_size else None
    click.echo(f"serving {repository.describe()} at http://{host}:{port}/v1/models/", err=True)
    limits = Limits(max_image_pixels=max_image_pixels, max_connections=max_connections, max_queued=max_queued,
                    header_seconds=header_seconds, body_seconds=body_seconds, drain_seconds=drain_seconds,
                    allowed_hosts=allowed_hosts_for(host, allowed_hosts))
    run_server(repository, host, port, batcher, poll_seconds or None, echo=lambda line: click.echo(line, err=True),
               limits=limits)


def _predicting_model(cfg, model_dir, named: bool):
    """The one model predict uses: the only one there, or the most recently exported (said on stderr)."""
    models = _models(cfg, model_dir, named)
    if len(models) == 1:
        return models[0]
    newest = max(models, key=lambda m: m.version().path.stat().st_mtime)
    click.echo(f"using {newest.name} version {newest.latest}, the most recently exported of "
               f"{', '.join(m.name for m in models)} (--model-dir to choose)", err=True)
    return newest


@cli.command()
@config_options("tracking.tracking_uri", "tracking.registered_model", "export.dir")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model-dir", type=click.Path(exists=True, file_okay=False),
              help="An export folder (default: the only model exported, or the most recently exported).")
@click.option("--invert/--no-invert", default=None,
              help="Invert dark-on-white drawings (default: detect from the image border).")
@click.option("--top-k", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many of the most probable classes to list per file.")
@click.option("--output", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="table: aligned columns; csv: a header and a row per file and rank; json: one object per file.")
@click.option("--explain", type=click.Path(file_okay=False, path_type=Path),
              help="Write each image's Grad-CAM heatmap over it (where the network looked for its class) into this "
                   "folder as <name>.gradcam.png.")
def predict(paths, model_dir, invert, top_k, output, explain, **kwargs):
    """Predict the class of image files (PNG/JPEG/GIF/BMP/WebP, any size, RGB or gray) or folders of them.

    Exits with status 1 when any file could not be read (after printing the others)."""
    from ..serving.images import predict_files, write_predictions
    named = given(kwargs, "tracking.registered_model")
    from ..serving.model import EXPLAIN
    model = _predicting_model(resolve_config(kwargs), model_dir, named)
    if explain is not None and EXPLAIN not in model.version().signatures:
        raise click.UsageError(f"--explain: {model.name} version {model.latest} has no {EXPLAIN} signature (a model "
                               "without a convolutional feature map, or exported before Grad-CAM: export it again)")
    rows = predict_files(list(paths), model.version(), invert, min(top_k, len(model.version().class_names)),
                         explain=explain)
    if not rows:
        raise click.UsageError("no files to predict")
    if all(r.error for r in rows):
        for r in rows:
            click.echo(f"{r.file}: {r.error}", err=True)
        raise click.UsageError("none of the files could be read as an image")
    click.echo(write_predictions(rows, output), nl=False)
    if explain is not None:
        click.echo(f"Grad-CAM overlays: {sum(bool(r.explanation) for r in rows)} written to {explain}", err=True)
    if any(r.error for r in rows):
        raise click.exceptions.Exit(1)
