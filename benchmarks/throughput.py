"""Same-network training throughput: `cnn_keras` through trainlab's pipeline, the Keras example
procedure, and a plain PyTorch loop (if `pip install '.[bench]'` put torch 2.13 in), side by side.

    .venv/bin/python benchmarks/throughput.py [--epochs 3] [--repeats 3] [--input]

trainlab and the Keras example each run twice: in float32 and in mixed bf16 (trainlab's default,
`train.precision: auto`, on a CPU with native bf16), so each precision is compared with the same
numerics (targets: trainlab >= 1.0x the Keras example in both). Every run is its own process; the
procedures take turns `--repeats` times (a shared VM drifts by 10-30% over minutes) and the table
shows each one's median run, and the speed of its fastest epoch after the first over all runs (this VM
runs an epoch at one of two speeds, ~1.5x apart, whichever procedure it is: the fastest epoch is what
each procedure can do when the machine is not slowed), and the median of all its later epochs pooled over
its runs (a central figure that one slow run moves less than the median run). Prints images/s, s/epoch,
peak RSS and final test accuracy, then where each median run's time went: the first epoch (tracing
included) and, per later epoch, the training steps, fit's validation pass and the epoch-end work of the
callbacks (trainlab: tracking, checkpoint).
``--input`` adds the Keras example's network and `fit` fed by trainlab's tf.data input, which
separates the input pipeline's cost from the rest of trainlab's training stage.
`benchmarks/same_process.py` runs trainlab's stage and the Keras example's `fit` in turns in one process,
which takes the per-process luck of this VM out of the comparison.
"""
from __future__ import annotations

import argparse
import os
import statistics

from run_peers import run_peer, torch_available


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--input", action="store_true", help="add the Keras example on trainlab's input")
    args = parser.parse_args()
    epochs = str(args.epochs)
    procedures = {"trainlab_run.py float32": ["--same-as-keras-example", "--epochs", epochs,
                                              "--set", "train.precision=float32"],
                  "keras_example.py float32": ["--epochs", epochs],
                  "trainlab_run.py bf16": ["--same-as-keras-example", "--epochs", epochs,
                                           "--set", "train.precision=mixed_bfloat16"],
                  "keras_example.py bf16": ["--epochs", epochs, "--mixed-bf16"]}
    if args.input:
        procedures["keras_example.py float32 trainlab-input"] = ["--epochs", epochs, "--trainlab-input"]
    if torch_available():
        procedures["torch_loop.py"] = ["--epochs", epochs]
    runs = {key: [] for key in procedures}
    for _ in range(args.repeats):
        for key, peer_args in procedures.items():
            runs[key].append(run_peer(key.split()[0], *peer_args))
    rows = [median_run(r) for r in runs.values()]
    print(f"cnn_keras (34,826 parameters) on MNIST, {epochs} epochs, {os.cpu_count()} CPU cores, "
          f"median of {args.repeats} run(s) each")
    print(f"{'procedure':<40} {'images/s':>9} {'median epoch':>13} {'fastest epoch':>14} {'s/epoch':>8} "
          f"{'peak RSS MB':>12} {'test acc':>9}  all runs img/s")
    fastest = {key: max(later_epochs(r)) for key, r in runs.items()}
    pooled = {key: statistics.median(later_epochs(r)) for key, r in runs.items()}
    for r, key in zip(rows, runs):
        every = ", ".join(f"{x['images_per_second']:,.0f}" for x in runs[key])
        print(f"{r['name']:<40} {r['images_per_second']:>9,.0f} {pooled[key]:>13,.0f} {fastest[key]:>14,.0f} "
              f"{r['seconds_per_epoch']:>8.1f} {r['peak_rss_mb']:>12,.0f} {r['final_accuracy']:>9.4f}  {every}")
    print(f"\nwhere the time went (median runs; s){'':<5} {'epoch 1':>8} {'later epochs: train':>20} "
          f"{'validate':>9} {'epoch end':>10}")
    for r in rows:
        if "phases" in r:
            later = {k: sum(v[1:]) / max(len(v) - 1, 1) for k, v in r["phases"].items()}
            print(f"{r['name']:<40} {r['epoch_seconds'][0]:>8.2f} {later['train']:>20.2f} "
                  f"{later['validate']:>9.2f} {later['after']:>10.3f}")
    speed = {key: r["images_per_second"] for key, r in zip(runs, rows)}
    for precision in ("float32", "bf16"):
        ours, theirs = f"trainlab_run.py {precision}", f"keras_example.py {precision}"
        print(f"trainlab / Keras example, both {precision}: {speed[ours] / speed[theirs]:.2f}x median runs, "
              f"{pooled[ours] / pooled[theirs]:.2f}x median epochs, {fastest[ours] / fastest[theirs]:.2f}x fastest "
              "epochs (target >= 1.0x)")
    if "torch_loop.py" in speed:
        print(f"trainlab float32 / PyTorch loop: {speed['trainlab_run.py float32'] / speed['torch_loop.py']:.2f}x")
    if not torch_available():
        print("(PyTorch peer skipped: pip install '.[bench]' installs torch==2.13.0)")


def later_epochs(runs: list[dict]) -> list[float]:
    """Images/s of every epoch after the first (which traces the graphs) of all runs."""
    return [r["images_per_epoch"] / s for r in runs for s in r["epoch_seconds"][1:] or r["epoch_seconds"]]


def median_run(runs: list[dict]) -> dict:
    """The run with the median throughput (the upper one of an even count)."""
    return sorted(runs, key=lambda r: r["images_per_second"])[len(runs) // 2]


if __name__ == "__main__":
    main()
