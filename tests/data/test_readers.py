import gzip
import os
import pickle

import numpy as np
import pytest

from trainlab.pipeline.data.readers import read_idx, read_keras_npz, read_numpy_pickle, sha256_file
from trainlab.pipeline.errors import DataError


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX: magic 0x0000 0x08 ndim, big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path, array, compress=False):
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    got = read_idx(write_idx(tmp_path / "x-idx3-ubyte", images, compress))
    np.testing.assert_array_equal(got, images)
    assert got.dtype == np.uint8


def test_truncated_idx_is_an_error(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(idx_bytes(np.zeros((2, 3, 4), np.uint8))[:-5])
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


def test_truncated_gzip_is_an_error(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((20, 28, 28), np.uint8)))[:-40])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_idx(path)


def test_bad_magic_is_an_error(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"PK\x03\x04" + bytes(20))
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(path)


def test_npz_missing_arrays(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(DataError, match="lacks array"):
        read_keras_npz(tmp_path / "d.npz")


def _pickle_gz(tmp_path, obj) -> tuple[str, str]:
    path = tmp_path / "p.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(obj, protocol=2)))
    return path, sha256_file(path)


def test_numpy_pickle_loads_arrays(tmp_path):
    obj = ((np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2])),)
    path, digest = _pickle_gz(tmp_path, obj)
    got = read_numpy_pickle(path, digest)
    np.testing.assert_array_equal(got[0][0], obj[0][0])


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickle_with_code_is_refused(tmp_path):
    path, digest = _pickle_gz(tmp_path, [np.zeros(2), Evil()])
    with pytest.raises(DataError, match="refusing to unpickle"):
        read_numpy_pickle(path, digest)


def test_checksum_mismatch_is_refused(tmp_path):
    path, _ = _pickle_gz(tmp_path, np.zeros(2))
    with pytest.raises(DataError, match="checksum mismatch"):
        read_numpy_pickle(path, "0" * 64)


def test_idx_bytes_helper_matches_the_spec():
    # The helper above encodes what read_idx decodes: check it once against hand-written bytes.
    assert idx_bytes(np.array([[1, 2]], np.uint8)) == bytes([0, 0, 8, 2, 0, 0, 0, 1, 0, 0, 0, 2, 1, 2])
