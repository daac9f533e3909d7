"""Images read from a :class:`~.store.Store` and decoded when they are used: what a split of a folder too large
for memory is. :class:`StreamedImages` stands where a uint8 array (N, H, W, C) stands elsewhere (``len``,
``shape``, ``dtype``, indexing returns decoded arrays), so evaluation, plots, calibration and export read
it as they read arrays, a chunk at a time; the input pipeline reads it as a tf.data stream.

Every image is decoded as the in-memory path decodes it (the same decoders, then fitted to H x W by
``data.resize``, rounded to uint8), so both paths give the same pixels. A training stream whose chain
starts with ``random_resized_crop`` draws each image's crop from the image's own size before decoding,
and a JPEG decodes only the crop's window (``tf.image.decode_and_crop_jpeg``, as TensorFlow's ResNet
ImageNet input does), at the smallest of libjpeg's DCT scales (1/1 to 1/8) that keeps the window at least
H x W (as DALI and FFCV-style loaders do), then the window is resized to H x W (and flipped, where a
horizontal flip follows the crop in the chain).
"""
from __future__ import annotations

import hashlib
import os

import numpy as np
import tensorflow as tf

from .decode import to_channels
from .resize import fit_image, to_pixels
from .store import Store

READ_RECORDS = 64    # records fetched per read call: few Python calls, small bursts of memory
CROP_SEED_SALT = 0x5EED  # the crops' seeds differ from the batch augmentations' seeds
# decodes in flight: 2x the cores (cropping 3,000 JPEGs to 224 here: AUTOTUNE varied 580-1,070 img/s,
# one per core 570, two per core 1,030-1,260)
DECODERS = 2 * (os.cpu_count() or 1)


JPEG_SCALES = (1, 2, 4, 8)  # the scales libjpeg decodes at in the DCT domain (1/1 ... 1/8)
# libjpeg's inverse DCT for crop windows: "" is its default (INTEGER_ISLOW, accurate); INTEGER_FAST measured no
# faster here (both SIMD: entropy decoding is ~half of a window's time) and is less accurate (docs/performance.md)
DCT_METHOD = ""


def jpeg_scales(windows, size) -> tf.Tensor:
    """int32 (B,): for each crop window (``[y, x, h, w]`` in its JPEG's own pixels, (B, 4)), the index into
    :data:`JPEG_SCALES` of the smallest scale (1/8 first) at which it is still at least ``size`` (H, W)."""
    fits = [(windows[:, 2] // s >= size[0]) & (windows[:, 3] // s >= size[1]) for s in JPEG_SCALES[1:]]
    # each scale that fits implies the larger ones do: the count of those that fit is the index
    return tf.add_n([tf.zeros_like(windows[:, 0])] + [tf.cast(f, tf.int32) for f in fits])


def decode_jpeg_window(record, window, scale_index, channels: int) -> tf.Tensor:
    """uint8 (h, w, C): only ``window`` (``[y, x, h, w]``) of a JPEG, decoded at ``JPEG_SCALES[scale_index]``
    (:func:`jpeg_scales`): a 1/2-scale decode reads every coefficient but runs the inverse DCT on a quarter
    of the pixels. The window's start and sides scale down with it (floored: within the ``ceil(side /
    scale)`` pixels libjpeg decodes at that scale)."""
    def at(scale):
        def decode():
            scaled = tf.concat([window[:2] // scale, tf.maximum(1, window[2:4] // scale)], 0)
            return tf.io.decode_and_crop_jpeg(record, scaled, channels=channels, ratio=scale, dct_method=DCT_METHOD)
        return decode
    return tf.switch_case(scale_index, [at(s) for s in JPEG_SCALES])


class StreamedImages:
    """uint8 images (N, H, W, C): the records ``keys`` of ``store`` decoded to ``size`` (H, W) with
    ``channels``, fitted by ``resize`` (squash | pad | center_crop)."""

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, store: Store, keys: np.ndarray, size: tuple[int, int], channels: int, resize: str):
        self.store, self.keys = store, np.asarray(keys, np.int64)
        self.size, self.channels, self.resize = (int(size[0]), int(size[1])), int(channels), resize

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.keys), *self.size, self.channels)

    def __len__(self) -> int:
        return len(self.keys)

    def __repr__(self) -> str:
        return f"StreamedImages({self.shape}, {self.store.path})"

    def subset(self, positions) -> "StreamedImages":
        """The images at ``positions`` (an index array), still on disk."""
        return StreamedImages(self.store, self.keys[np.asarray(positions, np.int64)], self.size, self.channels,
                              self.resize)

    def fingerprint(self) -> str:
        """A digest of what these images are (the store's files, the keys, the size and fitting): equal for
        the same images, without decoding them."""
        h = hashlib.sha256(f"{self.store.digest}|{self.size}|{self.channels}|{self.resize}".encode())
        h.update(self.keys.tobytes())
        return h.hexdigest()

    def __getitem__(self, item) -> np.ndarray:
        """Decoded uint8 images: one (H, W, C) for an int, (n, H, W, C) for a slice, list or index array."""
        if isinstance(item, (int, np.integer)):
            return self[np.array([item])][0]
        positions = np.arange(len(self))[item] if isinstance(item, slice) else np.asarray(item, np.int64)
        if positions.dtype == bool:
            positions = np.flatnonzero(positions)
        out = np.empty((len(positions), *self.size, self.channels), np.uint8)
        done = 0
        for chunk in self.chunks(256, positions):
            out[done:done + len(chunk)] = chunk
            done += len(chunk)
        return out

    def chunks(self, size: int = 512, positions=None):
        """Decoded arrays of up to ``size`` images (of ``positions``, else all, in order), from one pipeline:
        a pass over many images in bounded memory."""
        positions = np.arange(len(self)) if positions is None else np.asarray(positions, np.int64)
        for batch in self.decoded(tf.data.Dataset.from_tensor_slices(positions)).batch(size):
            yield batch.numpy()

    def decoded(self, positions: tf.data.Dataset, seeds: tf.data.Dataset | None = None, lead: tuple = (),
                parallel: bool = True) -> tf.data.Dataset:
        """One decoded uint8 image (H, W, C) per element of ``positions`` (int64 scalars), in their order.

        ``lead``: a random-resized-crop op, drawn for each group of ``READ_RECORDS`` positions at once from
        the group's first seed (``seeds``: one (2,) seed per position), from each image's own size (an
        image it does not apply to, its ``p``, is fitted as without a crop); then maybe a horizontal flip,
        drawn with it and applied to the resized crop.
        """
        crop, flip = (*lead, None, None)[:2]
        calls = tf.data.AUTOTUNE if parallel else None
        keys = tf.constant(self.keys)
        index = self.store.index
        jpeg, heights, widths = (tf.constant(index[k][self.keys]) for k in ("jpeg", "heights", "widths"))

        def read(batch_positions, batch_seeds):
            """A group's records and, with a crop, their windows: drawn for the group at once (its first
            seed), from each image's own size."""
            records = tf.numpy_function(lambda k: np.array(self.store.read(k), dtype=object),
                                        [tf.gather(keys, batch_positions)], tf.string, stateful=False)
            records.set_shape(batch_positions.shape)
            height, width = tf.gather(heights, batch_positions), tf.gather(widths, batch_positions)
            if crop is None:
                return records, tf.gather(jpeg, batch_positions), tf.zeros_like(height)
            count = tf.shape(batch_positions)[0]
            windows = self._windows(crop, batch_seeds[0], count, height, width, self.size)
            if flip is not None:
                flip_seed = tf.random.experimental.stateless_fold_in(batch_seeds[0], 1)
                flips = flip.sample_shaped(flip_seed, count, height, width)["apply"]
                windows = tf.concat([windows, tf.cast(flips, tf.int32)[:, None]], 1)
            return records, tf.gather(jpeg, batch_positions), windows

        def decode(record, is_jpeg, window):
            if crop is None:
                return self._fitted(self._decode(record, is_jpeg, None))
            return self._cropped(record, is_jpeg, window, crop, flip is not None)

        if seeds is None:
            seeds = positions.map(lambda p: tf.zeros([2], tf.int64))
        groups = tf.data.Dataset.zip(positions, seeds).batch(READ_RECORDS)
        decoders = DECODERS if parallel else None
        return groups.map(read, num_parallel_calls=calls).unbatch().map(decode, num_parallel_calls=decoders)

    @staticmethod
    def _windows(crop, seed, count, height, width, size):
        """(B, 6) int32 ``[y, x, h, w, scale, applied]``: each image's crop window in its own pixels (the
        whole image where the op's ``p`` did not draw it) and the DCT scale it is decoded at if a JPEG
        (:func:`jpeg_scales`)."""
        params = crop.sample_shaped(seed, count, height, width)
        box, applied = params["box"], params["apply"]
        sides = tf.cast(tf.stack([height, width], axis=1), tf.float32)
        start = tf.cast(tf.round(box[:, :2] * sides), tf.int32)
        extent = tf.maximum(1, tf.cast(tf.round((box[:, 2:] - box[:, :2]) * sides), tf.int32))
        start = tf.minimum(start, tf.stack([height, width], axis=1) - extent)
        whole = tf.stack([tf.zeros_like(height), tf.zeros_like(width), height, width], axis=1)
        window = tf.where(applied[:, None], tf.concat([start, extent], 1), whole)
        return tf.concat([window, jpeg_scales(window, size)[:, None], tf.cast(applied, tf.int32)[:, None]], 1)

    def _decode(self, record, is_jpeg, window):
        """uint8 (h, w, C): the whole image, or only ``window`` (``[y, x, h, w, scale]``) of it (a JPEG's
        at that DCT scale). (A store of one kind of record, JPEG or PNG, needs no branch per image: a tf.cond
        costs as much as a small decode.)"""
        def jpeg():
            if window is None:
                return tf.io.decode_jpeg(record, channels=self.store.channels)
            return decode_jpeg_window(record, window[:4], window[4], self.store.channels)

        def png():
            image = tf.io.decode_png(record, channels=self.store.channels)
            if window is None:
                return image
            return tf.image.crop_to_bounding_box(image, window[0], window[1], window[2], window[3])
        kinds = self.store.index["jpeg"][self.keys]
        if kinds.all():
            return jpeg()
        if not kinds.any():
            return png()
        return tf.cond(is_jpeg, jpeg, png)

    def _fitted(self, image):
        return self._converted(to_pixels(fit_image(tf.cast(image, tf.float32), self.size, self.resize)))

    def _converted(self, image):
        """Records decode with the store's channels; gray <-> RGB after fitting, as the in-memory loader does."""
        return image if self.channels == self.store.channels else to_channels(image, self.channels)

    def _cropped(self, record, is_jpeg, window, crop, flips: bool = False):
        """The image's crop window (``[y, x, h, w, scale, applied(, flipped)]``), decoded alone and resized to
        H x W (without antialiasing, as TensorFlow's ResNet input does: the window is decoded at a DCT scale
        that leaves it less than twice H x W, where it is that large), then mirrored where ``flipped`` (an
        axis given as a tensor: no branch)."""
        image = self._decode(record, is_jpeg, window[:5])  # uint8: the resize reads it as it is (no float copy)
        cropped = lambda: tf.image.resize(image, self.size, method=crop.interpolation)  # noqa: E731
        if crop.p >= 1:  # always drawn: no branch per image
            resized = cropped()
        else:
            resized = tf.cond(window[5] > 0, cropped, lambda: fit_image(tf.cast(image, tf.float32), self.size,
                                                                        self.resize))
        if flips:
            resized = tf.reverse(resized, tf.boolean_mask([1], window[6:7] > 0))
        # every resize here (bilinear or nearest, antialiased bilinear) makes each pixel a weighted mean of the
        # image's: within 0-255 already, so rounded (half up) in one op instead of a round, a clip and a cast
        return self._converted(tf.cast(resized + 0.5, tf.uint8))
