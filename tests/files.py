"""Files in the formats trainlab reads, written for the tests of several stages: image folders of colored
shapes, a CIFAR-10 archive in its published layout, a PNG whose header claims too many pixels."""
import io
import pickle
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
import tensorflow as tf

COLORS = [(220, 40, 40), (40, 200, 60), (50, 70, 230)]  # one color (and shape) per class
SHAPES = {"square": 0, "disc": 1, "bar": 2}  # folder name -> shape and color index


def shape_image(label: int, height: int, width: int, rng) -> np.ndarray:
    """A class-dependent picture: a colored square, disc or bar on a noisy dark background."""
    image = rng.integers(0, 40, (height, width, 3)).astype(np.uint8)
    yy, xx = np.mgrid[:height, :width]
    cy, cx = height / 2 + rng.uniform(-3, 3), width / 2 + rng.uniform(-3, 3)
    inside = [np.maximum(abs(yy - cy), abs(xx - cx)) < height / 4,
              (yy - cy) ** 2 + (xx - cx) ** 2 < (height / 3.5) ** 2,
              abs(yy - cy) < height / 8][label]
    image[inside] = COLORS[label]
    return image


def make_image_folder(root: Path, per_class: int = 40, seed: int = 0, mixed: bool = True) -> Path:
    """3 classes of PNG/JPEG images, most 32x32, some 40x30 (not square: ``mixed``), one corrupt file, one
    text file."""
    rng = np.random.default_rng(seed)
    for name, shape in SHAPES.items():  # created in another order than the sorted class names
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            height, width = (40, 30) if i % 5 == 0 and mixed else (32, 32)
            image = shape_image(shape, height, width, rng)
            data = tf.io.encode_jpeg(image, quality=95) if i % 7 == 0 else tf.io.encode_png(image)
            (folder / f"{i:03d}.{'jpg' if i % 7 == 0 else 'png'}").write_bytes(data.numpy())
    (root / "disc" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a PNG")
    (root / "bar" / "notes.txt").write_text("not an image")
    return root


def cifar_batch(n, rng, labels_key="labels", classes=10, extra=None):
    """One pickled batch's dict, as CIFAR-10 (``labels``) or CIFAR-100 (``fine_labels``) writes it."""
    data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
    return {b"batch_label": b"training batch", labels_key.encode(): [int(v) for v in rng.integers(0, classes, n)],
            b"data": data, b"filenames": [f"img_{i}.png".encode() for i in range(n)], **(extra or {})}


def make_cifar10(path: Path, per_batch: int = 40, seed: int = 0) -> Path:
    """A CIFAR-10 archive in the published layout (cifar-10-batches-py/, pickles of byte-keyed dicts)."""
    rng = np.random.default_rng(seed)
    files = {f"data_batch_{i}": cifar_batch(per_batch, rng) for i in range(1, 6)}
    files["test_batch"] = cifar_batch(per_batch, rng)
    files["batches.meta"] = {b"num_cases_per_batch": per_batch, b"num_vis": 3072,
                             b"label_names": [n.encode() for n in ("airplane", "automobile", "bird", "cat", "deer",
                                                                   "dog", "frog", "horse", "ship", "truck")]}
    with tarfile.open(path, "w:gz") as tar:
        for name, doc in files.items():
            data = pickle.dumps(doc, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path



def bomb_png(side: int) -> bytes:
    """A PNG whose header claims ``side`` x ``side`` gray pixels, in a few hundred bytes."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    rows = zlib.compress(b"\0" + bytes(side), 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
