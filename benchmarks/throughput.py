"""Same-network training throughput: `cnn_keras` through trainlab's pipeline, the Keras example
procedure, and a plain PyTorch loop (if `pip install '.[bench]'` put torch 2.13 in), side by side.

    .venv/bin/python benchmarks/throughput.py [--epochs 3] [--repeats 3]

trainlab and the Keras example each run twice: in float32 and in mixed bf16 (trainlab's default,
`train.precision: auto`, on a CPU with native bf16), so each precision is compared with the same
numerics (targets: trainlab >= 1.0x the Keras example in both). Every run is its own process; the
procedures take turns `--repeats` times (a shared VM drifts by 10-30% over minutes) and the table
shows each one's median run. Prints images/s, s/epoch, peak RSS and final test accuracy.
"""
from __future__ import annotations

import argparse
import os

from run_peers import run_peer, torch_available


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    epochs = str(args.epochs)
    procedures = {"trainlab_run.py float32": ["--same-as-keras-example", "--epochs", epochs,
                                              "--set", "train.precision=float32"],
                  "keras_example.py float32": ["--epochs", epochs],
                  "trainlab_run.py bf16": ["--same-as-keras-example", "--epochs", epochs,
                                           "--set", "train.precision=mixed_bfloat16"],
                  "keras_example.py bf16": ["--epochs", epochs, "--mixed-bf16"]}
    if torch_available():
        procedures["torch_loop.py"] = ["--epochs", epochs]
    runs = {key: [] for key in procedures}
    for _ in range(args.repeats):
        for key, peer_args in procedures.items():
            runs[key].append(run_peer(key.split()[0], *peer_args))
    rows = [median_run(r) for r in runs.values()]
    print(f"cnn_keras (34,826 parameters) on MNIST, {epochs} epochs, {os.cpu_count()} CPU cores, "
          f"median of {args.repeats} run(s) each")
    print(f"{'procedure':<30} {'images/s':>9} {'s/epoch':>8} {'peak RSS MB':>12} {'test acc':>9}  all runs img/s")
    for r, key in zip(rows, runs):
        every = ", ".join(f"{x['images_per_second']:,.0f}" for x in runs[key])
        print(f"{r['name']:<30} {r['images_per_second']:>9,.0f} {r['seconds_per_epoch']:>8.1f} "
              f"{r['peak_rss_mb']:>12,.0f} {r['final_accuracy']:>9.4f}  {every}")
    speed = {key: r["images_per_second"] for key, r in zip(runs, rows)}
    for precision in ("float32", "bf16"):
        print(f"trainlab / Keras example, both {precision}: "
              f"{speed[f'trainlab_run.py {precision}'] / speed[f'keras_example.py {precision}']:.2f}x (target >= 1.0x)")
    if "torch_loop.py" in speed:
        print(f"trainlab float32 / PyTorch loop: {speed['trainlab_run.py float32'] / speed['torch_loop.py']:.2f}x")
    if not torch_available():
        print("(PyTorch peer skipped: pip install '.[bench]' installs torch==2.13.0)")


def median_run(runs: list[dict]) -> dict:
    """The run with the median throughput (the upper one of an even count)."""
    return sorted(runs, key=lambda r: r["images_per_second"])[len(runs) // 2]


if __name__ == "__main__":
    main()
