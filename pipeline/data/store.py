"""An image folder kept on disk as its encoded images in ArrayRecord shards: what a folder too large to hold
decoded in memory is trained from (see :mod:`.streamed` for reading it).

Built once per folder content (the digest of every file's path, size and mtime): every file is checked in
parallel in tf.data, to find the ones that do not decode, and written as one record: an upright, complete
gray or RGB JPEG as its own bytes (so a random-resized crop decodes only its window; checked by decoding
at 1/8 scale, which reads every coefficient), anything else (PNG, WebP, BMP, GIF, a JPEG its camera turned
by EXIF, a truncated or CMYK JPEG) decoded upright, alpha dropped, and re-encoded as PNG.
The index beside the shards holds per record the label, whether it is a JPEG and its size, plus the
train / test keys, the class names and the files that did not decode.

ArrayRecord rather than TFRecord: measured here on 3,000 JPEGs (300-640 px), decode + random-resized crop
to 224 + flip reads at the same speed from both (1,600 and 1,620 img/s on 2 cores), but ArrayRecord reads
any record by its key, so an epoch's order is the same (seed, epoch) permutation as in memory (resume
replays it exactly, and a streamed run sees the batches an in-memory run sees), a worker reads its own
share of keys, and a few images (previews, mistakes, a representative set) are read without a scan.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import progress
from ..errors import DataError, shown_list
from ..runtime.locks import file_lock
from ..runtime.process import DECODER_NOISE, native_stderr_held
from . import heif
from .folders import Listing, listing_digest, split_decoded

STORE_FORMAT = 1          # what the records and the index hold: a store of another format is rebuilt
SHARD_RECORDS = 2048      # records per shard
INDEX = "index.npz"


@dataclass
class Store:
    """A built store: its folder and its index (numpy arrays), with the shards opened on first read."""

    path: Path
    index: dict
    _source: object = field(default=None, repr=False)

    @property
    def labels(self) -> np.ndarray:
        return self.index["labels"]

    @property
    def channels(self) -> int:
        return int(self.index["channels"])

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.index["class_names"])

    @property
    def digest(self) -> str:
        return str(self.index["digest"])

    @property
    def undecodable(self) -> list[str]:
        """The image files that did not decode when the store was built (skipped)."""
        return [str(p) for p in self.index["undecodable"]]

    def native_size(self) -> tuple[int, int] | None:
        """The images' (H, W) when they all have one size, else None."""
        sizes = set(zip(self.index["heights"].tolist(), self.index["widths"].tolist()))
        return next(iter(sizes)) if len(sizes) == 1 else None

    def read(self, keys) -> list[bytes]:
        """The records of ``keys`` (any order, repeats allowed)."""
        if self._source is None:
            from array_record.python.array_record_data_source import ArrayRecordDataSource  # (the same)
            self._source = ArrayRecordDataSource(sorted(str(p) for p in self.path.glob("shard-*.array_record")))
        return self._source.__getitems__([int(k) for k in keys])

    def __getstate__(self):  # a process that receives a store opens its own readers
        return {"path": self.path, "index": self.index, "_source": None}

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.path.iterdir())


def open_store(root: Path, listing: Listing, cache_dir: Path, test_size: float, on_bad_file: str) -> Store:
    """The store of the folder ``root`` (listed as ``listing``), built if it is missing or stale.

    A store built from other files (added, removed or changed since) is rebuilt with a line saying what
    changed; processes starting together build it once (a lock; the others wait and read it); a build
    is written beside the store and renamed into place, so a reader never sees half a store.
    """
    key = listing_digest(listing, [STORE_FORMAT, test_size])
    path = cache_dir / f"stream-{root.name}-{_path_key(root, test_size)}"
    store = _load(path, key)
    if store is None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(f"{path}.lock"):
            store = _load(path, key)
            if store is None:
                if path.exists():
                    progress.say(f"rebuilding the cache of {root}: {_changes(path, listing)} since it was built")
                for leftover in [*path.parent.glob(f"{path.name}.tmp-*"), *path.parent.glob(f"{path.name}.old-*")]:
                    shutil.rmtree(leftover, ignore_errors=True)  # of a build killed mid-way (none runs: the lock)
                tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
                try:
                    _build(root, listing, test_size, on_bad_file, tmp, key)
                    if path.exists():
                        old = path.with_name(f"{path.name}.old-{os.getpid()}")
                        os.replace(path, old)
                        shutil.rmtree(old, ignore_errors=True)
                    os.replace(tmp, path)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
                store = _load(path, key)
    bad = store.undecodable
    if bad and on_bad_file == "error":
        raise DataError(f"{len(bad)} image file(s) in {root} do not decode: {shown_list(bad)}")
    return store


def _path_key(root: Path, test_size: float) -> str:
    return hashlib.sha256(f"{root}\0{test_size}".encode()).hexdigest()[:12]


def _load(path: Path, key: str) -> Store | None:
    """The store at ``path`` if it is complete, of this format and built from the listed files."""
    try:
        with np.load(path / INDEX, allow_pickle=False) as f:
            index = {k: f[k] for k in f.files}
    except (OSError, ValueError):
        return None
    if int(index.get("format", -1)) != STORE_FORMAT or str(index.get("digest")) != key:
        return None
    return Store(path, index)


def _changes(path: Path, listing: Listing) -> str:
    """What differs between the files a store was built from and ``listing``: counts of added, removed, changed."""
    try:
        with np.load(path / INDEX, allow_pickle=False) as f:
            if int(f["format"]) != STORE_FORMAT:
                return "it was written by another version of trainlab"
            before = dict(zip(f["paths"].tolist(), zip(f["sizes"].tolist(), f["mtimes"].tolist())))
    except (OSError, ValueError, KeyError):
        return "it is incomplete"
    now = {p: tuple(listing.stamps[p]) for p, _ in listing.train + (listing.test or [])}
    added, removed = len(now.keys() - before.keys()), len(before.keys() - now.keys())
    changed = sum(1 for p in now.keys() & before.keys() if tuple(before[p]) != now[p])
    parts = [f"{n} file(s) {what}" for n, what in ((added, "added"), (removed, "removed"), (changed, "changed")) if n]
    return ", ".join(parts) or "its classes or split changed"


def _build(root: Path, listing: Listing, test_size: float, on_bad_file: str, out: Path, key: str) -> None:
    """Decode-check every listed file in parallel, write the records in shards and the index into ``out``."""
    from array_record.python.array_record_module import ArrayRecordWriter  # only for a streamed folder
    files = listing.train + (listing.test or [])
    paths = [p for p, _ in files]
    out.mkdir(parents=True)
    kept, jpeg, heights, widths, channels = [], [], [], [], []
    writer = None
    with native_stderr_held(DECODER_NOISE), progress.bar("caching images", len(paths), unit="files") as advance:
        for index, record, is_jpeg, height, width, depth in _checked_records(paths):
            if len(kept) % SHARD_RECORDS == 0:
                if writer is not None:
                    writer.close()
                writer = ArrayRecordWriter(str(out / f"shard-{len(kept) // SHARD_RECORDS:05d}.array_record"),
                                           "group_size:1,uncompressed")
            writer.write(record)
            kept.append(int(index))
            jpeg.append(bool(is_jpeg))
            heights.append(int(height))
            widths.append(int(width))
            channels.append(int(depth))
            advance(1)
    if writer is not None:
        writer.close()
    failed = sorted(set(range(len(paths))) - set(kept))
    bad = [paths[i] for i in failed]
    if bad and on_bad_file == "error":
        raise DataError(f"{len(bad)} image file(s) in {root} do not decode: {shown_list(bad)}")
    labels, train, test = split_decoded(root, listing, failed, bad, test_size)
    stamps = [listing.stamps[p] for p in paths]
    np.savez(out / INDEX, format=STORE_FORMAT, digest=key, labels=labels, train=train, test=test,
             jpeg=np.array(jpeg, bool), heights=np.array(heights, np.int32), widths=np.array(widths, np.int32),
             channels=3 if any(c >= 3 for c in channels) else 1, class_names=np.array(listing.class_names, str),
             undecodable=np.array(bad, str),
             paths=np.array(paths, str), sizes=np.array([s for s, _ in stamps], np.int64),
             mtimes=np.array([m for _, m in stamps], np.int64), built=json.dumps({"root": str(root)}))


def _checked_records(paths: list[str]):
    """``(file index, record, is JPEG, height, width, channels)`` for every file that decodes, in order."""
    import tensorflow as tf  # TensorFlow only once records are checked

    from .decode import decode_upright, headers, pixel_limit  # (TensorFlow ops)

    def check(index, path):
        raw = heif.read_encoded(path)  # a HEIC/AVIF photo as PNG bytes
        known = tuple(t[0] for t in headers(raw[None]))  # (pixels of a non-JPEG, is JPEG, orientation): read once
        # A JPEG is kept as it is when it is upright, gray or RGB and complete (ends with its EOI marker):
        # decoding it again is then silent and gives these pixels; anything else is stored as PNG.
        is_jpeg = known[1]
        depth = tf.cond(is_jpeg, lambda: tf.image.extract_jpeg_shape(raw)[2], lambda: tf.constant(0))  # CMYK: 4
        as_is = (is_jpeg & tf.equal(known[2], 1) & tf.reduce_any(tf.equal(depth, [1, 3]))
                 & tf.equal(tf.strings.substr(raw, -2, 2), b"\xff\xd9"))

        def kept():
            # Checked by decoding at 1/8 scale: libjpeg still reads every coefficient (where a damaged file
            # fails) but skips the full-size inverse DCT and colour conversion; 2-3x faster per file.
            shape = tf.image.extract_jpeg_shape(raw)
            with tf.control_dependencies([pixel_limit(tf.cast(shape[0], tf.int64) * tf.cast(shape[1], tf.int64))]):
                small = tf.io.decode_jpeg(raw, ratio=8)
            with tf.control_dependencies([small]):
                return raw, tf.identity(shape)

        def converted():
            image = decode_upright(raw, known=known)  # the one decoder: first frame, alpha dropped, EXIF orientation
            return tf.io.encode_png(image), tf.shape(image)

        record, shape = tf.cond(as_is, kept, converted)
        return index, record, as_is, shape[0], shape[1], shape[2]

    # A fixed parallelism, autotuning off: the decoding keeps every core busy either way, and an autotuned
    # iterator's model thread was seen to hold the iterator's destruction for minutes after the last file
    # (a 50,000-file build idle in ~Iterator, waiting on Model::OptimizeLoop).
    threads = os.cpu_count() or 1
    options = tf.data.Options()
    options.autotune.enabled = False
    ds = (tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), [os.fsencode(p) for p in paths]))
          .map(check, num_parallel_calls=threads, deterministic=True)
          .ignore_errors()
          .prefetch(2 * threads)
          .with_options(options))
    with contextlib.suppress(GeneratorExit):
        yield from ds.as_numpy_iterator()
