"""The training stage: plan -> data -> inputs -> model -> fit -> test -> log (-> register).

Reads top to bottom. Fails fast: a non-finite loss stops the run, marks it FAILED and registers
nothing; Ctrl-C, SIGTERM and SIGHUP stop it at the next batch boundary and mark it KILLED. Every
finished epoch is checkpointed, so ``resume=RUN_ID`` continues a stopped run where it was.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from trainlab.augment import AugmentChain
from trainlab.augment.tta import views, with_tta
from trainlab.models import TemperatureScaling, create_model

from .. import progress, tracking
from ..config.schema import Config
from ..data.inputs import Normalizer, load_splits, make_dataset
from ..errors import ConfigError, DivergedError
from ..evaluation import plots
from ..evaluation.diagnosis import Diagnosis, diagnose
from ..evaluation.evaluate import EvalReport, accuracy_rescorer, evaluate_model, validation_digest
from ..evaluation.preview import augment_preview
from ..plan import Plan, as_plan
from ..progress import EpochBar
from ..runtime import distribute
from ..runtime import dtype_policy
from ..runtime import process as runtime
from ..tracking.model_card import model_card, source_commit
from . import checkpoints, faults
from .callbacks import EpochCounter, EpochEcho, KeepBest, MixingSwitch, StopOnNonFinite, StopOnSignal
from .checkpoints import Checkpoint, Checkpointer
from .loop import fit_distributed
from .optim import averaged_weights, class_weights, make_loss, make_optimizer
from .resume import CHECKPOINT_TAG, REGISTER_TAG


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
          callbacks: list[keras.callbacks.Callback] = (), tags: dict | None = None,
          resume: Path | None = None) -> TrainResult:
    """Train one model as ``plan`` says, tracked as one MLflow run. Returns what it measured.

    A :class:`Config` is resolved into its plan first (every option checked before any work).

    ``callbacks`` are added to fit's (benchmarks and studies observe training through them);
    ``tags`` are set on the run when it starts (sweeps name the point and its parent run);
    ``resume`` is the checkpoint of a stopped run: that same run continues from its last finished
    epoch (its plan must be the one it was started with: ``resume.resume_config``).
    Under ``train.strategy: multi_worker`` every worker trains; only the chief tracks, tests and
    registers (the others return a result with an empty ``run_id``).
    """
    plan = as_plan(plan)
    with runtime.op_determinism(plan.config.train.deterministic):
        return _train(plan, register, echo, callbacks, tags, resume)


def _train(plan: Plan, register: bool, echo, callbacks, tags, resume: Path | None) -> TrainResult:
    cfg, t, dist = plan.config, plan.config.train, plan.distribution
    # --- tracking first: an unwritable store fails before any work is done
    experiment_id = tracking.configure(cfg.tracking) if dist.is_chief else None
    if resume and dist.kind == "multi_worker":
        raise ConfigError("--resume is not supported under train.strategy: multi_worker (its workers keep no "
                          "checkpoints); start the run again")
    checkpoint = Checkpoint.load(resume) if resume else None
    keras.utils.set_random_seed(t.seed)

    # --- data
    ds, splits = load_splits(cfg)
    normalizer = Normalizer.fit(cfg.data.normalization, splits.x_train)

    # --- inputs (augmentation on training batches only; each epoch's draws depend on its number alone)
    chain = AugmentChain(cfg.augment)
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="input_epoch")
    common = dict(num_classes=ds.num_classes, normalizer=normalizer, parallel=not t.deterministic)
    train_ds = make_dataset(splits.x_train, splits.y_train, batch_size=t.batch_size, training=True, seed=t.seed,
                            shuffle_buffer=t.shuffle_buffer, label_smoothing=t.label_smoothing, augment=chain,
                            epoch=epoch, **common)
    val_ds = make_dataset(splits.x_val, splits.y_val, batch_size=1000, **common)

    # --- model, built where the strategy places its variables
    learning_rate = plan.effective_learning_rate
    policy = plan.dtype_policy
    with dist.scope(), dtype_policy.policy(policy):
        sync = dist.replicas > 1 and dist.kind != "data_parallel"  # JAX computes batch stats on the global batch
        model = build_model(plan, sync_batch_norm=sync)
        model.compile(optimizer=make_optimizer(dataclasses.replace(t, learning_rate=learning_rate), len(train_ds)),
                      loss=make_loss(t, ensemble=(plan.config.model.members or 1) > 1), metrics=["accuracy"],
                      steps_per_execution=t.steps_per_execution)
        if checkpoint:
            checkpoint.restore(model)

    if t.ema and dist.custom_loop:
        raise ConfigError(f"train.ema is not supported under train.strategy: {dist.kind} (its loop validates the "
                          "raw weights); drop train.ema")
    # With train.ema, validation, the kept best epoch, test and export all use the averaged weights.
    keep = (lambda: averaged_weights(model)) if t.ema else None
    guard, best = StopOnNonFinite(), KeepBest("val_accuracy", patience=t.early_stopping, source=keep)
    first_epoch = 0
    if checkpoint:
        best.resume(checkpoint.state, checkpoint.best_weights)
        stopped_early = checkpoint.state.get("stopped_epoch") is not None
        first_epoch = t.epochs if stopped_early else checkpoint.epoch + 1

    def fit(watchers) -> dict:
        bar = EpochBar(len(train_ds), t.batch_size) if progress.wanted() else None
        watchers = [EpochCounter(epoch), *([bar] if bar else []), *watchers]  # the bar goes before the epoch's line
        if t.ema:
            watchers.insert(0, keras.callbacks.SwapEMAWeights())  # validation sees the averaged weights
        try:
            with faults.graceful() as pending:
                watchers.insert(0, StopOnSignal(pending))
                if dist.custom_loop:
                    return fit_distributed(model, dist.strategy, train_ds, val_ds, t.epochs, t.batch_size, watchers,
                                           initial_epoch=first_epoch)
                return model.fit(train_ds, validation_data=val_ds, epochs=t.epochs, initial_epoch=first_epoch,
                                 verbose=0, shuffle=False, callbacks=watchers,  # tf.data shuffles
                                 class_weight=class_weights(t.class_weight, splits.y_train, ds.num_classes)).history
        except tf.errors.ResourceExhaustedError as e:
            raise faults.resource_error(e, f"training {cfg.model.name} with batches of {t.batch_size}",
                                        "lower train.batch_size") from None
        finally:
            if bar:
                bar.stop()

    if not dist.is_chief:
        echo(f"{dist.describe()}: training {cfg.model.name}; the chief tracks, tests and registers")
        start = time.perf_counter()
        history = fit([guard, best, EpochEcho(echo)])
        seconds = time.perf_counter() - start
        echo(f"trained in {seconds:.0f}s; weights digest {distribute.weights_digest(model.get_weights())}")
        return TrainResult("", best.epoch, best.value, None, seconds, history)

    run_id = checkpoint.state["run_id"] if checkpoint else None
    with tracking.run(experiment_id, cfg.tracking.run_name, tags, resume=run_id) as run_id:
        folder = checkpoints.root_for(cfg.tracking.tracking_uri) / run_id
        done, seconds = (checkpoint.state["history"], checkpoint.state["train_seconds"]) if checkpoint else ({}, 0.0)
        register = register or bool(checkpoint and checkpoint.state.get("register"))  # as the stopped command asked
        saver = Checkpointer(folder / checkpoints.FILENAME, best,
                             {"run_id": run_id, "config": cfg.flat(), "register": register}, done, seconds)
        if checkpoint:
            echo(f"run {run_id}: resuming {cfg.model.name} on {ds.name} after epoch {checkpoint.epoch + 1} of "
                 f"{t.epochs}")
        else:
            _log_start(plan, model, ds, splits, normalizer, chain, learning_rate, echo)
            tracking.set_tags({CHECKPOINT_TAG: saver.path, REGISTER_TAG: register})

        # --- fit
        watchers = [guard, best, tracking.EpochLogger(), EpochEcho(echo), saver, *callbacks]
        if chain.mixes_labels and t.mixing_off_epochs:
            watchers.append(MixingSwitch(chain, off_from_epoch=t.epochs - t.mixing_off_epochs))
        fit(watchers)
        history, train_seconds = saver.history, saver.seconds
        if guard.reason:
            tracking.set_tags({"trainlab.fit": "diverged", "trainlab.fit_reason": guard.reason})
            raise DivergedError(f"training diverged: {guard.reason}; lower train.learning_rate")
        digest = distribute.weights_digest(model.get_weights())

        # --- test, with the weights of the best validation epoch (KeepBest restored them)
        serving = with_normalization(model, normalizer)
        calibrated = {}
        if t.calibrate:  # temperature scaling, fitted on validation; the test split only reports it
            uncalibrated = evaluate_model(serving, splits.x_test, splits.y_test, ds.class_names)
            serving, calibrated = calibrate(serving, splits.x_val, splits.y_val)
            calibrated["test_ece_uncalibrated"] = uncalibrated.ece
            echo(f"calibrated: temperature {calibrated['calibration_temperature']:.3f} (fitted on validation)")
        report = evaluate_model(serving, splits.x_test, splits.y_test, ds.class_names)
        tta = {}
        if cfg.evaluate.tta:  # reported beside the plain figure; whether it helps is judged on validation
            averaged = with_tta(serving, cfg.evaluate.tta)
            val_plain, val_tta = (evaluate_model(m, splits.x_val, splits.y_val, ds.class_names)
                                  for m in (serving, averaged))
            tta_report = evaluate_model(averaged, splits.x_test, splits.y_test, ds.class_names)
            tta = {**tta_report.metrics("test_tta_"), "val_tta_accuracy": val_tta.accuracy}
            echo(f"test-time augmentation ({1 + len(views(cfg.evaluate.tta))} views): validation accuracy "
                 f"{val_tta.accuracy:.4f} (plain {val_plain.accuracy:.4f}), test {tta_report.accuracy:.4f} "
                 f"(plain {report.accuracy:.4f})")

        # --- log
        fit_verdict = diagnose(history, best.epoch)
        tracking.log_metrics({"best_epoch": best.epoch, tracking.SELECTION_METRIC: best.value,
                              "epochs_run": len(history["loss"]), "train_seconds": train_seconds,
                              **report.metrics("test_"), **calibrated, **tta})
        tracking.log_dict(report.as_dict(), "evaluation/test.json")
        tracking.log_figure(plots.learning_curves(history, best.epoch), "plots/learning_curves.png")
        tracking.log_figure(plots.confusion_matrix(report.confusion, ds.class_names), "plots/confusion_matrix.png")
        tracking.log_figure(plots.mistakes(splits.x_test, report), "plots/mistakes.png")
        tracking.log_figure(plots.reliability(report.reliability()), "plots/reliability.png")
        tracking.set_tags({"trainlab.dataset": ds.name, "trainlab.model": cfg.model.name,
                           "trainlab.class_names": ",".join(ds.class_names), "trainlab.fit": fit_verdict.verdict,
                           "trainlab.fit_reason": fit_verdict.reason, "trainlab.weights_digest": digest,
                           tracking.VALIDATION_TAG: validation_digest(splits.x_val, splits.y_val),
                           "trainlab.validation_split": f"{ds.name}, seed {t.seed}, {len(splits.y_val)} images"})
        summary = (f"{cfg.model.name} ({model.count_params():,} parameters) trained {len(history['loss'])} epoch(s) on "
                   f"{ds.name} ({len(splits.y_train):,} training images, {'x'.join(map(str, ds.image_shape))}): best "
                   f"validation accuracy {best.value:.4f} at epoch {best.epoch + 1}, test accuracy {report.accuracy:.4f}.")
        tracking.describe_run(summary)
        tracking.log_text(model_card(plan, ds, splits, report, best, fit_verdict, history, summary), tracking.CARD)
        commit = source_commit()
        if commit:
            tracking.set_tags({"trainlab.git_commit": commit})
        tracking.log_model(serving, ds.num_classes)
    if not t.keep_checkpoints:
        checkpoints.remove(folder)

    result = TrainResult(run_id, best.epoch, best.value, report, train_seconds, history, fit=fit_verdict,
                         model=serving)
    stopped = f" (early stop after epoch {best.stopped_epoch + 1})" if best.stopped_epoch is not None else ""
    echo(f"best epoch {best.epoch + 1}: val_accuracy {best.value:.4f}; test_accuracy {report.accuracy:.4f}; "
         f"trained in {train_seconds:.0f}s{stopped}")
    echo(f"fit: {fit_verdict.verdict} ({fit_verdict.reason})")
    if dist.kind != "none" or t.deterministic:
        echo(f"weights digest {digest}")
    if register:
        rescore = accuracy_rescorer(splits.x_val, splits.y_val, ds.num_classes)
        result.registration = tracking.register(run_id, cfg.tracking.registered_model, rescore)
        echo(result.registration.message)
    return result


def _log_start(plan: Plan, model, ds, splits, normalizer, chain, learning_rate, echo) -> None:
    """What a new run logs before its first epoch: params, plan, data facts, augmentation preview."""
    cfg, t, dist = plan.config, plan.config.train, plan.distribution
    tracking.log_params({**cfg.flat(), "model.parameters": model.count_params(), **dist.params(),
                         "train.effective_learning_rate": learning_rate, "train.dtype_policy": plan.dtype_policy})
    tracking.log_params({f"normalization.{k}": v for k, v in normalizer.as_params().items()})
    skipped = ds.facts.get("skipped_files", [])
    tracking.log_params({"data.train_size": len(splits.y_train), "data.val_size": len(splits.y_val),
                         "data.test_images": len(splits.y_test), "data.source": ds.source,
                         "data.image_shape": "x".join(map(str, ds.image_shape)), "data.skipped_files": len(skipped)})
    if skipped:
        echo(f"warning: skipped {len(skipped)} file(s) that are not readable images: {', '.join(skipped[:5])}"
             + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""))
    tracking.log_dict(plan.as_dict(), "plan.yaml")
    tracking.log_datasets(ds.name, ds.source, {"training": (splits.x_train, splits.y_train),
                                                "validation": (splits.x_val, splits.y_val),
                                                "test": (splits.x_test, splits.y_test)})
    run_id = tracking.active_run_id()
    echo(f"run {run_id}: {cfg.model.name} ({model.count_params():,} parameters) on {ds.name}, "
         f"{len(splits.y_train)} train / {len(splits.y_val)} validation images, {t.epochs} epoch(s)"
         + ("" if dist.kind == "none" else f"; {dist.describe()}")
         + ("" if plan.dtype_policy == "float32" else f"; {plan.dtype_policy}"))
    if chain:
        tracking.log_figure(augment_preview(splits.x_train, splits.y_train, chain, ds.class_names, seed=t.seed),
                            "plots/augmentation.png")


def build_model(plan: Plan, sync_batch_norm: bool = False) -> keras.Model:
    """The planned model (its options were checked when the plan was resolved).

    ``sync_batch_norm``: batch norm computes its statistics over the global batch of all replicas, so
    every replica (and worker) keeps the same moving averages.
    """
    model = create_model(plan.config.model.name, input_shape=tuple(plan.image_shape),
                         num_classes=plan.data.num_classes, **plan.model_options)
    if sync_batch_norm:
        config = model.get_config()
        _synchronize_batch_norm(config)
        model = model.__class__.from_config(config)
    return model


def _synchronize_batch_norm(config: dict) -> None:
    """Every batch norm layer of a functional model's config, nested models (ensemble members) included."""
    for layer in config["layers"]:
        if layer["class_name"] == "BatchNormalization":
            layer["config"]["synchronized"] = True
        elif "layers" in layer.get("config", {}):
            _synchronize_batch_norm(layer["config"])


def calibrate(serving: keras.Model, x_val, y_val) -> tuple[keras.Model, dict]:
    """``serving`` with a temperature fitted on the validation split after its softmax, and what was
    measured there (the temperature, validation ECE before and after)."""
    from ..evaluation.calibration import expected_calibration_error, fit_temperature, scale
    probabilities = np.asarray(serving.predict(x_val.astype(np.float32), batch_size=1000, verbose=0))
    temperature = fit_temperature(probabilities, y_val)
    scaled = TemperatureScaling(temperature, name="calibration")(serving.output)
    measured = {"calibration_temperature": temperature,
                "val_ece_uncalibrated": expected_calibration_error(probabilities, y_val),
                "val_ece": expected_calibration_error(scale(probabilities, temperature), y_val)}
    return keras.Model(serving.input, scaled, name=serving.name), measured


def with_normalization(model: keras.Model, normalizer: Normalizer) -> keras.Model:
    """The trained network behind its input normalization: a model that takes raw 0-255 pixels.

    Rebuilt uncompiled (no optimizer or schedule goes with it) and in float32, whatever precision
    trained it: served predictions do not depend on the trainer's hardware.
    """
    network = keras.Model.from_config(dtype_policy.float32_config(model.get_config()))
    network.set_weights(model.get_weights())
    inputs = keras.Input(shape=model.input_shape[1:], name="image")
    x = keras.layers.Rescaling(normalizer.scale, normalizer.offset, name="normalize")(inputs)
    return keras.Model(inputs, network(x), name=f"{model.name}_raw_pixels")
