"""Learning-rate finder (Smith 2015): raise the rate exponentially over a few hundred steps, record
the loss, and suggest a rate a decade below the one where the smoothed loss was lowest."""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from .. import progress, tracking
from ..evaluation import plots
from ..plan import Plan
from .optim import make_loss, make_optimizer
from .prepare import prepare


@dataclass
class LrFindResult:
    learning_rates: np.ndarray
    losses: np.ndarray           # exponentially smoothed, bias-corrected
    suggestion: float
    stopped_early: bool          # the loss blew up before the last step


def sweep(model: keras.Model, dataset: tf.data.Dataset, optimizer: keras.optimizers.Optimizer,
          loss_fn: keras.losses.Loss, start: float = 1e-6, end: float = 1.0, steps: int = 200,
          smoothing: float = 0.9, blowup: float = 4.0) -> LrFindResult:
    """Train ``steps`` batches with lr = start * (end / start) ** (i / (steps - 1)); stop once the
    smoothed loss exceeds ``blowup`` times its minimum."""
    lrs = start * (end / start) ** (np.arange(steps) / max(1, steps - 1))

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True)) + sum(model.losses)
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    avg, best, seen, losses = 0.0, np.inf, [], []
    batches = iter(dataset.repeat())
    with progress.bar("lr-find", len(lrs), unit="steps") as advance:
        for i, lr in enumerate(lrs):
            optimizer.learning_rate = float(lr)
            x, y = next(batches)
            raw = float(step(x, y))
            avg = smoothing * avg + (1 - smoothing) * raw
            smoothed = avg / (1 - smoothing ** (i + 1))
            seen.append(lr)
            losses.append(smoothed)
            advance(note=f"lr {lr:.2e}  loss {smoothed:.4f}")
            if not np.isfinite(smoothed) or (i > 10 and smoothed > blowup * best):
                break
            best = min(best, smoothed)
    losses = np.array(losses)
    finite = np.where(np.isfinite(losses), losses, np.inf)
    suggestion = float(np.asarray(seen)[int(np.argmin(finite))] / 10)
    return LrFindResult(np.asarray(seen), losses, suggestion, len(seen) < steps)


def find_lr(plan: Plan, steps: int = 200, start: float = 1e-6, end: float = 1.0,
            echo=print) -> tuple[str, LrFindResult]:
    """Run the sweep on the planned model and data as an MLflow run; returns (run id, result)."""
    cfg, t = plan.config, plan.config.train
    experiment_id = tracking.configure(cfg.tracking)
    prep = prepare(plan)  # the training stage's own data, inputs (augmented as training sees them) and model
    model, data = prep.model, prep.train_ds
    optimizer = make_optimizer(t, plan.steps_per_epoch, learning_rate=start)
    with tracking.run(experiment_id, cfg.tracking.run_name or "lr-find") as run_id:
        tracking.set_tags({"trainlab.kind": "lr_find", "trainlab.model": cfg.model.name})
        tracking.log_params({**cfg.flat(), "lr_find.start": start, "lr_find.end": end, "lr_find.steps": steps})
        tracking.log_dict(plan.as_dict(), "plan.yaml")
        result = sweep(model, data, optimizer, make_loss(t, ensemble=(cfg.model.members or 1) > 1), start, end, steps)
        for i, (lr, loss) in enumerate(zip(result.learning_rates, result.losses)):
            if np.isfinite(loss):
                tracking.log_metrics({"lr_find_lr": lr, "lr_find_loss": loss}, step=i)
        tracking.log_metrics({"suggested_lr": result.suggestion})
        tracking.log_figure(plots.lr_find(result.learning_rates, result.losses, result.suggestion),
                            "plots/lr_find.png")
    echo(f"run {run_id}: swept {len(result.learning_rates)} steps from {start:g} to "
         f"{result.learning_rates[-1]:.3g}{' (stopped: the loss blew up)' if result.stopped_early else ''}")
    echo(f"suggested learning rate: {result.suggestion:.3g} (a decade below the lowest loss)")
    return run_id, result
