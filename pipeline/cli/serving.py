"""Serving commands: serve (TF Serving REST API) and predict (image files)."""
from __future__ import annotations

from pathlib import Path

import click

from .options import cli, config_options, resolve_config


def _served_model(cfg, model_dir):
    from ..export.stage import champion_export
    from ..serving.model import ServedModel
    return ServedModel(model_dir or champion_export(cfg), name=cfg.tracking.registered_model if not model_dir
                       else None)


@cli.command()
@config_options("tracking.tracking_uri", "tracking.registered_model", "export.dir")
@click.option("--model-dir", type=click.Path(exists=True, file_okay=False),
              help="An export folder <dir>/<name> or <dir>/<name>/<version> (default: the champion's export).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8501, show_default=True, type=click.IntRange(0, 65535), help="Port to bind.")
def serve(model_dir, host, port, **kwargs):
    """Serve the SavedModel over the TensorFlow Serving REST API."""
    from ..serving.app import serve as run_server
    model = _served_model(resolve_config(kwargs), model_dir)
    click.echo(f"serving {model.name} versions {', '.join(sorted(model.versions, key=int))} at "
               f"http://{host}:{port}/v1/models/{model.name}", err=True)
    run_server(model, host, port)


@cli.command()
@config_options("tracking.tracking_uri", "tracking.registered_model", "export.dir")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model-dir", type=click.Path(exists=True, file_okay=False),
              help="An export folder (default: the champion's export).")
@click.option("--invert/--no-invert", default=None,
              help="Invert dark-on-white drawings (default: detect from the image border).")
def predict(paths, model_dir, invert, **kwargs):
    """Predict the class of image files (PNG/JPEG/GIF/BMP, any size, RGB or gray) or folders of them."""
    from ..serving.images import predict_files
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
