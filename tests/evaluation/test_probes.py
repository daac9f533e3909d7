"""Every registered probe, run as the callback a sweep point gives it, on a tiny MLP fitted for a few
steps inside a run: each logs the metrics its docstring names, and the dead-unit count is exact."""
import keras
import mlflow
import numpy as np
import pytest

from tests.conftest import smoke_config
from trainlab.models import create_model
from trainlab.pipeline import tracking
from trainlab.pipeline.evaluation.probes import PROBES, ProbeData, make_probes

PARAMS = {"grad_norms_at_init": {"depth": 3, "width": 16}, "steps_to_accuracy": {"threshold": 0.01, "every": 1},
          "batch_loss": {"every": 1}, "loss_sensitivity": {"draws": 2}}
LOGS = {  # probe -> metrics it must log (series are logged as one metric at several steps)
    "steps_to_accuracy": {"probe.steps_to_accuracy", "probe.steps_run", "probe.train_accuracy_ema"},
    "batch_loss": {"probe.batch_loss"},
    "loss_sensitivity": {"probe.loss_sensitivity"},
    "noisy_eval": {"probe.clean_accuracy", "probe.noisy_accuracy", "probe.noise_accuracy_drop"},
    "clean_train_eval": {"probe.train_accuracy", "probe.train_loss"},
    "grad_norms_at_init": {"probe.grad_norm", "probe.grad_first_over_last"},
    "dead_units": {"probe.dead_fraction_init", "probe.dead_fraction", "probe.saturated_fraction",
                   "probe.dead_fraction_layer"},
}


def probe_data(tmp_path, n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 28, 28, 1)).astype(np.float32)
    y = np.arange(n) % 10
    return ProbeData(smoke_config(tmp_path), x, y, 10, x[:32], y[:32])


@pytest.mark.parametrize("name", sorted(PROBES))
def test_every_probe_logs_what_it_names_inside_a_run(name, tmp_path):
    data = probe_data(tmp_path)
    tracking.configure(data.cfg.tracking)
    model = create_model("mlp_small", input_shape=(28, 28, 1), num_classes=10, width=8)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    with mlflow.start_run() as run:
        callbacks = make_probes([{"name": name, **PARAMS.get(name, {})}], data)
        model.fit(data.x, keras.utils.to_categorical(data.y, 10), batch_size=16, epochs=2, verbose=0,
                  callbacks=callbacks)
    logged = {k for k in mlflow.get_run(run.info.run_id).data.metrics if k.startswith("probe.")}
    assert logged and LOGS.get(name, set()) <= logged, logged


def test_an_unknown_probe_lists_the_known_ones(tmp_path):
    with pytest.raises(KeyError, match="unknown probe 'vibes'; known probes: .*dead_units"):
        make_probes([{"name": "vibes"}], probe_data(tmp_path))


def test_dead_units_counts_a_unit_no_image_activates(tmp_path):
    """Half the hidden units get a bias so negative that no image turns them on: exactly half are dead."""
    data = probe_data(tmp_path)
    tracking.configure(data.cfg.tracking)
    model = create_model("mlp_small", input_shape=(28, 28, 1), num_classes=10, width=8, activation="relu")
    hidden = next(layer for layer in model.layers if isinstance(layer, keras.layers.Dense))
    kernel, bias = hidden.get_weights()
    bias[:4] = -1e6
    hidden.set_weights([kernel, bias])
    [probe] = make_probes([{"name": "dead_units"}], data)
    probe.set_model(model)
    with mlflow.start_run() as run:
        probe.on_train_begin()
    assert mlflow.get_run(run.info.run_id).data.metrics["probe.dead_fraction_init"] == 0.5
