"""trainlab's own training stage (tf.data input, MLflow tracking into a temporary store), reporting
like the peers: per-epoch training time (and its phases) with test accuracy measured outside it.

    python benchmarks/peers/trainlab_run.py --preset fast
    python benchmarks/peers/trainlab_run.py --same-as-keras-example --epochs 3   # cnn_keras, same procedure
    python benchmarks/peers/trainlab_run.py --same-as-keras-example --set train.precision=float32
"""
from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import key_value, report  # noqa: E402
from timing import EpochTimer  # noqa: E402

# The Keras example's procedure through trainlab: same network, scaling, optimizer, batch and split.
SAME_AS_KERAS_EXAMPLE = {"model.name": "cnn_keras", "augment": "none", "data.normalization": "scale",
                         "data.validation_size": 6000, "train.optimizer": "adam", "train.learning_rate": 0.001,
                         "train.lr_schedule": "constant", "train.batch_size": 128}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="default")
    parser.add_argument("--same-as-keras-example", action="store_true")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--set", action="append", default=[], type=key_value, metavar="KEY=VALUE",
                        help="any config key, as trainlab's --set")
    args = parser.parse_args()
    from trainlab.pipeline.config.loading import load_config
    from trainlab.pipeline.data.inputs import Normalizer, load_splits, make_dataset
    from trainlab.pipeline.plan import resolve_plan
    from trainlab.pipeline.runtime.dtype_policy import resolve
    from trainlab.pipeline.training.stage import train
    store = tempfile.mkdtemp(prefix="trainlab-bench-")
    overrides = {"tracking.tracking_uri": f"sqlite:///{store}/mlflow.db", "train.epochs": args.epochs,
                 **(SAME_AS_KERAS_EXAMPLE if args.same_as_keras_example else {}),
                 **dict(args.set)}
    cfg = load_config(None, overrides, preset=args.preset)
    _, splits = load_splits(cfg)  # the training stage's own splits (data.validation_size unset: its default)
    normalizer = Normalizer.fit(cfg.data.normalization, splits.x_train)
    test_ds = make_dataset(splits.x_test, splits.y_test, num_classes=10, batch_size=1000, normalizer=normalizer)
    timer = EpochTimer(lambda: timer.model.evaluate(test_ds, verbose=0)[1])
    train(resolve_plan(cfg), echo=lambda _: None, callbacks=[timer])
    name = "trainlab cnn_keras" if args.same_as_keras_example else f"trainlab {args.preset} ({cfg.model.name})"
    name += f" {resolve(cfg.train.precision)}"
    report(name, len(splits.y_train), timer.seconds, timer.accuracy, phases=timer.phases)


if __name__ == "__main__":
    main()
