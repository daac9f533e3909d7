"""The training stage: plan -> data -> inputs -> model -> fit -> test -> log (-> register).

Reads top to bottom. Fails fast: a non-finite loss stops the run, marks it FAILED and registers
nothing; Ctrl-C marks it KILLED.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable

import keras

from trainlab.augment import AugmentChain
from trainlab.models import create_model
from . import distribute, plots, precision, tracking
from .callbacks import EpochEcho, KeepBest, MixingSwitch, StopOnNonFinite
from .config import Config
from .diagnosis import Diagnosis, diagnose
from .errors import DivergedError
from .evaluate import EvalReport, evaluate_model
from .inputs import Normalizer, load_splits, make_dataset
from .loop import fit_distributed
from .optim import make_loss, make_optimizer
from .plan import Plan, as_plan
from .preview import augment_preview


@dataclass
class TrainResult:
    run_id: str
    best_epoch: int
    best_val_accuracy: float
    test: EvalReport | None   # None on a worker that is not the chief
    train_seconds: float
    history: dict = field(repr=False, default_factory=dict)
    registration: tracking.Registration | None = None
    fit: Diagnosis | None = None
    model: keras.Model | None = field(repr=False, default=None)  # the logged model: raw pixels in, float32


def train(plan: Plan | Config, register: bool = False, echo: Callable[[str], None] = print,
          callbacks: list[keras.callbacks.Callback] = (), tags: dict | None = None) -> TrainResult:
    """Train one model as ``plan`` says, tracked as one MLflow run. Returns what it measured.

    A :class:`Config` is resolved into its plan first (every option checked before any work).

    ``callbacks`` are added to fit's (benchmarks and studies observe training through them);
    ``tags`` are set on the run when it starts (sweeps name the point and its parent run).
    Under ``train.strategy: multi_worker`` every worker trains; only the chief tracks, tests and
    registers (the others return a result with an empty ``run_id``).
    """
    plan = as_plan(plan)
    cfg, t, dist = plan.config, plan.config.train, plan.distribution
    # --- tracking first: an unwritable store fails before any work is done
    experiment_id = tracking.configure(cfg.tracking) if dist.is_chief else None

    # --- data
    ds, splits = load_splits(cfg)
    normalizer = Normalizer.fit(cfg.data.normalization, splits.x_train)

    # --- inputs (augmentation on training batches only)
    chain = AugmentChain(cfg.augment)
    common = dict(num_classes=ds.num_classes, normalizer=normalizer)
    train_ds = make_dataset(splits.x_train, splits.y_train, batch_size=t.batch_size, training=True, seed=t.seed,
                            shuffle_buffer=t.shuffle_buffer, label_smoothing=t.label_smoothing, augment=chain,
                            **common)
    val_ds = make_dataset(splits.x_val, splits.y_val, batch_size=1000, **common)

    # --- model, built where the strategy places its variables
    learning_rate = plan.effective_learning_rate
    keras.utils.set_random_seed(t.seed)
    policy = plan.dtype_policy
    with dist.scope(), precision.policy(policy):
        sync = dist.replicas > 1 and dist.kind != "data_parallel"  # JAX computes batch stats on the global batch
        model = build_model(plan, sync_batch_norm=sync)
        model.compile(optimizer=make_optimizer(dataclasses.replace(t, learning_rate=learning_rate), len(train_ds)),
                      loss=make_loss(t), metrics=["accuracy"], steps_per_execution=t.steps_per_execution)

    guard, best = StopOnNonFinite(), KeepBest("val_accuracy", patience=t.early_stopping)

    def fit(watchers) -> tuple[dict, float]:
        start = time.perf_counter()
        if dist.custom_loop:
            history = fit_distributed(model, dist.strategy, train_ds, val_ds, t.epochs, t.batch_size, watchers)
        else:
            history = model.fit(train_ds, validation_data=val_ds, epochs=t.epochs, verbose=0, shuffle=False,
                                callbacks=watchers).history  # shuffle=False: tf.data shuffles
        return history, time.perf_counter() - start

    if not dist.is_chief:
        echo(f"{dist.describe()}: training {cfg.model.name}; the chief tracks, tests and registers")
        history, seconds = fit([guard, best, EpochEcho(echo)])
        echo(f"trained in {seconds:.0f}s; weights digest {distribute.weights_digest(model.get_weights())}")
        return TrainResult("", best.epoch, best.value, None, seconds, history)

    with tracking.run(experiment_id, cfg.tracking.run_name, tags) as run_id:
        tracking.log_params({**cfg.flat(), "model.parameters": model.count_params(), **dist.params(),
                             "train.effective_learning_rate": learning_rate,
                             "train.dtype_policy": policy})
        tracking.log_params({f"normalization.{k}": v for k, v in normalizer.as_params().items()})
        skipped = ds.facts.get("skipped_files", [])
        tracking.log_params({"data.train_size": len(splits.y_train), "data.val_size": len(splits.y_val),
                             "data.test_images": len(splits.y_test), "data.source": ds.source,
                             "data.image_shape": "x".join(map(str, ds.image_shape)),
                             "data.skipped_files": len(skipped)})
        if skipped:
            echo(f"warning: skipped {len(skipped)} file(s) that are not readable images: {', '.join(skipped[:5])}"
                 + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""))
        tracking.log_dict(plan.as_dict(), "plan.yaml")
        echo(f"run {run_id}: {cfg.model.name} ({model.count_params():,} parameters) on {ds.name}, "
             f"{len(splits.y_train)} train / {len(splits.y_val)} validation images, {t.epochs} epoch(s)"
             + ("" if dist.kind == "none" else f"; {dist.describe()}") + ("" if policy == "float32" else f"; {policy}"))

        # --- fit
        if chain:
            tracking.log_figure(augment_preview(splits.x_train, splits.y_train, chain, ds.class_names, seed=t.seed),
                                "plots/augmentation.png")
        watchers = [guard, best, tracking.EpochLogger(), EpochEcho(echo), *callbacks]
        if chain.mixes_labels and t.mixing_off_epochs:
            watchers.append(MixingSwitch(chain, off_from_epoch=t.epochs - t.mixing_off_epochs))
        history, train_seconds = fit(watchers)
        if guard.reason:
            tracking.set_tags({"trainlab.fit": "diverged", "trainlab.fit_reason": guard.reason})
            raise DivergedError(f"training diverged: {guard.reason}; lower train.learning_rate")
        digest = distribute.weights_digest(model.get_weights())

        # --- test, with the weights of the best validation epoch (KeepBest restored them)
        serving = with_normalization(model, normalizer)
        report = evaluate_model(serving, splits.x_test, splits.y_test, ds.class_names)

        # --- log
        fit_verdict = diagnose(history, best.epoch)
        tracking.log_metrics({"best_epoch": best.epoch, tracking.SELECTION_METRIC: best.value,
                              "epochs_run": len(history["loss"]), "train_seconds": train_seconds,
                              **report.metrics("test_")})
        tracking.log_dict(report.as_dict(), "evaluation/test.json")
        tracking.log_figure(plots.learning_curves(history, best.epoch), "plots/learning_curves.png")
        tracking.log_figure(plots.confusion_matrix(report.confusion, ds.class_names), "plots/confusion_matrix.png")
        tracking.set_tags({"trainlab.dataset": ds.name, "trainlab.model": cfg.model.name,
                           "trainlab.class_names": ",".join(ds.class_names), "trainlab.fit": fit_verdict.verdict,
                           "trainlab.fit_reason": fit_verdict.reason, "trainlab.weights_digest": digest})
        tracking.log_model(serving, ds.num_classes)

    result = TrainResult(run_id, best.epoch, best.value, report, train_seconds, history, fit=fit_verdict,
                         model=serving)
    stopped = f" (early stop after epoch {best.stopped_epoch + 1})" if best.stopped_epoch is not None else ""
    echo(f"best epoch {best.epoch + 1}: val_accuracy {best.value:.4f}; test_accuracy {report.accuracy:.4f}; "
         f"trained in {train_seconds:.0f}s{stopped}")
    echo(f"fit: {fit_verdict.verdict} ({fit_verdict.reason})")
    if dist.kind != "none":
        echo(f"weights digest {digest}")
    if register:
        result.registration = tracking.register(run_id, cfg.tracking.registered_model)
        echo(result.registration.message)
    return result


def build_model(plan: Plan, sync_batch_norm: bool = False) -> keras.Model:
    """The planned model (its options were checked when the plan was resolved).

    ``sync_batch_norm``: batch norm computes its statistics over the global batch of all replicas, so
    every replica (and worker) keeps the same moving averages.
    """
    model = create_model(plan.config.model.name, input_shape=tuple(plan.image_shape),
                         num_classes=plan.data.num_classes, **plan.model_options)
    if sync_batch_norm:
        config = model.get_config()
        for layer in config["layers"]:
            if layer["class_name"] == "BatchNormalization":
                layer["config"]["synchronized"] = True
        model = model.__class__.from_config(config)
    return model


def with_normalization(model: keras.Model, normalizer: Normalizer) -> keras.Model:
    """The trained network behind its input normalization: a model that takes raw 0-255 pixels.

    Rebuilt uncompiled (no optimizer or schedule goes with it) and in float32, whatever precision
    trained it: served predictions do not depend on the trainer's hardware.
    """
    network = keras.Model.from_config(precision.float32_config(model.get_config()))
    network.set_weights(model.get_weights())
    inputs = keras.Input(shape=model.input_shape[1:], name="image")
    x = keras.layers.Rescaling(normalizer.scale, normalizer.offset, name="normalize")(inputs)
    return keras.Model(inputs, network(x), name=f"{model.name}_raw_pixels")
