"""What `train.deterministic` costs: seconds per epoch with and without TF op determinism, and the size
of the per-epoch checkpoint.

    .venv/bin/python benchmarks/determinism.py [--model cnn_deep] [--images 10000] [--epochs 3] [--repeats 3]

Op determinism is switched on for a whole process, so each training runs in a process of its own;
the two modes alternate (default, deterministic, default, ...) and the medians of the mean epoch time
(the first epoch, which traces and compiles, left out) are printed, with the weights digests of the
deterministic runs (all equal, or determinism is broken).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, sys, time
from trainlab.pipeline.runtime.process import setup
setup(False)
import keras
from trainlab.pipeline.config.loading import load_config
from trainlab.pipeline.training.stage import train
from trainlab.pipeline.plan import resolve_plan
overrides, out = json.loads(sys.argv[1]), sys.argv[2]
times = []
class Clock(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None): self.t = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None): times.append(time.perf_counter() - self.t)
result = train(resolve_plan(load_config(None, overrides)), echo=lambda _: None, callbacks=[Clock()])
from mlflow.tracking import MlflowClient
import glob, os
tags = MlflowClient().get_run(result.run_id).data.tags
size = sum(os.path.getsize(p) for p in glob.glob(os.path.dirname(out) + "/checkpoints/*/checkpoint.npz"))
json.dump({"epoch_seconds": times, "digest": tags["trainlab.weights_digest"], "checkpoint_bytes": size}, open(out, "w"))
"""


def one(mode: bool, args, tmp: Path, i: int) -> dict:
    folder = tmp / f"{'det' if mode else 'default'}{i}"
    folder.mkdir()
    overrides = {"model.name": args.model, "data.limit_train": args.images, "train.epochs": args.epochs,
                 "train.deterministic": mode, "train.keep_checkpoints": True,
                 "tracking.tracking_uri": f"sqlite:///{folder}/mlflow.db"}
    out = folder / "result.json"
    subprocess.run([sys.executable, "-c", CHILD, json.dumps(overrides), str(out)], check=True, cwd=folder)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn_deep")
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    seconds = {False: [], True: []}
    digests, size = set(), 0
    with tempfile.TemporaryDirectory(prefix="trainlab-det-") as tmp:
        for i in range(args.repeats):
            for mode in (False, True):
                r = one(mode, args, Path(tmp), i)
                seconds[mode].append(statistics.mean(r["epoch_seconds"][1:]))
                size = r["checkpoint_bytes"]
                if mode:
                    digests.add(r["digest"])
    plain, det = (statistics.median(seconds[m]) for m in (False, True))
    print(f"{args.model}, {args.images} images, {args.epochs} epochs, {args.repeats} repeats (medians)")
    print(f"default        {plain:.2f} s/epoch   runs: {', '.join(f'{s:.2f}' for s in seconds[False])}")
    print(f"deterministic  {det:.2f} s/epoch   runs: {', '.join(f'{s:.2f}' for s in seconds[True])}")
    print(f"cost           {det / plain:.2f}x")
    same = "all equal" if len(digests) == 1 else "DIFFER"
    print(f"deterministic weights digests: {', '.join(sorted(digests))} ({same})")
    print(f"checkpoint     {size / 1e6:.1f} MB per run (model, optimizer state, best weights)")


if __name__ == "__main__":
    main()
