"""A training loop for strategies Keras ``fit`` cannot drive (MultiWorkerMirroredStrategy in Keras 3).

It speaks the Keras callback protocol with the same logs as ``fit`` (loss, accuracy, val_loss,
val_accuracy), so the training stage's callbacks (best-epoch keeper, divergence guard, MLflow epoch
logger) work unchanged. Each step runs on every replica with ``strategy.run``; gradients are summed
across replicas by the optimizer, the loss averaged over the global batch.
"""
from __future__ import annotations

import keras
import tensorflow as tf


def fit_distributed(model: keras.Model, strategy: tf.distribute.Strategy, train_ds: tf.data.Dataset,
                    val_ds: tf.data.Dataset, epochs: int, global_batch: int,
                    callbacks: list[keras.callbacks.Callback], initial_epoch: int = 0,
                    share: tuple[int, int] | None = None) -> dict[str, list[float]]:
    """Train a compiled ``model`` (built in ``strategy.scope()``) from ``initial_epoch`` on and return
    the history of the epochs it ran.

    ``share=(index, count)``: the training input is this worker's share of every batch already
    (``make_dataset(share=...)``, images streamed from disk), not global batches for the strategy to split.
    """
    train_step, val_step = _step_functions(model, strategy, global_batch)
    dist_train, dist_val = _distributed(strategy, train_ds, share), _distributed(strategy, val_ds, None)
    history: dict[str, list[float]] = {}
    hooks = keras.callbacks.CallbackList(list(callbacks), model=model, epochs=epochs, steps=len(train_ds), verbose=0)
    model.stop_training = False
    hooks.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        hooks.on_epoch_begin(epoch)
        loss_sum = correct = seen = 0.0
        for i, batch in enumerate(dist_train):
            l_, c_, n_ = (float(v) for v in train_step(batch))
            loss_sum, correct, seen = loss_sum + l_, correct + c_, seen + n_
            hooks.on_train_batch_end(i, {"loss": loss_sum / seen, "accuracy": correct / seen})
            if model.stop_training:
                break
        logs = {"loss": loss_sum / max(seen, 1), "accuracy": correct / max(seen, 1), **_evaluate(val_step, dist_val)}
        hooks.on_epoch_end(epoch, logs)
        for k, v in logs.items():
            history.setdefault(k, []).append(v)
        if model.stop_training:
            break
    hooks.on_train_end()
    return history


def _step_functions(model: keras.Model, strategy: tf.distribute.Strategy, global_batch: int):
    """A training and a validation step over every replica, each returning the summed (loss, correct,
    examples) of the global batch."""
    per_example_loss = model.loss.call  # the unreduced loss of the compiled loss object
    optimizer = model.optimizer
    with strategy.scope():
        optimizer.build(model.trainable_variables)  # slot variables are made here, not inside a replica step

    def totals(y, p, losses):
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(p, -1), tf.argmax(y, -1)), tf.float32))
        return tf.reduce_sum(losses), correct, tf.cast(tf.shape(y)[0], tf.float32)

    def train_replica(x, y):
        with tf.GradientTape() as tape:
            p = model(x, training=True)
            losses = per_example_loss(y, p)
            loss = tf.nn.compute_average_loss(losses, global_batch_size=global_batch)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return totals(y, p, losses)

    def val_replica(x, y):
        p = model(x, training=False)
        return totals(y, p, per_example_loss(y, p))

    def summed(fn):
        @tf.function
        def step(batch):
            parts = strategy.run(fn, args=batch)
            return [strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in parts]
        return step

    return summed(train_replica), summed(val_replica)


def _evaluate(step, dataset) -> dict[str, float]:
    loss_sum = correct = seen = 0.0
    for batch in dataset:
        l_, c_, n_ = (float(v) for v in step(batch))
        loss_sum, correct, seen = loss_sum + l_, correct + c_, seen + n_
    return {"val_loss": loss_sum / max(seen, 1), "val_accuracy": correct / max(seen, 1)}


def _distributed(strategy: tf.distribute.Strategy, ds: tf.data.Dataset, share: tuple[int, int] | None):
    """Global batches split by the strategy (in-memory datasets have no files to shard: each worker keeps
    its part of every batch), or a worker's own share handed to its replicas as it is."""
    if share is None:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return strategy.experimental_distribute_dataset(ds.with_options(options))

    def replica_batches(context: tf.distribute.InputContext) -> tf.data.Dataset:
        where = (context.input_pipeline_id, context.num_input_pipelines)
        if where != share or context.num_replicas_in_sync != context.num_input_pipelines:
            raise RuntimeError(f"the inputs are share {share} of the batches for one replica per worker; this is input "
                               f"pipeline {where} of {context.num_replicas_in_sync} replicas")
        return ds
    return strategy.distribute_datasets_from_function(replica_batches)
