"""Figures trainlab logs and writes: learning curves, confusion matrix, a grid of sample images."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files and MLflow, never to a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def learning_curves(history: dict[str, list[float]], best_epoch: int | None = None):
    """Loss and accuracy per epoch, train beside validation; the selected epoch marked."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-o"), ("val_", "-s")):
            values = history.get(prefix + metric)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, ms=3, label=(prefix or "train_") + metric)
        if best_epoch is not None:
            ax.axvline(best_epoch + 1, color="grey", ls="--", lw=1, label="selected epoch")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def confusion_matrix(matrix: np.ndarray, class_names) -> plt.Figure:
    """Counts, true class by row and predicted class by column."""
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n, 1.0 + 0.6 * n))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if matrix[i, j] > threshold else "black")
    fig.tight_layout()
    return fig


def sample_grid(images: np.ndarray, labels: np.ndarray, class_names, columns: int = 10):
    """The first few images of each class, one row per class, labelled."""
    rows = []
    for c in range(len(class_names)):
        rows.extend(np.flatnonzero(labels == c)[:columns])
    count = len(rows)
    nrows = max(1, -(-count // columns))
    fig, axes = plt.subplots(nrows, columns, figsize=(columns * 0.9, nrows * 1.0), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, idx in zip(axes.flat, rows):
        ax.imshow(np.squeeze(images[idx]), cmap="gray", vmin=0, vmax=255)
        ax.set_title(class_names[labels[idx]], fontsize=7)
    fig.tight_layout()
    return fig


def save(fig, path) -> None:
    fig.savefig(path, dpi=100)
    plt.close(fig)


def close(fig) -> None:
    plt.close(fig)
