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
EXIF_SCAN_BYTES = 1 << 18  # the EXIF orientation is looked for in the file's first 256 KiB
_SEGMENTS = 32           # JPEG segments stepped over before the APP1 one, at most
_IFD_ENTRIES = 64        # IFD0 entries searched for the orientation tag, at most
_ORIENTATION_TAG = 0x0112


def jpeg_orientation(data: tf.Tensor) -> tf.Tensor:
    """int32 scalar 1-8: the EXIF orientation a JPEG's camera recorded (``data``: its bytes, a string
    scalar); 1 for anything else, a JPEG without one or a malformed header. TensorFlow string ops only."""
    raw = tf.io.decode_raw(tf.strings.substr(data, 0, EXIF_SCAN_BYTES), tf.uint8)
    raw = tf.concat([tf.cast(raw, tf.int32), tf.zeros([16], tf.int32)], 0)  # reads past the end give 0
    size = tf.shape(raw)[0] - 16

    def byte(i):
        return tf.gather(raw, tf.clip_by_value(i, 0, size + 15))

    def step(pos, tiff, count):
        """Over one segment; ``tiff``: where an ``Exif`` APP1 segment's TIFF header starts, once found."""
        marker, length = byte(pos + 1), byte(pos + 2) * 256 + byte(pos + 3)
        exif = tf.strings.substr(data, tf.minimum(pos + 4, size), 6) == b"Exif\x00\x00"
        found = tf.logical_and(tf.equal(marker, 0xE1), exif)
        return pos + 2 + length, tf.where(found, pos + 10, tiff), count + 1

    def more(pos, tiff, count):
        marker = byte(pos + 1)
        return ((tiff < 0) & (count < _SEGMENTS) & (pos + 4 <= size) & tf.equal(byte(pos), 0xFF)
                & (marker >= 0xC0) & tf.not_equal(marker, 0xDA) & tf.not_equal(marker, 0xD9))

    is_jpeg = (size > 4) & tf.equal(byte(0), 0xFF) & tf.equal(byte(1), 0xD8)
    _, tiff, _ = tf.while_loop(more, step, [tf.constant(2), tf.where(is_jpeg, -1, size), tf.constant(0)])
    little = tf.equal(byte(tiff), 0x49) & tf.equal(byte(tiff + 1), 0x49)  # "II": little-endian, "MM": big

    def read(offset, width):
        """The unsigned ``width``-byte number at ``offset`` (a scalar or a vector) from the TIFF header."""
        offset = tf.expand_dims(offset, -1)
        values = byte(tiff + offset + tf.range(width))
        weights = tf.where(little, 256 ** tf.range(width), 256 ** tf.range(width - 1, -1, -1))
        return tf.reduce_sum(values * weights, axis=-1)

    tiff_ok = (tiff >= 0) & (tiff + 8 <= size) & (little | (tf.equal(byte(tiff), 0x4D) & tf.equal(byte(tiff + 1),
                                                                                                   0x4D)))
    ifd = read(4, 4)
    entries = ifd + 2 + 12 * tf.range(_IFD_ENTRIES)
    in_range = (tf.range(_IFD_ENTRIES) < read(ifd, 2)) & (tiff + entries + 10 <= size) & (ifd >= 8)
    tags, values = read(entries, 2), read(entries + 8, 2)
    hits = tf.where(in_range & tf.equal(tags, _ORIENTATION_TAG) & tiff_ok, values, 0)
    value = tf.reduce_max(hits)
    return tf.where((value >= 1) & (value <= 8), value, 1)


def upright(image: tf.Tensor, orientation) -> tf.Tensor:
    """``image`` (H, W, C) as its EXIF ``orientation`` says it is to be seen (what Pillow's exif_transpose
    and every photo viewer show): mirrored and/or turned by quarter turns."""
    turns = [lambda: image,                                              # 1: upright
             lambda: tf.image.flip_left_right(image),                    # 2: mirrored
             lambda: tf.image.rot90(image, 2),                           # 3: upside down
             lambda: tf.image.flip_up_down(image),                       # 4: mirrored upside down
             lambda: tf.image.transpose(image),                          # 5: transposed
             lambda: tf.image.rot90(image, 3),                           # 6: turned 90 degrees clockwise
             lambda: tf.image.rot90(tf.image.transpose(image), 2),       # 7: transversed
             lambda: tf.image.rot90(image, 1)]                           # 8: turned 90 degrees counter-clockwise
    return tf.switch_case(tf.cast(orientation, tf.int32) - 1, turns)


def encoded_pixels(data: tf.Tensor) -> tf.Tensor:
    """int64 scalar: width x height as the header of an encoded PNG, JPEG, GIF, BMP or WebP claims it (read
    without decoding); 0 for anything else."""
    padded = tf.strings.join([data, "\0" * 32])  # a short file reads as zeros past its end
    b = tf.cast(tf.io.decode_raw(tf.strings.substr(padded, 0, 32), tf.uint8), tf.int64)

    def number(start, width, little=True):
        order = tf.range(width, dtype=tf.int64) if little else tf.range(width - 1, -1, -1, dtype=tf.int64)
        return tf.reduce_sum(b[start:start + width] * 256 ** order)

    def webp():
        kind = tf.strings.substr(padded, 12, 4)
        lossy = (number(26, 2) % 16384) * (number(28, 2) % 16384)
        lossless = (1 + b[21] + (b[22] % 64) * 256) * (1 + b[22] // 64 + b[23] * 4 + (b[24] % 16) * 1024)
        extended = (1 + number(24, 3)) * (1 + number(27, 3))
        return tf.case([(tf.equal(kind, "VP8 "), lambda: lossy), (tf.equal(kind, "VP8L"), lambda: lossless),
                        (tf.equal(kind, "VP8X"), lambda: extended)], default=lambda: tf.constant(0, tf.int64))

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(data), tf.int64)
        return shape[0] * shape[1]

    magic = tf.strings.substr(padded, 0, 4)
    bmp_height = number(22, 4) - tf.where(b[25] >= 128, tf.constant(2 ** 32, tf.int64), 0)  # negative: top-down
    return tf.case([
        (tf.equal(magic, b"\x89PNG"), lambda: number(16, 4, little=False) * number(20, 4, little=False)),
        (tf.equal(tf.strings.substr(padded, 0, 2), b"\xff\xd8"), jpeg),
        (tf.equal(magic, b"GIF8"), lambda: number(6, 2) * number(8, 2)),
        (tf.equal(tf.strings.substr(padded, 0, 2), b"BM"), lambda: number(18, 4) * tf.abs(bmp_height)),
        (tf.equal(magic, b"RIFF") & tf.equal(tf.strings.substr(padded, 8, 4), b"WEBP"), webp),
    ], default=lambda: tf.constant(0, tf.int64))


def decode_upright(data: tf.Tensor, max_pixels: int = MAX_IMAGE_PIXELS) -> tf.Tensor:
    """uint8 (H, W, 1 or 3): an encoded PNG/JPEG/GIF/BMP/WebP as it is to be seen (first frame, alpha dropped,
    EXIF orientation applied). Raises InvalidArgumentError for bytes that do not decode, or whose header
    claims more than ``max_pixels`` (checked before anything is decoded)."""
    pixels = encoded_pixels(data)
    check = tf.debugging.assert_less_equal(pixels, tf.constant(max_pixels, tf.int64), message=(
        f"the image's header claims more pixels than the limit of {max_pixels:,}"))
    with tf.control_dependencies([check]):
        image = tf.io.decode_image(data, channels=0, expand_animations=False, dtype=tf.uint8)
    depth = tf.shape(image)[-1]
    image = tf.cond(depth >= 3, lambda: image[..., :3], lambda: image[..., :1])
    image.set_shape([None, None, None])
    return upright(image, jpeg_orientation(data))


def fit_pixels(image: tf.Tensor, size, resize: str = "squash") -> tf.Tensor:
    """uint8 ``image`` fitted to ``size`` (H, W) by ``resize`` (antialiased), rounded back to uint8."""
    return to_pixels(fit_image(tf.cast(image, tf.float32), size, resize))


def to_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
    """uint8 ``image`` (H, W, 1 or 3) with ``channels`` (1 or 3): gray <-> RGB (ITU-R 601 luma), rounded."""
    depth = tf.shape(image)[-1]
    if channels == 1:
        gray = lambda: to_pixels(tf.image.rgb_to_grayscale(tf.cast(image, tf.float32)))  # noqa: E731
        converted = tf.cond(tf.equal(depth, 3), gray, lambda: image[..., :1])
    else:
        converted = tf.cond(tf.equal(depth, 1), lambda: tf.image.grayscale_to_rgb(image), lambda: image[..., :3])
    return tf.ensure_shape(converted, [None, None, channels])


def decode_for_model(data: tf.Tensor, size, channels: int, resize: str = "squash",
                     max_pixels: int = MAX_IMAGE_PIXELS) -> tf.Tensor:
    """uint8 (H, W, C) of the model's ``size`` and ``channels`` from encoded bytes: what every entry serves."""
    image = fit_pixels(decode_upright(data, max_pixels), size, resize)
    return tf.ensure_shape(to_channels(image, channels), [int(size[0]), int(size[1]), channels])
