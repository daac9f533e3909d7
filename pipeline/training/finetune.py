"""Fine-tuning a pretrained backbone in two phases, as the Keras transfer-learning guide does it: the
head alone for ``train.freeze_epochs`` (the backbone frozen, its batch norm in inference mode), then the
backbone too (``train.unfreeze``: all of it or its last K blocks) at ``train.backbone_lr_scale`` times
the schedule's rate.

The optimizer is built once over every variable that trains in either phase, so the switch keeps the
head's optimizer state and a checkpoint holds the same variables before and after it; the phase is a
function of the epoch, so ``--resume`` lands in the right one.
"""
from __future__ import annotations

import keras

from trainlab.models.parts import backbone_layers, block_pattern, classifier, set_phase

from ..config.schema import Config


def phases_of(cfg: Config) -> "Phases":
    t = cfg.train
    return Phases(t.freeze_epochs, t.unfreeze, block_pattern(cfg.model.name), t.backbone_lr_scale,
                  t.backbone_bn == "train", probe=t.freeze_epochs >= t.epochs)


class Phases(keras.callbacks.Callback):
    """Sets each epoch's trainable backbone layers; logs the backbone's rate as ``lr_backbone``."""

    def __init__(self, freeze_epochs: int, unfreeze, pattern: str, scale: float, train_bn: bool = False,
                 probe: bool = False):
        super().__init__()
        self.freeze_epochs, self.unfreeze, self.pattern, self.scale = freeze_epochs, unfreeze, pattern, scale
        self.train_bn, self.probe = train_bn, probe  # probe: frozen in every epoch (a linear probe)
        self.frozen: bool | None = None

    def variables(self, model: keras.Model) -> tuple[list, dict]:
        """Every variable that trains in some phase, and the backbone's among them with their rate scale."""
        network = classifier(model)
        set_phase(network, frozen=self.probe, unfreeze=self.unfreeze, pattern=self.pattern, train_bn=self.train_bn)
        trainable = list(model.trainable_variables)
        backbone = {id(v) for layer in backbone_layers(network) for v in layer.trainable_weights}
        self.frozen = None  # the phase of the first epoch is set when it begins
        return trainable, {id(v): self.scale for v in trainable if id(v) in backbone}

    def set_epoch(self, model: keras.Model, epoch: int) -> bool:
        """The phase of ``epoch``; True when it changed the trainable set."""
        frozen = epoch < self.freeze_epochs
        if frozen == self.frozen:
            return False
        set_phase(classifier(model), frozen=frozen, unfreeze=self.unfreeze, pattern=self.pattern,
                  train_bn=self.train_bn)
        self.frozen = frozen
        return True

    def on_epoch_begin(self, epoch, logs=None):
        if self.set_epoch(self.model, epoch):
            self.model.make_train_function(force=True)  # the traced step holds the old trainable set

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            rate = self.model.optimizer.learning_rate
            logs["lr_backbone"] = 0.0 if self.frozen else float(keras.ops.convert_to_numpy(rate)) * self.scale
