"""CIFAR-10 and CIFAR-100 in their published python layout, from the archive or its extracted folder.

CIFAR-10 (``cifar-10-python.tar.gz`` / ``cifar-10-batches-py/``): ``data_batch_1`` .. ``data_batch_5``,
``test_batch`` and ``batches.meta``. CIFAR-100 (``cifar-100-python.tar.gz`` / ``cifar-100-python/``):
``train``, ``test`` and ``meta``, with fine (100) and coarse (20) labels. Each file is a pickled dict
of arrays, bytes and lists, read through :func:`trainlab.pipeline.data.readers.unpickle_restricted`, which
refuses anything else. Images are stored as rows of 3072 bytes (1024 red, 1024 green, 1024 blue).
"""
from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .readers import unpickle_restricted

CIFAR10 = {"meta": "batches.meta", "train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
CIFAR100 = {"meta": "meta", "train": ["train"], "test": ["test"]}
LABEL_MODES = ("fine", "coarse")


def _members(path: Path) -> dict[str, object]:
    """``{file name: opener}`` of the archive's or folder's files (by base name)."""
    if path.is_dir():
        return {p.name: p.read_bytes for p in path.rglob("*") if p.is_file()}
    try:
        archive = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as e:
        raise DataError(f"{path} is not a CIFAR archive (cannot open it as tar: {e})") from None
    members = {}
    for member in archive.getmembers():
        if member.isfile():
            members[Path(member.name).name] = (lambda m=member: archive.extractfile(m).read())
    return members


def layout(members) -> dict | None:
    """CIFAR10 or CIFAR100 if ``members`` (file names) have that layout, else None."""
    for spec in (CIFAR10, CIFAR100):
        if {spec["meta"], *spec["train"], *spec["test"]} <= set(members):
            return spec
    return None


def is_cifar(path: Path) -> bool:
    """An archive by its name, or a folder holding CIFAR's meta file (at its top or one level down)."""
    if path.is_dir():
        metas = (CIFAR10["meta"], CIFAR100["meta"])
        tops = [path] + [p for p in path.iterdir() if p.is_dir()][:4]
        return any((top / meta).is_file() and layout({p.name for p in top.iterdir()}) for top in tops for meta in metas)
    return path.name.endswith((".tar.gz", ".tgz", ".tar"))


def _read(members, name: str, where: Path) -> dict:
    doc = unpickle_restricted(members[name](), f"{where}:{name}")
    if not isinstance(doc, dict):
        raise DataError(f"{where}:{name} is not a CIFAR batch (a dict), got {type(doc).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in doc.items()}


def _images(batch: dict, where: str) -> np.ndarray:
    data = batch.get("data")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{where}: 'data' must be uint8 rows of 3072 pixels (32x32x3)")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def read_cifar(path: Path, label_mode: str = "fine") -> dict:
    """``{x_train, y_train, x_test, y_test, class_names, name}`` of a CIFAR archive or folder.

    Raises:
        DataError: not a CIFAR layout, a malformed batch, or a pickle holding anything but
            arrays, bytes, lists and dicts.
    """
    members = _members(path)
    spec = layout(members)
    if spec is None:
        raise DataError(f"{path} is not a CIFAR archive: CIFAR-10 needs {CIFAR10['meta']}, data_batch_1..5 and "
                        f"test_batch; CIFAR-100 needs meta, train and test")
    meta = _read(members, spec["meta"], path)
    if spec is CIFAR10:
        label_key, names_key, name = "labels", "label_names", "cifar10"
    else:
        label_key, names_key, name = f"{label_mode}_labels", f"{label_mode}_label_names", f"cifar100-{label_mode}"
    names = meta.get(names_key)
    if not isinstance(names, list) or not names:
        raise DataError(f"{path}:{spec['meta']} has no {names_key} list")
    class_names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    arrays = {}
    for split in ("train", "test"):
        xs, ys = [], []
        for file in spec[split]:
            batch = _read(members, file, path)
            xs.append(_images(batch, f"{path}:{file}"))
            labels = np.asarray(batch.get(label_key, []), dtype=np.int64).reshape(-1)
            if len(labels) != len(xs[-1]):
                raise DataError(f"{path}:{file}: {len(labels)} {label_key} for {len(xs[-1])} images")
            ys.append(labels)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = np.concatenate(xs), np.concatenate(ys)
    return {**arrays, "class_names": class_names, "name": name}
