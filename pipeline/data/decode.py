"""One image decoder for every way an image enters trainlab: a folder being loaded or stored, ``trainlab
predict``, the serve page, the exported model's ``serving_b64`` signature and the Open Inference Protocol's
BYTES input. Every function here is TensorFlow ops only, so the same code runs eagerly, in tf.data and inside
the exported SavedModel (where TF Serving users send raw JPEG bytes).

What a decoded image is: the first frame (GIF), alpha dropped (gray + alpha is gray, RGBA is RGB), 16-bit
scaled to 8, palette and CMYK converted to RGB by the decoders, then turned upright by the JPEG's EXIF
orientation (read from its APP1 segment here: TensorFlow's decoders ignore it), then fitted to the model's
size (antialiased, rounded to uint8) and only then converted between gray and RGB (rounded again), the
order the in-memory folder loader has always used.
"""
from __future__ import annotations

import tensorflow as tf

from .resize import fit_image, to_pixels

# An encoded image whose header claims more pixels than this is refused before it is decoded (Pillow's
# own limit, past which it calls a file a decompression bomb): a 500 KB PNG can claim 23,170 x 23,170.
MAX_IMAGE_PIXELS = 89_478_485
EXIF_SCAN_BYTES = 8 << 10  # the EXIF orientation is read from the first 8 KiB (its IFD0 comes right after APP0)
_IFD_ENTRIES = 64        # IFD0 entries searched for the orientation tag, at most
_ORIENTATION_TAG = 0x0112


def header(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``(pixels, orientation)`` of an encoded image (``data``: a string scalar), read from its header without
    decoding it: int64 width x height as a PNG, JPEG, GIF, BMP or WebP header claims it (0 for anything else),
    and int32 1-8, the EXIF orientation a JPEG's camera recorded (1 for anything else, or a JPEG without one)."""
    others, is_jpeg, orientation = (t[0] for t in headers(data[None]))
    return _with_jpeg_pixels(data, others, is_jpeg), orientation


def headers(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """For a vector of encoded images at once: ``(pixels of the non-JPEGs (0 for a JPEG), is JPEG, orientation)``.

    Dataflow only, no cond or loop, on the whole batch: the exported model runs it before its map over the
    images (done per image, as first written, it cost ~140 us an image, three times the decoding of a small PNG).
    A JPEG's pixels come from TensorFlow's header reader, per image (:func:`_with_jpeg_pixels`)."""
    heads = tf.strings.substr(tf.strings.join([data, _ZEROS]), 0, 32)  # a short file reads as zeros past its end
    is_jpeg = tf.equal(tf.strings.substr(heads, 0, 2), b"\xff\xd8")
    return _other_pixels(heads), is_jpeg, jpeg_orientations(data)


def _with_jpeg_pixels(data, others, is_jpeg) -> tf.Tensor:
    """One image's pixels: TensorFlow's JPEG header reader for a JPEG (given a 1-pixel JPEG for anything else)."""
    shape = tf.cast(tf.image.extract_jpeg_shape(tf.where(is_jpeg, data, _ONE_PIXEL_JPEG)), tf.int64)
    return tf.where(is_jpeg, shape[0] * shape[1], others)


def encoded_pixels(data: tf.Tensor) -> tf.Tensor:
    """int64 scalar: width x height as the header of an encoded image claims it (:func:`header`)."""
    return header(data)[0]


def jpeg_orientation(data: tf.Tensor) -> tf.Tensor:
    """int32 scalar 1-8: a JPEG's EXIF orientation, 1 for anything else (:func:`jpeg_orientations`)."""
    return jpeg_orientations(data[None])[0]


_ZEROS = "\0" * 32
_WINDOW_ZEROS = "\0" * EXIF_SCAN_BYTES
# SOI, a frame header (1 x 1, gray), a scan header, EOI: all TensorFlow's JPEG header reader needs
_ONE_PIXEL_JPEG = bytes.fromhex("ffd8" "ffc0000b080001000101011100" "ffda0008010100003f00" "ffd9")
# Numbers in the first 32 bytes of a header, each (offset, bytes, big-endian): PNG width, height; GIF width,
# height; BMP width, height; WebP VP8 width, height; VP8X width - 1, height - 1; VP8L's packed sides.
_FIELDS = ((16, 4, True), (20, 4, True), (6, 2, False), (8, 2, False), (18, 4, False), (22, 4, False),
           (26, 2, False), (28, 2, False), (24, 3, False), (27, 3, False), (21, 4, False))
_FIELD_AT = [[at + min(i, n - 1) for i in range(4)] for at, n, _ in _FIELDS]
_FIELD_WEIGHT = [[(256 ** (n - 1 - i) if big else 256 ** i) if i < n else 0 for i in range(4)] for _, n, big in _FIELDS]
# Per format (PNG, GIF, BMP, WebP VP8, VP8X, VP8L): where its width and height are among the fields above (the
# extra columns 11, 12: BMP's height unsigned, VP8L's height), what they are taken modulo, and what is added.
_WIDTH, _HEIGHT = [0, 2, 4, 6, 8, 10], [1, 3, 11, 7, 9, 12]
_MODULO = [2 ** 40, 2 ** 40, 2 ** 40, 16384, 2 ** 40, 16384]
_PLUS = [0, 0, 0, 0, 1, 1]
_MAGIC = [b"\x89PNG", b"GIF8", b"BM", b"RIFF....WEBPVP8 ", b"RIFF....WEBPVP8X", b"RIFF....WEBPVP8L"]  # .: any
_MAGIC_BYTES = [list(m.ljust(16, b"\0")) for m in _MAGIC]
_MAGIC_MASK = [[i < len(m) and m[i:i + 1] != b"." for i in range(16)] for m in _MAGIC]


def _other_pixels(heads: tf.Tensor) -> tf.Tensor:
    """width x height from the first 32 bytes (``heads``, one per image) of a PNG, GIF, BMP or WebP (0 else):
    every format's numbers read at once, the one whose magic bytes match kept (a few ops for any batch)."""
    b = tf.cast(tf.io.decode_raw(heads, tf.uint8), tf.int64)
    f = tf.reduce_sum(tf.gather(b, _FIELD_AT, axis=1) * tf.constant(_FIELD_WEIGHT, tf.int64), axis=2)
    bmp_height = tf.abs(f[:, 5] - tf.where(f[:, 5] >= 2 ** 31, tf.constant(2 ** 32, tf.int64), 0))  # top-down: < 0
    f = tf.concat([f, tf.stack([bmp_height, f[:, 10] // 16384], 1)], 1)
    modulo, plus = tf.constant(_MODULO, tf.int64), tf.constant(_PLUS, tf.int64)
    sides = (tf.gather(f, _WIDTH, axis=1) % modulo + plus) * (tf.gather(f, _HEIGHT, axis=1) % modulo + plus)
    match = tf.equal(b[:, None, :16], tf.constant(_MAGIC_BYTES, tf.int64)) | ~tf.constant(_MAGIC_MASK)
    return tf.reduce_sum(tf.where(tf.reduce_all(match, axis=2), sides, 0), axis=1)


def jpeg_orientations(data: tf.Tensor) -> tf.Tensor:
    """int32 (N,) 1-8: the EXIF orientation each JPEG's camera recorded (``data``: a vector of encoded images),
    from an ``Exif`` APP1 segment that comes first or second (after JFIF's APP0), as cameras and phones write
    it, within the first ``EXIF_SCAN_BYTES``; 1 for anything else, a JPEG without one, or a malformed header."""
    raw = tf.io.decode_raw(tf.strings.substr(tf.strings.join([data, _WINDOW_ZEROS]), 0, EXIF_SCAN_BYTES), tf.uint8)

    def take(index):
        return tf.cast(tf.gather(raw, tf.clip_by_value(index, 0, EXIF_SCAN_BYTES - 1), batch_dims=1), tf.int32)

    count = tf.shape(data)[0]
    start = take(tf.tile(tf.range(6)[None], [count, 1]))  # SOI, then the first segment's marker and length
    second = 4 + start[:, 4] * 256 + start[:, 5]
    where = tf.stack([tf.fill([count], 2), second], 1)
    marks = take(tf.reshape(where[:, :, None] + [0, 1, 4, 5, 6, 7, 8, 9], [count, 16]))
    found = tf.reduce_all(tf.equal(tf.reshape(marks, [count, 2, 8]), [0xFF, 0xE1, 0x45, 0x78, 0x69, 0x66, 0, 0]), 2)
    found = found & (tf.equal(start[:, 0], 0xFF) & tf.equal(start[:, 1], 0xD8))[:, None]
    tiff = tf.where(found[:, 0], 12, tf.where(found[:, 1], second + 10, -1))  # the TIFF header after "Exif\0\0"
    return _orientation(take, tiff)


def _orientation(take, tiff) -> tf.Tensor:
    """The orientation tag among the first ``_IFD_ENTRIES`` of IFD0 of each TIFF header at ``tiff`` (N,) (-1: none),
    1 when absent or malformed. Two gathers: the byte order and IFD offset, then the count and every entry."""
    top = take(tiff[:, None] + [0, 1, 4, 5, 6, 7])
    little = tf.equal(top[:, 0], 0x49) & tf.equal(top[:, 1], 0x49)  # "II": little-endian, "MM": big
    big = tf.equal(top[:, 0], 0x4D) & tf.equal(top[:, 1], 0x4D)

    def number(values):  # the last axis's bytes as one unsigned number in each header's byte order
        width = values.shape[-1]
        order = tf.reshape(little, [-1] + [1] * (len(values.shape) - 1))
        return tf.reduce_sum(values * tf.where(order, 256 ** tf.range(width), 256 ** tf.range(width - 1, -1, -1)), -1)

    ifd = number(top[:, 2:])
    entries = 2 + 12 * tf.range(_IFD_ENTRIES)  # from the IFD: the count (2 bytes), then 12-byte entries
    at = tf.concat([[0, 1], tf.reshape(entries[:, None] + [0, 1, 8, 9], [-1])], 0)
    got = take((tiff + ifd)[:, None] + at)
    fields = tf.reshape(got[:, 2:], [-1, _IFD_ENTRIES, 2, 2])
    tags, values = number(fields[:, :, 0]), number(fields[:, :, 1])
    in_range = (tf.range(_IFD_ENTRIES)[None] < number(got[:, :2])[:, None]) \
        & ((tiff + ifd)[:, None] + entries + 10 <= EXIF_SCAN_BYTES)
    ok = (tiff >= 0) & (little | big) & (ifd >= 8)
    value = tf.reduce_max(tf.where(in_range & tf.equal(tags, _ORIENTATION_TAG) & ok[:, None], values, 0), axis=1)
    return tf.where((value >= 1) & (value <= 8), value, 1)


# Each EXIF orientation as a transpose (or not), then the axes to mirror: 1 upright, 2 mirrored, 3 upside down,
# 4 mirrored upside down, 5 transposed, 6 turned 90 degrees clockwise, 7 transversed, 8 turned counter-clockwise
_TRANSPOSED = [False, False, False, False, True, True, True, True]
_MIRRORED = [[False, False], [False, True], [True, True], [True, False],
             [False, False], [False, True], [True, True], [True, False]]


def upright(image: tf.Tensor, orientation) -> tf.Tensor:
    """``image`` (H, W, C) as its EXIF ``orientation`` says it is to be seen (what Pillow's exif_transpose
    and every photo viewer show): maybe transposed, then mirrored along rows and/or columns. Transpose and
    reverse take their permutation and axes as tensors, so this is two ops and no branch."""
    index = tf.clip_by_value(tf.cast(orientation, tf.int32) - 1, 0, 7)
    perm = tf.where(tf.gather(_TRANSPOSED, index), [1, 0, 2], [0, 1, 2])
    axes = tf.boolean_mask([0, 1], tf.gather(_MIRRORED, index))
    return tf.reverse(tf.transpose(image, perm), axes)


def pixel_limit(pixels: tf.Tensor, max_pixels: int = MAX_IMAGE_PIXELS) -> tf.Operation:
    """The check that a header's claimed ``pixels`` (int64) are within ``max_pixels``: run it before decoding."""
    return tf.debugging.assert_less_equal(pixels, tf.constant(max_pixels, tf.int64), message=(
        f"the image's header claims more pixels than the limit of {max_pixels:,}"))


def decode_upright(data: tf.Tensor, max_pixels: int = MAX_IMAGE_PIXELS, known=None) -> tf.Tensor:
    """uint8 (H, W, 1 or 3): an encoded PNG/JPEG/GIF/BMP/WebP as it is to be seen (first frame, alpha dropped,
    EXIF orientation applied). Raises InvalidArgumentError for bytes that do not decode, or whose header
    claims more than ``max_pixels`` (checked before anything is decoded). ``known``: this image's part of
    :func:`headers`, when its batch's were read at once."""
    if known is None:
        pixels, orientation = header(data)
    else:
        others, is_jpeg, orientation = known
        pixels = _with_jpeg_pixels(data, others, is_jpeg)
    with tf.control_dependencies([pixel_limit(pixels, max_pixels)]):
        image = tf.io.decode_image(data, channels=0, expand_animations=False, dtype=tf.uint8)
    depth = tf.shape(image)[-1]
    image = tf.gather(image, tf.range(tf.where(depth >= 3, 3, 1)), axis=-1)  # alpha dropped (no cond: header)
    return upright(image, orientation)


def fit_pixels(image: tf.Tensor, size, resize: str = "squash") -> tf.Tensor:
    """uint8 ``image`` fitted to ``size`` (H, W) by ``resize`` (antialiased), rounded back to uint8."""
    return to_pixels(fit_image(tf.cast(image, tf.float32), size, resize))


def to_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
    """uint8 ``image`` (H, W, 1 or 3) with ``channels`` (1 or 3): gray <-> RGB (ITU-R 601 luma), rounded."""
    rgb = tf.gather(image, tf.minimum(tf.range(3), tf.shape(image)[-1] - 1), axis=-1)  # gray repeated (no cond)
    if channels == 3:
        return tf.ensure_shape(rgb, [None, None, 3])
    # a gray image repeated comes back as it was: the luma weights sum to 0.9999, 255 x 0.9999 rounds to 255
    return tf.ensure_shape(to_pixels(tf.image.rgb_to_grayscale(tf.cast(rgb, tf.float32))), [None, None, 1])


def decode_for_model(data: tf.Tensor, size, channels: int, resize: str = "squash",
                     max_pixels: int = MAX_IMAGE_PIXELS) -> tf.Tensor:
    """uint8 (H, W, C) of the model's ``size`` and ``channels`` from one image's encoded bytes: the exported
    model's own decoding (:func:`decode_batch_for_model`) of a batch of one."""
    return decode_batch_for_model(data[None], size, channels, resize, max_pixels)[0]


def decode_batch_for_model(data: tf.Tensor, size, channels: int, resize: str = "squash",
                           max_pixels: int = MAX_IMAGE_PIXELS) -> tf.Tensor:
    """uint8 (N, H, W, C) of the model's ``size`` and ``channels`` from a vector of encoded images: what every
    entry serves. The headers are read for the whole batch, then each image is decoded upright and fitted (in
    RGB: a gray image repeated), then the rounding and the gray conversion are done once on the batch: the
    pixels the folder loader makes (decode, fit, round, convert, round), for fewer ops per image."""
    height, width = int(size[0]), int(size[1])

    def fitted(one):
        image = decode_upright(one[0], max_pixels, known=one[1:])
        rgb = tf.gather(image, tf.minimum(tf.range(3), tf.shape(image)[-1] - 1), axis=-1)
        return fit_image(tf.cast(rgb, tf.float32), (height, width), resize)
    images = tf.map_fn(fitted, (data, *headers(data)), fn_output_signature=tf.TensorSpec([height, width, 3],
                                                                                         tf.float32))
    images = to_pixels(images)
    if channels == 3:
        return images
    return to_pixels(tf.image.rgb_to_grayscale(tf.cast(images, tf.float32)))
