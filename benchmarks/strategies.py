"""Per-epoch training time of each distribution path on this machine, side by side.

Runs `trainlab train` in fresh processes (devices and collectives are set up at process start):
one device (TF), MirroredStrategy over 2 logical CPUs, MultiWorkerMirroredStrategy with 2 local
workers, JAX on one device and JAX DataParallel over 2 host CPU devices. Same model, data and
global batch everywhere; prints the epoch times (the first includes tracing) and whether the
workers ended with identical weights.

    .venv/bin/python benchmarks/strategies.py [--epochs 3] [--limit-train 20000]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args: list[str], env: dict, cwd: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "trainlab.pipeline.cli", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env})


def epochs_of(output: str) -> list[float]:
    return [float(m) for m in re.findall(r"^epoch \d+/\d+ .*\(([\d.]+)s\)$", output, re.M)]


def digest_of(output: str) -> str | None:
    found = re.search(r"weights digest ([0-9a-f]+)", output)
    return found.group(1) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit-train", type=int, default=20000)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = ["train", "--model", "cnn", "--width", "16", "--augment", "none", "--epochs", str(opts.epochs),
                "--limit-train", str(opts.limit_train), "--tracking-uri", f"sqlite:///{tmp}/bench.db"]
        jax = {"KERAS_BACKEND": "jax"}
        cases = {
            "TF, one device": ([base], [{}]),
            "TF mirrored, 2 logical CPUs": ([base + ["--set", "train.strategy=mirrored",
                                                     "--set", "train.devices=2"]], [{}]),
            "TF multi_worker, 2 local workers": None,
            "JAX, one device": ([base], [jax]),
            "JAX data_parallel, 2 host CPUs": ([base + ["--set", "train.strategy=data_parallel"]],
                                               [{**jax, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}]),
        }
        ports = [free_port(), free_port()]
        cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
        cases["TF multi_worker, 2 local workers"] = (
            [base + ["--set", "train.strategy=multi_worker"]] * 2,
            [{"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})} for i in range(2)])
        print(f"{'path':<34} {'epoch times (s)':<24} {'wall (s)':>8}  weights")
        for name, (arg_sets, envs) in cases.items():
            start = time.perf_counter()
            procs = [launch(a, e, tmp) for a, e in zip(arg_sets, envs)]
            outputs = [p.communicate()[0] for p in procs]
            wall = time.perf_counter() - start
            if any(p.returncode for p in procs):
                print(f"{name:<34} failed (exit {[p.returncode for p in procs]})")
                continue
            times = " ".join(f"{t:.1f}" for t in epochs_of(outputs[0]))
            digests = {digest_of(o) for o in outputs}
            same = ("identical on both workers" if len(digests) == 1 else "DIFFER") if len(outputs) > 1 else ""
            print(f"{name:<34} {times:<24} {wall:>8.1f}  {same}")


if __name__ == "__main__":
    main()
