"""Pipeline stages: data, train, evaluate, register, export, run, lr-find.

Each command imports its stage inside itself (the CLI's start-up time: ``trainlab --help`` and every
command start without loading TensorFlow, Keras or MLflow until the command needs them).
"""
from __future__ import annotations

from pathlib import Path

import click

from ..config.loading import load_config
from ..config.schema import EXPORT_FORMATS as FORMATS
from .options import (
    TRAIN_OPTIONS,
    cli,
    config_options,
    resolve_config,
    resolve_config_given,
    resolve_overrides,
    resolve_plan,
)


@cli.command()
@config_options("data.dataset", "data.validation_size", "data.limit_train", "data.limit_test", "train.seed")
@click.option("--grid", type=click.Path(dir_okay=False), default="outputs/data_samples.png", show_default=True,
              help="Where to write a PNG grid of sample images.")
@click.option("--label-issues", is_flag=True,
              help="Also rank the training and validation images whose labels are probably wrong (out-of-fold "
                   "networks and cleanlab's confident learning): label_issues.csv and .png beside the grid.")
@click.option("--folds", type=int, default=3, show_default=True, help="--label-issues: networks trained, one per fold.")
def data(grid, label_issues, folds, **kwargs):
    """Load and verify the dataset, print its facts and write a sample grid."""
    from ..data.inputs import Normalizer, load_splits
    from ..evaluation import plots
    from ..plan import with_chosen_size
    cfg, notes = with_chosen_size(resolve_config(kwargs))
    for note in notes:
        click.echo(f"note: {note.removeprefix('data: ')}")
    ds, s = load_splits(cfg)
    if ds.skipped_warning():
        click.echo(ds.skipped_warning())
    stats = Normalizer.fit("standardize", s.x_train)
    click.echo(f"dataset      {ds.name}  ({ds.source})\n"
               f"images       {ds.image_shape} uint8, {ds.num_classes} classes\n"
               f"split        {len(s.y_train)} train / {len(s.y_val)} validation / {len(s.y_test)} test\n"
               f"train pixels mean {stats.as_params()['mean']}  std {stats.as_params()['std']}  "
               "(per channel, scaled to [0, 1])\n"
               f"loaded in    {ds.facts['load_seconds']:.2f}s")
    click.echo("class counts (train / validation / test):")
    for c, name in enumerate(ds.class_names):
        counts = [(y == c).sum() for y in (s.y_train, s.y_val, s.y_test)]
        click.echo(f"  {name:>12}  {counts[0]:>6} / {counts[1]:>5} / {counts[2]:>5}")
    Path(grid).parent.mkdir(parents=True, exist_ok=True)
    plots.save(plots.sample_grid(s.x_train, s.y_train, ds.class_names), grid)
    click.echo(f"sample grid  {grid}")
    if label_issues:
        _label_issues(cfg, folds, Path(grid).parent)


def _label_issues(cfg, folds: int, folder: Path) -> None:
    from ..evaluation import plots
    from ..training.label_issues import find_label_issues, write_csv
    found = find_label_issues(cfg, folds)
    write_csv(found.issues, folder / "label_issues.csv")
    plots.save(plots.label_issues(found.images, found.issues), folder / "label_issues.png")
    click.echo(f"label issues {len(found.issues)} of {found.scored} training and validation images ({folds} "
               f"out-of-fold networks, {found.accuracy:.1%} of them agreeing with their labels; cleanlab confident "
               f"learning): {folder / 'label_issues.csv'}, {folder / 'label_issues.png'}")
    for issue in found.issues[:5]:
        click.echo(f"  {issue.rank:>3}. {issue.file or f'{issue.split} image {issue.position}'}: given "
                   f"{issue.given}, suggested {issue.suggested} (p(given) {issue.given_probability:.2f})")


@cli.command()
@config_options(*TRAIN_OPTIONS)
@click.option("--register/--no-register", default=False, show_default=True,
              help="Register the model and make it champion if it beats the current one.")
@click.option("--resume", is_flag=False, flag_value="latest", default=None, metavar="[RUN_ID]",
              help="Continue a stopped run (killed, failed, or left RUNNING by a dead process) from its last "
                   "checkpoint, as the same MLflow run; without RUN_ID the newest one (see trainlab runs).")
@click.option("--force", is_flag=True, help="With --resume RUN_ID: take over a run still marked running on "
                                            "another host (one that is gone, such as a rescheduled container).")
def train(register, resume, force, **kwargs):
    """Train a model as one MLflow run (every epoch checkpointed: a stopped run can be resumed)."""
    from ..job import register_result
    from ..training.stage import train as train_stage
    if force and (resume is None or resume == "latest"):
        raise click.UsageError("--force goes with --resume RUN_ID (the run to take over)")
    if resume is None:
        plan = resolve_plan(kwargs)
        result = train_stage(plan, register=register, echo=click.echo)
        _done(register_result(plan, result, click.echo) if result.register else result)
        return
    from .. import tracking
    from ..plan import resolve_plan as resolve
    from ..training.resume import resumable, resume_config
    path, preset, overrides = resolve_overrides(kwargs)
    other = sorted(k for k in overrides if not k.startswith("tracking."))
    if other:
        raise click.UsageError(f"--resume continues a run with its own config: drop {', '.join(other)}")
    store = load_config(path, overrides, preset).tracking
    stopped = resumable(tracking.configure(store), None if resume == "latest" else resume, force)
    if stopped.other_host:
        click.echo(f"taking over run {stopped.run_id} from host {stopped.host} (--force: its process there is "
                   "taken to be gone)")
    plan = resolve(resume_config(stopped.checkpoint, store))
    result = train_stage(plan, register=register, echo=click.echo, resume=stopped.checkpoint)
    _done(register_result(plan, result, click.echo) if result.register else result)


def _done(result) -> None:
    """The train command's final line (all that ``--quiet`` prints)."""
    registered = f"; {result.registration.message}" if result.registration is not None else ""
    test = f"test accuracy {result.test.accuracy:.4f} " if result.test is not None else ""
    click.echo(f"run {result.run_id}: {test}(best validation {result.best_val_accuracy:.4f} at epoch "
               f"{result.best_epoch + 1}){registered}")


@cli.command()
@config_options("tracking.tracking_uri", "tracking.experiment")
def runs(**kwargs):
    """List the experiment's unfinished training runs: status, epochs done, and whether they can resume."""
    from .. import tracking
    from ..training.resume import unfinished_runs
    found = unfinished_runs(tracking.configure(resolve_config(kwargs).tracking))
    if not found:
        click.echo("no unfinished runs")
    for u in found:
        if u.unreadable:
            resume = f"cannot resume: {u.unreadable}"
        elif u.other_host:
            resume = f"in progress on host {u.host} (if that host is gone: trainlab train --resume {u.run_id} --force)"
        elif u.alive:
            resume = "in progress"
        else:
            resume = "resume: trainlab train --resume " + u.run_id if u.checkpoint else "no checkpoint"
        click.echo(f"{u.run_id}  {u.name:<24} {u.state:<32} epoch {u.epochs_done}/{u.epochs}  {resume}")


@cli.command()
@config_options("data.dataset", "data.limit_test", "tracking.tracking_uri", "tracking.registered_model", "evaluate.tta")
@click.option("--model-uri", help="Model to evaluate (default: the champion), e.g. runs:/<id>/model.")
@click.option("--run-id", help="Evaluate the model logged by this run.")
@click.option("--mistakes", type=click.IntRange(0, 400), default=0, show_default=True,
              help="Also write a gallery of this many most confidently wrong test images.")
@click.option("--mistakes-file", type=click.Path(dir_okay=False), default="outputs/mistakes.png", show_default=True)
def evaluate(model_uri, run_id, mistakes, mistakes_file, **kwargs):
    """Evaluate a model on the test set of the data it was trained on (its run's plan): accuracy, per-class
    precision, recall and F1, confusion matrix."""
    from ..evaluation.evaluate import evaluate as evaluate_stage
    uri, plan, model = _trained_model(kwargs, model_uri, run_id)
    report, tta = evaluate_stage(plan, model, mistakes, mistakes_file)
    click.echo(f"model {uri}\n{report.summary()}" + (f"\nmistakes     {mistakes_file}" if mistakes else ""))
    if tta is not None:
        click.echo(f"test-time augmentation: accuracy {tta.accuracy:.4f} (plain {report.accuracy:.4f}), "
                   f"ECE {tta.ece:.4f}")


def _trained_model(kwargs: dict, model_uri: str | None, run_id: str | None, load: bool = True):
    """``(uri, plan, model)``: the model ``--model-uri`` or ``--run-id`` names (default: the champion), the plan
    of the run that trained it (the command line may change only its safe keys) and, with ``load``, the model."""
    from .. import tracking
    from ..trained import plan_of
    if model_uri and run_id:
        raise click.UsageError("give --model-uri or --run-id, not both")
    cfg, given = resolve_config_given(kwargs)
    tracking.configure(cfg.tracking)
    uri = model_uri or (run_id and tracking.run_model_uri(run_id)) or tracking.champion_uri(
        cfg.tracking.registered_model)
    plan = plan_of(uri, cfg, given)
    return uri, plan, tracking.load_model(uri) if load else None


@cli.command()
@config_options("tracking.tracking_uri", "tracking.experiment", "tracking.registered_model")
@click.option("--run-id", help="Run whose model to register (default: the latest finished run).")
def register(run_id, **kwargs):
    """Register a run's model; it becomes `champion` only if it beats the current one on validation."""
    from .. import tracking
    cfg = resolve_config(kwargs)
    experiment_id = tracking.configure(cfg.tracking)
    from ..evaluation.evaluate import run_rescorer
    run_id = run_id or tracking.latest_finished_run(experiment_id)
    click.echo(tracking.register(run_id, cfg.tracking.registered_model, lambda uri: run_rescorer(run_id)(uri)).message)


@cli.command("lr-find")
@config_options(*TRAIN_OPTIONS)
@click.option("--steps", type=click.IntRange(20, 5000), default=200, show_default=True, help="Sweep length.")
@click.option("--start", type=click.FloatRange(1e-10, 10, min_open=False), default=1e-6, show_default=True)
@click.option("--end", type=click.FloatRange(1e-9, 100), default=1.0, show_default=True)
def lr_find(steps, start, end, **kwargs):
    """Sweep the learning rate exponentially, log a loss-vs-lr plot and suggest a rate."""
    from ..training.lr_find import find_lr
    if start >= end:
        raise click.BadParameter(f"--start ({start}) must be below --end ({end})", param_hint="--start")
    find_lr(resolve_plan(kwargs), steps=steps, start=start, end=end, echo=click.echo)


@cli.command()
@config_options("tracking.tracking_uri", "tracking.registered_model", "export.dir", "evaluate.tta", "export.tta")
@click.option("--model-uri", help="Model to export (default: the champion).")
@click.option("--run-id", help="Export the model logged by this run.")
@click.option("--format", "formats", type=click.Choice(FORMATS), multiple=True, default=("savedmodel",),
              show_default=True, help="Also write <version>.tflite, <version>.int8.tflite (full-integer, calibrated on "
                                      "training images) or <version>.onnx beside the SavedModel, each checked "
                                      "against it (repeatable).")
@click.option("--opset", type=click.IntRange(7, 30), help="ONNX opset (default: the exporter's).")
def export(model_uri, run_id, formats, opset, **kwargs):
    """Export a model as a TF Serving SavedModel: <export-dir>/<name>/<version>/ (and other formats), with the
    plan of the run that trained it."""
    from ..export.stage import export as export_stage
    uri, plan, _ = _trained_model(kwargs, model_uri, run_id, load=False)
    path, written = export_stage(plan, uri, formats=formats, opset=opset, echo=click.echo)
    if not written:
        click.echo(f"{path} holds this version (and the formats asked for) already; left as it is")
        return
    click.echo(f"exported to {path}")


@cli.command()
@config_options(*TRAIN_OPTIONS, "export.dir")
def run(**kwargs):
    """The whole pipeline: data -> train -> evaluate -> register -> export."""
    from ..job import run_job
    run_job(resolve_plan(kwargs), echo=click.echo)
