"""Serving under load: concurrent keep-alive clients against `trainlab serve` (with and without batching)
and `mlflow models serve` on the same model, a version exported while clients send requests, a soak.

    .venv/bin/python benchmarks/serve_load.py [--seconds 30] [--levels 1,8,32,128] [--soak-minutes 10]
        [--preset default] [--tracking-uri URI] [--batch-max-size 32] [--batch-timeout-ms 0]
        [--no-mlflow] [--no-switch] [--baseline "PYTHON OTHER_CLI.py"]

Loopback only, bounded in time: each level runs ``--seconds``, its requests cut off at 30 s each. The load
generator is its own process (asyncio streams, one keep-alive connection per client) on the same cores as the
server, as a client on the same machine would be. Three bodies per trainlab server: a JSON float image and a
base64 PNG (the TF Serving API) and uint8 pixels in the Open Inference Protocol's binary tensor extension
(``binary``: no number parsed from text). Each level is run once per server, interleaved by
level, each server alone on the machine (an overloaded MLflow server goes on working through its queue
after its clients have gone). Prints p50/p99 latency, throughput and errors per level and server, and
the server's RSS (psutil); then the version switch (errors during it, seconds until the new version
answers) and the soak's RSS per minute.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tests.conftest import free_port, start_server, stop_server  # noqa: E402

# --- the load generator (its own process: ``serve_load.py --client URL ...``) --------------------------

async def _load(url: str, bodies: list[bytes], clients: int, seconds: float, header: int | None = None) -> dict:
    """``clients`` keep-alive connections, each writing prepared HTTP/1.1 requests and reading the answers (status
    line, headers, a Content-Length body): a few microseconds of Python a request, so the generator takes
    little of the cores it shares with the server under test, as clients on other machines would (aiohttp's
    client took ~0.2 ms of a core a request here, half the batched server's own cost).

    ``header``: the bodies are binary Open Inference Protocol requests whose JSON header is that long."""
    parts = urllib.parse.urlsplit(url)
    kind = (b"Content-Type: application/json\r\n" if header is None else
            f"Content-Type: application/octet-stream\r\nInference-Header-Content-Length: {header}\r\n".encode())
    requests = [f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n".encode() + kind
                + f"Content-Length: {len(body)}\r\n\r\n".encode() + body for body in bodies]
    latencies, errors, statuses = [], 0, {}
    deadline = time.perf_counter() + seconds

    async def client(i: int):
        nonlocal errors
        n, connection = i, None
        while time.perf_counter() < deadline:
            request = requests[n % len(requests)]
            n += clients
            start = time.perf_counter()
            try:
                async with asyncio.timeout(30):
                    connection = connection or await asyncio.open_connection(parts.hostname, parts.port)
                    reader, writer = connection
                    writer.write(request)
                    status, closes = await _answer(reader)
                if status != 200:
                    errors += 1
                    statuses[status] = statuses.get(status, 0) + 1
                if closes:
                    writer.close()
                    connection = None
            except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                errors += 1
                if connection:
                    connection[1].close()
                connection = None
            latencies.append(time.perf_counter() - start)
        if connection:
            connection[1].close()
    start = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.perf_counter() - start
    lat = np.asarray(latencies) * 1e3
    return {"requests": len(latencies), "errors": errors, "statuses": statuses, "rate": len(latencies) / elapsed,
            "p50": float(np.percentile(lat, 50)) if len(lat) else None,
            "p99": float(np.percentile(lat, 99)) if len(lat) else None}


async def _answer(reader) -> tuple[int, bool]:
    """One response's status and whether the server closes the connection after it; its body read and dropped
    (a response without Content-Length is a ValueError: these servers always send one)."""
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    status = int(head[9:12])
    at = head.find(b"\r\ncontent-length:")
    if at < 0:
        raise ValueError("a response without Content-Length")
    await reader.readexactly(int(head[at + 17:head.index(b"\r\n", at + 2)]))
    return status, b"\r\nconnection: close" in head


def _client_main(args) -> None:
    bodies = [Path(p).read_bytes() for p in args.bodies]
    print(json.dumps(asyncio.run(_load(args.client, bodies, args.clients, args.seconds, args.inference_header))))


def run_load(url: str, bodies: list[Path], clients: int, seconds: float) -> dict:
    binary = bodies[0].suffix == ".bin"  # binary v2 bodies: their JSON header's length is in their name
    header = ["--inference-header", bodies[0].stem.rsplit("-", 1)[1]] if binary else []
    done = subprocess.run([sys.executable, __file__, "--client", url, "--clients", str(clients), "--seconds",
                           str(seconds), "--bodies", *map(str, bodies), *header], capture_output=True, text=True,
                          timeout=seconds + 120)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the servers and the phases -------------------------------------------------------------------------

def rss_mb(pid: int) -> float:
    import psutil
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def mlflow_body(images: np.ndarray) -> bytes:
    """MLflow's scoring request for images (N, H, W, C): its ``inputs``, as floats."""
    return json.dumps({"inputs": images.astype(float).tolist()}).encode()


def request_bodies(workdir: Path, images: np.ndarray) -> dict[str, list[Path]]:
    """Request bodies, one image each: float tensors and base64 PNGs (TF Serving API), MLflow's inputs, and
    uint8 pixels as the Open Inference Protocol's binary tensor extension carries them (``binary``)."""
    import tensorflow as tf
    files = {"float": [], "png": [], "mlflow": [], "binary": []}
    for i, image in enumerate(images[:64]):
        head = json.dumps({"inputs": [{"name": "image", "shape": [1, *image.shape], "datatype": "UINT8",
                                       "parameters": {"binary_data_size": image.size}}]}).encode()
        path = workdir / f"binary-{i}-{len(head)}.bin"
        path.write_bytes(head + np.ascontiguousarray(image, np.uint8).tobytes())
        files["binary"].append(path)
        png = base64.b64encode(tf.io.encode_png(image).numpy()).decode()
        for kind, body in (("float", {"instances": image[None].astype(float).tolist()}),
                           ("png", {"signature_name": "serving_b64", "instances": [{"b64": png}]})):
            path = workdir / f"{kind}-{i}.json"
            path.write_text(json.dumps(body))
            files[kind].append(path)
        files["mlflow"].append(workdir / f"mlflow-{i}.json")
        files["mlflow"][-1].write_bytes(mlflow_body(image[None]))
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--bodies", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--inference-header", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=30.0, help="Seconds per level.")
    parser.add_argument("--levels", default="1,8,32,128", help="Concurrent clients, comma-separated.")
    parser.add_argument("--soak-minutes", type=int, default=10, help="Soak at 32 clients; 0 skips it.")
    parser.add_argument("--preset", default="default", help="The model's preset (trained 1 epoch on 5000 images: "
                        "serving speed does not depend on how well it was trained).")
    parser.add_argument("--tracking-uri", help="A store whose registered model already has a champion.")
    parser.add_argument("--batch-max-size", type=int, default=32)
    parser.add_argument("--batch-timeout-ms", type=float, default=0.0)
    parser.add_argument("--no-mlflow", action="store_true", help="Skip the MLflow scoring server.")
    parser.add_argument("--baseline", help="A command that runs another trainlab's CLI (say an older checkout's): "
                        "its servers run beside this one's, interleaved, on the same model and load.")
    parser.add_argument("--no-switch", action="store_true", help="Skip the version switch.")
    args = parser.parse_args()
    if args.client:
        return _client_main(args)

    from trainlab.pipeline.config.loading import load_config
    from trainlab.pipeline.data.sources import load_dataset
    from trainlab.pipeline.export.stage import export_champion
    workdir = Path(tempfile.mkdtemp(prefix="trainlab-load-"))
    uri = args.tracking_uri or f"sqlite:///{workdir}/mlflow.db"
    cfg = load_config(None, {"tracking.tracking_uri": uri, "export.dir": str(workdir / "exports"),
                             "train.epochs": 1, "data.limit_train": 5000}, args.preset)
    if not args.tracking_uri:
        from trainlab.pipeline.job import train_and_register
        from trainlab.pipeline.plan import resolve_plan
        train_and_register(resolve_plan(cfg), echo=lambda _: None)
    path, _ = export_champion(cfg)
    name = cfg.tracking.registered_model
    bodies = request_bodies(workdir, load_dataset("mnist").x_test)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    levels = [int(n) for n in args.levels.split(",")]

    def trainlab_server(batched: bool, poll: float = 2.0, command=(str(bin_dir / "trainlab"),)):
        port = free_port()
        base = f"http://127.0.0.1:{port}/v1/models/{name}"
        batching = ["--batch-max-size", str(args.batch_max_size), "--batch-timeout-ms",
                    str(args.batch_timeout_ms)] if batched else []
        proc = start_server([*command, "serve", "--model-dir", str(path.parent), "--port",
                             str(port), "--poll-seconds", str(poll), *batching], base, env=env)
        return proc, base

    servers = {"trainlab serve": lambda: trainlab_server(False),
               f"trainlab serve, batching {args.batch_max_size}": lambda: trainlab_server(True)}
    if args.baseline:
        baseline = tuple(args.baseline.split())
        servers = {"trainlab serve": servers["trainlab serve"],
                   "baseline serve": lambda: trainlab_server(False, command=baseline),
                   f"trainlab serve, batching {args.batch_max_size}": servers[f"trainlab serve, batching "
                                                                               f"{args.batch_max_size}"],
                   f"baseline serve, batching {args.batch_max_size}": lambda: trainlab_server(True, command=baseline)}
    if not args.no_mlflow:
        def mlflow_server():
            port = free_port()
            proc = start_server([str(bin_dir / "mlflow"), "models", "serve", "-m", f"models:/{name}@champion",
                                 "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
                                f"http://127.0.0.1:{port}/ping", env=env, timeout=180)
            return proc, f"http://127.0.0.1:{port}"
        servers["mlflow models serve"] = mlflow_server

    rows = []
    for clients in levels:  # interleaved by level; each server runs alone (started for its turn, then stopped)
        for label, start in servers.items():
            proc, base = start()
            try:
                mlflow = label.startswith("mlflow")
                for kind in ["mlflow"] if mlflow else ["float", "png", "binary"]:
                    url = (f"{base}/invocations" if mlflow else base.replace("/v1/", "/v2/") + "/infer"
                           if kind == "binary" else f"{base}:predict")
                    result = run_load(url, bodies[kind], clients, args.seconds)
                    rows.append((label, "float" if mlflow else kind, clients, result, rss_mb(proc.pid)))
                    print_row(*rows[-1], flush=True)
            finally:
                stop_server(proc)

    if not args.no_switch:
        switch = version_switch(trainlab_server, path, bodies["float"], args)
        print(f"version switch under 32 clients ({args.seconds:.0f} s, batching {args.batch_max_size}): "
              f"{switch['load']['requests']} requests, {switch['load']['errors']} errors; the new version answered "
              f"{switch['answered_after']:.2f} s after its folder appeared (poll every 0.5 s)")
    if args.soak_minutes:
        soak(trainlab_server, bodies["float"], args.soak_minutes)
    shutil.rmtree(workdir, ignore_errors=True)


def print_row(label, kind, clients, r, rss, flush=False):
    print(f"{label:<34} {kind:<6} {clients:>4} clients: {r['rate']:>8.1f} req/s  p50 {r['p50']:>7.1f} ms  "
          f"p99 {r['p99']:>7.1f} ms  errors {r['errors']}  server RSS {rss:.0f} MB", flush=flush)


def version_switch(trainlab_server, path: Path, bodies: list[Path], args) -> dict:
    """32 clients for ``--seconds`` while a new version appears halfway (copied in atomically, as
    export does); when did the server first answer it?"""
    proc, base = trainlab_server(True, poll=0.5)
    new = path.parent / str(int(path.name) + 1)
    try:
        loader = subprocess.Popen([sys.executable, __file__, "--client", f"{base}:predict", "--clients", "32",
                                   "--seconds", str(args.seconds), "--bodies", *map(str, bodies)],
                                  stdout=subprocess.PIPE, text=True)
        time.sleep(args.seconds / 2)
        staging = path.parent / f".{new.name}-staging"
        shutil.copytree(path, staging)
        os.replace(staging, new)
        appeared = time.perf_counter()
        while not answers(f"{base}/versions/{new.name}/metadata"):
            time.sleep(0.02)
        answered = time.perf_counter() - appeared
        out, _ = loader.communicate(timeout=args.seconds + 120)
    finally:
        stop_server(proc)
        shutil.rmtree(new, ignore_errors=True)
    return {"load": json.loads(out.strip().splitlines()[-1]), "answered_after": answered}


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status == 200
    except urllib.error.HTTPError:
        return False


def soak(trainlab_server, bodies: list[Path], minutes: int) -> None:
    proc, base = trainlab_server(True)
    try:
        for minute in range(1, minutes + 1):
            result = run_load(f"{base}:predict", bodies, 32, 60)
            print_row(f"soak minute {minute}", "float", 32, result, rss_mb(proc.pid), flush=True)
    finally:
        stop_server(proc)


if __name__ == "__main__":
    main()
