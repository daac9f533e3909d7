"""Encoded test photos: a picture stored sideways with the EXIF orientation tag that turns it upright (as a
phone camera writes it), and the same picture in each format and pixel layout the decoder must take."""
import io

import numpy as np
from PIL import Image

# what undoes each orientation: 6 (turned clockwise to be seen) is stored turned counter-clockwise, as 8 is
INVERSE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


def turned(image: np.ndarray, orientation: int) -> np.ndarray:
    """``image`` (H, W, ...) as EXIF ``orientation`` turns it (numpy's own operations, not the product's)."""
    return {1: lambda a: a, 2: np.fliplr, 3: lambda a: np.rot90(a, 2), 4: np.flipud, 5: lambda a: np.swapaxes(a, 0, 1),
            6: lambda a: np.rot90(a, 3), 7: lambda a: np.rot90(np.swapaxes(a, 0, 1), 2),
            8: lambda a: np.rot90(a, 1)}[orientation](image)


def sideways_jpeg(upright: np.ndarray, orientation: int, quality: int = 100) -> bytes:
    """A JPEG whose pixels are ``upright`` (uint8, H x W or H x W x 3) turned away by ``orientation``, with the
    EXIF tag that turns them back."""
    stored = np.ascontiguousarray(turned(upright, INVERSE[orientation]))
    exif = Image.new("RGB", (1, 1)).getexif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    Image.fromarray(stored).save(out, "JPEG", quality=quality, subsampling=0, exif=exif)  # colour kept at full size
    return out.getvalue()


def encoded(image: np.ndarray, fmt: str, mode: str | None = None, **options) -> bytes:
    """``image`` (uint8) written by Pillow as ``fmt`` (PNG, GIF, BMP, JPEG, WEBP) after converting to ``mode``
    (L, RGB, RGBA, P, CMYK, I;16 for a 16-bit PNG)."""
    picture = Image.fromarray(image)
    if mode == "I;16":
        picture = Image.fromarray(np.asarray(picture.convert("L")).astype(np.uint16) * 257)
    elif mode:
        picture = picture.convert(mode)
    out = io.BytesIO()
    picture.save(out, fmt, **options)
    return out.getvalue()
