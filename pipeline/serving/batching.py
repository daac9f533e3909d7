"""Server-side batching, as TF Serving's ``max_batch_size`` / ``batch_timeout_micros``: the requests that
arrive for one signature while a batch is open are joined into one model call, and each request gets its
own rows back.

A batch opens with its first request and takes requests until the model is free to run it (batches run
one at a time, in order, in a worker thread: the model call itself uses every core), until it holds
``max_size`` rows, or, with a ``timeout``, until that long after it opened. So a lone request runs at
once, and under load the requests that arrive during one model call make the next batch. A request with
more rows than ``max_size`` runs as a batch of its own. When a batched call fails (one undecodable image
among many), each request of the batch is retried alone, so only the bad one gets the error.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
from starlette.concurrency import run_in_threadpool


class _Batch:
    def __init__(self):
        self.items: list[tuple[dict[str, np.ndarray], asyncio.Future]] = []
        self.rows = 0
        self.closed = asyncio.Event()


class Batcher:
    """Joins concurrent calls of one signature (any callable from named arrays to named arrays)."""

    def __init__(self, max_size: int = 32, timeout: float = 0.0, observe: Callable[[int], None] | None = None):
        self.max_size, self.timeout, self.observe = max_size, timeout, observe
        self._open: dict[int, _Batch] = {}  # per signature (its id): the batch taking requests
        self._locks: dict[int, asyncio.Lock] = {}

    async def __call__(self, signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = len(next(iter(inputs.values())))
        key = id(signature)
        batch = self._open.get(key)
        if batch is not None and batch.rows + rows > self.max_size:
            self._close(key)
            batch = None
        if batch is None:
            batch = self._open[key] = _Batch()
            if self.timeout:
                asyncio.get_running_loop().call_later(self.timeout, self._close, key, batch)
            asyncio.get_running_loop().create_task(self._run(key, signature, batch))
        future = asyncio.get_running_loop().create_future()
        batch.items.append((inputs, future))
        batch.rows += rows
        if batch.rows >= self.max_size:
            self._close(key)
        return await future

    def _close(self, key: int, batch: _Batch | None = None) -> None:
        batch = batch or self._open.get(key)
        if batch is not None and self._open.get(key) is batch:
            del self._open[key]
        if batch is not None:
            batch.closed.set()

    async def _run(self, key: int, signature, batch: _Batch) -> None:
        async with self._locks.setdefault(key, asyncio.Lock()):  # the model is free: this batch is next
            if self.timeout:
                await batch.closed.wait()
            self._close(key, batch)
            items = batch.items
            if self.observe:
                self.observe(batch.rows)
            try:
                if len(items) == 1:
                    results = [await run_in_threadpool(signature, items[0][0])]
                else:
                    results = await run_in_threadpool(_call_joined, signature, [i for i, _ in items])
            except Exception as e:  # noqa: BLE001 - answered per request below
                if len(items) == 1:
                    items[0][1].set_exception(e)
                    return
                results = [await _alone(signature, i) for i, _ in items]
            for (_, future), result in zip(items, results):
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)


def _call_joined(signature, requests: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    joined = {k: np.concatenate([r[k] for r in requests]) for k in requests[0]}
    outputs = signature(joined)
    ends = np.cumsum([len(next(iter(r.values()))) for r in requests])
    return [{k: v[end - len(next(iter(r.values()))):end] for k, v in outputs.items()} for r, end in zip(requests, ends)]


async def _alone(signature, inputs):
    try:
        return await run_in_threadpool(signature, inputs)
    except Exception as e:  # noqa: BLE001 - this request's own error
        return e
