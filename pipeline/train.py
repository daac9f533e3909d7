"""The training stage: config -> data -> inputs -> model -> fit -> test -> log (-> register).

Reads top to bottom. Fails fast: a non-finite loss stops the run, marks it FAILED and registers
nothing; Ctrl-C marks it KILLED.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import keras
import numpy as np

from augment import AugmentChain
from models import create_model
from pipeline import plots, tracking
from pipeline.config import Config, TrainConfig
from pipeline.datasets import load_dataset
from pipeline.errors import ConfigError, DivergedError
from pipeline.evaluate import EvalReport, evaluate_model
from pipeline.inputs import Normalizer, make_dataset, make_splits
from pipeline.preview import augment_preview


@dataclass
class TrainResult:
    run_id: str
    best_epoch: int
    best_val_accuracy: float
    test: EvalReport
    train_seconds: float
    history: dict = field(repr=False, default_factory=dict)
    registration: tracking.Registration | None = None


def train(cfg: Config, register: bool = False, echo: Callable[[str], None] = print) -> TrainResult:
    """Train one model as ``cfg`` says, tracked as one MLflow run. Returns what it measured."""
    # --- tracking first: an unwritable store fails before any work is done
    experiment_id = tracking.configure(cfg.tracking)

    # --- data
    ds = load_dataset(cfg.data.dataset, cfg.data.cache_dir)
    splits = make_splits(ds, cfg.data.validation_size, cfg.train.seed, cfg.data.limit_train, cfg.data.limit_test)
    normalizer = Normalizer.fit(cfg.data.normalization, splits.x_train)

    # --- inputs (augmentation on training batches only)
    t = cfg.train
    chain = AugmentChain(cfg.augment)
    common = dict(num_classes=ds.num_classes, normalizer=normalizer)
    train_ds = make_dataset(splits.x_train, splits.y_train, batch_size=t.batch_size, training=True, seed=t.seed,
                            shuffle_buffer=t.shuffle_buffer, label_smoothing=t.label_smoothing, augment=chain,
                            **common)
    val_ds = make_dataset(splits.x_val, splits.y_val, batch_size=1000, **common)

    # --- model
    keras.utils.set_random_seed(t.seed)
    model = build_model(cfg, splits.x_train.shape[1:], ds.num_classes)
    steps = t.epochs * len(train_ds)
    model.compile(optimizer=make_optimizer(t, steps), loss=keras.losses.CategoricalCrossentropy(),
                  metrics=["accuracy"])

    with tracking.run(experiment_id, cfg.tracking.run_name) as run_id:
        tracking.log_params({**cfg.flat(), "model.parameters": model.count_params()})
        tracking.log_params({f"normalization.{k}": v for k, v in normalizer.as_params().items()})
        tracking.log_params({"data.train_size": len(splits.y_train), "data.val_size": len(splits.y_val),
                             "data.test_size": len(splits.y_test), "data.source": ds.source})
        echo(f"run {run_id}: {cfg.model.name} ({model.count_params():,} parameters) on {ds.name}, "
             f"{len(splits.y_train)} train / {len(splits.y_val)} validation images, {t.epochs} epoch(s)")

        # --- fit
        if chain:
            tracking.log_figure(augment_preview(splits.x_train, splits.y_train, chain, ds.class_names, seed=t.seed),
                                "plots/augmentation.png")
        guard, best = StopOnNonFinite(), KeepBest("val_accuracy")
        callbacks = [guard, best, tracking.EpochLogger(), EpochEcho(echo)]
        if chain.mixes_labels and t.mixing_off_epochs:
            callbacks.append(MixingSwitch(chain, off_from_epoch=t.epochs - t.mixing_off_epochs))
        start = time.perf_counter()
        history = model.fit(train_ds, validation_data=val_ds, epochs=t.epochs, verbose=0, shuffle=False,
                            callbacks=callbacks).history  # shuffle=False: tf.data shuffles
        train_seconds = time.perf_counter() - start
        if guard.reason:
            raise DivergedError(f"training diverged: {guard.reason}; lower train.learning_rate")

        # --- test, with the weights of the best validation epoch (KeepBest restored them)
        serving = with_normalization(model, normalizer)
        report = evaluate_model(serving, splits.x_test, splits.y_test, ds.class_names)

        # --- log
        tracking.log_metrics({"best_epoch": best.epoch, tracking.SELECTION_METRIC: best.value,
                              "train_seconds": train_seconds, **report.metrics("test_")})
        tracking.log_dict(report.as_dict(), "evaluation/test.json")
        tracking.log_figure(plots.learning_curves(history, best.epoch), "plots/learning_curves.png")
        tracking.log_figure(plots.confusion_matrix(report.confusion, ds.class_names), "plots/confusion_matrix.png")
        tracking.set_tags({"trainlab.dataset": ds.name, "trainlab.model": cfg.model.name,
                           "trainlab.class_names": ",".join(ds.class_names)})
        tracking.log_model(serving, ds.num_classes)

    result = TrainResult(run_id, best.epoch, best.value, report, train_seconds, history)
    echo(f"best epoch {best.epoch + 1}: val_accuracy {best.value:.4f}; test_accuracy {report.accuracy:.4f}; "
         f"trained in {train_seconds:.0f}s")
    if register:
        result.registration = tracking.register(run_id, cfg.tracking.registered_model)
        echo(result.registration.message)
    return result


def build_model(cfg: Config, input_shape, num_classes: int) -> keras.Model:
    m = cfg.model
    try:
        return create_model(m.name, input_shape=tuple(input_shape), num_classes=num_classes,
                             activation=m.activation, initializer=m.initializer, width=m.width,
                             depth=m.depth, dropout=m.dropout)
    except (KeyError, ValueError) as e:
        raise ConfigError(f"model.{e.args[0]}" if isinstance(e, ValueError) else e.args[0]) from None


def make_optimizer(t: TrainConfig, total_steps: int) -> keras.optimizers.Optimizer:
    lr = t.learning_rate
    if t.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(t.learning_rate, decay_steps=max(1, total_steps))
    return {"adam": lambda: keras.optimizers.Adam(lr),
            "adamw": lambda: keras.optimizers.AdamW(lr),
            "sgd": lambda: keras.optimizers.SGD(lr, momentum=0.9),
            "rmsprop": lambda: keras.optimizers.RMSprop(lr)}[t.optimizer]()


def with_normalization(model: keras.Model, normalizer: Normalizer) -> keras.Model:
    """The trained network behind its input normalization: a model that takes raw 0-255 pixels."""
    inputs = keras.Input(shape=model.input_shape[1:], name="image")
    x = keras.layers.Rescaling(normalizer.scale, normalizer.offset, name="normalize")(inputs)
    return keras.Model(inputs, model(x), name=f"{model.name}_raw_pixels")


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training at the first NaN/inf batch loss and remembers why."""

    reason: str | None = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            self.reason = f"loss became {loss} at epoch {self.epoch + 1}, batch {batch + 1}"
            self.model.stop_training = True

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch


class KeepBest(keras.callbacks.Callback):
    """Tracks the best epoch on a validation metric (higher is better) and restores its weights at the end."""

    def __init__(self, monitor: str):
        super().__init__()
        self.monitor, self.epoch, self.value, self.weights = monitor, -1, -np.inf, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and value > self.value:
            self.epoch, self.value, self.weights = epoch, float(value), self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.weights is not None:
            self.model.set_weights(self.weights)


class MixingSwitch(keras.callbacks.Callback):
    """Turns mixup/cutmix off from epoch ``off_from_epoch`` on (clean labels for the last epochs)."""

    def __init__(self, chain: AugmentChain, off_from_epoch: int):
        super().__init__()
        self.chain, self.off_from_epoch = chain, off_from_epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.chain.mixing.assign(epoch < self.off_from_epoch)


class EpochEcho(keras.callbacks.Callback):
    """One line per epoch on the terminal."""

    def __init__(self, echo: Callable[[str], None]):
        super().__init__()
        self.echo, self.start = echo, time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        shown = "  ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items())
        self.echo(f"epoch {epoch + 1}/{self.params['epochs']}  {shown}  ({time.perf_counter() - self.start:.1f}s)")
