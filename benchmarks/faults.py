"""The fault battery: what each fault does to a `trainlab train` run, measured on real processes.

    .venv/bin/python benchmarks/faults.py [--only NAME ...]

Each fault runs a small training (the smoke preset, 1,500 images, 60 epochs: about 0.5 s an epoch on
2 cores) in a fresh store and prints a row: the fault, what happened (exit status, the last line),
finished epochs lost (trained before the fault but not in the kept checkpoint) and the run's status
afterwards (after the resume where there is one). Faults:

- SIGINT, SIGTERM: sent to the process group after the second checkpoint.
- SIGKILL + resume: kill -9 after the second checkpoint, then `trainlab train --resume`; the weights
  digest is compared with an uninterrupted run (deterministic mode).
- disk full: the store and checkpoints on a 3 MB tmpfs (needs root; skipped otherwise).
- store gone: the sqlite file removed after the second checkpoint.
- server gone: the run tracks to `trainlab server` on 127.0.0.1, which is stopped after the second checkpoint.
- out of memory: batches of 20,000 under an 8 GB address-space limit (prlimit).
- 4 concurrent registrations: four finished runs registered by four processes at once.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
SMALL = ["--preset", "smoke", "--limit-train", "2000", "--epochs", "60"]


def start(folder: Path, args: list[str], store: str | None = None, prefix: list[str] = ()) -> subprocess.Popen:
    store = store or f"sqlite:///{folder}/mlflow.db"
    return subprocess.Popen([*prefix, str(BIN / "trainlab"), *args, "--tracking-uri", store], cwd=folder,
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def output(proc: subprocess.Popen, timeout: float = 600) -> str:
    try:
        return proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.communicate()[0] + "\n(timed out)"


def epochs_in_checkpoint(folder: Path) -> int:
    from trainlab.pipeline.training.checkpoints import Checkpoint
    for path in folder.glob("**/checkpoints/*/checkpoint.npz"):
        try:
            return Checkpoint.peek(path)["epoch"] + 1
        except Exception:
            pass
    return 0


def wait_for_epochs(folder: Path, n: int, proc: subprocess.Popen, timeout: float = 300) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        done = epochs_in_checkpoint(folder)
        if done >= n:
            return done
        time.sleep(0.02)
    raise RuntimeError(f"no checkpoint with {n} epochs (process exited {proc.poll()}): {output(proc)[-500:]}")


def status(folder: Path, store: str | None = None) -> str:
    from mlflow.tracking import MlflowClient
    try:
        client = MlflowClient(store or f"sqlite:///{folder}/mlflow.db")
        runs = client.search_runs([client.get_experiment_by_name("trainlab").experiment_id])
        return ", ".join(r.info.status for r in runs) or "no run"
    except Exception as e:
        return f"unreadable ({type(e).__name__})"


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "")[:150]


def interrupted(folder: Path, signum: int) -> tuple[str, str, str]:
    proc = start(folder, ["train", *SMALL])
    before = wait_for_epochs(folder, 2, proc)
    os.killpg(proc.pid, signum)
    out = output(proc)
    kept = epochs_in_checkpoint(folder)
    return (f"exit {proc.returncode}: {last_line(out)}", f"{max(0, before - kept)} (+ the unfinished epoch)",
            status(folder))


def killed_and_resumed(folder: Path) -> tuple[str, str, str]:
    det = ["--preset", "smoke", "--limit-train", "2000", "--epochs", "6", "--deterministic"]
    (folder / "straight").mkdir()
    straight = output(start(folder / "straight", ["train", *det]))
    proc = start(folder, ["train", *det])
    before = wait_for_epochs(folder, 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = epochs_in_checkpoint(folder)
    resumed = output(start(folder, ["train", "--resume"]))
    def digest(text: str) -> str:
        return next((line.split()[-1] for line in text.splitlines() if line.startswith("weights digest")), "?")
    same = "same weights digest as uninterrupted" if digest(resumed) == digest(straight) != "?" else \
        f"DIGEST DIFFERS ({digest(resumed)} vs {digest(straight)})"
    return f"killed after {before} epochs; resumed from epoch {kept + 1}: {same}", str(max(0, before - kept)), \
        status(folder)


def disk_full(folder: Path) -> tuple[str, str, str]:
    if os.geteuid() != 0:
        return "skipped: mounting a small tmpfs needs root", "-", "-"
    small = folder / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(small)], check=True)
    try:
        proc = start(small, ["train", *SMALL])
        out = output(proc)
        return f"exit {proc.returncode}: {last_line(out)}", f"0 of {epochs_in_checkpoint(small)}", status(small)
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


def store_gone(folder: Path) -> tuple[str, str, str]:
    proc = start(folder, ["train", *SMALL])
    before = wait_for_epochs(folder, 2, proc)
    (folder / "mlflow.db").unlink()
    out = output(proc)
    return f"exit {proc.returncode}: {last_line(out)}", \
        f"{max(0, before - epochs_in_checkpoint(folder))} (checkpoint kept: {epochs_in_checkpoint(folder)} epochs)", \
        "store gone (the run cannot be marked)"


def server_gone(folder: Path) -> tuple[str, str, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(BIN / "trainlab"), "server", "--host", "127.0.0.1", "--port", str(port)],
                              cwd=folder, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})
    uri = f"http://127.0.0.1:{port}"
    try:
        import urllib.request
        for _ in range(120):
            try:
                urllib.request.urlopen(uri + "/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        proc = start(folder, ["train", *SMALL], store=uri)
        before = wait_for_epochs(folder, 2, proc)
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        started = time.monotonic()
        out = output(proc)
        took = time.monotonic() - started
        return f"exit {proc.returncode} after {took:.0f} s: {last_line(out)}", \
            f"{max(0, before - epochs_in_checkpoint(folder))} (checkpoint kept)", "server gone (cannot be marked)"
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)


def out_of_memory(folder: Path) -> tuple[str, str, str]:
    if not Path("/usr/bin/prlimit").exists():
        return "skipped: no prlimit", "-", "-"
    proc = start(folder, ["train", "--preset", "smoke", "--batch-size", "20000", "--limit-train", "30000",
                          "--set", "model.width=32"], prefix=["prlimit", "--as=8000000000"])
    out = output(proc)
    return f"exit {proc.returncode}: {last_line(out)}", "0", status(folder)


def concurrent_registrations(folder: Path) -> tuple[str, str, str]:
    runs = []
    for width in (4, 6, 8, 12):
        out = output(start(folder, ["train", "--preset", "smoke", "--set", f"model.width={width}"]))
        runs.append(next(line.split()[1].rstrip(":") for line in out.splitlines() if line.startswith("run ")))
    procs = [start(folder, ["register", "--run-id", r]) for r in runs]
    codes = [(p.wait(300), output(p))[0] for p in procs]
    from mlflow.tracking import MlflowClient
    client = MlflowClient(f"sqlite:///{folder}/mlflow.db")
    versions = sorted(int(v.version) for v in client.search_model_versions("name = 'trainlab-mnist'"))
    champion = client.get_model_version_by_alias("trainlab-mnist", "champion").run_id
    score = lambda r: client.get_run(r).data.metrics["best_val_accuracy"]  # noqa: E731
    best = champion in runs and score(champion) == max(score(r) for r in runs)
    return f"exits {codes}; versions {versions}; champion is the best run: {best}", "0", status(folder)


FAULTS = {
    "SIGINT": lambda f: interrupted(f, signal.SIGINT),
    "SIGTERM": lambda f: interrupted(f, signal.SIGTERM),
    "SIGKILL + resume": killed_and_resumed,
    "disk full": disk_full,
    "store gone": store_gone,
    "server gone": server_gone,
    "out of memory": out_of_memory,
    "4 concurrent registrations": concurrent_registrations,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(FAULTS), help="run only these faults")
    args = parser.parse_args()
    from trainlab.pipeline.runtime import process as runtime
    runtime.setup(False)  # TensorFlow's start-up lines held back (this process reads checkpoints)
    print("| fault | what happened | epochs lost | run status afterwards |\n|---|---|---|---|", flush=True)
    for name, fault in FAULTS.items():
        if args.only and name not in args.only:
            continue
        with tempfile.TemporaryDirectory(prefix="trainlab-fault-") as tmp:
            try:
                row = fault(Path(tmp))
            except Exception as e:
                row = (f"battery error: {type(e).__name__}: {e}"[:200], "?", "?")
            print(f"| {name} | " + " | ".join(cell.replace("|", "/") for cell in row) + " |", flush=True)


if __name__ == "__main__":
    main()
