"""A sweep's parent run from start to end, the same for grids (runner) and searches (search): found and
reopened on a re-run or started, KILLED on Ctrl-C or a stop signal, FINISHED with the comparison logged;
and what both say about their points."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ... import tracking
from ...plan import Plan
from .compare import Comparison
from .spec import ResolvedPoint

groups = tracking.groups


@dataclass
class SweepResult:
    parent_run_id: str
    comparison: Comparison
    ran: int             # points run this time
    skipped: int         # points already finished before
    failed: int          # points whose run ended FAILED this time
    out_dir: Path


@contextlib.contextmanager
def parent_run(experiment_id: str, sweep: str, tags: dict) -> Iterator[str]:
    """The sweep's parent run id: reopened if an earlier run of the same sweep left one, else started
    with ``tags``. Ctrl-C or a stop signal inside the block ends it KILLED and goes on being raised."""
    parent = groups.find_parent(experiment_id, sweep)
    if parent is None:
        parent = groups.start_parent(experiment_id, sweep, tags)
    else:
        groups.reopen_parent(parent)
    try:
        yield parent
    except KeyboardInterrupt:
        groups.end_run(parent, "KILLED")
        raise


def finish(parent: str, comparison: Comparison, out_dir: str | Path | None, sweep: str, tags: dict) -> Path:
    """Write the comparison (default ``outputs/sweeps/<sweep>``), log it on the parent, end it FINISHED."""
    out = Path(out_dir or Path("outputs") / "sweeps" / sweep)
    comparison.write(out)
    groups.log_folder(parent, out, "sweep")
    groups.end_run(parent, "FINISHED", tags)
    return out


def point_task(point: ResolvedPoint, sweep: str, parent: str, checkpoint: Path | None = None) -> dict:
    """What a worker needs to train one point as a child of ``parent`` (plain data: it crosses processes)."""
    return {"label": point.point.label, "plan": point.plan.as_dict(), "probes": list(point.point.probes),
            "tags": groups.child_tags(sweep, parent, point.key, point.point.label),
            "resume": str(checkpoint) if checkpoint else None}


def result_line(i: int, n: int, task: dict, result: dict) -> str:
    what = (f"{result.get('best_val_accuracy', 0):.4f} best val accuracy" if result["status"] == "FINISHED"
            else result.get("reason", ""))
    return f"[{i}/{n}] {task['label']}: {result['status']} in {result['seconds']:.0f}s, {what}"


def record_crash(task: dict, reason: str) -> None:
    """The crashed process may have left its run RUNNING; mark it FAILED (or create one)."""
    experiment_id = tracking.configure(Plan.from_dict(task["plan"]).config.tracking)
    key, sweep = task["tags"][groups.POINT_TAG], task["tags"][groups.SWEEP_TAG]
    running = [c for c in groups.children(experiment_id, sweep) if c.key == key and c.status == "RUNNING"]
    for child in running:
        groups.end_run(child.run_id, "FAILED", {groups.REASON_TAG: reason})
    if not running:
        groups.record_failed(experiment_id, task["tags"], reason)
