"""Calibration: how far confidence is from accuracy, and temperature scaling to close the gap.

Expected calibration error (ECE, Guo et al. 2017): predictions grouped into equal-width bins of their
top probability; the gap between each bin's mean confidence and its accuracy, weighted by the bin's
share of the predictions. Temperature scaling divides the logits by one number ``T`` fitted on the
validation split by minimizing the negative log-likelihood (scipy's bounded scalar search); the
argmax, and so the accuracy, never changes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

BINS = 15


@dataclass
class Reliability:
    """Per confidence bin: the mean confidence, the accuracy and the number of predictions."""

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    counts: np.ndarray

    @property
    def ece(self) -> float:
        total = self.counts.sum()
        if not total:
            return 0.0
        return float(np.sum(self.counts / total * np.abs(self.accuracy - self.confidence)))

    def as_dict(self) -> dict:
        return {"bins": len(self.counts), "edges": self.edges.tolist(), "confidence": self.confidence.tolist(),
                "accuracy": self.accuracy.tolist(), "counts": self.counts.tolist(), "ece": self.ece}


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> Reliability:
    """Bins of equal width over the top probability (the first bin closed on both sides at 0)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    sums = np.bincount(index, weights=confidence, minlength=bins)
    hits = np.bincount(index, weights=correct.astype(np.float64), minlength=bins)
    safe = np.maximum(counts, 1)
    return Reliability(edges, sums / safe, hits / safe, counts)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    return reliability(probabilities, labels, bins).ece


def scale(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): the model's logits up to a constant, divided by ``T``."""
    logits = np.log(np.clip(probabilities, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The ``T`` in [0.05, 20] minimizing the validation negative log-likelihood of ``scale(p, T)``."""
    rows = np.arange(len(labels))

    def nll(log_t: float) -> float:
        return float(-np.mean(np.log(np.clip(scale(probabilities, np.exp(log_t))[rows, labels], 1e-12, 1.0))))
    found = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(found.x))
