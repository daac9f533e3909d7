"""The CLI's shared parts: the root group, config options defined once, and config resolution.

Each command imports its stage inside itself (the CLI's start-up time: ``trainlab --help`` and every
command start without loading TensorFlow, Keras or MLflow until the command needs them).
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

import click

from trainlab import __version__

from ..config.loading import file_keys, load_config
from ..config.recipes import PRESETS
from ..config.schema import Config, config_keys, key_help, key_type
from ..errors import TrainlabError
from ..runtime import process as runtime
from ..training import faults

DEFAULT_CONFIG = "mlflow.yml"


class Group(click.Group):
    """Turns TrainlabError and click's usage errors into one line, ``Error: <reason>``, and exit 2 (click
    itself prints usage, a hint and the error on three); Ctrl-C, SIGTERM and SIGHUP into a clean stop
    with exit 128 + the signal's number (130, 143, 129)."""

    def invoke(self, ctx):
        quiet = _quiet_requested(ctx)
        try:
            with faults.signals_as_interrupts(), final_line_only(quiet):
                return super().invoke(ctx)
        except TrainlabError as e:
            click.echo(f"Error: {e}", err=True)
            ctx.exit(2)
        except click.UsageError as e:
            where = e.ctx.command_path if e.ctx is not None else ctx.command_path
            click.echo(f"Error: {e.format_message()} (see {where} --help)", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt as e:
            click.echo(f"Interrupted{f' ({e})' if str(e) else ''}.", err=True)
            ctx.exit(getattr(e, "exit_code", 130))


def _quiet_requested(ctx) -> bool:
    return bool(ctx.params.get("quiet")) or os.environ.get(QUIET_ENV, "") not in ("", "0")


QUIET_ENV = "TRAINLAB_QUIET"


class _LastLine(io.TextIOBase):
    """A stdout that keeps only the last non-empty line written to it."""

    def __init__(self):
        self.last, self._partial = "", ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                self.last = line
        return len(text)

    def final(self) -> str:
        return self._partial if self._partial.strip() else self.last


@contextlib.contextmanager
def final_line_only(enabled: bool):
    """``--quiet``: everything a command prints to stdout is held back but its final line, printed when
    it ends (errors still go to stderr as they happen)."""
    if not enabled:
        yield
        return
    real, held, env = sys.stdout, _LastLine(), os.environ.get(QUIET_ENV)
    sys.stdout, os.environ[QUIET_ENV] = held, "1"  # no progress bars, here or in sweep workers
    try:
        yield
    finally:
        sys.stdout = real
        if env is None:
            os.environ.pop(QUIET_ENV, None)
        else:
            os.environ[QUIET_ENV] = env
        if held.final():
            click.echo(held.final())


# Flags whose name is not the key's own field name (``train.epochs`` -> ``--epochs``).
FLAG_NAMES = {"model.name": ("--model",), "model.normalization": ("--model-norm",),
              "train.lr_schedule": ("--schedule",), "train.learning_rate": ("--learning-rate", "--lr"),
              "export.dir": ("--export-dir",), "export.tta": ("--serve-tta",)}


def _param(key: str) -> str:
    """The Python name click gives a key's option: ``train.epochs`` -> ``train__epochs``."""
    return key.replace(".", "__")


def given(kwargs: dict, key: str) -> bool:
    """Whether a command line sets config ``key`` (its own option or ``--set``), before resolve_config."""
    return kwargs.get(_param(key)) is not None or any(s.startswith(f"{key}=") for s in kwargs.get("sets", ()))


def key_option(key: str):
    """A click option for a config key: flag, type and help all derived from the config's field."""
    flags = FLAG_NAMES.get(key, (f"--{key.rpartition('.')[2].replace('_', '-')}",))
    kind = key_type(key)
    if kind is bool:  # --deterministic/--no-deterministic; neither given: the config decides
        flags = tuple(f"{f}/--no-{f[2:]}" for f in flags)
        return click.option(*flags, _param(key), default=None, help=f"{key_help(key)} [{key}]")
    typed = {int: {"type": int}, float: {"type": float}, list: {"metavar": "YAML"}}.get(kind, {})
    return click.option(*flags, _param(key), help=f"{key_help(key)} [{key}]", **typed)


def config_options(*keys: str):
    """``--config``, ``--preset`` and ``--set`` on every command, plus an option per named config key."""
    unknown = set(keys) - set(config_keys())
    if unknown:
        raise ValueError(f"no config key(s) {', '.join(sorted(unknown))}")
    common = [
        click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     help=f"Config file (default: ./{DEFAULT_CONFIG} if present, else built-in defaults)."),
        click.option("--preset", type=click.Choice(sorted(PRESETS)), default="default", show_default=True,
                     help="Overrides applied over the file's values, the dataset's own version where it has one "
                          "(`best` on fashion_mnist): `smoke` is tiny and fast."),
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                     help="Override any config key, e.g. --set train.epochs=3 (repeatable)."),
    ]

    def decorate(fn):
        for option in reversed(common + [key_option(k) for k in keys]):
            fn = option(fn)
        return fn
    return decorate


def resolve_config(kwargs: dict, registries: bool = True) -> Config:
    """Pop the config options out of a command's kwargs and build the config (``registries``: see
    ``validation.validate``; False for the commands that never load TensorFlow)."""
    path, preset, overrides = resolve_overrides(kwargs)
    return load_config(path, overrides, preset, registries=registries)


def resolve_config_given(kwargs: dict) -> tuple[Config, frozenset[str]]:
    """As :func:`resolve_config`, and the keys the command line gives: its options, ``--set`` and the keys of a
    ``--config`` file passed (not of the ``./mlflow.yml`` found by default: a project's defaults do not speak
    for a model trained with another plan; :mod:`..trained`)."""
    explicit = kwargs.get("config_path")
    path, preset, overrides = resolve_overrides(kwargs)
    given = set(overrides) | (set(file_keys(explicit)) if explicit else set())
    return load_config(path, overrides, preset), frozenset(given)


def resolve_plan(kwargs: dict):
    """Pop the config options out of a command's kwargs and resolve the run plan (checks everything)."""
    from ..plan import resolve_plan as resolve
    return resolve(resolve_config(kwargs))


def resolve_overrides(kwargs: dict) -> tuple[str | None, str, dict]:
    """Pop the config options out of a command's kwargs: ``(config file, preset, overrides)``."""
    path = kwargs.pop("config_path", None)
    if path is None and Path(DEFAULT_CONFIG).is_file():
        path = DEFAULT_CONFIG
    overrides = {}
    for key in config_keys():
        value = kwargs.pop(_param(key), None)
        if value is not None:
            overrides[key] = value
    for item in kwargs.pop("sets", ()):
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        overrides[key.strip()] = value
    return path, kwargs.pop("preset", "default"), overrides


# The keys every training command (train, lr-find, run) takes as options; any other key: --set.
TRAIN_OPTIONS = ("augment", "data.dataset", "data.validation_size", "data.normalization", "data.limit_train",
                 "data.limit_test", "model.name", "model.activation", "model.initializer", "model.normalization",
                 "model.width", "model.depth", "model.dropout", "model.l2", "model.members", "model.pretrained",
                 "train.epochs",
                 "train.time_budget", "train.batch_size",
                 "train.optimizer", "train.learning_rate", "train.lr_schedule", "train.loss",
                 "train.label_smoothing", "train.early_stopping", "train.clip_norm", "train.calibrate", "train.ema",
                 "evaluate.tta", "train.seed", "train.deterministic", "train.keep_checkpoints",
                 "tracking.tracking_uri", "tracking.experiment", "tracking.registered_model")


BACKENDS = ("tensorflow", "jax")


# Commands that hand over to MLflow's own server and never load TensorFlow.
WITHOUT_TENSORFLOW = ("ui", "server")


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trainlab")
@click.option("--backend", type=click.Choice(BACKENDS), envvar="KERAS_BACKEND", show_envvar=True,
              help="Keras backend (default tensorflow). jax trains with keras.distribution "
                   "(train.strategy=data_parallel); exports are still TF SavedModels.")
@click.option("--verbose", "-v", is_flag=True, default=None,
              help=f"Show TensorFlow's C++ start-up lines and MLflow's info logs (also ${runtime.VERBOSE_ENV}=1).")
@click.option("--quiet", "-q", is_flag=True, default=None,
              help=f"Print only errors and the command's final line: no progress bars, no epoch lines (also "
                   f"${QUIET_ENV}=1).")
@click.pass_context
def cli(ctx, backend, verbose, quiet):
    """trainlab: train image classifiers, every technique a switch, every run tracked in MLflow."""
    if backend:
        if "keras" in sys.modules and sys.modules["keras"].backend.backend() != backend:
            raise click.UsageError(f"Keras is already loaded with the {sys.modules['keras'].backend.backend()} "
                                   "backend in this process; set KERAS_BACKEND before starting it")
        os.environ["KERAS_BACKEND"] = backend  # read once, when keras is first imported
    if verbose:
        os.environ[runtime.VERBOSE_ENV] = "1"  # sweep workers and export subprocesses inherit it
    asks_help = bool({"-h", "--help"} & set(sys.argv[1:]))
    runtime.setup(verbose, tensorflow=ctx.invoked_subcommand not in WITHOUT_TENSORFLOW and not asks_help)
