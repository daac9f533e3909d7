"""Figures trainlab logs and writes: learning curves, confusion matrix, a grid of sample images.

Figures are plain ``matplotlib.figure.Figure`` objects, never pyplot's: they render through the Agg
canvas when saved, touch no global backend (a notebook keeps its inline plots) and are freed with
their last reference (pyplot would keep every figure alive until closed).
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def figure(nrows: int = 1, ncols: int = 1, figsize=(6, 4), squeeze: bool = True, **subplots):
    """A new figure and its axes, as ``pyplot.subplots`` returns them, without pyplot."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze, **subplots)


def show_image(ax, image: np.ndarray) -> None:
    """An (H, W, 1) or (H, W, 3) image of 0-255 pixels (uint8 or float): gray with its scale, or RGB."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 3:
        ax.imshow(np.clip(np.rint(image), 0, 255).astype(np.uint8))
    else:
        ax.imshow(np.squeeze(image), cmap="gray", vmin=0, vmax=255)


def image_grid(panels: list, columns: int, title: str = "", tile: tuple = (1.3, 1.5), fontsize: int = 7) -> Figure:
    """Titled images in rows of ``columns``, drawn as one mosaic in one Axes: a grid of Axes costs tens of
    milliseconds each to lay out and draw, seconds for a gallery logged by every run.

    Args:
        panels: ``(image, title)`` pairs; images (H, W, C) of 0-255 pixels, all of one size.
        tile: inches per panel (width, height); titles of several lines get the room they need.
    """
    images = [np.clip(np.rint(np.asarray(image, np.float32)), 0, 255).astype(np.uint8) for image, _ in panels]
    h, w = images[0].shape[:2]
    rgb = any(image.shape[-1] == 3 for image in images)
    lines = max((str(t).count("\n") + 1 for _, t in panels), default=1)
    band, gap = int(np.ceil(h * 0.3 * lines)), max(1, w // 10)  # room for the titles, between columns
    rows = max(1, -(-len(panels) // columns))
    mosaic = np.full((rows * (h + band), columns * (w + gap), 3 if rgb else 1), 255, np.uint8)
    fig, ax = figure(figsize=(columns * tile[0], rows * tile[1]))
    for i, (image, (_, text)) in enumerate(zip(images, panels)):
        top, left = (i // columns) * (h + band) + band, (i % columns) * (w + gap)
        mosaic[top:top + h, left:left + w] = np.repeat(image, 3, axis=-1) if rgb and image.shape[-1] == 1 else image
        ax.text(left + w / 2, top - 1, text, ha="center", va="bottom", fontsize=fontsize)
    show_image(ax, mosaic)
    ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.92 if title else 0.99)
    return fig


def learning_curves(history: dict[str, list[float]], best_epoch: int | None = None):
    """Loss and accuracy per epoch, train beside validation; the selected epoch marked."""
    fig, axes = figure(1, 2, figsize=(10, 4))
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


def confusion_matrix(matrix: np.ndarray, class_names) -> Figure:
    """Counts, true class by row and predicted class by column."""
    n = len(class_names)
    fig, ax = figure(figsize=(1.0 + 0.6 * n, 1.0 + 0.6 * n))
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
    picked = images[np.asarray(rows, np.int64)]  # one read (images streamed from disk are decoded once)
    return image_grid([(image, class_names[labels[i]]) for image, i in zip(picked, rows)], columns, tile=(0.9, 1.0))


def mistakes(images: np.ndarray, report, n: int = 24, columns: int = 8, explain=None):
    """The ``n`` most confidently wrong test images: true class, predicted class and its probability; with
    ``explain`` (images -> uint8 overlays: ``models.gradcam.explainer``) each under its Grad-CAM map of the
    predicted class, so the gallery shows where the network found the evidence it went wrong on."""
    picked = report.mistakes(n)
    names = report.class_names
    pixels = images[np.asarray(picked, np.int64)] if len(picked) else []
    if explain is not None and len(picked):
        pixels = explain(np.asarray(pixels))
    panels = [(image, f"{names[report.labels[i]]} -> {names[report.probabilities[i].argmax()]}\n"
                      f"{report.probabilities[i].max():.2f}") for image, i in zip(pixels, picked)]
    title = f"{len(picked)} most confident mistakes (true -> predicted, probability)"
    if explain is not None:
        title += ", Grad-CAM of the predicted class (red: its evidence)"
    if not panels:  # a perfect test split: an empty gallery that says so
        fig, ax = figure(figsize=(columns * 1.3, 1.5))
        ax.axis("off")
        fig.suptitle(title, fontsize=9)
        return fig
    return image_grid(panels, columns, title)


def label_issues(images: np.ndarray, issues: list, n: int = 24, columns: int = 8):
    """The ``n`` most doubtful labels: each image with its given class, the class the out-of-fold network
    suggests and the probability it gave the given one."""
    panels = [(image, f"{i.given} -> {i.suggested}\n{i.given_probability:.2f}") for image, i in zip(images, issues[:n])]
    title = f"{min(n, len(issues))} of {len(issues)} likely label issues (given -> suggested, p(given))"
    if not panels:
        fig, ax = figure(figsize=(columns * 1.3, 1.5))
        ax.axis("off")
        fig.suptitle(title, fontsize=9)
        return fig
    return image_grid(panels, columns, title)


def reliability(diagram, title: str = "") -> Figure:
    """The reliability diagram: accuracy per confidence bin against the diagonal of perfect calibration,
    the gap shaded, and below it how many predictions fall in each bin."""
    fig, (top, bottom) = figure(2, 1, figsize=(5.5, 6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    edges = np.asarray(diagram.edges)
    width, left = np.diff(edges), edges[:-1]
    used = np.asarray(diagram.counts) > 0
    top.bar(left[used], np.asarray(diagram.accuracy)[used], width[used], align="edge", color="tab:blue",
            edgecolor="black", lw=0.5, label="accuracy")
    top.bar(left[used], (np.asarray(diagram.confidence) - np.asarray(diagram.accuracy))[used], width[used],
            bottom=np.asarray(diagram.accuracy)[used], align="edge", color="tab:red", alpha=0.3, label="gap")
    top.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    top.set_ylabel("accuracy")
    top.set_title(title or f"Reliability (ECE {diagram.ece:.4f})")
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(left, diagram.counts, width, align="edge", color="gray")
    bottom.set_yscale("log")
    bottom.set_xlabel("confidence (top probability)")
    bottom.set_ylabel("predictions")
    fig.tight_layout()
    return fig


def save(fig: Figure, path) -> None:
    fig.savefig(path, dpi=100)


def _target_label(target: np.ndarray, class_names) -> str:
    """'7' for a pure target; '7:0.71 1:0.29' for a mixed or smoothed one."""
    order = np.argsort(-target)
    if target[order[0]] > 0.999:
        return str(class_names[order[0]])
    return " ".join(f"{class_names[i]}:{target[i]:.2f}" for i in order[:2] if target[i] > 0.01)


def augment_grid(originals: np.ndarray, labels: np.ndarray, draws: list, class_names):
    """One row per image: the original, then each augmented draw titled with its label weights.

    Args:
        originals: uint8 (N, H, W, C). labels: (N,) int.
        draws: list of ``(images (N, H, W, C) float 0-255, targets (N, classes))``.
    """
    panels = []
    for i in range(len(originals)):
        panels.append((originals[i], f"original {class_names[labels[i]]}"))
        panels += [(images[i], _target_label(targets[i], class_names)) for images, targets in draws]
    return image_grid(panels, 1 + len(draws), tile=(1.3, 1.4), fontsize=6)


def lr_find(learning_rates: np.ndarray, losses: np.ndarray, suggestion: float):
    """Smoothed loss against the learning rate (log scale), the suggestion marked."""
    fig, ax = figure(figsize=(6, 4))
    finite = np.isfinite(losses)
    ax.plot(learning_rates[finite], losses[finite])
    ax.axvline(suggestion, color="red", ls="--", lw=1, label=f"suggested {suggestion:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss (smoothed)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    return fig


def overlaid(series: dict[str, list[tuple[float, float]]], xlabel: str, ylabel: str, title: str = "",
             log_y: bool = False):
    """One line per label (sweep points side by side): ``{label: [(x, y), ...]}``."""
    fig, ax = figure(figsize=(7, 4.5))
    for label, points in series.items():
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, "-o" if len(points) < 30 else "-", ms=3, label=label)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def bars(values: dict[str, float | None], ylabel: str, title: str = "", log_y: bool = False,
         ranges: dict[str, tuple[float, float]] | None = None):
    """One bar per label; a missing value (a failed point) is shown as 'n/a'. ``ranges``: label ->
    (low, high) drawn as an error bar (the range over seeds)."""
    labels = list(values)
    fig, ax = figure(figsize=(max(5.0, 0.8 * len(labels) + 2), 4.5))
    heights = [v if v is not None and np.isfinite(v) else 0.0 for v in values.values()]
    ax.bar(range(len(labels)), heights, color="tab:blue")
    for i, label in enumerate(labels):
        low, high = (ranges or {}).get(label, (None, None))
        if low is not None and np.isfinite(low) and np.isfinite(high):
            ax.errorbar(i, heights[i], yerr=[[max(heights[i] - low, 0.0)], [max(high - heights[i], 0.0)]],
                        color="black", capsize=4, lw=1)
    for i, v in enumerate(values.values()):
        text = "n/a" if v is None or not np.isfinite(v) else f"{v:.4g}"
        ax.annotate(text, (i, heights[i]), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    if log_y:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig
