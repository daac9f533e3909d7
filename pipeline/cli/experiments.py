"""Experiments over many runs: sweeps over config keys and the lecture's studies."""
from __future__ import annotations

import click

from pipeline.cli.options import cli, config_options, resolve_overrides


@cli.command()
@click.argument("grid", type=click.Path(dir_okay=False))
@config_options("tracking_uri", "experiment", "epochs", "limit_train")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Points trained at a time, each in its own process (1: one after another, in this one).")
@click.option("--out", type=click.Path(file_okay=False), help="Comparison folder (default outputs/sweeps/<name>).")
def sweep(grid, workers, out, **kwargs):
    """Run a sweep from GRID.yml: a parent run, a child run per point, a comparison table and plots.

    Re-running the same sweep skips the points that finished; failed points run again.
    """
    from pipeline.sweeps import load_spec, run_sweep
    path, preset, overrides = resolve_overrides(kwargs)
    spec = load_spec(grid, default_config=path)
    if preset != "default":
        spec.preset = preset
    result = run_sweep(spec, overrides, workers=workers, out_dir=out, echo=click.echo)
    click.echo(result.comparison.markdown())
    click.echo(f"{result.ran} point(s) run, {result.skipped} skipped as finished, {result.failed} failed; "
               f"comparison in {result.out_dir} and parent run {result.parent_run_id}")

