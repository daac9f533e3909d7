"""The training stage: ``stage.train(plan)`` and what it is made of: the optimizer, loss and schedules
(optim), Keras callbacks (callbacks), the custom loop for multi-worker training (loop), checkpoints and
resuming (checkpoints, resume), signals and resource faults (faults), and the learning-rate finder
(lr_find), which shares the stage's preparation.
"""
