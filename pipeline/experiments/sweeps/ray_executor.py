"""Sweep points as Ray tasks: on a local Ray instance or an existing cluster (``trainlab[ray]``).

Each point is one task in a fresh worker process (``max_calls=1``: a crash or TensorFlow's global
state never leaks into the next point), logging to the sweep's tracking store: on a cluster of
several machines that is a tracking server (``trainlab server``) every node reaches. The driver keeps
resume and failure isolation as for local sweeps: a task that dies marks its point FAILED.
"""
from __future__ import annotations

import os
import socket
from typing import Callable

import tensorflow as tf

from ...errors import ConfigError, one_line
from ...plan import Plan
from .parent import record_crash, result_line
from .worker import run_point


def ray_executor(address: str | None, cpus_per_point: float = 1.0) -> Callable[[list[dict], Callable], list[dict]]:
    """An executor for :func:`pipeline.experiments.sweeps.run_sweep`; ``address`` None starts a local Ray instance."""
    def run(tasks: list[dict], echo: Callable[[str], None]) -> list[dict]:
        return run_on_ray(tasks, echo, address, cpus_per_point)
    return run


def run_on_ray(tasks: list[dict], echo: Callable[[str], None], address: str | None,
               cpus_per_point: float = 1.0) -> list[dict]:
    if address is None or _is_loopback(address):
        # Ray swaps 127.0.0.1 for the machine's routable address unless told to stay on loopback.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray  # after the environment: Ray reads it when imported
    except ImportError:
        raise ConfigError("sweeps on Ray need the ray extra: pip install 'trainlab[ray]'") from None
    if address is not None:
        _check_reachable(address)
    try:
        # "local": always a new instance (None would attach to whatever /tmp/ray last recorded, even a dead one)
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {one_line(e)}") from None
    try:
        echo(f"Ray: {ray.cluster_resources().get('CPU', 0):.0f} CPU(s) in the cluster, "
             f"{cpus_per_point:g} per point")
        remote = ray.remote(num_cpus=cpus_per_point, max_calls=1)(_run_task)
        pending = {remote.remote(task, int(cpus_per_point) or 1): i for i, task in enumerate(tasks)}
        results: list[dict | None] = [None] * len(tasks)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(ready[0])
            try:
                results[i] = ray.get(ready[0])
            except ray.exceptions.RayError as e:  # the worker died or the task could not run
                reason = f"Ray task failed: {' '.join(str(e).split())}"[:500]
                results[i] = {"status": "FAILED", "seconds": 0.0, "reason": reason}
                record_crash(tasks[i], reason)
            echo(result_line(len(tasks) - len(pending), len(tasks), tasks[i], results[i]))
        return results
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    """Fail in seconds, not minutes, when nothing listens at a ``host:port`` cluster address."""
    if "://" in address:
        return  # ray:// client addresses and the like: Ray reports those itself
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except (OSError, ValueError) as e:
        raise ConfigError(f"no Ray cluster answers at {address} ({e}); start one with `ray start --head`") from None


def _is_loopback(address: str) -> bool:
    host = address.split("://")[-1].rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost", "::1", "[::1]")


def _run_task(task: dict, threads: int) -> dict:
    """In the Ray worker: share only this task's CPUs, then train the point."""

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    return run_point(Plan.from_dict(task["plan"]), task, echo=lambda line: None)
