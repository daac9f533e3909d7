"""Evaluation on held-out data: accuracy, loss, calibration (ECE), per-class precision, recall and F1
(macro and weighted), and the confusion matrix."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from trainlab.augment.tta import with_tta
from trainlab.models.gradcam import explainer

from .. import tracking
from ..config.loading import load_config
from ..config.schema import config_keys
from ..data.inputs import EVALUATION_PIXELS, load_splits
from ..errors import DataError
from ..plan import Plan
from . import plots
from .calibration import Reliability, reliability

TOP_K = 5  # top-5 accuracy is reported where there are more classes than that


@dataclass
class EvalReport:
    accuracy: float
    loss: float
    per_class_accuracy: list[float]
    confusion: np.ndarray          # true class by row, predicted class by column
    class_names: tuple[str, ...]
    probabilities: np.ndarray | None = field(default=None, repr=False)  # (N, C), for the mistakes
    labels: np.ndarray | None = field(default=None, repr=False)

    def mistakes(self, n: int) -> np.ndarray:
        """Indices of the ``n`` most confidently wrong images, most confident first."""
        predicted = self.probabilities.argmax(axis=1)
        wrong = np.flatnonzero(predicted != self.labels)
        confidence = self.probabilities[wrong, predicted[wrong]]
        return wrong[np.argsort(-confidence, kind="stable")[:n]]

    @property
    def top_k_accuracy(self) -> float | None:
        """The share of images whose label is among the :data:`TOP_K` most probable classes (fewer than
        :data:`TOP_K` classes more probable than it: a label tied at the edge counts, as ``tf.math.in_top_k``
        has it); None with :data:`TOP_K` classes or fewer, where it is always 1."""
        if len(self.class_names) <= TOP_K:
            return None
        picked = self.probabilities[np.arange(len(self.labels)), self.labels]
        above = (self.probabilities > picked[:, None]).sum(axis=1)
        return float(np.mean(above < TOP_K))

    def per_class(self) -> dict[str, np.ndarray]:
        """Precision, recall (= per-class accuracy), F1 and support of each class, from the confusion
        matrix (a class never predicted has precision 0; one absent from the labels, recall 0)."""
        c = self.confusion.astype(np.float64)
        tp, predicted, support = np.diag(c), c.sum(axis=0), c.sum(axis=1)
        precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
        recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
        both = precision + recall
        f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(tp), where=both > 0)
        return {"precision": precision, "recall": recall, "f1": f1, "support": support}

    def averages(self) -> dict[str, float]:
        """Macro (each class counts the same) and weighted (by support) precision, recall and F1."""
        table = self.per_class()
        weights = table["support"] / max(table["support"].sum(), 1)
        return {f"{avg}_{k}": float(table[k].mean() if avg == "macro" else (table[k] * weights).sum())
                for avg in ("macro", "weighted") for k in ("precision", "recall", "f1")}

    def reliability(self) -> Reliability:
        """Confidence against accuracy in 15 bins (the reliability diagram's numbers)."""
        return reliability(self.probabilities, self.labels)

    @property
    def ece(self) -> float:
        """Expected calibration error over 15 bins: 0 when confidence matches accuracy everywhere."""
        return self.reliability().ece

    def metrics(self, prefix: str = "test_") -> dict[str, float]:
        top = {f"{prefix}top_k_accuracy": self.top_k_accuracy} if self.top_k_accuracy is not None else {}
        return {f"{prefix}accuracy": self.accuracy, f"{prefix}loss": self.loss, f"{prefix}ece": self.ece, **top,
                **{f"{prefix}{k}": v for k, v in self.averages().items()}}

    def as_dict(self) -> dict:
        table = self.per_class()
        top = {"top_k_accuracy": self.top_k_accuracy, "k": TOP_K} if self.top_k_accuracy is not None else {}
        return {"accuracy": self.accuracy, "loss": self.loss, "ece": self.ece, **top, **self.averages(),
                "reliability": self.reliability().as_dict(),
                "per_class_accuracy": dict(zip(self.class_names, self.per_class_accuracy)),
                "per_class": {name: {k: float(table[k][i]) for k in table} for i, name in enumerate(self.class_names)},
                "confusion_matrix": self.confusion.tolist(), "class_names": list(self.class_names)}

    def summary(self) -> str:
        """A readable table for the terminal."""
        avg, table = self.averages(), self.per_class()
        top = f"top-{TOP_K} accuracy {self.top_k_accuracy:.4f}   " if self.top_k_accuracy is not None else ""
        lines = [f"accuracy {self.accuracy:.4f}   {top}loss {self.loss:.4f}   ECE {self.ece:.4f}   "
                 f"({int(self.confusion.sum())} images)",
                 f"macro F1 {avg['macro_f1']:.4f}   weighted F1 {avg['weighted_f1']:.4f}",
                 f"  {'class':>12}  precision  recall      F1  support"]
        lines += [f"  {name:>12}  {table['precision'][i]:9.4f}  {table['recall'][i]:6.4f}  {table['f1'][i]:6.4f}  "
                  f"{int(table['support'][i]):7d}" for i, name in enumerate(self.class_names)]
        width = max(5, len(str(int(self.confusion.max(initial=0)))) + 1)
        lines.append("confusion matrix (rows: true, columns: predicted):")
        lines.append(" " * 14 + "".join(f"{i:>{width}}" for i in range(len(self.class_names))))
        for i, row in enumerate(self.confusion):
            lines.append(f"  {self.class_names[i]:>12}" + "".join(f"{int(v):>{width}}" for v in row))
        return "\n".join(lines)


def report_from_probabilities(probabilities: np.ndarray, labels: np.ndarray, class_names) -> EvalReport:
    """Build the report from predicted class probabilities (N, C) and integer labels (N,)."""
    n_classes = len(class_names)
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    support = confusion.sum(axis=1)
    per_class = np.divide(np.diag(confusion), support, out=np.zeros(n_classes), where=support > 0)
    picked = probabilities[np.arange(len(labels)), labels]
    loss = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
    return EvalReport(float(np.mean(predicted == labels)), loss, [float(a) for a in per_class],
                      confusion, tuple(class_names), probabilities, labels)


def evaluate_model(model: keras.Model, images: np.ndarray, labels: np.ndarray, class_names,
                   batch_size: int = 1000) -> EvalReport:
    """Evaluate a raw-pixel model (normalization inside) on uint8 images (N, H, W, C)."""
    return report_from_probabilities(predict_images(model, images, batch_size), np.asarray(labels), class_names)


def predict_images(model: keras.Model, images, batch_size: int = 1000) -> np.ndarray:
    """A raw-pixel model's outputs for uint8 images (N, H, W, C): an array, or images streamed from disk,
    a batch at a time (never the whole set as floats)."""
    size = max(1, min(batch_size, EVALUATION_PIXELS // int(np.prod(images.shape[1:]))))
    chunks = (images.chunks(size) if hasattr(images, "chunks")  # streamed: decoded by one pipeline
              else (images[start:start + size] for start in range(0, len(images), size)))
    outputs = [np.asarray(model.predict_on_batch(chunk.astype(np.float32))) for chunk in chunks]
    return np.concatenate(outputs) if outputs else np.zeros((0, model.output_shape[-1]), np.float32)


def evaluate(plan: Plan, model: keras.Model, mistakes: int = 0,
             mistakes_file: str = "outputs/mistakes.png") -> tuple[EvalReport, EvalReport | None]:
    """Evaluate a raw-pixel ``model`` on the test split of ``plan``'s data (a registered model's own plan:
    :func:`..trained.plan_of`); with ``mistakes`` > 0, write a PNG of that many most confidently wrong
    images to ``mistakes_file``. Returns the report and, with ``evaluate.tta``, the test-time augmentation's."""
    cfg = plan.config
    ds, splits = load_splits(cfg)
    if model.input_shape[1:] != splits.x_test.shape[1:]:
        raise DataError(f"model {model.name} takes images of shape {model.input_shape[1:]}, "
                        f"{ds.name} has {splits.x_test.shape[1:]}")
    report = evaluate_model(model, splits.x_test, splits.y_test, ds.class_names)
    if mistakes:
        Path(mistakes_file).parent.mkdir(parents=True, exist_ok=True)
        plots.save(plots.mistakes(splits.x_test, report, mistakes, explain=explainer(model)), mistakes_file)
    tta = None
    if cfg.evaluate.tta:
        tta = evaluate_model(with_tta(model, cfg.evaluate.tta), splits.x_test, splits.y_test, ds.class_names)
    return report, tta


def validation_digest(images: np.ndarray, labels: np.ndarray) -> str:
    """What a validation accuracy was measured on, as a digest of the images and labels themselves:
    two runs' scores compare only when it agrees (same dataset, split seed, size and limits)."""
    h = hashlib.sha256(f"{images.shape}|{labels.shape}".encode())
    fingerprint = getattr(images, "fingerprint", None)  # images streamed from disk: what they are, not decoded
    h.update(fingerprint().encode() if fingerprint else np.ascontiguousarray(images).data)
    h.update(np.ascontiguousarray(labels.astype(np.int64)).data)
    return h.hexdigest()[:16]


def accuracy_rescorer(images: np.ndarray, labels: np.ndarray, num_classes: int):
    """``rescore(model_uri)``: that model's ``(accuracy, cross-entropy)`` on these images, or None when it takes
    another image shape or class count (the registry's champion is re-scored this way on a candidate's
    validation split; the cross-entropy breaks a tie)."""

    def rescore(uri: str) -> tuple[float, float] | None:
        model = tracking.load_model(uri)
        if tuple(model.input_shape[1:]) != images.shape[1:] or model.output_shape[-1] != num_classes:
            return None
        report = report_from_probabilities(predict_images(model, images), labels, range(num_classes))
        return report.accuracy, report.loss
    return rescore


def run_rescorer(run_id: str):
    """The rescorer on the validation split a finished run was selected on, rebuilt from its params."""
    params = tracking.run_params(run_id)
    keys = [k for k in config_keys() if k.startswith("data.") or k == "train.seed"]
    cfg = load_config(None, {k: params[k] for k in keys if k in params and params[k] != "None"})
    ds, splits = load_splits(cfg)
    return accuracy_rescorer(splits.x_val, splits.y_val, ds.num_classes)
