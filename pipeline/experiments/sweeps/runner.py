"""Running a sweep: one parent run, a child run per point, points in this process or in worker
processes, failures isolated, finished points skipped on a re-run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from ... import progress, tracking
from ...plan import Plan
from ...training.resume import unfinished_runs
from .compare import compare
from .parent import SweepResult, finish, parent_run, point_task, record_crash, result_line
from .search import run_search
from .spec import ResolvedPoint, SweepSpec, resolve
from .worker import run_point

groups = tracking.groups


def run_sweep(spec: SweepSpec, overrides: dict | None = None, workers: int = 1, out_dir: str | Path | None = None,
              echo: Callable[[str], None] = print, executor: Callable | None = None) -> SweepResult:
    """Run every point of ``spec`` not finished already; write and log the comparison.

    Args:
        overrides: command-line config overrides, applied over the sweep's base and under each point.
        workers: 1 runs points here, one after another; N > 1 runs N worker processes at a time.
        out_dir: where the comparison files go (default ``outputs/sweeps/<name>``).
        executor: runs the tasks instead of the built-in ones (``executor(tasks, echo) -> results``).

    Raises:
        ConfigError: a point's config is invalid (checked for all points before anything runs).
        TrackingError: the store cannot be opened.
    """
    if spec.search is not None:
        def run_task(task: dict, point: ResolvedPoint) -> dict:
            if workers > 1:
                return run_in_processes([task], 1, echo)[0]
            echo(f"{task['label']}")
            return run_point(point.plan, task, echo=lambda line: echo(f"    {line}"))
        return run_search(spec, spec.search, overrides, workers, out_dir, echo, run_task)
    points = resolve(spec, overrides)
    experiment_id = tracking.configure(points[0].config.tracking)  # store and experiment exist before workers start
    with parent_run(experiment_id, spec.name, {"trainlab.sweep.points": len(points)}) as parent:
        done = {c.key for c in groups.children(experiment_id, spec.name) if c.status == "FINISHED"}
        todo = [p for p in points if p.key not in done]
        stopped = _stopped_points(experiment_id, spec.name)
        resumed = sum(p.key in stopped for p in todo)
        echo(f"sweep {spec.name}: {len(points)} point(s), {len(points) - len(todo)} finished already, "
             f"{len(todo)} to run" + (f", {resumed} of them resumed from their checkpoints" if resumed else "")
             + f" (parent run {parent})")
        tasks = [point_task(p, spec.name, parent, stopped.get(p.key)) for p in todo]
        if executor is not None:
            results = executor(tasks, echo)
        elif workers > 1 and len(tasks) > 1:
            results = run_in_processes(tasks, workers, echo)
        else:
            results = run_inline(tasks, echo, [p.plan for p in todo])
        comparison = compare(spec, points, experiment_id)
        out = finish(parent, comparison, out_dir, spec.name,
                     {"trainlab.sweep.failed": sum(r.status != "FINISHED" for r in comparison.rows)})
    failed = sum(r["status"] != "FINISHED" for r in results)
    return SweepResult(parent, comparison, len(todo), len(points) - len(todo), failed, out)


def _stopped_points(experiment_id: str, sweep: str) -> dict[str, Path]:
    """Point key -> checkpoint of its newest stopped run (killed, failed, or orphaned by a dead process)."""
    keys = {c.run_id: c.key for c in groups.children(experiment_id, sweep)}
    found: dict[str, Path] = {}
    for u in reversed(unfinished_runs(experiment_id)):  # oldest first: the newest wins
        if u.run_id in keys and u.checkpoint is not None and not u.alive:
            found[keys[u.run_id]] = u.checkpoint
    return found


def run_inline(tasks: list[dict], echo: Callable[[str], None], plans: list[Plan]) -> list[dict]:
    """One point after another in this process (``plans``: the tasks' resolved plans)."""
    results = []
    with progress.bar("points", len(tasks)) as advance:
        for i, (task, plan) in enumerate(zip(tasks, plans), 1):
            echo(f"[{i}/{len(tasks)}] {task['label']}")
            results.append(run_point(plan, task, echo=lambda line: echo(f"    {line}")))
            echo(result_line(i, len(tasks), task, results[-1]))
            advance(note=f"{task['label']}: {results[-1]['status']}")
    return results


def run_in_processes(tasks: list[dict], workers: int, echo: Callable[[str], None]) -> list[dict]:
    """Up to ``workers`` points at a time, each in a fresh Python process sharing the CPU cores.

    A process that dies without a result (a crash, the OOM killer) marks its point FAILED with the
    exit code and the end of its log.
    """
    threads = max(1, (os.cpu_count() or 1) // workers)
    env = {**os.environ, "TRAINLAB_THREADS": str(threads)}
    done, running, stopping, advance = [0], set(), [], [lambda n=1, note="": None]

    def one(task: dict) -> dict:
        with tempfile.TemporaryDirectory(prefix="trainlab-point-") as tmp:
            task_path, result_path, log_path = (Path(tmp) / n for n in ("task.json", "result.json", "log.txt"))
            task_path.write_text(json.dumps(task, default=str))
            start = time.perf_counter()
            with open(log_path, "w") as log:
                proc = subprocess.Popen([sys.executable, "-m", "trainlab.pipeline.experiments.sweeps.worker",
                                         str(task_path), str(result_path)],
                                        stdout=log, stderr=subprocess.STDOUT, env=env)
                running.add(proc)
                code = proc.wait()
                running.discard(proc)
            if stopping:  # the worker stopped on our signal: its run is KILLED, not a crash
                return {"status": "KILLED", "seconds": time.perf_counter() - start}
            if result_path.exists():
                result = json.loads(result_path.read_text())
            else:
                tail = " | ".join(log_path.read_text().strip().splitlines()[-3:])
                result = {"status": "FAILED", "seconds": time.perf_counter() - start,
                          "reason": f"worker process exited with code {code}: {tail}"[:500]}
                record_crash(task, result["reason"])
        done[0] += 1
        echo(result_line(done[0], len(tasks), task, result))
        advance[0](note=f"{task['label']}: {result['status']}")
        return result

    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        with progress.bar(f"points ({workers} at a time)", len(tasks)) as advance[0]:
            return list(pool.map(one, tasks))
    except KeyboardInterrupt as e:  # pass the stop on: each worker marks its run KILLED (checkpoint kept), exits
        stopping.append(e)
        pool.shutdown(wait=False, cancel_futures=True)
        signum = getattr(e, "signum", signal.SIGINT)
        for proc in list(running):
            if signum != signal.SIGINT:  # Ctrl-C in a terminal reaches the workers' process group itself
                proc.send_signal(signum)
        for proc in list(running):
            proc.wait()
        raise
    finally:
        pool.shutdown(wait=True)


