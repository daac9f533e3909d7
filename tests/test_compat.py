"""Each third-party private API trainlab relies on (trainlab/compat.py), exercised for real: a version
bump that moves or renames one fails here, by name, before it breaks a training."""
import os
import pickle

import keras
import numpy as np
import pytest

from trainlab import compat


def test_keras_keeps_the_ema_of_each_trainable_variable_and_updates_it_in_the_hook_trainlab_overrides():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    optimizer = keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), epochs=1, verbose=0)
    assert callable(getattr(keras.optimizers.Optimizer, compat.KERAS_EMA_UPDATE))
    averages = compat.ema_averages(optimizer)
    assert len(averages) == len(model.trainable_variables) == 2
    for variable in model.trainable_variables:
        assert averages[id(variable)].shape == variable.shape


def test_tensorflow_op_determinism_can_be_queried_and_switched_back():
    import tensorflow as tf
    was = compat.op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    try:
        assert compat.op_determinism_enabled()
    finally:
        compat.disable_op_determinism()
    assert not compat.op_determinism_enabled()
    if was:
        tf.config.experimental.enable_op_determinism()


def test_numpy_names_the_reconstructor_a_pickled_array_asks_for():
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert b"_reconstruct" in pickle.dumps(array, protocol=2)
    rebuilt = compat.numpy_reconstruct()(np.ndarray, (0,), b"b")
    assert isinstance(rebuilt, np.ndarray)


def test_mlflow_forgets_an_active_run_whose_end_failed(tmp_path, monkeypatch):
    import mlflow
    # mlflow.set_tracking_uri also sets $MLFLOW_TRACKING_URI: both go back as they were after the test
    monkeypatch.setenv("MLFLOW_TRACKING_URI", os.environ.get("MLFLOW_TRACKING_URI", ""))
    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/m.db")
    try:
        experiment = mlflow.MlflowClient().create_experiment("compat")
        before = mlflow.active_run()  # another test's run may still be active: this one nests under it
        run = mlflow.start_run(experiment_id=experiment, nested=before is not None)
        assert mlflow.active_run().info.run_id == run.info.run_id
        compat.forget_active_run()
        after = mlflow.active_run()
        assert (after and after.info.run_id) == (before and before.info.run_id)
        mlflow.MlflowClient().set_terminated(run.info.run_id)
    finally:
        mlflow.set_tracking_uri(previous_uri)


def test_optuna_trials_are_reached_by_storage_id_from_another_process(tmp_path):
    optuna = pytest.importorskip("optuna", reason="the search extra: pip install -e '.[search]'")
    storage = f"sqlite:///{tmp_path}/o.db"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    trial = study.ask()
    trial_id = compat.optuna_trial_id(trial)
    assert isinstance(trial_id, int)
    other = compat.optuna_trial(optuna.load_study(study_name="s", storage=storage), trial_id)
    other.report(0.5, 0)
    assert study.trials[0].intermediate_values == {0: 0.5}


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "convnext_tiny"])  # an md5 file and a sha256 one
def test_keras_applications_ask_the_downloader_for_their_imagenet_weights_by_file_url_and_hash(name):
    from trainlab.models.backbones import weights_file
    asked = weights_file(name)
    assert asked.origin.startswith("https://storage.googleapis.com/") and asked.origin.endswith("/" + asked.name)
    assert asked.name.endswith(".h5") and len(asked.file_hash) == {"md5": 32, "sha256": 64}[asked.algorithm]
    assert compat.keras_applications_downloader().get_file is keras.utils.get_file  # put back after asking
