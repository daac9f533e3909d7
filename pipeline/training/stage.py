"""The training stage: prepare (data, inputs, model) -> fit -> test -> log, from one plan.

Reads top to bottom. Fails fast: a non-finite loss stops the run, marks it FAILED and registers
nothing; Ctrl-C, SIGTERM and SIGHUP stop it at the next batch boundary and mark it KILLED. Every
finished epoch is checkpointed, so ``resume=RUN_ID`` continues a stopped run where it was.
Registration is the caller's (``trainlab.pipeline.job.register_result``): the result carries the
rescorer of the validation split the run was selected on.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import keras
import tensorflow as tf

from trainlab.augment.tta import views, with_tta
from trainlab.models import TemperatureScaling
from trainlab.models.gradcam import explainer

from .. import progress, tracking
from ..data.inputs import Normalizer
from ..errors import ConfigError, DivergedError
from ..evaluation import plots
from ..evaluation.calibration import expected_calibration_error, fit_temperature, scale
from ..evaluation.diagnosis import Diagnosis, diagnose
from ..evaluation.evaluate import (
    TOP_K,
    EvalReport,
    accuracy_rescorer,
    evaluate_model,
    predict_images,
    validation_digest,
)
from ..evaluation.preview import augment_preview
from ..plan import Plan
from ..runtime import distribute, dtype_policy
from ..runtime import process as runtime
from ..tracking.model_card import model_card, source_commit
from . import checkpoints, faults
from .budget import TimeBudget, budgeted
from .callbacks import (
    EpochBar,
    EpochCounter,
    EpochEcho,
    EpochLogger,
    KeepBest,
    MixingSwitch,
    StopOnNonFinite,
    StopOnSignal,
)
from .checkpoints import Checkpoint, Checkpointer
from .finetune import phases_of
from .loop import fit_distributed
from .model import build
from .optim import averaged_weights, class_weights, make_loss, make_optimizer
from .prepare import Prepared, prepare
from .resume import CHECKPOINT_TAG, REGISTER_TAG


@dataclass
class TrainResult:
    run_id: str
    best_epoch: int
    best_val_accuracy: float
    test: EvalReport | None   # None on a worker that is not the chief
    train_seconds: float
    history: dict = field(repr=False, default_factory=dict)
    registration: tracking.Registration | None = None   # set by job.register_result
    fit: Diagnosis | None = None
    model: keras.Model | None = field(repr=False, default=None)  # the logged model: raw pixels in, float32
    register: bool = False    # registration was asked for (now, or by the command of a resumed run)
    rescorer: Callable[[str], tuple | None] | None = field(repr=False, default=None)  # on the validation split


@dataclass
class Tested:
    """What the test step measured: the served model (normalization, and calibration if asked, inside)."""

    serving: keras.Model
    report: EvalReport
    extra_metrics: dict   # calibration and test-time augmentation figures


def train(plan: Plan, register: bool = False, echo: Callable[[str], None] = print,
          callbacks: list[keras.callbacks.Callback] = (), tags: dict | None = None,
          resume: Path | None = None, prepared: Prepared | None = None) -> TrainResult:
    """Train one model as ``plan`` says, tracked as one MLflow run. Returns what it measured.

    ``register`` records that the model is to be registered (a resumed run remembers it); the caller
    registers. ``callbacks`` are added to fit's (benchmarks and studies observe training through them);
    ``tags`` are set on the run when it starts (sweeps name the point and its parent run);
    ``resume`` is the checkpoint of a stopped run: that same run continues from its last finished
    epoch (its plan must be the one it was started with: ``resume.resume_config``); ``prepared``: the
    plan's data and model when the caller has prepared them already (the sweep worker, for its probes).
    Under ``train.strategy: multi_worker`` every worker trains; only the chief tracks and tests (the
    others return a result with an empty ``run_id``).
    """
    with runtime.op_determinism(plan.config.train.deterministic):
        return _train(plan, register, echo, callbacks, tags, resume, prepared)


def _train(plan: Plan, register: bool, echo, callbacks, tags, resume: Path | None,
           prepared: Prepared | None) -> TrainResult:
    cfg, t, dist = plan.config, plan.config.train, plan.distribution
    # --- tracking first: an unwritable store fails before any work is done
    experiment_id = tracking.configure(cfg.tracking) if dist.is_chief else None
    if resume and dist.kind == "multi_worker":
        raise ConfigError("--resume is not supported under train.strategy: multi_worker (its workers keep no "
                          "checkpoints); start the run again")
    if t.ema and dist.custom_loop:
        raise ConfigError(f"train.ema is not supported under train.strategy: {dist.kind} (its loop validates the "
                          "raw weights); drop train.ema")
    checkpoint = Checkpoint.load(resume) if resume else None
    prep = prepared or prepare(plan)
    _compile(prep, checkpoint)
    # With train.ema, validation, the kept best epoch, test and export all use the averaged weights.
    keep = (lambda: averaged_weights(prep.model)) if t.ema else None
    guard, best = StopOnNonFinite(), KeepBest("val_accuracy", patience=t.early_stopping, source=keep)
    first_epoch = 0
    if checkpoint:
        best.resume(checkpoint.state, checkpoint.best_weights)
        first_epoch = t.epochs if checkpoint.state.get("stopped_epoch") is not None else checkpoint.epoch + 1

    if not dist.is_chief:
        echo(f"{dist.describe()}: training {cfg.model.name}; the chief tracks and tests")
        start = time.perf_counter()
        history = _fit(prep, first_epoch, [guard, best, EpochEcho(echo)])
        seconds = time.perf_counter() - start
        echo(f"trained in {seconds:.0f}s; weights digest {distribute.weights_digest(prep.model.get_weights())}")
        return TrainResult("", best.epoch, best.value, None, seconds, history)

    with tracking.run(experiment_id, cfg.tracking.run_name, tags,
                      resume=checkpoint.state["run_id"] if checkpoint else None) as run_id:
        folder = checkpoints.root_for(cfg.tracking.tracking_uri) / run_id
        register = register or bool(checkpoint and checkpoint.state.get("register"))  # as the stopped command asked
        saver = _start(prep, run_id, folder, checkpoint, best, register, echo)
        watchers = [guard, best, EpochLogger(), EpochEcho(echo), saver, *callbacks]
        if prep.chain.mixes_labels and t.mixing_off_epochs:
            watchers.append(MixingSwitch(prep.chain, off_from_epoch=t.epochs - t.mixing_off_epochs))
        _fit(prep, first_epoch, watchers)
        prep.model = distribute.started(dist).alone(prep.model, lambda: build(plan))  # JAX: test alone
        if guard.reason:
            tracking.set_tags({"trainlab.fit": "diverged", "trainlab.fit_reason": guard.reason})
            raise DivergedError(f"training diverged: {guard.reason}; lower train.learning_rate")
        digest = distribute.weights_digest(prep.model.get_weights())
        tested = test(prep, echo)  # with the weights of the best validation epoch (KeepBest restored them)
        verdict = _log_end(prep, best, saver.history, saver.seconds, tested, digest)
    if not t.keep_checkpoints:
        checkpoints.remove(folder)

    splits = prep.splits
    result = TrainResult(run_id, best.epoch, best.value, tested.report, saver.seconds, saver.history, fit=verdict,
                         model=tested.serving, register=register,
                         rescorer=accuracy_rescorer(splits.x_val, splits.y_val, prep.ds.num_classes))
    stopped = f" (early stop after epoch {best.stopped_epoch + 1})" if best.stopped_epoch is not None else ""
    echo(f"best epoch {best.epoch + 1}: val_accuracy {best.value:.4f}; test_accuracy {tested.report.accuracy:.4f}; "
         f"trained in {saver.seconds:.0f}s{stopped}")
    echo(f"fit: {verdict.verdict} ({verdict.reason})")
    if dist.kind != "none" or t.deterministic:
        echo(f"weights digest {digest}")
    return result


def metrics_for(ds) -> list:
    """Accuracy, and top-5 accuracy (``top_k_accuracy``) where there are more than 5 classes."""
    top = [keras.metrics.TopKCategoricalAccuracy(TOP_K, name="top_k_accuracy")] if ds.num_classes > TOP_K else []
    return ["accuracy", *top]


def _compile(prep: Prepared, checkpoint: Checkpoint | None) -> None:
    """The optimizer on the plan's schedule, peaking at its effective rate; a checkpoint's state restored.
    A pretrained backbone's optimizer is built over the variables of both phases (``finetune``)."""
    plan, t = prep.plan, prep.plan.config.train
    trainable, scales = None, None
    if plan.pretrained:
        prep.phases = phases_of(plan.config)
        trainable, scales = prep.phases.variables(prep.model)
    with distribute.started(plan.distribution).scope(), dtype_policy.policy(plan.dtype_policy):
        schedule = None
        if t.time_budget is not None:  # a resumed run continues its checkpoint's plan
            schedule, prep.budget = budgeted(plan, prep.val_ds, checkpoint.state if checkpoint else None)
        optimizer = make_optimizer(t, plan.steps_per_epoch, peak=plan.effective_learning_rate, scales=scales,
                                   learning_rate=schedule)
        prep.model.compile(optimizer=optimizer, loss=make_loss(t, ensemble=(plan.config.model.members or 1) > 1),
                           metrics=metrics_for(prep.ds), steps_per_execution=t.steps_per_execution)
        if trainable is not None:
            optimizer.build(trainable)
        if checkpoint:
            checkpoint.restore(prep.model)


def _fit(prep: Prepared, first_epoch: int, watchers: list) -> dict:
    """Keras ``fit`` (or the custom loop under multi-worker) from ``first_epoch``; its history."""
    t, dist, model = prep.plan.config.train, prep.plan.distribution, prep.model
    bar = EpochBar(prep.plan.steps_per_epoch, t.batch_size) if progress.wanted() else None
    budget = [prep.budget] if prep.budget else []  # its plan goes in the epoch's logs before anyone reads them
    watchers = [EpochCounter(prep.epoch), *budget, *([bar] if bar else []), *watchers]  # the bar before the line
    epochs = TimeBudget.MAX_EPOCHS if prep.budget else t.epochs
    if t.ema:
        watchers.insert(0, keras.callbacks.SwapEMAWeights())  # validation sees the averaged weights
    if prep.phases:
        watchers.insert(0, prep.phases)  # sets the epoch's trainable backbone layers; logs lr_backbone
    try:
        with faults.graceful() as pending:
            watchers.insert(0, StopOnSignal(pending))
            if dist.custom_loop:
                strategy = distribute.started(dist).strategy
                return fit_distributed(model, strategy, prep.train_ds, prep.val_ds, t.epochs, t.batch_size, watchers,
                                       initial_epoch=first_epoch, share=prep.share)
            weights = class_weights(t.class_weight, prep.splits.y_train, prep.ds.num_classes)
            return model.fit(prep.train_ds, validation_data=prep.val_ds, epochs=epochs, initial_epoch=first_epoch,
                             verbose=0, shuffle=False,  # tf.data shuffles
                             callbacks=watchers, class_weight=weights).history
    except tf.errors.ResourceExhaustedError as e:
        raise faults.resource_error(e, f"training {prep.plan.config.model.name} with batches of {t.batch_size}",
                                    "lower train.batch_size") from None
    finally:
        if bar:
            bar.stop()


def _start(prep: Prepared, run_id: str, folder: Path, checkpoint: Checkpoint | None, best: KeepBest,
           register: bool, echo) -> Checkpointer:
    """The run's checkpointer; a new run logs what it starts from, a resumed one says where it goes on."""
    cfg = prep.plan.config
    done, seconds = (checkpoint.state["history"], checkpoint.state["train_seconds"]) if checkpoint else ({}, 0.0)
    saver = Checkpointer(folder / checkpoints.FILENAME, best,
                         {"run_id": run_id, "config": cfg.flat(), "register": register}, done, seconds)
    if checkpoint:
        echo(f"run {run_id}: resuming {cfg.model.name} on {prep.ds.name} after epoch {checkpoint.epoch + 1} of "
             f"{cfg.train.epochs}")
    else:
        _log_start(prep, echo)
        tracking.set_tags({CHECKPOINT_TAG: saver.path, REGISTER_TAG: register})
    return saver


def test(prep: Prepared, echo: Callable[[str], None] = print) -> Tested:
    """The trained network behind its normalization (and calibration, ``train.calibrate``) on the test
    split; with ``evaluate.tta`` its views' average too, also on validation (where it is judged)."""
    cfg, splits, names = prep.plan.config, prep.splits, prep.ds.class_names
    serving = with_normalization(prep.model, prep.normalizer)
    extra = {}
    if cfg.train.calibrate:  # temperature scaling, fitted on validation; the test split only reports it
        uncalibrated = evaluate_model(serving, splits.x_test, splits.y_test, names)
        serving, extra = calibrate(serving, splits.x_val, splits.y_val)
        extra["test_ece_uncalibrated"] = uncalibrated.ece
        echo(f"calibrated: temperature {extra['calibration_temperature']:.3f} (fitted on validation)")
    report = evaluate_model(serving, splits.x_test, splits.y_test, names)
    if cfg.evaluate.tta:  # reported beside the plain figure; whether it helps is judged on validation
        averaged = with_tta(serving, cfg.evaluate.tta)
        val_plain, val_tta = (evaluate_model(m, splits.x_val, splits.y_val, names) for m in (serving, averaged))
        tta_report = evaluate_model(averaged, splits.x_test, splits.y_test, names)
        extra.update({**tta_report.metrics("test_tta_"), "val_tta_accuracy": val_tta.accuracy})
        echo(f"test-time augmentation ({1 + len(views(cfg.evaluate.tta))} views): validation accuracy "
             f"{val_tta.accuracy:.4f} (plain {val_plain.accuracy:.4f}), test {tta_report.accuracy:.4f} "
             f"(plain {report.accuracy:.4f})")
    return Tested(serving, report, extra)


def _log_end(prep: Prepared, best: KeepBest, history: dict, train_seconds: float, tested: Tested,
             digest: str) -> Diagnosis:
    """What a finished run logs: metrics, the test report, plots, tags, its description, card and model."""
    cfg, ds, splits, report = prep.plan.config, prep.ds, prep.splits, tested.report
    verdict = diagnose(history, best.epoch, cfg.train.lr_schedule)
    tracking.log_metrics({"best_epoch": best.epoch, tracking.SELECTION_METRIC: best.value,
                          **({tracking.TIE_METRIC: best.loss} if best.loss is not None else {}),
                          "epochs_run": len(history["loss"]), "train_seconds": train_seconds,
                          **report.metrics("test_"), **tested.extra_metrics})
    tracking.log_dict(report.as_dict(), "evaluation/test.json")
    tracking.log_figure(plots.learning_curves(history, best.epoch), "plots/learning_curves.png")
    tracking.log_figure(plots.confusion_matrix(report.confusion, ds.class_names), "plots/confusion_matrix.png")
    tracking.log_figure(plots.mistakes(splits.x_test, report, explain=explainer(tested.serving)), "plots/mistakes.png")
    tracking.log_figure(plots.reliability(report.reliability()), "plots/reliability.png")
    names = json.dumps(list(ds.class_names), ensure_ascii=False)  # a JSON list: any name survives, commas too
    tracking.set_tags({"trainlab.dataset": ds.name, "trainlab.model": cfg.model.name,
                       "trainlab.class_names": names, "trainlab.fit": verdict.verdict,
                       "trainlab.fit_reason": verdict.reason, "trainlab.weights_digest": digest,
                       tracking.VALIDATION_TAG: validation_digest(splits.x_val, splits.y_val),
                       "trainlab.validation_split": f"{ds.name}, seed {cfg.train.seed}, {len(splits.y_val)} images"})
    summary = (f"{cfg.model.name} ({prep.model.count_params():,} parameters) trained {len(history['loss'])} "
               f"epoch(s) on {ds.name} ({len(splits.y_train):,} training images, "
               f"{'x'.join(map(str, ds.image_shape))}): best validation accuracy {best.value:.4f} at epoch "
               f"{best.epoch + 1}, test accuracy {report.accuracy:.4f}.")
    tracking.describe_run(summary)
    tracking.log_text(model_card(prep.plan, ds, splits, report, best, verdict, history, summary), tracking.CARD)
    commit = source_commit()
    if commit:
        tracking.set_tags({"trainlab.git_commit": commit})
    tracking.log_model(tested.serving, ds.num_classes)
    return verdict


def _log_start(prep: Prepared, echo) -> None:
    """What a new run logs before its first epoch: params, plan, data facts, augmentation preview."""
    plan, ds, splits, model, chain = prep.plan, prep.ds, prep.splits, prep.model, prep.chain
    cfg, t, dist = plan.config, plan.config.train, plan.distribution
    tracking.log_params({**cfg.flat(), "model.parameters": model.count_params(), **dist.params(),
                         "train.effective_learning_rate": plan.effective_learning_rate,
                         "train.dtype_policy": plan.dtype_policy})
    tracking.log_params({f"normalization.{k}": v for k, v in prep.normalizer.as_params().items()})
    skipped = ds.facts.get("skipped_files", [])
    tracking.log_params({"data.train_size": len(splits.y_train), "data.val_size": len(splits.y_val),
                         "data.test_images": len(splits.y_test), "data.source": ds.source,
                         "data.image_shape": "x".join(map(str, ds.image_shape)), "data.skipped_files": len(skipped)})
    if skipped:
        echo(ds.skipped_warning())
    tracking.log_dict(plan.as_dict(), "plan.yaml")
    if plan.pretrained:
        tracking.set_tags({"trainlab.pretrained": plan.pretrained.described})
    tracking.log_datasets(ds.name, ds.source, {"training": (splits.x_train, splits.y_train),
                                                "validation": (splits.x_val, splits.y_val),
                                                "test": (splits.x_test, splits.y_test)})
    for note in plan.notes:
        echo(f"note: {note}")
    run_id = tracking.active_run_id()
    echo(f"run {run_id}: {cfg.model.name} ({model.count_params():,} parameters) on {ds.name}, "
         f"{len(splits.y_train)} train / {len(splits.y_val)} validation images, {t.epochs} epoch(s)"
         + ("" if dist.kind == "none" else f"; {dist.describe()}")
         + ("" if plan.dtype_policy == "float32" else f"; {plan.dtype_policy}"))
    if chain:
        tracking.log_figure(augment_preview(splits.x_train, splits.y_train, chain, ds.class_names, seed=t.seed),
                            "plots/augmentation.png")


def calibrate(serving: keras.Model, x_val, y_val) -> tuple[keras.Model, dict]:
    """``serving`` with a temperature fitted on the validation split after its softmax, and what was
    measured there (the temperature, validation ECE before and after)."""
    probabilities = predict_images(serving, x_val)
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
