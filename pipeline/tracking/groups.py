"""Groups of runs: a sweep's parent run, its child runs (one per point), and reading them back.

The parent run is created and ended through the client, never made the active run, so child runs can
be trained in this process or in worker processes alike.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from ..errors import TrackingError
from .store import one_line

SWEEP_TAG = "trainlab.sweep"          # the sweep's name, on the parent and on every child
ROLE_TAG = "trainlab.sweep.role"      # parent | point
POINT_TAG = "trainlab.sweep.point"    # a point's key: a hash of its resolved config
LABEL_TAG = "trainlab.sweep.label"    # a point's human label
REASON_TAG = "trainlab.status_reason"


@dataclass
class ChildRun:
    """What a sweep reads back about one point's run."""

    run_id: str
    status: str
    start_time: int
    tags: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.tags.get(POINT_TAG, "")


def parent_tags(sweep: str) -> dict:
    return {SWEEP_TAG: sweep, ROLE_TAG: "parent"}


def child_tags(sweep: str, parent_run_id: str, key: str, label: str) -> dict:
    return {SWEEP_TAG: sweep, ROLE_TAG: "point", POINT_TAG: key, LABEL_TAG: label, MLFLOW_PARENT_RUN_ID: parent_run_id}


def find_parent(experiment_id: str, sweep: str) -> str | None:
    """The latest parent run of the sweep called ``sweep``, or None."""
    runs = MlflowClient().search_runs([experiment_id], f"tags.`{SWEEP_TAG}` = '{_quote(sweep)}' and "
                                      f"tags.`{ROLE_TAG}` = 'parent'",
                                      order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


def start_parent(experiment_id: str, sweep: str, tags: dict | None = None) -> str:
    """A new parent run, RUNNING until :func:`end_parent`."""
    run = MlflowClient().create_run(experiment_id, run_name=sweep,
                                    tags={**parent_tags(sweep), **{k: str(v) for k, v in (tags or {}).items()}})
    return run.info.run_id


def reopen_parent(run_id: str) -> None:
    MlflowClient().update_run(run_id, status="RUNNING")


def end_run(run_id: str, status: str = "FINISHED", tags: dict | None = None) -> None:
    client = MlflowClient()
    for k, v in (tags or {}).items():
        client.set_tag(run_id, k, str(v))
    client.set_terminated(run_id, status=status)


def children(experiment_id: str, sweep: str) -> list[ChildRun]:
    """Every point run the sweep ever started, oldest first."""
    client = MlflowClient()
    query = f"tags.`{SWEEP_TAG}` = '{_quote(sweep)}' and tags.`{ROLE_TAG}` = 'point'"
    found, token = [], None
    while True:
        page = client.search_runs([experiment_id], query, order_by=["attributes.start_time ASC"],
                                  max_results=1000, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            break
    return [ChildRun(r.info.run_id, r.info.status, r.info.start_time, dict(r.data.tags), dict(r.data.params),
                     dict(r.data.metrics)) for r in found]


def record_failed(experiment_id: str, tags: dict, reason: str) -> str:
    """A FAILED run for a point that failed before its training run could start (bad data, bad model)."""
    client = MlflowClient()
    run = client.create_run(experiment_id, run_name=tags.get(LABEL_TAG), tags={**tags, REASON_TAG: reason})
    client.set_terminated(run.info.run_id, status=RunStatus.to_string(RunStatus.FAILED))
    return run.info.run_id


def metric_history(run_id: str, key: str) -> list[tuple[int, float]]:
    """``[(step, value), ...]`` of a metric, in step order."""
    return sorted((m.step, m.value) for m in MlflowClient().get_metric_history(run_id, key))


def load_json(run_id: str, artifact: str) -> dict | None:
    """A JSON artifact of a run, or None if it has none."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = MlflowClient().download_artifacts(run_id, artifact, tmp)
        except (MlflowException, OSError):
            return None
        return json.loads(Path(path).read_text())


def log_folder(run_id: str, folder: Path, artifact_path: str) -> None:
    """Upload a local folder's files into a run's artifacts."""
    try:
        MlflowClient().log_artifacts(run_id, str(folder), artifact_path)
    except MlflowException as e:
        raise TrackingError(f"cannot log {folder} to run {run_id}: {one_line(e)}") from None


def _quote(value: str) -> str:
    return value.replace("'", "\\'")
