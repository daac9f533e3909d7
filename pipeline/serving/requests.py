"""Parsing and validating TF Serving REST predict requests, before TensorFlow sees anything.

A wrong-rank tensor reaching a loaded signature can abort the whole process under oneDNN, so
every input is checked here: JSON shape, rank, dimensions, dtype, value range, batch and body size.
"""
from __future__ import annotations

import base64
import binascii

import numpy as np
import orjson
from starlette.responses import Response

from .model import Signature

MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_BATCH = 1024
MAX_IMAGE_BYTES = 1024 * 1024
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


class RequestError(Exception):
    """A request the server refuses: ``status`` is the HTTP status, the message goes to the client."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def json_response(payload: dict, status: int = 200) -> Response:
    """A JSON answer (numpy arrays and scalars written as numbers), for both APIs."""
    return Response(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), status, media_type="application/json")


async def read_json(request) -> object:
    """The JSON body of a Starlette request, refused unread when its declared length is over the limit."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise RequestError(f"request body of {length} bytes exceeds the limit of {MAX_BODY_BYTES}", 413)
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(f"request body of {len(body)} bytes exceeds the limit of {MAX_BODY_BYTES}", 413)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise RequestError(f"request body is not valid JSON: {e}") from None


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


def parse_predict(request: dict, signature: Signature) -> tuple[dict[str, np.ndarray], bool]:
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
    return {n: _validate(n, columns[n], signature) for n in names}, row


def _validate(name: str, value, signature: Signature) -> np.ndarray:
    if value is None or (isinstance(value, list) and any(v is None for v in value)):
        raise RequestError(f"input '{name}' is missing")
    info = signature.inputs[name]
    if info.dtype.name == "string":
        return bytes_batch(name, value)
    return pixel_batch(name, value, info.dtype.is_integer, signature.image_shape)


def bytes_batch(name: str, value) -> np.ndarray:
    items = value if isinstance(value, list) else [value]
    _check_batch(len(items))
    decoded = []
    for i, item in enumerate(items):
        if not (isinstance(item, dict) and set(item) == {"b64"} and isinstance(item["b64"], str)):
            raise RequestError(f"input '{name}'[{i}] must be {{\"b64\": \"<base64 image>\"}}")
        try:
            data = base64.b64decode(item["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(f"input '{name}'[{i}] is not valid base64") from None
        if len(data) > MAX_IMAGE_BYTES:
            raise RequestError(f"input '{name}'[{i}] is {len(data)} bytes, over the {MAX_IMAGE_BYTES} limit", 413)
        if not data.startswith(IMAGE_MAGIC):
            raise RequestError(f"input '{name}'[{i}] is not a PNG, JPEG, GIF or BMP image")
        decoded.append(data)
    return np.array(decoded, dtype=object)


def _check_batch(n: int) -> None:
    if n < 1:
        raise RequestError("the batch is empty")
    if n > MAX_BATCH:
        raise RequestError(f"batch of {n} exceeds the limit of {MAX_BATCH}", 413)


def pixel_batch(name: str, value, integer: bool, image_shape=(28, 28, 1)) -> np.ndarray:
    height, width, channels = image_shape
    shapes = [[height, width, channels]] + ([[height, width]] if channels == 1 else [])
    expected = " or ".join(f"[N, {', '.join(map(str, s))}]" for s in shapes)
    if not isinstance(value, list):
        raise RequestError(f"input '{name}' must be a list of images")
    _check_batch(len(value))
    try:
        array = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise RequestError(f"input '{name}' must be a rectangular array of numbers {expected}") from None
    if list(array.shape[1:]) not in shapes:
        raise RequestError(f"input '{name}' has shape {list(array.shape)}; expected {expected}")
    if not np.all(np.isfinite(array)):
        raise RequestError(f"input '{name}' holds NaN or infinite values")
    if array.min() < 0 or array.max() > 255:
        raise RequestError(f"input '{name}' pixel values must lie in [0, 255], got "
                           f"[{array.min():g}, {array.max():g}]")
    if integer and not np.all(array == np.floor(array)):
        raise RequestError(f"input '{name}' must hold integers for this signature")
    # one layout ([N, H, W, C]) whatever the request used, so requests can be batched together
    return array.reshape(len(array), height, width, channels).astype(np.uint8 if integer else np.float32)


def format_response(outputs: dict[str, np.ndarray], row: bool) -> dict:
    """TF Serving's answer: ``predictions`` (one object per instance) or ``outputs`` (by name)."""
    lists = {k: v.tolist() for k, v in outputs.items()}
    if not row:
        return {"outputs": lists}
    n = len(next(iter(lists.values())))
    if len(lists) == 1:
        return {"predictions": next(iter(lists.values()))}
    return {"predictions": [{k: v[i] for k, v in lists.items()} for i in range(n)]}


