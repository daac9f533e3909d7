"""What a training needs in hand, made once from the plan: the data and its splits, the normalization
fitted on the training split, the tf.data inputs and the model, built where the strategy places its
variables and in the planned dtype policy. Shared by the training stage, the learning-rate finder and
the sweep worker (whose probes read the same splits). The model is built here, from the plan
(:mod:`.model`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import keras
import tensorflow as tf

from trainlab.augment import AugmentChain

from ..data.dataset import Dataset
from ..data.inputs import Normalizer, evaluation_batch, load_splits, make_dataset
from ..data.splits import Splits
from ..data.streamed import StreamedImages
from ..errors import DataError
from ..plan import Plan
from ..runtime import distribute
from .model import build


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
    phases: object = field(repr=False, default=None)  # finetune.Phases of a pretrained backbone, set when compiled
    budget: object = field(repr=False, default=None)  # budget.TimeBudget under train.time_budget, set when compiled
    share: tuple[int, int] | None = None  # (index, count): the inputs hold this worker's share of every batch


def prepare(plan: Plan) -> Prepared:
    """Load and split the planned data, build its inputs (augmentation on training batches only) and the
    planned model, seeded by ``train.seed``."""
    cfg, t = plan.config, plan.config.train
    model = build(plan)
    keras.utils.set_random_seed(t.seed)
    ds, splits = load_splits(cfg)
    sizes = (len(splits.y_train), len(splits.y_val), len(splits.y_test))
    if sizes != (plan.train_size, plan.val_size, plan.test_size):
        raise DataError(f"{ds.name} changed since the run was planned: train / validation / test images "
                        f"{'/'.join(map(str, sizes))}, planned {plan.train_size}/{plan.val_size}/{plan.test_size}")
    if plan.pretrained and plan.pretrained.normalization:  # the copied backbone's own input scaling
        normalizer = Normalizer.affine(*plan.pretrained.normalization)
    else:
        normalizer = Normalizer.fit(cfg.data.normalization, splits.x_train)
    chain = AugmentChain(cfg.augment)
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="input_epoch")
    dist = distribute.started(plan.distribution)
    share = plan.distribution.input_share(isinstance(splits.x_train, StreamedImages))
    common = dict(num_classes=ds.num_classes, normalizer=normalizer, parallel=not t.deterministic)
    train_ds = make_dataset(splits.x_train, splits.y_train, batch_size=t.batch_size, training=True, seed=t.seed,
                            shuffle_buffer=t.shuffle_buffer, label_smoothing=t.label_smoothing, augment=chain,
                            epoch=epoch, share=share or (0, 1), **common)
    val_ds = make_dataset(splits.x_val, splits.y_val, batch_size=evaluation_batch(splits.x_val.shape, t.batch_size),
                          **common)
    if share:  # every JAX process validates on the whole split (the same metrics, computed on each)
        dist.own_share(train_ds)
        dist.own_share(val_ds)
    return Prepared(plan, ds, splits, normalizer, chain, epoch, train_ds, val_ds, model, share=share)
