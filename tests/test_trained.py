"""A trained model's own plan: evaluate and export read the plan its run logged, whatever the current
config says; a key given beside it that would change the model's input is one line, exit 2."""
import json

import pytest
from click.testing import CliRunner

from tests.conftest import smoke_config
from tests.shapes import make_shapes_folder
from trainlab.pipeline.cli import cli
from trainlab.pipeline.plan import resolve_plan
from trainlab.pipeline.training.stage import train


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """One epoch of a small cnn on a 3-channel 32-pixel folder of 160 photos."""
    tmp = tmp_path_factory.mktemp("folder_run")
    folder = make_shapes_folder(tmp / "shapes", per_class=40, size=32)
    cfg = smoke_config(tmp, **{"data.dataset": str(folder), "data.limit_train": None, "data.validation_size": 32,
                               "data.cache_dir": str(tmp / "cache"), "train.epochs": 1})
    return tmp, cfg, train(resolve_plan(cfg), echo=lambda line: None)


def test_evaluate_and_export_by_run_id_use_the_runs_plan_when_mlflow_yml_says_mnist(folder_run, tmp_path,
                                                                                     monkeypatch):
    tmp, cfg, result = folder_run
    (tmp_path / "mlflow.yml").write_text("data:\n  dataset: mnist\n  normalization: scale\nmodel:\n  name: mlp_small\n")
    monkeypatch.chdir(tmp_path)
    store = ["--tracking-uri", cfg.tracking.tracking_uri]
    evaluated = CliRunner().invoke(cli, ["evaluate", "--run-id", result.run_id, *store])
    assert evaluated.exit_code == 0, evaluated.output
    assert f"accuracy {result.test.accuracy:.4f}" in evaluated.output  # the run's own test split, 32x32x3
    assert f"({result.test.confusion.sum()} images)" in evaluated.output and "square" in evaluated.output
    exported = CliRunner().invoke(cli, ["export", "--run-id", result.run_id, *store, "--export-dir", "out"])
    assert exported.exit_code == 0, exported.output
    meta = json.loads((tmp_path / "out" / "trainlab-shapes" / "1" / "assets.extra" / "trainlab.json").read_text())
    assert meta["image_shape"] == [32, 32, 3] and meta["dataset"] == "shapes"


@pytest.mark.parametrize("given", [["--dataset", "mnist"], ["--set", "data.image_size=[28, 28]"],
                                   ["--set", "data.channels=1"]])
def test_a_key_given_beside_the_run_that_changes_its_input_is_one_line(folder_run, given):
    tmp, cfg, result = folder_run
    evaluated = CliRunner().invoke(cli, ["evaluate", "--run-id", result.run_id, "--tracking-uri",
                                         cfg.tracking.tracking_uri, *given])
    key = given[1].split("=")[0] if given[0] == "--set" else "data.dataset"
    assert evaluated.exit_code == 2 and evaluated.output.count("\n") == 1, evaluated.output
    assert evaluated.output.startswith(f"Error: {key}: ") and "trained with" in evaluated.output


def test_safe_keys_change_what_evaluation_reads(folder_run):
    tmp, cfg, result = folder_run
    evaluated = CliRunner().invoke(cli, ["evaluate", "--run-id", result.run_id, "--tracking-uri",
                                         cfg.tracking.tracking_uri, "--limit-test", "10"])
    assert evaluated.exit_code == 0 and "(10 images)" in evaluated.output, evaluated.output


def test_a_plan_an_older_trainlab_wrote_falls_back_to_the_current_config_with_a_line(folder_run, monkeypatch, capsys):
    from trainlab.pipeline import tracking
    from trainlab.pipeline.trained import plan_of
    tmp, cfg, result = folder_run
    tracking.configure(cfg.tracking)
    monkeypatch.setattr(tracking, "run_text", lambda run_id, name: "config: {}\nderived: {steps_per_epoch: 3}\n")
    plan = plan_of(tracking.run_model_uri(result.run_id), cfg)
    assert plan.config.data.dataset == cfg.data.dataset and plan.image_shape == (32, 32, 3)
    assert f"note: the plan of run {result.run_id} cannot be read back (not a plan this trainlab reads" in \
        capsys.readouterr().err
