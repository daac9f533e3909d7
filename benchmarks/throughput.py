"""Same-network training throughput: `cnn_keras` through trainlab's pipeline, the Keras example
procedure, and a plain PyTorch loop (if `pip install '.[bench]'` put torch 2.13 in), side by side.

    .venv/bin/python benchmarks/throughput.py [--epochs 3]

Prints images/s, s/epoch and peak RSS of each, every one in its own process.
"""
from __future__ import annotations

import argparse
import os

from run_peers import run_peer, torch_available


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    epochs = str(args.epochs)
    rows = [run_peer("trainlab_run.py", "--same-as-keras-example", "--epochs", epochs),
            run_peer("keras_example.py", "--epochs", epochs)]
    if torch_available():
        rows.append(run_peer("torch_loop.py", "--epochs", epochs))
    print(f"cnn_keras (34,826 parameters) on MNIST, {epochs} epochs, {os.cpu_count()} CPU cores")
    print(f"{'procedure':<22} {'images/s':>9} {'s/epoch':>8} {'peak RSS MB':>12} {'test acc':>9}")
    for r in rows:
        print(f"{r['name']:<22} {r['images_per_second']:>9,.0f} {r['seconds_per_epoch']:>8.1f} "
              f"{r['peak_rss_mb']:>12,.0f} {r['final_accuracy']:>9.4f}")
    best_peer = max(r["images_per_second"] for r in rows[1:])
    print(f"trainlab / best peer: {rows[0]['images_per_second'] / best_peer:.2f}x (target >= 1.0x)")
    if not torch_available():
        print("(PyTorch peer skipped: pip install '.[bench]' installs torch==2.13.0)")


if __name__ == "__main__":
    main()
