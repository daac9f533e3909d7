"""Reading, parsing and validating TF Serving REST predict requests, before TensorFlow sees anything.

A wrong-rank tensor reaching a loaded signature can abort the whole process under oneDNN, so
every input is checked here: JSON shape, rank, dimensions, dtype, value range, batch and body size, and each
encoded image's header (format and pixel count) before it is decoded. The body is counted while it arrives
and parsed off the event loop (:mod:`.limits` names every limit).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import io
import threading
import warnings
from urllib.parse import urlsplit

import numpy as np
import orjson
from PIL import Image, UnidentifiedImageError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from .limits import Limits
from .model import Signature

IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")  # what the exported model decodes
# curl -d (TF Serving's documented examples) sends form-urlencoded; a browser page elsewhere is refused by its
# Origin, and text/plain or multipart bodies (what a page can send without asking) are not JSON.
JSON_TYPES = ("", "application/json", "application/x-www-form-urlencoded")


class RequestError(Exception):
    """A request the server refuses: ``status`` is the HTTP status, the message goes to the client."""

    def __init__(self, message: str, status: int = 400, headers: dict | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers


def json_response(payload: dict, status: int = 200, headers: dict | None = None) -> Response:
    """A JSON answer (numpy arrays and scalars written as numbers), for both APIs."""
    return Response(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), status, headers=headers,
                    media_type="application/json")


INLINE_BODY = 64 << 10  # bodies up to 64 KiB (one image: 3-5 KB) are parsed on the event loop: under 1 ms
LARGE_BODY = 1 << 20    # bodies over 1 MiB are parsed one at a time (see read_json)
_large_bodies = threading.Semaphore(1)


async def read_json(request, then=lambda parsed: parsed):
    """``then(the JSON body)`` of a Starlette request (``request.app.state.limits`` bound it). A body over
    ``INLINE_BODY`` is parsed in a worker thread so it never holds the event loop (a hand-over costs more than
    parsing one image); over ``LARGE_BODY`` one at a time: the Python objects of a 14 MB JSON array take
    ~100 MB until ``then`` has made its arrays, so four at once would take 400 MB."""
    check_sender(request)
    body = await read_body(request, request.app.state.limits)
    if len(body) <= INLINE_BODY:
        return then(_loads(body))

    def parse():
        try:
            if len(body) <= LARGE_BODY:
                return then(_loads(body)), None
            with _large_bodies:
                return then(_loads(body)), None
        except RequestError as e:  # handed back bare: its traceback's frames would keep the parsed body alive
            return None, (str(e), e.status, e.headers)
    result, refused = await run_in_threadpool(parse)
    if refused:
        raise RequestError(*refused)
    return result


def check_sender(request, binary: bool = False) -> None:
    """A page on another origin (its ``Origin`` is not this server's host) and bodies that are not JSON (or,
    ``binary``, the Open Inference Protocol's octet stream) are refused: a browser sends either without asking
    the user."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise RequestError(f"requests from another origin ({origin[:100]}) are refused", 403)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in JSON_TYPES and not (binary and kind == "application/octet-stream"):
        raise RequestError(f"Content-Type {kind[:100]} is not JSON: send application/json", 415)


async def read_body(request, limits: Limits) -> bytes:
    """The body, counted while it arrives (chunked ones too) and refused at ``limits.max_body_bytes`` without
    reading the rest; it must arrive within ``limits.body_seconds``."""
    limit = limits.max_body_bytes
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise RequestError(f"request body of {length} bytes exceeds the limit of {limit}", 413)
    chunks, size = [], 0
    try:
        async with asyncio.timeout(limits.body_seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise RequestError(f"request body exceeds the limit of {limit} bytes (refused at that size)",
                                       413, {"Connection": "close"})
                chunks.append(chunk)
    except TimeoutError:
        raise RequestError(f"the request body did not arrive within {limits.body_seconds:g} s", 408,
                           {"Connection": "close"}) from None
    except ClientDisconnect:
        raise RequestError("the client went away before its body arrived", 400) from None
    return b"".join(chunks)


def _loads(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:  # also JSON nested deeper than 1,024
        raise RequestError(f"request body is not valid JSON: {str(e)[:200]}") from None


def parse_body(request) -> dict:
    """A TF Serving predict request (the parsed JSON body), its fields checked."""
    if not isinstance(request, dict):
        raise RequestError("request body must be a JSON object with 'instances' or 'inputs'")
    if ("instances" in request) == ("inputs" in request):
        raise RequestError("request must have exactly one of 'instances' (row format) or 'inputs' (columnar)")
    unknown = set(request) - {"instances", "inputs", "signature_name"}
    if unknown:
        raise RequestError(f"unknown request field(s): {', '.join(sorted(unknown))}")
    return request


def parse_predict(request: dict, signature: Signature,
                  limits: Limits = Limits()) -> tuple[dict[str, np.ndarray], bool]:
    """Inputs as validated numpy arrays, and whether the request used the row format."""
    names = list(signature.inputs)
    row = "instances" in request
    if row:
        instances = request["instances"]
        if not isinstance(instances, list) or not instances:
            raise RequestError("'instances' must be a non-empty list")
        if all(isinstance(i, dict) and set(i) != {"b64"} for i in instances):
            columns = {n: [i.get(n) for i in instances] for n in names}
            extra = {k for i in instances for k in i} - set(names)
            if extra:
                raise RequestError(f"unknown input(s) {', '.join(sorted(extra))}; inputs: {', '.join(names)}")
        elif len(names) == 1:
            columns = {names[0]: instances}
        else:
            raise RequestError(f"instances must be objects naming the inputs {', '.join(names)}")
    else:
        inputs = request["inputs"]
        if isinstance(inputs, dict) and set(inputs) != {"b64"}:
            extra = set(inputs) - set(names)
            if extra:
                raise RequestError(f"unknown input(s) {', '.join(sorted(extra))}; inputs: {', '.join(names)}")
            columns = {n: inputs.get(n) for n in names}
        elif len(names) == 1:
            columns = {names[0]: inputs}
        else:
            raise RequestError(f"'inputs' must be an object naming the inputs {', '.join(names)}")
    return {n: _validate(n, columns[n], signature, limits) for n in names}, row


def _validate(name: str, value, signature: Signature, limits: Limits) -> np.ndarray:
    if value is None or (isinstance(value, list) and any(v is None for v in value)):
        raise RequestError(f"input '{name}' is missing")
    info = signature.inputs[name]
    if info.dtype.name == "string":
        return bytes_batch(name, value, limits)
    return pixel_batch(name, value, info.dtype.is_integer, signature.image_shape, limits)


def bytes_batch(name: str, value, limits: Limits = Limits()) -> np.ndarray:
    items = value if isinstance(value, list) else [value]
    _check_batch(len(items), limits)
    decoded = []
    for i, item in enumerate(items):
        if not (isinstance(item, dict) and set(item) == {"b64"} and isinstance(item["b64"], str)):
            raise RequestError(f"input '{name}'[{i}] must be {{\"b64\": \"<base64 image>\"}}")
        try:
            decoded.append(base64.b64decode(item["b64"], validate=True))
        except (binascii.Error, ValueError):
            raise RequestError(f"input '{name}'[{i}] is not valid base64") from None
    return encoded_batch(name, decoded, limits)


def encoded_batch(name: str, images: list[bytes], limits: Limits = Limits()) -> np.ndarray:
    """Encoded images, each checked against the per-image size limit and by its header (format and pixels)."""
    _check_batch(len(images), limits)
    for i, data in enumerate(images):
        if len(data) > limits.max_image_bytes:
            raise RequestError(f"input '{name}'[{i}] is {len(data)} bytes, over the {limits.max_image_bytes} limit",
                               413)
        _check_header(f"input '{name}'[{i}]", data, limits.max_image_pixels)
    return np.array(images, dtype=object)


def _check_header(what: str, data: bytes, max_pixels: int) -> None:
    """The image's format and size from its header (Pillow reads the header, not the pixels): one the model
    cannot decode, or over ``max_pixels``, is refused before anything is decoded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                kind, pixels = image.format, image.width * image.height
        except Image.DecompressionBombError:  # over twice Pillow's own limit: 178,956,970
            raise RequestError(f"{what} claims more than 178,956,970 pixels in its header, over the limit of "
                               f"{max_pixels:,} (--max-image-pixels)", 413) from None
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
            kind, pixels = None, 0
    if kind not in IMAGE_FORMATS:
        raise RequestError(f"{what} is not a PNG, JPEG, GIF, BMP or WebP image")
    if pixels > max_pixels:
        raise RequestError(f"{what} claims {pixels:,} pixels in its header, over the limit of {max_pixels:,} "
                           "(--max-image-pixels)", 413)


def _check_batch(n: int, limits: Limits) -> None:
    if n < 1:
        raise RequestError("the batch is empty")
    if n > limits.max_batch:
        raise RequestError(f"batch of {n} exceeds the limit of {limits.max_batch}", 413)


def pixel_batch(name: str, value, integer: bool, image_shape=(28, 28, 1), limits: Limits = Limits()) -> np.ndarray:
    """A JSON input's images (nested lists of numbers) as a checked pixel batch (:func:`pixel_array`)."""
    if not isinstance(value, list):
        raise RequestError(f"input '{name}' must be a list of images")
    _check_batch(len(value), limits)
    try:
        array = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise RequestError(f"input '{name}' must be a rectangular array of numbers {_expected(image_shape)}") from None
    return pixel_array(name, array, integer, image_shape, limits)


def pixel_array(name: str, array: np.ndarray, integer: bool, image_shape=(28, 28, 1),
                limits: Limits = Limits()) -> np.ndarray:
    """Pixels (N, H, W[, C]) checked for the model: the shape, then finite values in [0, 255] (integers for the
    uint8 signature), in one layout (N, H, W, C) whatever the request used, so requests batch together. A uint8
    array (the binary extension's UINT8) needs no value checked."""
    height, width, channels = image_shape
    _check_batch(len(array), limits)
    if list(array.shape[1:]) not in _shapes(image_shape):
        raise RequestError(f"input '{name}' has shape {list(array.shape)}; expected {_expected(image_shape)}")
    if array.dtype != np.uint8:
        if not np.all(np.isfinite(array)):
            raise RequestError(f"input '{name}' holds NaN or infinite values")
        if array.min() < 0 or array.max() > 255:
            raise RequestError(f"input '{name}' pixel values must lie in [0, 255], got "
                               f"[{array.min():g}, {array.max():g}]")
        if integer and not np.all(array == np.floor(array)):
            raise RequestError(f"input '{name}' must hold integers for this signature")
    return array.reshape(len(array), height, width, channels).astype(np.uint8 if integer else np.float32, copy=False)


def _shapes(image_shape) -> list[list[int]]:
    height, width, channels = image_shape
    return [[height, width, channels]] + ([[height, width]] if channels == 1 else [])


def _expected(image_shape) -> str:
    return " or ".join(f"[N, {', '.join(map(str, s))}]" for s in _shapes(image_shape))


def format_response(outputs: dict[str, np.ndarray], row: bool) -> dict:
    """TF Serving's answer: ``predictions`` (one object per instance) or ``outputs`` (by name); a bytes output
    (named ``*_bytes``, as TF Serving has it) as ``{"b64": ...}`` values."""
    lists = {k: [{"b64": base64.b64encode(b).decode()} for b in v.tolist()] if v.dtype == object else v.tolist()
             for k, v in outputs.items()}
    if not row:
        return {"outputs": lists}
    n = len(next(iter(lists.values())))
    if len(lists) == 1:
        return {"predictions": next(iter(lists.values()))}
    return {"predictions": [{k: v[i] for k, v in lists.items()} for i in range(n)]}


