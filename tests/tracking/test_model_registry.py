import keras
import pytest
from mlflow.tracking import MlflowClient

from trainlab.pipeline import tracking
from trainlab.pipeline.errors import TrackingError


def tiny_model():
    inputs = keras.Input((28, 28, 1), name="image")
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs)))


def logged_run(experiment_id, val_accuracy, validation="split-a", val_loss=None):
    with tracking.run(experiment_id) as run_id:
        tracking.log_metrics({tracking.SELECTION_METRIC: val_accuracy,
                              **({tracking.TIE_METRIC: val_loss} if val_loss is not None else {})})
        tracking.set_tags({tracking.VALIDATION_TAG: validation})
        tracking.log_model(tiny_model(), 10)
    return run_id


@pytest.fixture
def experiment(store):
    return tracking.configure(store.tracking), store.tracking.registered_model


def test_champion_moves_only_to_a_better_run(experiment):
    experiment_id, name = experiment
    first, worse, better = (logged_run(experiment_id, v) for v in (0.90, 0.85, 0.95))
    assert tracking.champion(name) is None
    r1 = tracking.register(first, name)
    assert r1.promoted and tracking.champion(name)[:2] == ("1", first)
    r2 = tracking.register(worse, name)
    assert not r2.promoted and "champion stays version 1" in r2.message
    assert tracking.champion(name)[:2] == ("1", first)
    r3 = tracking.register(better, name)
    assert r3.promoted and tracking.champion(name)[:2] == ("3", better)
    assert "was version 1" in r3.message


def test_scores_on_other_validation_images_are_never_compared_directly(experiment):
    experiment_id, name = experiment
    champion, easier = logged_run(experiment_id, 0.90), logged_run(experiment_id, 0.99, validation="split-b")
    tracking.register(champion, name)
    r = tracking.register(easier, name)  # no way to re-score: the champion stays
    assert not r.promoted and "not comparable: measured on other validation images" in r.message
    seen = []
    r = tracking.register(easier, name, rescore=lambda uri: seen.append(uri) or (0.995, 0.1))
    assert seen == [f"models:/{name}/1"] and not r.promoted
    assert "champion stays version 1 (0.9950, re-scored on this run's validation images)" in r.message
    r = tracking.register(easier, name, rescore=lambda uri: (0.5, 1.0))
    assert r.promoted and "was version 1, 0.5000, re-scored" in r.message
    assert not tracking.register(champion, name, rescore=lambda uri: None).promoted  # other classes: stays


def test_a_tie_goes_to_the_lower_validation_loss(experiment):
    experiment_id, name = experiment
    a, b = logged_run(experiment_id, 0.9, val_loss=0.3), logged_run(experiment_id, 0.9)
    tracking.register(a, name)
    assert not tracking.register(b, name).promoted  # no loss to break the tie: the champion stays
    worse, better = logged_run(experiment_id, 0.9, val_loss=0.4), logged_run(experiment_id, 0.9, val_loss=0.2)
    r = tracking.register(worse, name)
    assert not r.promoted and "tied: validation loss 0.3000 against this run's 0.4000" in r.message
    r = tracking.register(better, name)
    assert r.promoted and tracking.champion(name)[1] == better and "tied: validation loss 0.3000" in r.message
    # re-scored on other validation images, the candidate is re-scored too: one measure on both sides
    other = logged_run(experiment_id, 0.8, validation="split-b", val_loss=0.01)
    seen = []
    champion_uri = f"models:/{name}/4"
    r = tracking.register(other, name, rescore=lambda uri: seen.append(uri) or ((0.8, 0.5) if uri == champion_uri
                                                                               else (0.8, 0.6)))
    assert seen == [champion_uri, tracking.run_model_uri(other)] and not r.promoted


@pytest.mark.parametrize(("accuracy", "loss", "outranks"), [
    (0.9, 0.5, True), (0.7, 0.1, False), (0.8, 0.2, True), (0.8, 0.3, False), (0.8, 0.4, False), (0.8, None, False)])
def test_outranks_is_higher_accuracy_then_lower_loss(accuracy, loss, outranks):
    assert tracking.outranks(accuracy, loss, 0.8, 0.3) is outranks


def test_registering_a_run_twice_adds_no_version(experiment):
    experiment_id, name = experiment
    run_id = logged_run(experiment_id, 0.9)
    assert tracking.register(run_id, name).version == tracking.register(run_id, name).version == "1"
    assert len(MlflowClient().search_model_versions(f"name = '{name}'")) == 1


def test_unknown_run_and_foreign_run_are_refused(experiment):
    experiment_id, name = experiment
    with pytest.raises(TrackingError, match="no run with id"):
        tracking.register("0" * 32, name)
    with tracking.run(experiment_id) as run_id:
        pass
    with pytest.raises(TrackingError, match="not a trainlab training run"):
        tracking.register(run_id, name)


def test_champion_uri_without_champion(experiment):
    with pytest.raises(TrackingError, match="has no champion yet"):
        tracking.champion_uri(experiment[1])


def test_the_augment_registry_knows_no_op_family():
    """keras layers register themselves as a prefix: the registry imports none of the ops (no circle)."""
    import ast
    import inspect

    import trainlab.augment.registry as registry
    tree = ast.parse(inspect.getsource(registry))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported <= {"__future__", "inspect"}, imported
    from trainlab.augment import create_op, list_prefixes, register_prefix
    assert list_prefixes() == ["keras", "keras_cv"]

    @register_prefix("demo")
    class Demo:
        def __init__(self, name, **kwargs):
            self.name, self.kwargs = name, kwargs
    try:
        op = create_op({"name": "demo.Anything", "x": 1})
        assert (op.name, op.kwargs) == ("demo.Anything", {"x": 1})
    finally:
        registry._PREFIXES.pop("demo")
