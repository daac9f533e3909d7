import keras
import numpy as np
import tensorflow as tf
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from tests.conftest import fresh_store
from trainlab.models import create_model
from trainlab.pipeline.cli import cli
from trainlab.pipeline.training.lr_find import sweep


def test_sweep_is_exponential_and_stops_on_blowup():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 28, 28, 1)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, 256), 10)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    keras.utils.set_random_seed(0)
    model = create_model("mlp_small", width=16)
    result = sweep(model, data, keras.optimizers.SGD(1e-5), keras.losses.CategoricalCrossentropy(),
                   start=1e-5, end=1e3, steps=100)
    ratios = result.learning_rates[1:] / result.learning_rates[:-1]
    np.testing.assert_allclose(ratios, (1e3 / 1e-5) ** (1 / 99), rtol=1e-9)
    assert result.stopped_early and len(result.learning_rates) < 100  # lr 1e3 diverges
    assert result.learning_rates[0] / 10 <= result.suggestion <= result.learning_rates[-1]


def test_lr_find_command_logs_a_run(tmp_path):
    uri = fresh_store(tmp_path, "mlflow.db")
    result = CliRunner().invoke(cli, ["lr-find", "--preset", "smoke", "--steps", "30", "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    assert "suggested learning rate" in result.output
    [run] = MlflowClient(uri).search_runs([MlflowClient(uri).get_experiment_by_name("trainlab").experiment_id])
    assert run.data.tags["trainlab.kind"] == "lr_find" and run.data.metrics["suggested_lr"] > 0
    assert [a.path for a in MlflowClient(uri).list_artifacts(run.info.run_id, "plots")] == ["plots/lr_find.png"]
