"""HEIC/HEIF and AVIF photos (what iPhones and many Android phones save), which TensorFlow cannot decode:
read with Pillow (AVIF is built into Pillow; HEIC needs pillow-heif, the ``heic`` extra), turned upright by
their orientation, and handed to the one decoder (:mod:`.decode`) as lossless PNG bytes, so a HEIC photo is
trained on and predicted as the same pixels.
"""
from __future__ import annotations

import io
import os

from PIL import Image, ImageOps, UnidentifiedImageError, features

SUFFIXES = (".heic", ".heif", ".avif")
EXTRA = "pip install 'trainlab[heic]'"


def is_heif(path) -> bool:
    return os.path.splitext(os.fsdecode(path))[1].lower() in SUFFIXES


def readable(path) -> bool:
    """Whether this installation decodes ``path``'s kind (HEIC/HEIF: pillow-heif installed; AVIF: Pillow)."""
    if os.path.splitext(os.fsdecode(path))[1].lower() == ".avif":
        return bool(features.check("avif"))
    try:
        import pillow_heif  # noqa: F401
    except ImportError:
        return False
    return True


def to_png(source) -> bytes:
    """PNG bytes of the photo at ``source`` (a path, or its bytes): upright, 8-bit gray or RGB (alpha dropped).

    Raises:
        ValueError: it cannot be read (the extra missing, or not a photo), or it has over MAX_IMAGE_PIXELS.
    """

    from .decode import MAX_IMAGE_PIXELS  # the one limit (a TensorFlow module: loaded when images are decoded)
    try:
        import pillow_heif  # the heic extra
        pillow_heif.register_heif_opener()
    except ImportError:
        pass
    data = source if isinstance(source, bytes) else open(source, "rb").read()
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ValueError(f"its header claims more than {MAX_IMAGE_PIXELS:,} pixels")
            upright = ImageOps.exif_transpose(image)
            color = upright.mode not in ("1", "L", "LA", "I", "I;16", "F")
            out = io.BytesIO()
            upright.convert("RGB" if color else "L").save(out, "PNG", compress_level=1)
    except (OSError, UnidentifiedImageError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"not a readable HEIC/AVIF photo ({e}; HEIC needs {EXTRA})") from None
    return out.getvalue()


def read_encoded(path):
    """TensorFlow op: the bytes the decoder takes for the file at ``path`` (a string tensor): the file itself, or
    for a HEIC/HEIF/AVIF photo its PNG (:func:`to_png`, in a numpy function; a failure fails the element)."""
    import tensorflow as tf  # TensorFlow only once files are read
    photo = tf.strings.regex_full_match(tf.strings.lower(path), r".*\.(heic|heif|avif)")
    converted = lambda: tf.ensure_shape(tf.numpy_function(lambda p: to_png(os.fsdecode(p)), [path],  # noqa: E731
                                                          tf.string, stateful=False), [])
    return tf.cond(photo, converted, lambda: tf.io.read_file(path))
