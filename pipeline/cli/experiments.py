"""Experiments over many runs: sweeps over config keys and the lecture's studies.

Each command imports its stage inside itself (the CLI's start-up time: ``trainlab --help`` and every
command start without loading TensorFlow, Keras or MLflow until the command needs them).
"""
from __future__ import annotations

from pathlib import Path

import click

from .options import cli, config_options, resolve_overrides


@cli.command()
@click.argument("grid", type=click.Path(dir_okay=False))
@config_options("tracking.tracking_uri", "tracking.experiment", "train.epochs", "data.limit_train")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Points trained at a time, each in its own process (1: one after another, in this one).")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="Run the points as Ray tasks: on a new local Ray instance, or on the cluster at ADDRESS "
                   "(host:port). Needs the ray extra.")
@click.option("--cpus-per-point", type=click.FloatRange(0.1, 256), default=1.0, show_default=True,
              help="With --ray: CPUs each point reserves.")
@click.option("--out", type=click.Path(file_okay=False), help="Comparison folder (default outputs/sweeps/<name>).")
@click.option("--register-best", is_flag=True,
              help="Register the point with the best validation accuracy; it becomes champion only if it beats "
                   "the current one.")
@click.option("--export", "export_champion", is_flag=True,
              help="With --register-best: export the champion afterwards (export.dir).")
def sweep(grid, workers, ray_address, cpus_per_point, out, register_best, export_champion, **kwargs):
    """Run a sweep from GRID.yml: a parent run, a child run per point, a comparison table and plots.

    Re-running the same sweep skips the points that finished; failed points run again.
    """
    from ..config.loading import load_config
    from ..experiments.sweeps import load_spec, run_sweep
    if export_champion and not register_best:
        raise click.UsageError("--export goes with --register-best")
    path, preset, overrides = resolve_overrides(kwargs)
    spec = load_spec(grid, default_config=path)
    if preset != "default":
        spec.preset = preset
    executor = None
    if ray_address is not None:
        from ..experiments.sweeps.ray_executor import ray_executor
        executor = ray_executor(None if ray_address == "local" else ray_address, cpus_per_point)
    result = run_sweep(spec, overrides, workers=workers, out_dir=out, echo=click.echo, executor=executor)
    click.echo(result.comparison.markdown())
    if result.comparison.importances:
        click.echo(result.comparison.importances_markdown())
    click.echo(f"{result.ran} point(s) run, {result.skipped} skipped as finished, {result.failed} failed; "
               f"comparison in {result.out_dir} and parent run {result.parent_run_id}")
    if register_best:
        from ..experiments.sweeps.follow import register_best as register
        cfg = load_config(spec.config_path, {**spec.base, **overrides}, spec.preset)
        register(result.comparison, cfg, click.echo, export=export_champion)



@cli.command()
@click.argument("name")
@config_options("tracking.tracking_uri", "tracking.experiment", "data.dataset")
@click.option("--smoke", "mode", flag_value="smoke", help="Tiny and fast: checks the machinery, not the claims.")
@click.option("--full", "mode", flag_value="full",
              help="Five seeds at the default budgets (where three cannot decide a claim).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Points trained at a time, each in its own process.")
@click.option("--out", type=click.Path(file_okay=False),
              help="Report folder (default outputs/studies/<name>; with all, one folder per study and index.md).")
@click.option("--mark-stale", is_flag=True,
              help="With verify: write into each report whose code changed since it ran why it is stale.")
def study(name, mode, workers, out, mark_stale, **kwargs):
    """Run a lecture study and write its report: each claim, the measured numbers (mean and range over
    seeds) and a verdict. NAME: a study, all (every study, then an index of every claim), list (the
    claim catalogue: each claim, the quantity that settles it, its study) or verify (re-derive every
    verdict of the reports in --out from their numbers.csv with the rule, and check that each report in this
    checkout is current: its commit an ancestor of HEAD, no file a study imports changed since; exit 1 on
    a difference).

    Studies choose their own data (--dataset replaces it, e.g. a CIFAR-format archive for the
    activations study), models and sizes; see each report for its budget.
    """
    import shlex
    import sys

    from ..experiments.studies import catalogue, list_studies, provenance, run_study, write_index
    if name == "list":
        for study_name, claim_id, claim in catalogue():
            click.echo(f"{study_name:15} {claim_id:28} {claim.statement}\n{'':44}settled by: {claim.quantity}")
        return
    if name == "verify":
        return _verify(Path(out or "outputs/studies"), mark_stale)
    path, preset, overrides = resolve_overrides(kwargs)
    if preset != "default":
        raise click.UsageError("studies set their own model and data sizes; use --smoke or --full instead of --preset")
    names = list_studies() if name == "all" else [name]
    command = "trainlab " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    root = out or "outputs/studies"
    reports = []
    for n in names:
        report = run_study(n, mode or "default", overrides, config_path=path, workers=workers,
                           out_dir=out if len(names) == 1 else f"{root}/{n}", command=command, echo=click.echo)
        click.echo(report.summary())
        reports.append(report)
    if len(names) > 1:
        click.echo(f"index of every claim: {write_index(Path(root), reports, command, provenance.current(command))}")


def _verify(folder: Path, mark_stale: bool) -> None:
    from ..experiments.studies.evidence import verify
    if not folder.is_dir():
        raise click.UsageError(f"no report folder {folder}")
    try:
        checked, differences = verify(folder, mark_stale)
    except (ValueError, KeyError, UnicodeDecodeError, OSError) as e:   # a numbers.csv that is not ours
        raise click.UsageError(f"cannot read the reports' numbers in {folder}: {type(e).__name__}: "
                               f"{str(e).splitlines()[0][:200] if str(e) else ''}") from None
    for line in differences:
        click.echo(line)
    click.echo(f"{checked} verdicts re-derived from their numbers; {len(differences)} difference(s)")
    if differences:
        raise SystemExit(1)
