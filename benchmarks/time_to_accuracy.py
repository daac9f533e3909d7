"""Time to 99.0% MNIST test accuracy: trainlab's `fast` preset beside the official Keras example.

    .venv/bin/python benchmarks/time_to_accuracy.py [--keras-epochs 15]

Test accuracy is evaluated after every epoch, outside the training time. Target: trainlab at most
0.25x the Keras example's time to 99.0%, with the fast preset ending at 99.0% or better.
"""
from __future__ import annotations

import argparse
import os

from run_peers import run_peer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keras-epochs", type=int, default=15)
    args = parser.parse_args()
    rows = [run_peer("trainlab_run.py", "--preset", "fast"),
            run_peer("keras_example.py", "--epochs", str(args.keras_epochs))]
    print(f"MNIST, {os.cpu_count()} CPU cores; training time excludes the per-epoch test evaluation")
    print(f"{'procedure':<28} {'epochs':>6} {'s/epoch':>8} {'time to 99.0%':>14} {'at epoch':>9} {'final acc':>10}")
    for r in rows:
        t = "not reached" if r["time_to_target"] is None else f"{r['time_to_target']:.1f}s"
        print(f"{r['name']:<28} {r['epochs']:>6} {r['seconds_per_epoch']:>8.1f} {t:>14} "
              f"{str(r['epoch_to_target']):>9} {r['final_accuracy']:>10.4f}")
    ours, theirs = rows[0]["time_to_target"], rows[1]["time_to_target"]
    if ours and theirs:
        print(f"ratio trainlab / keras example: {ours / theirs:.2f}x (target <= 0.25x)")
    for r in rows:
        print(f"  {r['name']}: test accuracy per epoch {r['test_accuracy']}")


if __name__ == "__main__":
    main()
