"""A pruned Optuna search against the full grid on the same small space: best validation accuracy and
training time of each.

    .venv/bin/python benchmarks/search.py [--trials 6] [--epochs 6] [--images 12000] [--seed 0]

The space: learning rate (SGD with momentum, 4 values) x width of a one-hidden-layer MLP (3 values) on
MNIST. The grid trains all 12 points; the search asks TPE for ``--trials`` points (default: half the
grid's) from the same values (ordered lists: asked as positions) and prunes with the median pruner on
each epoch's validation accuracy. Time is the sum of
the runs' training seconds and the wall time of each whole sweep. Target (issue #18): the search reaches
a validation accuracy within 0.2 point of the grid's best in at most half the grid's training time (the
training seconds of the trials up to and including the first one that gets there); the whole search's
time is printed beside it.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

RATES = [0.003, 0.01, 0.03, 0.1]
WIDTHS = [32, 128, 512]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--images", type=int, default=12000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pruner", default="median", choices=["median", "successive_halving", "none"])
    args = parser.parse_args()

    from mlflow.tracking import MlflowClient

    from trainlab.pipeline.experiments.sweeps import SweepSpec, run_sweep
    from trainlab.pipeline.experiments.sweeps.space import Search
    from trainlab.pipeline.experiments.sweeps.spec import expand
    from trainlab.pipeline.experiments.sweeps.trials import PRUNED_TAG
    workdir = Path(tempfile.mkdtemp(prefix="trainlab-bench-"))
    overrides = {"tracking.tracking_uri": f"sqlite:///{workdir}/mlflow.db", "tracking.experiment": "search-bench"}
    base = {"model.name": "mlp_small", "train.optimizer": "sgd", "train.momentum": 0.9, "train.lr_schedule": "constant",
            "train.epochs": args.epochs, "data.limit_train": args.images, "data.validation_size": 2000,
            "augment": [], "train.precision": "float32", "train.seed": args.seed}
    space = {"train.learning_rate": RATES, "model.width": WIDTHS}
    quiet = lambda line: None  # noqa: E731
    results = {}
    for name, spec in (
            ("grid", SweepSpec("grid", expand({k: list(v) for k, v in space.items()}, None, None), base)),
            ("search", SweepSpec("search", [], base, search=Search(space, trials=args.trials, seed=args.seed,
                                                                   pruner=args.pruner)))):
        start = time.perf_counter()
        result = run_sweep(spec, overrides, out_dir=workdir / name, echo=quiet)
        wall = time.perf_counter() - start
        client = MlflowClient()
        runs = client.search_runs([client.get_experiment_by_name("search-bench").experiment_id],
                                  f"tags.mlflow.parentRunId = '{result.parent_run_id}'", order_by=["start_time ASC"])
        complete = [r for r in runs if r.data.tags.get(PRUNED_TAG) != "true"]
        results[name] = dict(points=len(runs), pruned=len(runs) - len(complete), wall=wall, runs=runs,
                             trained=sum(r.data.metrics.get("train_seconds", 0) for r in runs),
                             best=max(r.data.metrics["best_val_accuracy"] for r in complete))
    grid, search = results["grid"], results["search"]
    search["reached"] = time_to_reach(search["runs"], grid["best"] - 0.002)
    print(f"space: lr {RATES} x width {WIDTHS} (mlp_small, SGD momentum 0.9), {args.epochs} epochs on "
          f"{args.images - 2000} MNIST training images, 2000 validation; {os.cpu_count()} CPU cores; "
          f"{time.strftime('%Y-%m-%d')}; search: {args.trials} trials, TPE, {args.pruner} pruner, seed {args.seed}")
    print(f"{'sweep':<8} {'points':>6} {'pruned':>6} {'best val acc':>13} {'training s':>11} {'wall s':>8}")
    for name, r in results.items():
        print(f"{name:<8} {r['points']:>6} {r['pruned']:>6} {r['best']:>13.4f} {r['trained']:>11.0f} {r['wall']:>8.0f}")
    gap, ratio = grid["best"] - search["best"], search["trained"] / grid["trained"]
    reached = search["reached"] / grid["trained"] if search["reached"] is not None else None
    print(f"search vs grid: best validation accuracy {100 * gap:+.2f} points behind; the whole search trained "
          f"{ratio:.3f}x the grid's time (wall {search['wall'] / grid['wall']:.2f}x)")
    print("target: within 0.2 point of the grid's best in at most 0.5x its training time: "
          + ("never reached" if reached is None else f"reached after {reached:.3f}x: "
             + ("met" if reached <= 0.5 else "not met"))
          + f"; whole search within 0.5x: {'yes' if gap <= 0.002 + 1e-6 and ratio <= 0.5 else 'no'}")


def time_to_reach(runs, value: float) -> float | None:
    """Training seconds spent (runs in the order they started) until a finished, unpruned run's best
    validation accuracy reached ``value`` (metrics are float32: 0.955 may read 0.95499998); None if none did."""
    from trainlab.pipeline.experiments.sweeps.trials import PRUNED_TAG
    spent = 0.0
    for r in runs:
        spent += r.data.metrics.get("train_seconds", 0)
        if r.data.tags.get(PRUNED_TAG) != "true" and r.data.metrics.get("best_val_accuracy", 0) >= value - 1e-6:
            return spent
    return None


if __name__ == "__main__":
    main()
