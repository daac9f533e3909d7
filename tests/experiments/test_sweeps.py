"""Sweeps: expanding grids, parent and child runs, failure isolation, resume, worker processes, the CLI."""
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from tests.conftest import fresh_store
from trainlab.pipeline.cli import cli
from trainlab.pipeline.errors import ConfigError
from trainlab.pipeline.experiments.sweeps import Point, SweepSpec, load_spec, run_sweep
from trainlab.pipeline.experiments.sweeps.spec import expand, grid_points, label_for, point_key, random_points, resolve

TINY = {"model.width": 4, "data.limit_train": 1200, "data.validation_size": 200, "data.limit_test": 200,
        "train.epochs": 1}


def store_overrides(tmp_path):
    return {"tracking.tracking_uri": fresh_store(tmp_path, "mlflow.db"), "tracking.experiment": "sweeps"}


# --- spec ------------------------------------------------------------------------------------------

def test_grid_is_the_cartesian_product_in_order():
    points = grid_points({"train.learning_rate": [0.1, 0.2], "model.width": [4, 8]})
    assert points == [{"train.learning_rate": 0.1, "model.width": 4}, {"train.learning_rate": 0.1, "model.width": 8},
                      {"train.learning_rate": 0.2, "model.width": 4}, {"train.learning_rate": 0.2, "model.width": 8}]
    assert label_for(points[1]) == "learning_rate=0.1 width=8"


def test_random_sample_is_seeded_and_in_range():
    space = {"train.learning_rate": {"log_uniform": [1e-4, 1e-2]}, "model.dropout": {"uniform": [0.0, 0.5]},
             "model.width": {"int": [4, 6]}, "model.activation": ["relu", "gelu"]}
    first = random_points({"samples": 20, "seed": 3, "space": space})
    assert first == random_points({"samples": 20, "seed": 3, "space": space})
    assert first != random_points({"samples": 20, "seed": 4, "space": space})
    for p in first:
        assert 1e-4 <= p["train.learning_rate"] <= 1e-2 and 0 <= p["model.dropout"] <= 0.5
        assert p["model.width"] in (4, 5, 6) and p["model.activation"] in ("relu", "gelu")


def test_explicit_points_keep_labels_and_duplicates_drop():
    points = expand({"model.width": [4, 8]}, None, [{"label": "wide", "model.width": 16}, {"model.width": 4}])
    assert [p.label for p in points] == ["width=4", "width=8", "wide"]


@pytest.mark.parametrize("grid, random, points, message", [
    (None, None, None, "no points"),
    ({"model.width": 4}, None, None, "non-empty list"),
    (None, {"space": {"model.dropout": {"uniform": [0.5, 0.1]}}}, None, "low < high"),
    (None, {"samples": 0, "space": {"model.width": [4]}}, None, "positive integer"),
    (None, None, ["width=4"], "must be a mapping"),
])
def test_bad_specs_are_refused(grid, random, points, message):
    with pytest.raises(ConfigError, match=message):
        expand(grid, random, points)


def test_load_spec_reads_a_file_and_resolves_its_config_beside_it(tmp_path):
    (tmp_path / "base.yml").write_text("model:\n  dropout: 0.25\n")
    (tmp_path / "grid.yml").write_text("config: base.yml\npreset: smoke\nbase: {model.width: 4}\n"
                                       "grid: {train.learning_rate: [0.001, 0.01]}\n")
    spec = load_spec(tmp_path / "grid.yml")
    assert spec.name == "grid" and spec.preset == "smoke" and len(spec.points) == 2
    points = resolve(spec, store_overrides(tmp_path))
    assert [p.config.model.dropout for p in points] == [0.25, 0.25]
    assert [p.config.train.learning_rate for p in points] == [0.001, 0.01]
    assert points[0].key != points[1].key and points[0].key == point_key(points[0].config)


@pytest.mark.parametrize("text, message", [
    ("grid: {model.width: [4]}\nbogus: 1\n", "unknown key"),
    ("- 1\n- 2\n", "must hold a mapping"),
    ("grid: {model.width: [4]}\npreset: huge\n", "unknown preset"),
    ("points: [{label: bad, model.name: nosuchnet}]\n", "sweep point 1 of 1 \\('bad'\\).*nosuchnet"),
    ("grid: {tracking.experiment: [a, b]}\n", "one tracking store"),
])
def test_bad_grid_files_name_the_problem(tmp_path, text, message):
    (tmp_path / "g.yml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        resolve(load_spec(tmp_path / "g.yml"))


# --- running ---------------------------------------------------------------------------------------

def bad_labels(tmp_path) -> str:
    """A dataset whose headers pass planning but whose labels fail verification when it loads: a
    point that fails at run time, after every point was resolved."""
    import numpy as np
    path = tmp_path / "bad-labels.npz"
    np.savez(path, x_train=np.zeros((1500, 28, 28), np.uint8), y_train=np.full(1500, -1),
             x_test=np.zeros((200, 28, 28), np.uint8), y_test=np.zeros(200, int))
    return str(path)


def tiny_spec(*points, name="tiny"):
    return SweepSpec(name, list(points), base=dict(TINY), preset="smoke")


def test_sweep_runs_children_under_a_parent_isolates_failures_and_resumes(tmp_path):
    spec = tiny_spec(Point("lr 0.001", {"train.learning_rate": 0.001}), Point("lr 0.01", {"train.learning_rate": 0.01}),
                     Point("bad labels", {"data.dataset": bad_labels(tmp_path)}))
    lines = []
    result = run_sweep(spec, store_overrides(tmp_path), out_dir=tmp_path / "out", echo=lines.append)
    assert (result.ran, result.skipped, result.failed) == (3, 0, 1)
    client = MlflowClient()
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["trainlab.sweep.failed"] == "1"
    rows = {r.label: r for r in result.comparison.rows}
    assert rows["lr 0.001"].status == rows["lr 0.01"].status == "FINISHED"
    assert rows["bad labels"].status == "FAILED" and "labels must lie in [0, " in rows["bad labels"].reason
    for row in rows.values():
        child = client.get_run(row.run_id)
        assert child.data.tags["mlflow.parentRunId"] == result.parent_run_id
        assert child.info.experiment_id == parent.info.experiment_id
    assert 0 < rows["lr 0.01"].metric("best_val_accuracy") <= 1
    for name in ("comparison.csv", "comparison.md", "val_curves.png", "final_metric.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert {a.path for a in client.list_artifacts(result.parent_run_id, "sweep")} >= {"sweep/comparison.csv",
                                                                                    "sweep/val_curves.png"}
    csv_lines = (tmp_path / "out" / "comparison.csv").read_text().splitlines()
    assert csv_lines[0].startswith("point,train.learning_rate,data.dataset,status,best_val_accuracy")
    assert len(csv_lines) == 4 and csv_lines[-1].startswith("bad labels,")  # failed points rank last

    again = run_sweep(spec, store_overrides(tmp_path), out_dir=tmp_path / "out", echo=lines.append)
    assert (again.ran, again.skipped, again.failed) == (1, 2, 1)  # only the failed point runs again
    assert again.parent_run_id == result.parent_run_id
    assert {r.run_id for r in again.comparison.rows if r.status == "FINISHED"} == \
        {rows["lr 0.001"].run_id, rows["lr 0.01"].run_id}


@pytest.mark.slow
def test_worker_processes_run_points_in_parallel_and_record_failures(tmp_path):
    spec = tiny_spec(Point("a", {"train.seed": 1}), Point("b", {"train.seed": 2}),
                     Point("broken", {"data.dataset": bad_labels(tmp_path)}), name="parallel")
    lines = []
    result = run_sweep(spec, store_overrides(tmp_path), workers=2, out_dir=tmp_path / "out", echo=lines.append)
    statuses = {r.label: r.status for r in result.comparison.rows}
    assert statuses == {"a": "FINISHED", "b": "FINISHED", "broken": "FAILED"}
    assert result.failed == 1
    assert sum("FINISHED in" in line for line in lines) == 2
    runs = MlflowClient().search_runs([MlflowClient().get_run(result.parent_run_id).info.experiment_id],
                                      f"tags.`mlflow.parentRunId` = '{result.parent_run_id}'")
    assert len(runs) == 3


def test_sweep_cli_prints_the_table_and_refuses_a_bad_grid(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("grid.yml").write_text("name: cli\npreset: smoke\nbase: {model.width: 4, data.limit_train: 1200, "
                                "data.validation_size: 200, data.limit_test: 200}\n"
                                "grid: {train.learning_rate: [0.002, 0.004]}\n")
    result = CliRunner().invoke(cli, ["sweep", "grid.yml", "--tracking-uri", "sqlite:///m.db", "--register-best",
                                      "--export", "--set", "export.dir=exports"])
    assert result.exit_code == 0, result.output
    assert "| point | train.learning_rate |" in result.output and "2 point(s) run, 0 skipped" in result.output
    assert Path("outputs/sweeps/cli/comparison.md").is_file()
    client = MlflowClient()  # the best point by validation is registered, as champion of an empty registry
    runs = client.search_runs([client.get_experiment_by_name("trainlab").experiment_id],
                              "tags.`mlflow.parentRunId` != ''", order_by=["metrics.best_val_accuracy DESC"])
    champion = client.get_model_version_by_alias("trainlab-mnist", "champion")
    assert champion.run_id == runs[0].info.run_id and str(champion.version) == "1"
    assert f"(run {runs[0].info.run_id}, best_val_accuracy" in result.output
    assert Path("exports/trainlab-mnist/1/saved_model.pb").is_file()
    assert CliRunner().invoke(cli, ["sweep", "grid.yml", "--export"]).output.startswith(
        "Error: --export goes with --register-best")
    Path("bad.yml").write_text("grid: {model.width: 4}\n")
    result = CliRunner().invoke(cli, ["sweep", "bad.yml", "--tracking-uri", "sqlite:///m.db"])
    assert result.exit_code == 2 and "non-empty list" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["sweep", "missing.yml"])
    assert result.exit_code == 2 and "does not exist" in result.output
