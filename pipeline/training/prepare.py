"""What a training needs in hand, made once from the plan: the data and its splits, the normalization
fitted on the training split, the tf.data inputs and the model, built where the strategy places its
variables and in the planned dtype policy. Shared by the training stage, the learning-rate finder and
the sweep worker (whose probes read the same splits)."""
from __future__ import annotations

from dataclasses import dataclass, field

import keras
import tensorflow as tf

from trainlab.augment import AugmentChain
from trainlab.models import create_model

from ..data.dataset import Dataset
from ..data.inputs import Normalizer, load_splits, make_dataset
from ..data.splits import Splits
from ..plan import Plan
from ..runtime import dtype_policy


@dataclass
class Prepared:
    """The data, the inputs and the (uncompiled) model of one plan."""

    plan: Plan
    ds: Dataset
    splits: Splits
    normalizer: Normalizer
    chain: AugmentChain
    epoch: tf.Variable = field(repr=False)  # the input pipeline's epoch: each epoch's augmentation draws depend on it
    train_ds: tf.data.Dataset = field(repr=False)
    val_ds: tf.data.Dataset = field(repr=False)
    model: keras.Model = field(repr=False)


def prepare(plan: Plan) -> Prepared:
    """Load and split the planned data, build its inputs (augmentation on training batches only) and the
    planned model, seeded by ``train.seed``."""
    cfg, t, dist = plan.config, plan.config.train, plan.distribution
    keras.utils.set_random_seed(t.seed)
    ds, splits = load_splits(cfg)
    normalizer = Normalizer.fit(cfg.data.normalization, splits.x_train)
    chain = AugmentChain(cfg.augment)
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="input_epoch")
    common = dict(num_classes=ds.num_classes, normalizer=normalizer, parallel=not t.deterministic)
    train_ds = make_dataset(splits.x_train, splits.y_train, batch_size=t.batch_size, training=True, seed=t.seed,
                            shuffle_buffer=t.shuffle_buffer, label_smoothing=t.label_smoothing, augment=chain,
                            epoch=epoch, **common)
    val_ds = make_dataset(splits.x_val, splits.y_val, batch_size=1000, **common)
    with dist.scope(), dtype_policy.policy(plan.dtype_policy):
        sync = dist.replicas > 1 and dist.kind != "data_parallel"  # JAX computes batch stats on the global batch
        model = build_model(plan, sync_batch_norm=sync)
    return Prepared(plan, ds, splits, normalizer, chain, epoch, train_ds, val_ds, model)


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
