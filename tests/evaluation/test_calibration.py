"""Calibration: ECE and the reliability bins exactly on a tiny case, temperature scaling recovering a
known over-confidence, and the fitted temperature carried inside the exported model."""
import numpy as np
import pytest
import tensorflow as tf

from trainlab.models import TemperatureScaling
from trainlab.pipeline.evaluation import plots
from trainlab.pipeline.evaluation.calibration import expected_calibration_error, fit_temperature, reliability, scale
from trainlab.pipeline.evaluation.evaluate import report_from_probabilities


def test_ece_is_exact_on_a_tiny_case():
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    labels = np.array([0, 1, 0, 0])
    # 0.9 (bin (13/15, 14/15]): accuracy 0.5, gap 0.4; 0.6 (bin (8/15, 9/15]): accuracy 1.0, gap 0.4
    assert expected_calibration_error(p, labels) == pytest.approx(0.4)
    bins = reliability(p, labels)
    assert bins.counts.tolist() == [0] * 8 + [2, 0, 0, 0, 0, 2, 0]
    assert bins.accuracy[13] == 0.5 and bins.confidence[8] == pytest.approx(0.6)
    assert expected_calibration_error(np.eye(3)[[0, 1, 2]], np.array([0, 1, 2])) == 0.0   # sure and right


def overconfident(n=4000, classes=5, sharpen=3.0, seed=0):
    """Labels drawn from softmax(logits); the model reports softmax(sharpen * logits): over-confident."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, classes))
    true = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(classes, p=row) for row in true])
    shown = np.exp(sharpen * logits)
    return shown / shown.sum(1, keepdims=True), labels


def test_temperature_scaling_undoes_overconfidence_without_moving_the_argmax():
    p, labels = overconfident()
    temperature = fit_temperature(p[:2000], labels[:2000])           # fitted on one half ("validation")
    assert temperature == pytest.approx(3.0, rel=0.15)
    calibrated = scale(p[2000:], temperature)                          # judged on the other ("test")
    before = expected_calibration_error(p[2000:], labels[2000:])
    after = expected_calibration_error(calibrated, labels[2000:])
    assert before > 0.15 and after < 0.05
    np.testing.assert_array_equal(calibrated.argmax(1), p[2000:].argmax(1))
    report = report_from_probabilities(calibrated, labels[2000:], [str(i) for i in range(5)])
    assert report.metrics()["test_ece"] == pytest.approx(after) and report.as_dict()["reliability"]["bins"] == 15
    assert plots.reliability(report.reliability()).axes


def test_the_layer_computes_the_same_and_round_trips():
    p, _ = overconfident(n=10)
    layer = TemperatureScaling(2.5)
    np.testing.assert_allclose(layer(tf.constant(p, tf.float32)).numpy(), scale(p, 2.5), rtol=1e-4, atol=1e-6)
    assert TemperatureScaling.from_config(layer.get_config()).temperature == 2.5
    with pytest.raises(ValueError, match="temperature must be positive"):
        TemperatureScaling(0.0)


def test_the_exported_model_serves_the_calibrated_probabilities(trained, mnist, tmp_path):
    from trainlab.pipeline.export.stage import export_saved_model
    from trainlab.pipeline.training.stage import calibrate
    cfg, result, _ = trained
    serving = result.model
    calibrated, measured = calibrate(serving, mnist.x_train[:1000], mnist.y_train[:1000])
    assert measured["calibration_temperature"] > 0 and measured["val_ece"] <= measured["val_ece_uncalibrated"] + 1e-9
    path = export_saved_model(calibrated, str(tmp_path), "calibrated", 1, metadata={"class_names": list("0123456789")})
    served = tf.saved_model.load(str(path)).signatures["serving_uint8"](image=tf.constant(mnist.x_test[:200]))
    plain = serving.predict(mnist.x_test[:200].astype(np.float32), verbose=0)
    expected = scale(plain, measured["calibration_temperature"])
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(served["classes"].numpy(), plain.argmax(1))
