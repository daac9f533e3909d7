"""One sweep point: train its config as a child run, with its probes, and report how it ended.

Runs in the sweep's own process (one worker) or as ``python -m trainlab.pipeline.experiments.sweeps.worker TASK RESULT``
in a process of its own (several workers), so a point that crashes the interpreter takes nothing
else down; the task carries the point's plan as plain data (``Plan.as_dict``).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

import tensorflow as tf

from ... import tracking
from ...errors import TrainlabError
from ...evaluation.probes import ProbeData, make_probes
from ...plan import Plan
from ...runtime import process as runtime
from ...training.faults import signals_as_interrupts
from ...training.prepare import prepare
from ...training.stage import train
from .trials import PRUNED_TAG, pruning_callback


def run_point(plan: Plan, task: dict, echo: Callable[[str], None] = print) -> dict:
    """Train the point's ``plan`` tagged with ``task["tags"]`` (its probes, Optuna trial and checkpoint to resume
    in ``task`` too); never raises for a failing point: returns ``{"status": FINISHED | FAILED, "reason": ...,
    "seconds": ...}``. The point's model is built only now, when it trains.
    """
    start, started_ms = time.perf_counter(), int(time.time() * 1000)
    cfg = plan.config
    try:
        callbacks, prepared = [], None
        if task.get("probes"):  # the probes read the splits training uses: prepared once, for both
            prepared = prepare(plan)
            splits, normalizer = prepared.splits, prepared.normalizer
            data = ProbeData(cfg, normalizer(splits.x_train[:10000]).numpy(), splits.y_train[:10000],
                             prepared.ds.num_classes, normalizer(splits.x_val[:5000]).numpy(), splits.y_val[:5000])
            callbacks = make_probes(task["probes"], data)
        pruning = None
        if task.get("optuna"):
            pruning = pruning_callback(task["optuna"])
            callbacks.append(pruning)
        resume = Path(task["resume"]) if task.get("resume") else None
        if resume is not None:
            echo(f"resuming from {resume}")
        result = train(plan, echo=echo, callbacks=callbacks, tags=task["tags"], resume=resume, prepared=prepared)
        pruned = bool(pruning is not None and pruning.pruned)
        if pruned:
            tracking.groups.end_run(result.run_id, "FINISHED", {PRUNED_TAG: "true"})
        return {"status": "FINISHED", "run_id": result.run_id, "seconds": time.perf_counter() - start,
                "best_val_accuracy": result.best_val_accuracy, "pruned": pruned}
    except Exception as e:  # the point's own problem (bad data, divergence, a TF error): record it, go on
        message = " ".join(str(e).split())
        reason = message if isinstance(e, TrainlabError) else f"{type(e).__name__}: {message}"[:500]
        _ensure_recorded(cfg, task["tags"], started_ms, reason)
        return {"status": "FAILED", "reason": reason, "seconds": time.perf_counter() - start}


def _ensure_recorded(cfg, tags: dict, started_ms: int, reason: str) -> None:
    """A point that failed before its run started still gets a FAILED run, so the sweep shows it."""
    experiment_id = tracking.configure(cfg.tracking)
    key = tags[tracking.groups.POINT_TAG]
    mine = [c for c in tracking.groups.children(experiment_id, tags[tracking.groups.SWEEP_TAG])
            if c.key == key and c.start_time >= started_ms]
    if not mine:
        tracking.groups.record_failed(experiment_id, tags, reason)


def main(argv: list[str]) -> int:
    task_path, result_path = argv
    runtime.setup()
    threads = int(os.environ.get("TRAINLAB_THREADS", "0"))
    if threads:  # workers share the machine's cores instead of each claiming all of them
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    with open(task_path) as f:
        task = json.load(f)
    try:
        with signals_as_interrupts():
            result = run_point(Plan.from_dict(task["plan"]), task, echo=lambda line: print(line, flush=True))
    except KeyboardInterrupt as e:  # the sweep was stopped: the point's run is KILLED, its checkpoint kept
        return getattr(e, "exit_code", 130)
    with open(result_path + ".tmp", "w") as f:
        json.dump(result, f)
    os.replace(result_path + ".tmp", result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
