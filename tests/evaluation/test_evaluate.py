"""The evaluation report: exact per-class precision, recall and F1 and their averages on a tiny case."""
import numpy as np
import pytest

from trainlab.pipeline.evaluation.evaluate import report_from_probabilities


def report():
    labels = np.array([0, 0, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 0])
    return report_from_probabilities(np.eye(3)[predicted] * 0.9 + 0.1 / 3, labels, ["a", "b", "c"])


def test_per_class_precision_recall_f1_are_exact():
    table = report().per_class()
    np.testing.assert_allclose(table["precision"], [0.5, 2 / 3, 0.0])   # c is never predicted: 0
    np.testing.assert_allclose(table["recall"], [0.5, 1.0, 0.0])
    np.testing.assert_allclose(table["f1"], [0.5, 0.8, 0.0])
    np.testing.assert_array_equal(table["support"], [2, 2, 1])


def test_macro_and_weighted_averages():
    avg = report().averages()
    assert avg["macro_f1"] == pytest.approx(1.3 / 3) and avg["weighted_f1"] == pytest.approx(0.52)
    assert avg["macro_recall"] == pytest.approx(0.5) and avg["weighted_recall"] == pytest.approx(0.6)
    metrics = report().metrics("test_")
    assert metrics["test_macro_f1"] == pytest.approx(1.3 / 3) and metrics["test_accuracy"] == pytest.approx(0.6)


def test_summary_and_artifact_carry_the_table():
    r = report()
    text = r.summary()
    assert "macro F1 0.4333   weighted F1 0.5200" in text
    assert "             b     0.6667  1.0000  0.8000        2" in text
    assert r.as_dict()["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1.0}


def test_top_k_accuracy_is_exact_and_only_where_there_are_more_than_k_classes():
    assert report().top_k_accuracy is None and "test_top_k_accuracy" not in report().metrics("test_")
    probabilities = np.array([[0.30, 0.25, 0.15, 0.12, 0.10, 0.08],   # label 5: sixth -> outside the top 5
                              [0.30, 0.25, 0.15, 0.12, 0.10, 0.08],   # label 4: fifth -> inside
                              [0.20, 0.20, 0.20, 0.20, 0.10, 0.10]])  # label 0: tied first -> inside
    r = report_from_probabilities(probabilities, np.array([5, 4, 0]), list("abcdef"))
    assert r.top_k_accuracy == pytest.approx(2 / 3) == r.metrics("test_")["test_top_k_accuracy"]
    assert "top-5 accuracy 0.6667" in r.summary() and r.as_dict()["k"] == 5
