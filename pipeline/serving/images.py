"""Image files to model inputs: decode any PNG/JPEG/GIF/BMP/WebP as training does (one decoder:
:mod:`..data.decode`), fit it to the model's size and channels (gray or RGB), and, for gray models,
invert drawings made dark-on-white (MNIST digits are white on black)."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from ..data import heif
from ..data.decode import MAX_IMAGE_PIXELS, decode_for_model
from ..runtime.process import DECODER_NOISE, native_stderr_held
from .model import EXPLAIN, ModelVersion


class ImageError(Exception):
    """A file that cannot be used as an image."""


def load_image(path: Path, size: tuple[int, int] = (28, 28), channels: int = 1, resize: str = "squash",
               max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """uint8 (H, W, C) of ``path`` decoded as training decodes it (:mod:`..data.decode`: EXIF orientation,
    first frame, alpha dropped), fitted to ``size`` by ``resize`` and converted to ``channels``."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImageError(f"cannot read: {e.strerror or e}") from None
    if heif.is_heif(path):  # TensorFlow cannot decode these: Pillow's PNG of it goes to the one decoder
        if not heif.readable(path):
            raise ImageError(f"a HEIC photo: {heif.EXTRA} reads it")
        try:
            data = heif.to_png(data)
        except ValueError as e:
            raise ImageError(str(e)) from None
    try:
        image = decode_for_model(tf.constant(data), size, channels, resize, max_pixels)
    except tf.errors.InvalidArgumentError as e:
        if "claims more pixels" in e.message:
            raise ImageError(f"the image's header claims more than {max_pixels:,} pixels") from None
        raise ImageError("not a readable PNG, JPEG, GIF, BMP or WebP image") from None
    except tf.errors.UnimplementedError:
        raise ImageError("not a readable PNG, JPEG, GIF, BMP or WebP image") from None
    return image.numpy()


def looks_inverted(image: np.ndarray) -> bool:
    """A light background (the border averages above mid-grey) means dark strokes on white."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return float(border.mean()) > 127


@dataclass
class Prediction:
    file: str
    top: list[tuple[str, float]] = field(default_factory=list)  # (class, probability), most probable first
    inverted: bool = False
    error: str | None = None
    explanation: str | None = None  # the Grad-CAM overlay written for it (predict --explain)

    @property
    def label(self) -> str | None:
        return self.top[0][0] if self.top else None

    @property
    def probability(self) -> float | None:
        return self.top[0][1] if self.top else None


def expand(paths: list[Path]) -> list[Path]:
    """Files as given, folders as their (non-hidden) files in name order."""
    files = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")))
        else:
            files.append(path)
    return files


def predict_files(paths: list[Path], model: ModelVersion, invert: bool | None = None, top_k: int = 1,
                  batch_size: int = 256, explain: Path | None = None) -> list[Prediction]:
    """Predict every readable file; unreadable ones get an error instead of stopping the rest.

    ``invert``: None detects dark-on-white drawings for gray models (never for color ones). ``top_k``: how many
    classes each prediction lists. ``explain``: a folder to write each image's Grad-CAM overlay into
    (``<name>.gradcam.png``, from the export's ``serving_explain`` signature, as the server's page shows it).
    """
    results, images = [], []
    height, width, channels = model.image_shape
    with native_stderr_held(DECODER_NOISE):  # libjpeg's and TensorFlow's lines about bad files stay off the terminal
        for path in expand(paths):
            try:
                image = load_image(path, (height, width), channels, model.metadata.get("resize", "squash"))
            except ImageError as e:
                results.append(Prediction(str(path), error=str(e)))
                continue
            flip = (channels == 1 and looks_inverted(image)) if invert is None else invert
            images.append((len(results), 255 - image if flip else image))
            results.append(Prediction(str(path), inverted=flip))
    signature = model.signatures["serving_default"]
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        out = signature({"image": np.stack([im for _, im in chunk]).astype(np.float32)})
        for (i, _), probs in zip(chunk, out["probabilities"]):
            best = np.argsort(-probs, kind="stable")[:top_k]
            results[i].top = [(model.class_names[int(c)], float(probs[c])) for c in best]
        if explain is not None:
            _write_overlays(model, chunk, results, explain)
    return results


def _write_overlays(model: ModelVersion, chunk: list, results: list[Prediction], folder: Path) -> None:
    """The Grad-CAM overlay of each image of ``chunk`` (as the model saw it: fitted, inverted if it was) into
    ``folder``: the images go to ``serving_explain`` as PNGs, lossless, so it sees the same pixels."""
    folder.mkdir(parents=True, exist_ok=True)
    pngs = np.array([tf.io.encode_png(image.astype(np.uint8)).numpy() for _, image in chunk], dtype=object)
    overlays = model.signatures[EXPLAIN]({"image_bytes": pngs})["overlay_bytes"]
    taken = {p.name for p in folder.iterdir()}
    for (i, _), png in zip(chunk, overlays):
        stem, n = Path(results[i].file).stem, 1
        name = f"{stem}.gradcam.png"
        while name in taken:  # two files of one name in different folders
            n += 1
            name = f"{stem}-{n}.gradcam.png"
        taken.add(name)
        (folder / name).write_bytes(png)
        results[i].explanation = str(folder / name)


def _as_json(r: Prediction) -> dict:
    explained = {"explanation": r.explanation} if r.explanation else {}
    return {"file": r.file, "predictions": [{"class": c, "probability": p} for c, p in r.top],
            "inverted": r.inverted, "error": r.error, **explained}


def write_predictions(rows: list[Prediction], output: str = "table") -> str:
    """``rows`` as ``table`` (aligned: file, then class and probability for each of the top k), ``csv`` (file,
    rank, class, probability, inverted, error: one row per file and rank, csv-quoted) or ``json`` (one object
    per file, on one line each)."""
    if output == "json":
        return "".join(json.dumps(_as_json(r), ensure_ascii=False) + "\n" for r in rows)
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["file", "rank", "class", "probability", "inverted", "error"])
        for r in rows:
            for rank, (name, probability) in enumerate(r.top, 1):
                writer.writerow([r.file, rank, name, f"{probability:.6f}", r.inverted, ""])
            if r.error:
                writer.writerow([r.file, "", "", "", "", r.error])
        return buffer.getvalue()
    k = max((len(r.top) for r in rows), default=1)
    width = max(len(r.file) for r in rows)
    names = max([12] + [len(c) for r in rows for c, _ in r.top])
    ranks = "".join(f"  {'class' + (f' {i}' if k > 1 else ''):<{names}} {'probability':>11}" for i in range(1, k + 1))
    lines = [f"{'file':<{width}}{ranks}"]
    for r in rows:
        if r.error:
            lines.append(f"{r.file:<{width}}  error: {r.error}")
            continue
        cells = "".join(f"  {c:<{names}} {p:>11.4f}" for c, p in r.top)
        lines.append(f"{r.file:<{width}}{cells}{'  (inverted)' if r.inverted else ''}")
    return "\n".join(lines) + "\n"
