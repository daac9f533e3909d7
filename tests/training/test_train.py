
import math
from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import fresh_store, smoke_config
from trainlab.pipeline import tracking
from trainlab.pipeline.errors import DivergedError, TrackingError
from trainlab.pipeline.job import train_and_register
from trainlab.pipeline.plan import resolve_plan
from trainlab.pipeline.training.callbacks import KeepBest
from trainlab.pipeline.training.stage import train


def test_run_logs_config_metrics_plots_and_model(trained):
    cfg, result, lines = trained
    run = MlflowClient().get_run(result.run_id)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert all(key in params for key in cfg.flat())  # the whole resolved config
    assert params["train.epochs"] == "2" and params["normalization.mode"] == "standardize"
    assert 0.1 < float(params["normalization.mean"]) < 0.15
    assert params["data.train_size"] == "1500" and params["data.test_images"] == "1000"
    history = MlflowClient().get_metric_history(result.run_id, "val_accuracy")
    assert [m.step for m in history] == [0, 1]
    for metric in ("loss", "accuracy", "val_loss", "lr", "top_k_accuracy", "val_top_k_accuracy"):  # 10 classes: top-5
        assert len(MlflowClient().get_metric_history(result.run_id, metric)) == 2
    metrics = run.data.metrics
    assert metrics["test_accuracy"] == pytest.approx(result.test.accuracy)
    assert metrics["test_top_k_accuracy"] == pytest.approx(result.test.top_k_accuracy)
    assert metrics["test_top_k_accuracy"] >= metrics["test_accuracy"]
    assert metrics[tracking.SELECTION_METRIC] == max(m.value for m in history)  # the best epoch, not the last
    artifacts = {a.path for a in MlflowClient().list_artifacts(result.run_id, "plots")}
    assert artifacts == {"plots/learning_curves.png", "plots/confusion_matrix.png", "plots/augmentation.png",
                         "plots/mistakes.png", "plots/reliability.png"}
    assert metrics["test_ece"] == pytest.approx(result.test.ece) and 0 <= metrics["test_ece"] < 1
    assert metrics["test_macro_f1"] == pytest.approx(result.test.averages()["macro_f1"])
    inputs = {d.dataset.name: [t.value for t in d.tags if t.key == "mlflow.data.context"]
              for d in run.inputs.dataset_inputs}
    assert inputs == {"mnist-training": ["training"], "mnist-validation": ["validation"], "mnist-test": ["test"]}
    digest = run.inputs.dataset_inputs[0].dataset.digest
    found = MlflowClient().search_runs([run.info.experiment_id], f"dataset.digest = '{digest}'")
    assert result.run_id in {r.info.run_id for r in found}
    note = run.data.tags["mlflow.note.content"]
    assert note.startswith("cnn (") and "test accuracy" in note
    assert result.test.accuracy > 0.5  # 1,500 images, 2 epochs: far above chance
    assert any(line.startswith("epoch 2/2") for line in lines)
    store = Path(cfg.tracking.tracking_uri[len("sqlite:///"):]).parent
    assert run.info.artifact_uri.startswith((store / "mlartifacts").as_uri())  # beside the store, not in cwd


def test_logged_model_has_a_signature_and_takes_raw_pixels(trained, mnist):
    import mlflow
    _, result, _ = trained
    uri = tracking.run_model_uri(result.run_id)
    info = mlflow.models.get_model_info(uri)
    assert info.signature.inputs.input_names() == ["image"]
    model = tracking.load_model(uri)
    x = mnist.x_test[:1000, ..., None].astype("float32")  # raw 0-255 pixels
    accuracy = np.mean(model.predict(x, verbose=0).argmax(1) == mnist.y_test[:1000])
    assert accuracy == pytest.approx(result.test.accuracy, abs=1e-6)


def test_keep_best_restores_the_best_epoch_weights():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    callback = KeepBest("val_accuracy")
    callback.set_model(model)
    for epoch, score in enumerate([0.5, 0.9, 0.7]):
        model.layers[0].kernel.assign([[float(epoch)]])
        callback.on_epoch_end(epoch, {"val_accuracy": score})
    callback.on_train_end()
    assert (callback.epoch, callback.value) == (1, 0.9)
    assert model.layers[0].kernel.numpy()[0, 0] == 1.0


def test_keep_best_breaks_an_accuracy_tie_by_validation_loss_and_stops_the_same_way():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    callback = KeepBest("val_accuracy", patience=2)
    callback.set_model(model)
    logs = [(0.9, 0.5), (1.0, 0.3), (1.0, 0.1), (1.0, 0.2), (1.0, 0.05), (1.0, 0.06), (1.0, 0.07)]
    for epoch, (accuracy, loss) in enumerate(logs):
        callback.on_epoch_end(epoch, {"val_accuracy": accuracy, "val_loss": loss})
        if getattr(model, "stop_training", False):
            break
    assert (callback.epoch, callback.value, callback.loss) == (4, 1.0, 0.05)
    assert callback.stopped_epoch == 6  # two epochs after the last lower loss, not two after accuracy saturated


def test_a_run_whose_validation_accuracy_saturates_keeps_its_lowest_loss_epoch(tmp_path):
    rng = np.random.default_rng(0)  # dark against bright images: every epoch classifies validation perfectly
    labels = np.arange(120) % 2
    images = (labels[:, None, None] * 200 + rng.integers(0, 40, (120, 8, 8))).astype("uint8")
    np.savez(tmp_path / "easy.npz", x_train=images[:100], y_train=labels[:100], x_test=images[100:],
             y_test=labels[100:])
    cfg = smoke_config(tmp_path, **{"data.dataset": str(tmp_path / "easy.npz"), "data.validation_size": 20,
                                    "model.name": "mlp_small", "augment": [], "train.epochs": 5,
                                    "train.batch_size": 16, "train.learning_rate": 0.01})
    result = train(resolve_plan(cfg), echo=lambda _: None)
    accuracy, loss = result.history["val_accuracy"], result.history["val_loss"]
    assert min(accuracy[1:]) == 1.0 and len(set(loss)) == len(loss)  # saturated, and the losses differ
    assert result.best_epoch == min((e for e in range(5) if accuracy[e] == 1.0), key=loss.__getitem__)
    assert result.best_epoch > accuracy.index(1.0)
    logged = MlflowClient().get_run(result.run_id).data.metrics
    assert logged[tracking.TIE_METRIC] == pytest.approx(loss[result.best_epoch])


def test_diverging_run_is_failed_and_never_registered(tmp_path):
    cfg = smoke_config(tmp_path, **{"model.name": "mlp_small", "train.optimizer": "sgd",
                                    "train.learning_rate": 1e12, "train.lr_schedule": "constant"})
    with pytest.raises(DivergedError, match="diverged"):
        train_and_register(resolve_plan(cfg), echo=lambda _: None)
    client = MlflowClient()
    [run] = client.search_runs([client.get_experiment_by_name(cfg.tracking.experiment).experiment_id])
    assert run.info.status == "FAILED"
    assert "diverged" in run.data.tags["trainlab.status_reason"]
    assert client.search_registered_models() == []
    with pytest.raises(TrackingError, match="is FAILED, not FINISHED"):
        tracking.register(run.info.run_id, cfg.tracking.registered_model)


def test_ctrl_c_marks_the_run_killed_and_leaves_the_registry(tmp_path):
    cfg = smoke_config(tmp_path, **{"train.epochs": 2})

    def interrupt_after_first_epoch(line):
        if line.startswith("epoch 1/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_and_register(resolve_plan(cfg), echo=interrupt_after_first_epoch)
    client = MlflowClient()
    [run] = client.search_runs([client.get_experiment_by_name(cfg.tracking.experiment).experiment_id])
    assert run.info.status == "KILLED"
    assert client.search_registered_models() == []


@pytest.mark.parametrize("make_store, message", [
    (lambda p: p.mkdir(), "is not a file"),
    (lambda p: p.write_text("not a database, just text" * 100), "file is not a database"),
])
def test_store_that_cannot_be_opened_fails_before_training(tmp_path, make_store, message):
    make_store(tmp_path / "store.db")
    cfg = smoke_config(tmp_path, **{"tracking.tracking_uri": f"sqlite:///{tmp_path}/store.db"})
    with pytest.raises(TrackingError, match=message):
        train(resolve_plan(cfg), echo=lambda _: None)
    assert (tmp_path / "store.db").exists()  # nothing stored is touched


def test_missing_store_folder_fails_before_training(tmp_path):
    cfg = smoke_config(tmp_path, **{"tracking.tracking_uri": f"sqlite:///{tmp_path}/absent/mlflow.db"})
    with pytest.raises(TrackingError, match="does not exist"):
        train(resolve_plan(cfg), echo=lambda _: None)


def test_mixing_switch_turns_mixing_off_for_the_last_epochs():
    from trainlab.augment import AugmentChain
    from trainlab.pipeline.training.callbacks import MixingSwitch
    chain = AugmentChain([{"name": "mixup"}])
    switch = MixingSwitch(chain, off_from_epoch=3)
    seen = []
    for epoch in range(5):
        switch.on_epoch_begin(epoch)
        seen.append(bool(chain.mixing.numpy()))
    assert seen == [True, True, True, False, False]


def test_the_run_has_a_model_card_and_its_registered_version_says_what_it_is(trained):
    import mlflow
    cfg, result, _ = trained
    card = mlflow.artifacts.load_text(f"runs:/{result.run_id}/model_card.md")
    for heading in ("## Intended use", "## Data", "## Recipe", "## Metrics", "## Fit", "## Known limitations"):
        assert heading in card
    assert f"| test | {result.test.accuracy:.4f} |" in card and card.count("\n| ") >= 10 + 2  # a row per class
    version = MlflowClient().get_model_version(cfg.tracking.registered_model, result.registration.version)
    assert version.description.startswith("cnn (") and "model_card.md" in version.description
    tags = version.tags
    assert tags["dataset"] == "mnist" and tags["model"] == "cnn"
    assert tags["test_accuracy"] == f"{result.test.accuracy:.4f}"
    assert tags["validation_accuracy"] == f"{result.best_val_accuracy:.4f}" and len(tags["dataset_digest"]) >= 8
    assert tags["trainlab_version"] and int(tags["parameters"]) > 0


def test_fit_verdict_is_tagged_and_printed(trained):
    _, result, lines = trained
    run = MlflowClient().get_run(result.run_id)
    assert run.data.tags["trainlab.fit"] in ("underfitting", "good fit", "overfitting")
    assert run.data.tags["trainlab.fit"] == result.fit.verdict
    assert any(line.startswith(f"fit: {result.fit.verdict}") for line in lines)


def test_logged_learning_rate_follows_the_schedule(trained):
    cfg, result, _ = trained
    lrs = [m.value for m in MlflowClient().get_metric_history(result.run_id, "lr")]
    steps_per_epoch = -(-1500 // cfg.train.batch_size)
    total = cfg.train.epochs * steps_per_epoch
    expected = [cfg.train.learning_rate * 0.5 * (1 + math.cos(math.pi * (e + 1) * steps_per_epoch / total))
                for e in range(cfg.train.epochs)]
    assert lrs == pytest.approx(expected, abs=1e-7)


def test_early_stopping_and_mse_loss(tmp_path):
    # A rate of 1e-12 leaves the weights (no BN, no dropout) and so validation accuracy unchanged.
    cfg = smoke_config(tmp_path, **{"train.epochs": 6, "train.early_stopping": 1, "train.loss": "mse",
                                    "model.name": "mlp_small", "model.width": 16,
                                    "train.learning_rate": 1e-12, "train.lr_schedule": "constant",
                                    "augment": "none", "data.limit_train": 800, "data.validation_size": 200})
    result = train(resolve_plan(cfg), echo=lambda _: None)
    run = MlflowClient().get_run(result.run_id)
    assert run.data.params["train.loss"] == "mse"
    assert run.data.metrics["epochs_run"] == 2 and run.data.metrics["best_epoch"] == 0


@pytest.mark.slow
def test_best_preset_recipe_runs_end_to_end_on_a_subset(tmp_path):
    """The `best` recipe (an ensemble of 5 cnn_deep, zoom + crop + rotate, label smoothing, its precision)
    on 1,500 images for 3 epochs: every part of it trains together and logs what it used."""
    from trainlab.pipeline.config.loading import load_config
    from trainlab.pipeline.runtime.dtype_policy import resolve
    cfg = load_config(None, {"tracking.tracking_uri": fresh_store(tmp_path, "mlflow.db"), "train.epochs": 3,
                             "data.limit_train": 2000, "data.validation_size": 500, "data.limit_test": 500,
                             "model.width": 8}, preset="best")
    assert [op["name"] for op in cfg.augment] == ["random_crop", "rotate", "zoom"]
    result = train(resolve_plan(cfg), echo=lambda _: None)
    params = MlflowClient().get_run(result.run_id).data.params
    assert params["train.label_smoothing"] == "0.1" and params["model.name"] == "cnn_deep"
    assert params["model.members"] == "5"
    assert params["train.dtype_policy"] == resolve("auto")
    # 12 steps an epoch are too few for batch norm's moving averages to settle, so the evidence of
    # learning is the training side: loss down, accuracy far above chance.
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert result.history["accuracy"][-1] > 0.3


def test_balanced_class_weights_raise_the_recall_of_a_rare_class(tmp_path, mnist):
    keep = np.concatenate([np.flatnonzero(mnist.y_train[:4000] != 3), np.flatnonzero(mnist.y_train == 3)[:40]])
    np.savez(tmp_path / "rare3.npz", x_train=mnist.x_train[keep], y_train=mnist.y_train[keep],
             x_test=mnist.x_test[:2000], y_test=mnist.y_test[:2000])
    recall = {}
    for setting in (None, "balanced"):
        cfg = smoke_config(tmp_path, **{"data.dataset": str(tmp_path / "rare3.npz"), "data.limit_train": None,
                                        "data.validation_size": 300, "data.limit_test": None, "train.epochs": 3,
                                        "train.class_weight": setting})
        result = train(resolve_plan(cfg), echo=lambda _: None)
        recall[setting] = result.test.per_class()["recall"][3]
        params = MlflowClient().get_run(result.run_id).data.params
        assert params["train.class_weight"] == str(setting)
    assert recall["balanced"] > recall[None] + 0.1, recall


def test_ema_validates_keeps_and_tests_the_averaged_weights(tmp_path):
    """With train.ema the best validation accuracy is that of the weights the run ends with, which are
    the optimizer's averages (not the raw weights), and the checkpoint carries the averages."""
    from tests.conftest import smoke_config
    from trainlab.pipeline.data.inputs import load_splits
    from trainlab.pipeline.evaluation.evaluate import evaluate_model
    from trainlab.pipeline.training import checkpoints
    cfg = smoke_config(tmp_path, **{"train.epochs": 1, "train.ema": 0.9, "train.keep_checkpoints": True,
                                    "augment": []})
    result = train(resolve_plan(cfg), echo=lambda line: None)
    _, splits = load_splits(cfg)
    val = evaluate_model(result.model, splits.x_val, splits.y_val, [str(i) for i in range(10)])
    assert val.accuracy == pytest.approx(result.best_val_accuracy, abs=1e-6)
    saved = checkpoints.Checkpoint.load(checkpoints.root_for(cfg.tracking.tracking_uri) / result.run_id /
                                        checkpoints.FILENAME)
    kernels = [w for w in saved.best_weights if w.ndim >= 2]
    assert kernels
    for kernel in kernels:   # one epoch: the kept weights are the optimizer's averages, not the raw weights
        assert any(o.shape == kernel.shape and np.array_equal(o, kernel) for o in saved.optimizer)
        assert not any(m.shape == kernel.shape and np.array_equal(m, kernel) for m in saved.model)
