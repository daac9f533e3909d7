"""Fit diagnosis: underfitting, good fit or overfitting, from a run's train and validation curves.

The rules, applied at the selected (best validation) epoch, first match wins:

1. overfitting   train accuracy exceeds validation accuracy by more than ``GAP`` (2 points), or
                 validation loss ended more than ``LOSS_RISE`` (20%) above its minimum while the
                 training loss kept falling;
2. underfitting  training accuracy is below ``LOW_ACCURACY`` (90%), or the run was still learning
                 at its end: under a schedule that holds its rate (constant, step), training loss
                 fell by more than ``STILL_LEARNING`` (10%) over the last epoch; under one that
                 anneals it to nothing (cosine, one_cycle), where the last epochs always lower the
                 training loss, validation accuracy rose by more than ``STILL_IMPROVING`` (half a
                 point) over the last epoch (more epochs or capacity would help);
3. good fit      otherwise.

Training accuracy is measured under augmentation and dropout, so it can sit below validation
accuracy: that is never overfitting.
"""
from __future__ import annotations

from dataclasses import dataclass

GAP = 0.02
LOSS_RISE = 0.20
LOW_ACCURACY = 0.90
STILL_LEARNING = 0.10
STILL_IMPROVING = 0.005
ANNEALING = ("cosine", "one_cycle")  # schedules whose rate ends near zero


@dataclass
class Diagnosis:
    verdict: str   # underfitting | good fit | overfitting
    reason: str


def diagnose(history: dict[str, list[float]], best_epoch: int | None = None,
             schedule: str = "constant") -> Diagnosis:
    """Classify a Keras history (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` per epoch) of
    a run trained under learning-rate ``schedule`` (``train.lr_schedule``)."""
    acc, val_acc = history["accuracy"], history["val_accuracy"]
    loss, val_loss = history["loss"], history["val_loss"]
    e = len(acc) - 1 if best_epoch is None or best_epoch < 0 else best_epoch
    gap = acc[e] - val_acc[e]
    if gap > GAP:
        return Diagnosis("overfitting", f"train accuracy {acc[e]:.4f} exceeds validation {val_acc[e]:.4f} "
                                        f"by {gap:.4f} > {GAP}")
    rise = val_loss[-1] / min(val_loss) - 1 if min(val_loss) > 0 else 0.0
    if rise > LOSS_RISE and loss[-1] < loss[0]:
        return Diagnosis("overfitting", f"validation loss ended {rise:.0%} above its minimum "
                                        f"while training loss fell")
    if acc[e] < LOW_ACCURACY:
        return Diagnosis("underfitting", f"train accuracy {acc[e]:.4f} < {LOW_ACCURACY}")
    if len(loss) > 1 and schedule in ANNEALING and val_acc[-1] - val_acc[-2] > STILL_IMPROVING:
        return Diagnosis("underfitting", f"validation accuracy still rose {val_acc[-1] - val_acc[-2]:.4f} over the "
                                         f"last epoch > {STILL_IMPROVING} although the {schedule} schedule had "
                                         "annealed the rate")
    if len(loss) > 1 and schedule not in ANNEALING and loss[-2] > 0 \
            and (loss[-2] - loss[-1]) / loss[-2] > STILL_LEARNING:
        return Diagnosis("underfitting", f"training loss still fell {(loss[-2] - loss[-1]) / loss[-2]:.0%} "
                                         f"over the last epoch > {STILL_LEARNING:.0%}")
    return Diagnosis("good fit", _good_fit_reason(acc[e], val_acc[e], len(loss)))


def _good_fit_reason(acc: float, val_acc: float, epochs: int) -> str:
    if acc <= val_acc:  # augmentation and dropout act on the training figure only
        closeness = (f"train accuracy {acc:.4f} at or below validation {val_acc:.4f} "
                     "(measured under augmentation and dropout)")
    else:
        closeness = f"train accuracy above validation by {acc - val_acc:.4f}, within {GAP}"
    return closeness + (", losses settled" if epochs > 1 else "; one epoch, so no loss trend to judge")
