"""The Open Inference Protocol (KServe v2, also spoken by Triton, MLServer and OpenVINO Model Server):
its REST endpoints for the model the TF Serving API serves, beside that API.

    GET  /v2                                      server metadata
    GET  /v2/health/live, /v2/health/ready        200 when live / ready, 400 when not (ready turns false
                                                  as soon as the server is told to stop)
    GET  /v2/models/NAME[/versions/V]             model metadata: platform, inputs, outputs
    GET  /v2/models/NAME[/versions/V]/ready       200 when that version is ready
    POST /v2/models/NAME[/versions/V]/infer       typed tensors in, typed tensors out

An inference request holds one input, ``image``: pixels as ``FP32`` or ``UINT8`` with shape
``[N, H, W, C]`` (``data`` flat in row-major order, or nested), or encoded images (PNG, JPEG, GIF,
BMP) as ``BYTES`` with shape ``[N]``, each element base64 text, as OpenVINO Model Server takes them. With
the binary tensor extension (Triton's and KServe's: an ``Inference-Header-Content-Length`` header, :mod:`.binary`)
the values follow the JSON header as raw bytes instead, and outputs asked for binary come back that way.
Outputs: ``probabilities`` (FP32 ``[N, classes]``) and ``classes`` (INT64 ``[N]``), or those named in
``outputs``. Errors answer ``{"error": "..."}`` with a 4xx status.
"""
from __future__ import annotations

import math

import numpy as np
import orjson
import tensorflow as tf
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from trainlab import __version__

from . import binary
from .limits import Limits
from .repository import ModelRepository
from .requests import (
    INLINE_BODY,
    RequestError,
    bytes_batch,
    check_sender,
    json_response,
    pixel_batch,
    read_body,
    read_json,
)

# the signature each input datatype is answered by
SIGNATURES = {"FP32": "serving_default", "UINT8": "serving_uint8", "BYTES": "serving_b64"}
DATATYPES = {"float32": "FP32", "uint8": "UINT8", "int64": "INT64", "string": "BYTES"}


class OpenInference:
    """The v2 endpoints for the served models; ``ready`` is what the readiness probes answer. ``call``
    runs a signature on named arrays (batched or not)."""

    def __init__(self, repository: ModelRepository, call, limits: Limits = Limits()):
        self.repository, self.call, self.limits = repository, call, limits
        self.ready = True

    async def server(self, request: Request) -> Response:
        return json_response({"name": "trainlab", "version": __version__, "extensions": ["binary_tensor_data"]})

    async def health(self, request: Request) -> Response:
        what = request.path_params["what"]
        if what == "live":
            return json_response({"live": True})
        if what == "ready":
            return json_response({"ready": self.ready}, 200 if self.ready else 400)
        return json_response({"error": f"unknown path {request.url.path}"}, 404)

    async def models(self, request: Request) -> Response:
        parts = request.path_params["path"].split("/")
        action = parts.pop() if parts[-1] in ("ready", "infer") else None
        try:
            if len(parts) not in (1, 3) or (len(parts) == 3 and parts[1] != "versions"):
                raise RequestError(f"unknown path /v2/models/{'/'.join(parts)}", 404)
            model, version, served = self.repository.find(parts[0], parts[2] if len(parts) == 3 else None)
            if action == "infer":
                if request.method != "POST":
                    raise RequestError("infer takes POST", 405)
                return await self._infer(request, model.name, version, served)
            if request.method != "GET":
                raise RequestError(f"{request.method} is not allowed here; use GET", 405)
            if action == "ready":
                return json_response({"name": model.name, "ready": self.ready}, 200 if self.ready else 400)
            return json_response(self._metadata(model.name, sorted(model.versions, key=int), served))
        except RequestError as e:
            return json_response({"error": str(e)}, e.status, e.headers)

    @staticmethod
    def _metadata(name: str, versions: list[str], served) -> dict:
        signature = served.signatures["serving_default"]
        return {"name": name, "versions": versions, "platform": "tensorflow_savedmodel",
                "inputs": [{"name": "image", "datatype": "FP32", "shape": [-1, *served.image_shape],
                            "parameters": {"also": "UINT8 [-1, H, W, C]; BYTES [-1] (base64 PNG/JPEG/GIF/BMP)"}}],
                "outputs": [{"name": k, "datatype": DATATYPES.get(v.dtype.name, v.dtype.name.upper()),
                             "shape": v.shape} for k, v in signature.outputs.items()],
                "parameters": {"class_names": served.class_names}}

    async def _infer(self, request: Request, name: str, version: str, served) -> Response:
        def parse(body, binary: bytes | None = None) -> tuple:  # the arrays and what the answer needs, not the JSON
            body = _checked(body)
            return (*_image_input(body["inputs"], served.image_shape, self.limits, binary), body.get("outputs"),
                    body.get("id"), "id" in body, _binary_output(body))
        header = request.headers.get(binary.HEADER)
        parsed = await (read_json(request, parse) if header is None else self._read_binary(request, header, parse))
        datatype, values, wanted_outputs, request_id, has_id, all_binary = parsed
        signature = served.signatures[SIGNATURES[datatype]]
        key = next(iter(signature.inputs))
        try:
            outputs = await self.call(signature, {key: values})
        except tf.errors.InvalidArgumentError as e:  # e.g. image bytes that do not decode
            raise RequestError(f"the model rejected the input: {e.message.splitlines()[0][:300]}") from None
        names = [o.get("name") if isinstance(o, dict) else None for o in wanted_outputs or []]
        wanted = {(w if isinstance(w, str) else repr(w)[:100]): o for w, o in zip(names, wanted_outputs or [])}
        unknown = [w for w in wanted if w not in outputs]
        if unknown:
            raise RequestError(f"unknown output(s) {unknown}; outputs: {', '.join(outputs)}")
        answer = {"model_name": name, "model_version": version, "outputs": []}
        if has_id:
            answer["id"] = request_id
        blobs = []
        for k, v in outputs.items():
            if wanted and k not in wanted:
                continue
            tensor = {"name": k, "shape": list(v.shape), "datatype": DATATYPES.get(v.dtype.name, "FP32")}
            if all_binary or _binary_output(wanted.get(k)):
                blobs.append(binary.encode(v, tensor["datatype"]))
                tensor["parameters"] = {"binary_data_size": len(blobs[-1])}
            else:
                tensor["data"] = v.ravel().tolist()
            answer["outputs"].append(tensor)
        return binary.response(answer, blobs) if blobs else json_response(answer)

    async def _read_binary(self, request: Request, header: str, parse) -> tuple:
        """The binary tensor extension: a JSON header of ``Inference-Header-Content-Length`` bytes, then the inputs'
        bytes in order (``parameters.binary_data_size`` each)."""
        check_sender(request, binary=True)
        body = await read_body(request, self.limits)
        if not header.isdigit() or int(header) > len(body):
            raise RequestError(f"{binary.HEADER} must be the size of the JSON header, at most the body's {len(body)} "
                               f"bytes; got {header[:30]!r}")
        size = int(header)

        def decode():
            try:
                head = orjson.loads(body[:size])
            except orjson.JSONDecodeError as e:
                raise RequestError(f"the inference header is not valid JSON: {e}") from None
            return parse(head, body[size:])
        if len(body) <= INLINE_BODY:  # checking a batch of pixels takes milliseconds: off the event loop past this
            return decode()
        try:
            return await run_in_threadpool(decode)
        except RequestError as e:
            raise RequestError(str(e), e.status, e.headers) from None


def _checked(body) -> dict:
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise RequestError("request body must be a JSON object with an 'inputs' list")
    if body.get("outputs") is not None and not isinstance(body["outputs"], list):
        raise RequestError("'outputs' must be a list of {\"name\": ...}")
    return body


def _binary_output(spec) -> bool:
    """Whether a request (``parameters.binary_data_output``) or one of its outputs (``parameters.binary_data``)
    asks for binary data."""
    parameters = spec.get("parameters") if isinstance(spec, dict) else None
    return isinstance(parameters, dict) and (parameters.get("binary_data_output") is True
                                             or parameters.get("binary_data") is True)


def _image_input(inputs: list, image_shape, limits: Limits = Limits(),
                 blob: bytes | None = None) -> tuple[str, np.ndarray]:
    """The one input, ``image``, checked against its declared shape and datatype and validated as the TF
    Serving API validates pixels and encoded images (before TensorFlow sees anything); its values are ``data``
    or, with ``parameters.binary_data_size``, the request's binary part ``blob``."""
    if len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise RequestError("'inputs' must hold one tensor, named 'image'")
    tensor = inputs[0]
    if blob is not None:
        tensor = {**tensor, "data": binary.input_data(tensor, blob)}
    missing = [k for k in ("name", "shape", "datatype", "data") if k not in tensor]
    if missing:
        raise RequestError(f"input tensor lacks {', '.join(missing)}")
    if tensor["name"] != "image":
        raise RequestError(f"unknown input '{tensor['name']}'; the input is 'image'")
    datatype, shape, data = tensor["datatype"], tensor["shape"], tensor["data"]
    if not isinstance(datatype, str) or datatype not in SIGNATURES:
        raise RequestError(f"input 'image' datatype must be one of {', '.join(SIGNATURES)}, got {datatype!r:.100}")
    if not (isinstance(shape, list) and shape and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise RequestError(f"input 'image' shape must be a list of sizes, got {shape!r}")
    if isinstance(data, binary.Decoded):
        return datatype, binary.checked(data, datatype, shape, image_shape, limits)
    if datatype == "BYTES":
        if len(shape) != 1 or not isinstance(data, list) or len(data) != shape[0] \
                or not all(isinstance(d, str) for d in data):
            raise RequestError("BYTES input 'image' must have shape [N] and N base64 strings as data")
        return datatype, bytes_batch("image", [{"b64": d} for d in data], limits)
    try:
        flat = np.asarray(data, dtype=np.float64).ravel()
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise RequestError("input 'image' data must be numbers (flat, or nested rectangular lists)") from None
    if flat.size != math.prod(shape):
        raise RequestError(f"input 'image' holds {flat.size} values; shape {shape} needs {math.prod(shape)}")
    images = flat.reshape(shape)
    return datatype, pixel_batch("image", list(images), datatype == "UINT8", image_shape, limits)
