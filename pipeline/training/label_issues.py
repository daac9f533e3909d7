"""Which training and validation images are probably mislabelled: out-of-fold class probabilities from a cheap
network trained once per fold (each image scored by a network that never saw it), ranked by cleanlab's
confident learning (``cleanlab.filter.find_label_issues``, Northcutt et al. 2021; the ``labels`` extra).

Cheap on purpose: ``cnn`` of width 16 on images of at most 64 px, about 400 steps per fold, no augmentation.
A label issue is an image whose given class the out-of-fold network finds less likely than the class it
suggests, by confident learning's per-class thresholds; they are ranked by the probability of the given
label (self-confidence), the most doubtful first.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from trainlab.models import create_model

from ..data.inputs import load_splits
from ..errors import ConfigError, DataError

MAX_SIDE = 64      # images are scored at most this large
STEPS = 400        # training steps per fold, about
BATCH = 64


@dataclass(frozen=True)
class LabelIssue:
    rank: int
    split: str            # train | validation
    position: int         # among the dataset's training images (its file order for a folder)
    file: str | None
    given: str
    suggested: str
    given_probability: float
    suggested_probability: float


def out_of_fold(images: np.ndarray, labels: np.ndarray, num_classes: int, folds: int = 3,
                seed: int = 0) -> np.ndarray:
    """(N, C) class probabilities, each image's from the network trained on the other folds (stratified)."""
    from sklearn.model_selection import StratifiedKFold  # cleanlab's own dependency
    x = _small(images)
    probabilities = np.zeros((len(labels), num_classes), np.float32)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for fold, (fit, held) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        keras.utils.set_random_seed(seed + fold)
        network = create_model("cnn", input_shape=x.shape[1:], num_classes=num_classes, width=16)
        network.compile(keras.optimizers.Adam(0.003), "categorical_crossentropy")
        epochs = min(60, max(3, math.ceil(STEPS / math.ceil(len(fit) / BATCH))))
        network.fit(x[fit], np.eye(num_classes, dtype=np.float32)[labels[fit]], batch_size=BATCH, epochs=epochs,
                    verbose=0)
        probabilities[held] = network.predict(x[held], batch_size=256, verbose=0)
    return probabilities


def _small(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1], shrunk (area) so that the longer side is at most :data:`MAX_SIDE`."""
    side = max(images.shape[1:3])
    x = np.asarray(images, np.float32) / 255.0
    if side <= MAX_SIDE:
        return x
    size = [max(1, round(d * MAX_SIDE / side)) for d in images.shape[1:3]]
    return np.concatenate([tf.image.resize(x[i:i + 512], size, method="area").numpy() for i in range(0, len(x), 512)])


@dataclass(frozen=True)
class Findings:
    issues: list[LabelIssue]   # the most doubtful first
    images: np.ndarray         # theirs, in that order (for the gallery)
    scored: int                # training and validation images scored
    accuracy: float            # of the out-of-fold networks on the given labels: low, and the ranking is noise


def find_label_issues(cfg, folds: int = 3) -> Findings:
    """The label issues among the configured dataset's training and validation images (its limits kept).

    Raises:
        ConfigError: cleanlab is not installed, or ``folds`` is below 2.
        DataError: the images are streamed from disk (scoring holds them in memory), or a class has fewer
            images than ``folds``.
    """
    try:
        from cleanlab.filter import find_label_issues as confident_learning  # the labels extra
    except ImportError:
        raise ConfigError("--label-issues needs cleanlab: pip install -e '.[labels]'") from None
    if folds < 2:
        raise ConfigError(f"--folds must be at least 2, got {folds}")
    ds, s = load_splits(cfg)
    if ds.facts.get("storage") == "stream":
        raise DataError(f"--label-issues holds the images in memory, and {ds.name} is streamed from disk "
                        f"({ds.facts.get('storage_reason', '')}): set data.limit_train or a smaller data.image_size")
    images = np.concatenate([np.asarray(s.x_train), np.asarray(s.x_val)])
    labels = np.concatenate([s.y_train, s.y_val])
    counts = np.bincount(labels, minlength=ds.num_classes)
    if counts.min() < folds:
        raise DataError(f"class {ds.class_names[int(counts.argmin())]!r} has {int(counts.min())} image(s): "
                        f"--label-issues needs at least --folds ({folds}) of each")
    probabilities = out_of_fold(images, labels, ds.num_classes, folds, cfg.train.seed)
    # n_jobs=1: cleanlab's pool forks this process, whose TensorFlow threads can leave the child deadlocked
    # (seen once in the suite: the pool's fork waited forever); the search is a second on one core.
    ranked = confident_learning(labels, probabilities, return_indices_ranked_by="self_confidence", n_jobs=1)
    positions = np.concatenate([s.train_index, s.val_index])
    files = ds.facts.get("train_files")
    issues = []
    for rank, i in enumerate(ranked, 1):
        suggested = int(np.argmax(probabilities[i]))
        issues.append(LabelIssue(rank, "train" if i < len(s.y_train) else "validation", int(positions[i]),
                                 files[positions[i]] if files else None, ds.class_names[labels[i]],
                                 ds.class_names[suggested], float(probabilities[i, labels[i]]),
                                 float(probabilities[i, suggested])))
    accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
    return Findings(issues, images[np.asarray(ranked, np.int64)], len(labels), accuracy)


def write_csv(issues: list[LabelIssue], path: Path) -> None:
    """One row per issue, the most doubtful first: rank, split, position, file, given and suggested class
    and their out-of-fold probabilities."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["rank", "split", "position", "file", "given", "suggested", "given_probability",
                         "suggested_probability"])
        for i in issues:
            writer.writerow([i.rank, i.split, i.position, i.file or "", i.given, i.suggested,
                             f"{i.given_probability:.4f}", f"{i.suggested_probability:.4f}"])
