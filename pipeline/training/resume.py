"""Unfinished runs and continuing them: which runs stopped before the end, whether their process is
still alive, and the plan and checkpoint a resume continues from."""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from .. import tracking
from ..config.loading import load_config
from ..config.schema import Config
from ..errors import DataError, TrackingError
from . import checkpoints

CHECKPOINT_TAG = "trainlab.checkpoint"   # the run's checkpoint file
REGISTER_TAG = "trainlab.register"       # register when the run finishes (a resume does it too)
UNFINISHED = ("RUNNING", "KILLED", "FAILED")


@dataclass
class Unfinished:
    run_id: str
    name: str
    status: str            # as MLflow has it
    alive: bool            # RUNNING and its process is alive on this host
    checkpoint: Path | None
    epochs_done: int       # finished epochs in the checkpoint
    epochs: int
    reason: str
    host: str = ""                 # the host its process ran on
    unreadable: str = ""           # why its checkpoint cannot be read (it cannot resume), when it cannot

    @property
    def other_host(self) -> bool:
        """RUNNING with its process on another host (or a container since rescheduled under a new name)."""
        return self.alive and self.host != socket.gethostname()

    @property
    def state(self) -> str:
        if self.status == "RUNNING":
            return "running" if self.alive else "orphaned (its process is gone)"
        return self.status.lower()


def owner_alive(host: str | None, owner: str | None) -> bool:
    """Whether the process that owns a RUNNING run is alive: the tag is ``pid:start time`` (a pid
    reused after a reboot is another process). A process on another host counts as alive."""
    pid, _, started = (owner or "").partition(":")
    if not pid.isdigit():
        return False
    if host != socket.gethostname():
        return True  # another machine's process: cannot tell, assume it is working
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not started or tracking.process_start(int(pid)) == started


def unfinished_runs(experiment_id: str, include_sweeps: bool = True) -> list[Unfinished]:
    """Training runs of the experiment that did not finish, newest first."""
    found = []
    for r in tracking.search_runs(experiment_id, UNFINISHED):
        tags, params = r.data.tags, r.data.params
        if tags.get("trainlab.kind") or (not include_sweeps and tags.get(tracking.groups.SWEEP_TAG)):
            continue  # lr-find, sweep parents, study groups
        if tags.get("trainlab.fit") == "diverged" or "train.epochs" not in params:
            continue
        path = Path(tags[CHECKPOINT_TAG]) if tags.get(CHECKPOINT_TAG) else None
        done, unreadable = 0, ""
        if path is not None and path.is_file():
            try:  # one damaged checkpoint makes its own run unresumable, not the listing
                done = checkpoints.Checkpoint.peek(path).get("epoch", -1) + 1
            except DataError as e:
                unreadable = str(e)
        elif path is not None:
            path = None
        host = tags.get(tracking.HOST_TAG, "")
        alive = r.info.status == "RUNNING" and owner_alive(host, tags.get(tracking.PID_TAG))
        found.append(Unfinished(r.info.run_id, r.info.run_name or "", r.info.status, alive, path, done,
                                int(params["train.epochs"]), tags.get("trainlab.status_reason", ""), host, unreadable))
    return found


def resumable(experiment_id: str, run_id: str | None = None, force: bool = False) -> Unfinished:
    """The run to continue: ``run_id``, or the newest unfinished run with a readable checkpoint (sweep points
    excluded: a re-run sweep continues its own). ``force``: a run RUNNING under another host's name (a
    container rescheduled under a new one, say) is taken over; one whose process is alive here never is.

    Raises:
        TrackingError: no such run, it finished, its process is still running, or its checkpoint is missing
            or unreadable.
    """
    runs = unfinished_runs(experiment_id, include_sweeps=run_id is not None)
    if run_id is None:
        candidates = [u for u in runs if u.checkpoint is not None and not u.alive and not u.unreadable]
        if not candidates:
            raise TrackingError("no unfinished run with a checkpoint to resume in this experiment "
                                "(trainlab runs lists the unfinished ones)")
        return candidates[0]
    match = [u for u in runs if u.run_id == run_id]
    if not match:
        status = tracking.run_status(run_id)
        raise TrackingError(f"run {run_id} is {status}: only an unfinished training run can be resumed")
    u = match[0]
    if u.alive and not (force and u.other_host):
        more = (" on host " + u.host + "; if that host is gone, --force takes the run over") if u.other_host else ""
        raise TrackingError(f"run {run_id} is still running (process {tracking.run_owner(run_id)}{more}); "
                            "stop it first")
    if u.unreadable:
        raise TrackingError(f"run {run_id} cannot resume: {u.unreadable}; start it again with trainlab train")
    if u.checkpoint is None:
        raise TrackingError(f"run {run_id} has no checkpoint (it stopped before its first epoch ended, or its "
                            "checkpoint was removed): start it again with trainlab train")
    return u


def resume_config(checkpoint: Path, tracking_cfg) -> Config:
    """The resumed run's own config (from its checkpoint), on the store it is being resumed from."""
    state = checkpoints.Checkpoint.peek(checkpoint)
    return load_config(None, {**state["config"], "tracking.tracking_uri": tracking_cfg.tracking_uri,
                              "tracking.experiment": tracking_cfg.experiment})
