"""Time to 99.0% MNIST test accuracy: trainlab's `fast` preset on each seed beside the official Keras example.

    .venv/bin/python benchmarks/time_to_accuracy.py [--seeds 42 7 1] [--keras-epochs 15] [--set KEY=VALUE ...]

Test accuracy is evaluated after every epoch, outside the training time. Targets (issue #19): on every
seed, trainlab at most 0.10x the Keras example's time to 99.0%, and the fast preset ending at 99.1% or better.
"""
from __future__ import annotations

import argparse
import datetime
import os

from run_peers import run_peer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 7, 1])
    parser.add_argument("--keras-epochs", type=int, default=15)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="over the fast preset")
    args = parser.parse_args()
    sets = [a for s in args.set for a in ("--set", s)]
    rows = [run_peer("trainlab_run.py", "--preset", "fast", "--set", f"train.seed={seed}", *sets) for seed in args.seeds]
    keras_row = run_peer("keras_example.py", "--epochs", str(args.keras_epochs))
    print(f"MNIST, {os.cpu_count()} CPU cores, {datetime.date.today()}; training time excludes the per-epoch "
          "test evaluation" + (f"; fast preset with {' '.join(args.set)}" if args.set else ""))
    print(f"{'procedure':<34} {'epochs':>6} {'s/epoch':>8} {'time to 99.0%':>14} {'at epoch':>9} {'final acc':>10}")
    theirs = keras_row["time_to_target"]
    for seed, r in [*zip(args.seeds, rows), (None, keras_row)]:
        t = "not reached" if r["time_to_target"] is None else f"{r['time_to_target']:.1f}s"
        name = r["name"] + ("" if seed is None else f" seed {seed}")
        print(f"{name:<34} {r['epochs']:>6} {r['seconds_per_epoch']:>8.1f} {t:>14} "
              f"{str(r['epoch_to_target']):>9} {r['final_accuracy']:>10.4f}")
    if theirs:
        ratios = [r["time_to_target"] / theirs if r["time_to_target"] else float("inf") for r in rows]
        print("ratio trainlab / keras example per seed: " + ", ".join(f"{x:.2f}x" for x in ratios)
              + f" (target <= 0.10x); fast final accuracy >= 99.1% on {sum(r['final_accuracy'] >= 0.991 for r in rows)}"
              f" of {len(rows)} seeds")


if __name__ == "__main__":
    main()
