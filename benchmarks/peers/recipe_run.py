"""One training run of a trainlab recipe (a preset plus overrides) into a temporary store, reported as
one JSON line: the best validation epoch and accuracy (what selection sees), the test accuracy of that
epoch's weights, the training seconds and the peak RSS; with ``evaluate.tta``, the validation and test
accuracy of the averaged views too.

    python benchmarks/peers/recipe_run.py --preset default --set train.seed=7 --set train.ema=0.999
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import key_value  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="default")
    parser.add_argument("--set", action="append", default=[], type=key_value, metavar="KEY=VALUE")
    args = parser.parse_args()
    import mlflow

    from trainlab.pipeline.config.loading import load_config
    from trainlab.pipeline.plan import resolve_plan
    from trainlab.pipeline.training.stage import train
    store = tempfile.mkdtemp(prefix="trainlab-bench-")
    overrides = {"tracking.tracking_uri": f"sqlite:///{store}/mlflow.db", **dict(args.set)}
    cfg = load_config(None, overrides, preset=args.preset)
    result = train(resolve_plan(cfg), echo=lambda _: None)
    metrics = mlflow.get_run(result.run_id).data.metrics
    tta = {k: round(metrics[k], 4) for k in ("val_tta_accuracy", "test_tta_accuracy") if k in metrics}
    epochs = len(result.history.get("loss", [])) or cfg.train.epochs  # a time budget chooses its own
    print(json.dumps({**tta, "seed": cfg.train.seed, "epochs": epochs, "best_epoch": result.best_epoch + 1,
                      "val_accuracy": round(result.best_val_accuracy, 4),
                      "test_accuracy": round(result.test.accuracy, 4),
                      "train_seconds": round(result.train_seconds, 1),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}), flush=True)


if __name__ == "__main__":
    main()
