"""The binary tensor extension of the Open Inference Protocol (Triton's and KServe's ``binary_data``): a
request's JSON header is ``Inference-Header-Content-Length`` bytes long and each input with
``parameters.binary_data_size`` takes that many bytes of what follows, in order: FP32 and UINT8 values
little-endian in row-major order, BYTES elements each as a 4-byte little-endian length and its bytes. An
answer with binary outputs is built the same way. No float is parsed from text.
"""
from __future__ import annotations

import math
import struct

import numpy as np
import orjson
from starlette.responses import Response

from .limits import Limits
from .requests import RequestError, encoded_batch, pixel_array

HEADER = "Inference-Header-Content-Length"
DTYPES = {"FP32": "<f4", "UINT8": "u1", "INT64": "<i8"}


class Decoded(list):
    """An input's values read from the binary part: an array (pixels) or a list of encoded images (BYTES)."""


def input_data(tensor: dict, blob: bytes) -> Decoded:
    """The values of the request's one input from its binary part, which must hold exactly its
    ``binary_data_size`` bytes."""
    parameters = tensor.get("parameters")
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RequestError("with Inference-Header-Content-Length the input needs parameters.binary_data_size")
    if size != len(blob):
        raise RequestError(f"input 'image' declares {size} binary bytes; the request carries {len(blob)} after its "
                           "header")
    if "data" in tensor:
        raise RequestError("input 'image' has both data and binary_data_size")
    datatype = tensor.get("datatype")
    if datatype == "BYTES":
        return Decoded(_elements(blob))
    if datatype not in DTYPES:
        raise RequestError(f"input 'image' datatype must be FP32, UINT8 or BYTES, got {datatype!r:.100}")
    itemsize = np.dtype(DTYPES[datatype]).itemsize
    if size % itemsize:
        raise RequestError(f"input 'image' has {size} bytes, not a whole number of {datatype} values")
    return Decoded([np.frombuffer(blob, DTYPES[datatype])])


def _elements(blob: bytes) -> list[bytes]:
    """BYTES elements: each a 4-byte little-endian length, then that many bytes."""
    out, at = [], 0
    while at < len(blob):
        if at + 4 > len(blob):
            raise RequestError("BYTES input 'image' ends inside an element's 4-byte length")
        (length,) = struct.unpack_from("<I", blob, at)
        if at + 4 + length > len(blob):
            raise RequestError(f"BYTES input 'image' element {len(out)} claims {length} bytes past the body's end")
        out.append(blob[at + 4:at + 4 + length])
        at += 4 + length
    return out


def checked(data: Decoded, datatype: str, shape: list, image_shape, limits: Limits = Limits()) -> np.ndarray:
    """Binary values checked as their JSON form is: the declared shape (a non-empty list of sizes: checked by
    the caller), then pixels or encoded images."""
    if datatype == "BYTES":
        if len(shape) != 1 or shape[0] != len(data):
            raise RequestError(f"BYTES input 'image' has {len(data)} elements; shape {shape} needs [N] of them")
        return encoded_batch("image", list(data), limits)
    values = data[0]
    if values.size != math.prod(shape):
        raise RequestError(f"input 'image' holds {values.size} values; shape {shape} needs {math.prod(shape)}")
    return pixel_array("image", values.reshape(shape), datatype == "UINT8", image_shape, limits)


def encode(values: np.ndarray, datatype: str) -> bytes:
    """An output's values as the extension carries them."""
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(v)) + v for v in values.ravel())
    return np.ascontiguousarray(values, DTYPES[datatype]).tobytes()


def response(answer: dict, blobs: list[bytes]) -> Response:
    """The JSON header (its size in ``Inference-Header-Content-Length``), then the binary outputs in order."""
    head = orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(head + b"".join(blobs), 200, headers={HEADER: str(len(head))},
                    media_type="application/octet-stream")
