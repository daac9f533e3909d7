"""The pruned Optuna search: a study in sqlite beside the tracking store, trials as child runs, the
worse ones pruned by the median pruner after an epoch and tagged so, and a re-run going on from there."""
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import fresh_store
from trainlab.pipeline.errors import ConfigError
from trainlab.pipeline.experiments.sweeps import load_spec, run_sweep
from trainlab.pipeline.experiments.sweeps.search import ordered, suggest, values_of
from trainlab.pipeline.experiments.sweeps.space import Search
from trainlab.pipeline.experiments.sweeps.trials import PRUNED_TAG

SEARCH = """\
name: lr-search
preset: smoke
base: {model.name: mlp_small, model.width: 16, data.limit_train: 1200, data.validation_size: 300,
       data.limit_test: 200, train.epochs: 3, augment: none, train.optimizer: sgd, train.momentum: 0.9,
       train.lr_schedule: constant}
search:
  trials: 6
  seed: 3
  space:
    train.learning_rate: {log_uniform: [0.000001, 0.1]}
"""


@pytest.mark.slow
def test_a_search_prunes_the_worse_trials_and_resumes(tmp_path):
    optuna = pytest.importorskip("optuna", reason="the search extra: pip install -e '.[search]'")
    (tmp_path / "search.yml").write_text(SEARCH)
    spec = load_spec(tmp_path / "search.yml")
    overrides = {"tracking.tracking_uri": fresh_store(tmp_path, "mlflow.db"), "tracking.experiment": "search"}
    lines = []
    result = run_sweep(spec, overrides, out_dir=tmp_path / "out", echo=lines.append)
    study = optuna.load_study(study_name="lr-search", storage=f"sqlite:///{tmp_path}/mlflow.optuna.db")
    states = [t.state.name for t in study.trials]
    assert len(states) == 6 and "PRUNED" in states and states.count("COMPLETE") >= 3, states
    assert len(result.comparison.rows) == 6 and all(r.status == "FINISHED" for r in result.comparison.rows)
    client = MlflowClient()
    children = client.search_runs([client.get_experiment_by_name("search").experiment_id],
                                  f"tags.mlflow.parentRunId = '{result.parent_run_id}'")
    pruned = [r for r in children if r.data.tags.get(PRUNED_TAG) == "true"]
    assert len(pruned) == states.count("PRUNED")
    assert all(int(r.data.metrics["epochs_run"]) < 3 for r in pruned)           # stopped early
    assert study.best_value == max(r.data.metrics["best_val_accuracy"] for r in children
                                   if r.data.tags.get(PRUNED_TAG) != "true")
    assert (tmp_path / "out" / "comparison.md").is_file()
    assert result.comparison.importances == {"train.learning_rate": 1.0}  # the one parameter explains it all
    logged = [f.path for f in client.list_artifacts(result.parent_run_id, "sweep")]
    assert {"sweep/importances.md", "sweep/importances.png"} <= set(logged)
    again = run_sweep(spec, overrides, out_dir=tmp_path / "out", echo=lines.append)
    assert again.ran == 0 and again.skipped == 6 and again.parent_run_id == result.parent_run_id


@pytest.mark.parametrize("doc, message", [
    ({"space": {"train.learning_rate": [0.1]}, "trials": 0}, "search.trials must be a positive integer"),
    ({"space": {"train.learning_rate": [0.1]}, "pruner": "hyper"}, "search.pruner must be"),
    ({"space": {}}, "random must hold space"),
    ({"space": {"train.learning_rate": [0.1]}, "budget": 3}, "unknown key\\(s\\) budget"),
])
def test_bad_searches_are_config_errors(doc, message):
    with pytest.raises(ConfigError, match=message):
        Search.parse(doc)


def test_search_takes_no_fixed_points(tmp_path):
    (tmp_path / "s.yml").write_text("grid: {model.width: [4]}\nsearch: {space: {model.width: [4, 8]}}\n")
    with pytest.raises(ConfigError, match="search: chooses its own points"):
        load_spec(tmp_path / "s.yml")


def test_a_repeated_proposal_is_answered_without_training_and_a_used_up_space_ends_the_search(tmp_path):
    optuna = pytest.importorskip("optuna", reason="the search extra: pip install -e '.[search]'")
    doc = SEARCH.replace("trials: 6", "trials: 5").replace(
        "train.learning_rate: {log_uniform: [0.000001, 0.1]}", "train.learning_rate: [0.01, 0.1]")
    (tmp_path / "search.yml").write_text(doc.replace("train.epochs: 3", "train.epochs: 1"))
    spec = load_spec(tmp_path / "search.yml")
    overrides = {"tracking.tracking_uri": fresh_store(tmp_path, "mlflow.db"), "tracking.experiment": "search"}
    lines = []
    result = run_sweep(spec, overrides, out_dir=tmp_path / "out", echo=lines.append)
    assert len(result.comparison.rows) == 2                                     # two values: two trainings
    assert any("the space is used up after 2 trial(s)" in line for line in lines), lines
    study = optuna.load_study(study_name="lr-search", storage=f"sqlite:///{tmp_path}/mlflow.optuna.db")
    trained = [t for t in study.trials if "trainlab_repeat_of" not in t.user_attrs]
    repeats = [t for t in study.trials if "trainlab_repeat_of" in t.user_attrs]
    assert sorted(t.params["train.learning_rate"] for t in trained) == [0, 1]    # positions in the list
    for t in repeats:                                 # each answered with its twin's result
        twin = study.trials[t.user_attrs["trainlab_repeat_of"]]
        assert (t.params, t.state, t.value) == (twin.params, twin.state, twin.value)
    again = run_sweep(spec, overrides, out_dir=tmp_path / "out", echo=lines.append)
    assert again.ran == 0 and again.skipped == 2


@pytest.mark.parametrize("dist, is_ordered", [
    ([0.003, 0.01, 0.03, 0.1], True), ([512, 128, 32], True), ([0.0, 0.5], True),
    ([0.1, 0.01, 0.1], False), (["relu", "gelu"], False), ([True, False], False), ([8], False),
    ([1, "a"], False), ({"uniform": [0.0, 1.0]}, False),
])
def test_ordered_number_lists_are_told_apart_from_labels(dist, is_ordered):
    assert ordered(dist) is is_ordered


def test_ordered_numbers_are_asked_as_positions_and_labels_as_choices():
    optuna = pytest.importorskip("optuna", reason="the search extra: pip install -e '.[search]'")
    space = {"train.learning_rate": [0.003, 0.01, 0.03, 0.1], "model.activation": ["relu", "gelu"]}
    trial = optuna.trial.FixedTrial({"train.learning_rate": 2, "model.activation": "gelu"})
    assert {key: suggest(trial, key, dist) for key, dist in space.items()} == {
        "train.learning_rate": 0.03, "model.activation": "gelu"}
    assert trial.params == {"train.learning_rate": 2, "model.activation": "gelu"}
    assert values_of(trial.params, space) == {"train.learning_rate": 0.03, "model.activation": "gelu"}
    study = optuna.create_study()
    asked = study.ask()
    suggest(asked, "train.learning_rate", space["train.learning_rate"])
    assert isinstance(asked.distributions["train.learning_rate"], optuna.distributions.IntDistribution)
