"""Serving latency and throughput: `trainlab serve` and `mlflow models serve` on the same model, in one run.

    .venv/bin/python benchmarks/serve_latency.py [--requests 500] [--batches 30] [--preset smoke]

Trains (smoke preset by default) into a temporary store unless --tracking-uri names one with a
champion, exports it, starts both servers on 127.0.0.1, and prints p50/p99 latency for one image
and throughput for batches of 128 images, measured from a client in this process.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from serve_load import mlflow_body  # noqa: E402 (the same MLflow request as the load benchmark's)

from tests.conftest import free_port, start_server, stop_server  # noqa: E402


def post(url: str, body: bytes) -> bytes:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def measure(url: str, one: bytes, batch: bytes, requests: int, batches: int) -> tuple[float, float, float]:
    for _ in range(20):
        post(url, one)
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        post(url, one)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(batches):
        post(url, batch)
    rate = batches * 128 / (time.perf_counter() - start)
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3), rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--preset", default="smoke")
    parser.add_argument("--tracking-uri", help="A store whose registered model already has a champion.")
    args = parser.parse_args()

    from trainlab.pipeline.config.loading import load_config
    from trainlab.pipeline.data.sources import load_dataset
    from trainlab.pipeline.export.stage import export_champion
    workdir = Path(tempfile.mkdtemp(prefix="trainlab-bench-"))
    uri = args.tracking_uri or f"sqlite:///{workdir}/mlflow.db"
    cfg = load_config(None, {"tracking.tracking_uri": uri, "export.dir": str(workdir / "exports")}, args.preset)
    if not args.tracking_uri:
        from trainlab.pipeline.job import train_and_register
        from trainlab.pipeline.plan import resolve_plan
        train_and_register(resolve_plan(cfg), echo=lambda _: None)
    path, _ = export_champion(cfg)
    images = load_dataset("mnist").x_test
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}

    rows = []
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1/models/{cfg.tracking.registered_model}"
    proc = start_server([str(bin_dir / "trainlab"), "serve", "--model-dir", str(path.parent), "--port", str(port)],
                        base, env=env)
    try:
        rows.append(("trainlab serve", *measure(f"{base}:predict",
                                                json.dumps({"instances": images[:1].tolist()}).encode(),
                                                json.dumps({"instances": images[:128].tolist()}).encode(),
                                                args.requests, args.batches)))
    finally:
        stop_server(proc)
    port = free_port()
    proc = start_server([str(bin_dir / "mlflow"), "models", "serve", "-m",
                         f"models:/{cfg.tracking.registered_model}@champion", "--env-manager", "local",
                         "--host", "127.0.0.1", "--port", str(port)], f"http://127.0.0.1:{port}/ping", env=env,
                        timeout=180)
    try:
        rows.append(("mlflow models serve", *measure(f"http://127.0.0.1:{port}/invocations", mlflow_body(images[:1]),
                                                     mlflow_body(images[:128]), args.requests, args.batches)))
    finally:
        stop_server(proc)

    print(f"model {cfg.model.name} ({args.preset} preset), {os.cpu_count()} CPU cores, client in-process over HTTP")
    print(f"{'server':<22} {'p50 ms (1 image)':>17} {'p99 ms (1 image)':>17} {'images/s (batch 128)':>21}")
    for name, p50, p99, rate in rows:
        print(f"{name:<22} {p50:>17.2f} {p99:>17.2f} {rate:>21,.0f}")


if __name__ == "__main__":
    main()
