"""One Optuna trial as the process training it sees it: the pruner by name and the Keras callback that
reports each epoch's validation accuracy and stops the trial when the pruner says so."""
from __future__ import annotations

import math

from trainlab import compat

PRUNED_TAG = "trainlab.sweep.pruned"


def pruner(name: str):
    """The pruner by name (the process training a trial builds the same one to ask it)."""
    import optuna  # the search extra
    return {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
            "successive_halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
            "none": optuna.pruners.NopPruner}[name]()


def pruning_callback(optuna_task: dict):
    """The Keras callback a trial trains with: each epoch's validation accuracy reported to the study,
    training stopped at the epoch's end when the pruner says so (``.pruned`` tells afterwards)."""
    import keras  # only with a pruned search
    import optuna  # the search extra

    study = optuna.load_study(study_name=optuna_task["study"], storage=optuna_task["storage"],
                              pruner=pruner(optuna_task["pruner"]))
    trial = compat.optuna_trial(study, optuna_task["trial_id"])

    class Pruning(keras.callbacks.Callback):
        pruned = False

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get("val_accuracy")
            if value is None or not math.isfinite(value):
                return
            trial.report(float(value), epoch)
            if trial.should_prune():
                self.pruned = True
                self.model.stop_training = True
    return Pruning()
