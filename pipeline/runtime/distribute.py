"""Training across devices and hosts on tf.distribute: which strategy, how many replicas, who is chief.

- ``none``: the default strategy, one device.
- ``mirrored``: MirroredStrategy over every local GPU; on a CPU-only machine over ``train.devices``
  logical CPU devices (how it is tested here). Keras ``fit`` drives it.
- ``multi_worker``: MultiWorkerMirroredStrategy, one process per host, the cluster read from
  ``TF_CONFIG``. Keras 3 ``fit`` fails under it (keras-team/keras#20585), so
  :func:`pipeline.training.loop.fit_distributed` drives it. Only the chief logs to MLflow, registers and exports.

- ``data_parallel`` (JAX backend): ``keras.distribution.DataParallel`` over every JAX device (host CPU
  devices come from ``XLA_FLAGS=--xla_force_host_platform_device_count=N``); across hosts,
  ``keras.distribution.initialize()`` reads the ``KERAS_DISTRIBUTION_*`` variables. Keras ``fit``
  drives it; process 0 is the chief.

``train.batch_size`` is the global batch (split across replicas); ``train.lr_scaling: linear``
multiplies the learning rate by the number of replicas.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from ..config.schema import STRATEGIES
from ..errors import ConfigError


@dataclass(frozen=True)
class DistributionSpec:
    """Where a run trains, as plain values: what the plan records (``plan.yaml``) and the stages read.
    :func:`started` turns it into the live :class:`Distribution` (its tf.distribute strategy)."""

    kind: str = "none"
    replicas: int = 1
    workers: int = 1
    worker_index: int = 0               # the chief first, then the workers: tf.distribute's input pipeline id
    is_chief: bool = True
    devices: tuple[str, ...] = ()       # the replicas' devices as shown (CPU:0, GPU:1, a JAX device)

    @property
    def custom_loop(self) -> bool:
        """Keras fit cannot drive MultiWorkerMirroredStrategy in Keras 3: trainlab's own loop does."""
        return self.kind == "multi_worker"

    def input_share(self, streamed: bool) -> tuple[int, int] | None:
        """``(index, count)``: the share of every training batch this worker reads itself: each JAX process
        (Keras cannot split trainlab's inputs: their batch size is not static), and each multi_worker worker
        of images streamed from disk (one replica per worker, as on CPUs; arrays the strategy splits)."""
        if self.kind == "data_parallel" and self.workers > 1 or streamed and self.custom_loop and \
                self.replicas == self.workers:
            return self.worker_index, self.workers
        return None

    def describe(self) -> str:
        if self.kind == "none":
            return "one device"
        where = f", worker {self.worker_index} of {self.workers}{' (chief)' if self.is_chief else ''}" \
            if self.workers > 1 or self.kind == "multi_worker" else ""
        return f"{self.kind}: {self.replicas} replica(s) [{', '.join(self.devices)}]{where}"

    def params(self) -> dict:
        return {"distribution.strategy": self.kind, "distribution.replicas": self.replicas,
                "distribution.workers": self.workers}


@dataclass
class Distribution:
    """A :class:`DistributionSpec` started in this process: its strategy, and what needs it."""

    spec: DistributionSpec
    strategy: tf.distribute.Strategy

    def scope(self):
        return self.strategy.scope()

    def own_share(self, dataset: tf.data.Dataset) -> None:
        """Declare ``dataset`` this process's own already: JAX data parallelism must not split it again."""
        if self.spec.kind == "data_parallel" and self.spec.workers > 1:
            keras.distribution.distribution().shares.append(dataset)

    def alone(self, model: keras.Model, build) -> keras.Model:
        """The trained ``model`` as this process can run it alone: of JAX processes (whose every call needs
        all of them) a copy, the distribution turned off, the network built again by ``build()``, the
        weights copied; else the model itself."""
        if self.spec.kind != "data_parallel" or self.spec.workers == 1:
            return model
        weights = model.get_weights()
        keras.distribution.set_distribution(None)
        copy = build()
        copy.set_weights(weights)
        return copy


# The strategies this process has started, by (kind, devices): a process-wide resource, as the runtime is.
_STARTED: dict[tuple, Distribution] = {}


def spec_for(kind: str, devices: int | None = None) -> DistributionSpec:
    """What ``train.strategy`` (and ``train.devices``) gives on this machine. Call it before any other
    TensorFlow work: logical CPU devices are configured here, and the strategies whose collectives
    must be set up before the runtime starts (multi_worker, JAX's data_parallel) are started here, once per
    process (:func:`started` hands them out).

    Raises:
        ConfigError: an unknown strategy, a missing/invalid TF_CONFIG, or devices asked too late.
    """
    backend = keras.backend.backend()
    if kind == "data_parallel":
        if backend != "jax":
            raise ConfigError("train.strategy=data_parallel runs on the JAX backend: trainlab --backend jax ...")
        return _remember(_data_parallel(devices)).spec
    if backend != "tensorflow" and kind != "none":
        raise ConfigError(f"train.strategy={kind} is tf.distribute and needs the TensorFlow backend; "
                          "under JAX use data_parallel")
    if kind == "none":
        return DistributionSpec()
    if kind == "mirrored":
        names = _mirrored_devices(devices)
        return DistributionSpec("mirrored", len(names), devices=tuple(n.strip("/").upper() for n in names))
    if kind == "multi_worker":
        return _remember(_multi_worker()).spec
    raise ConfigError(f"train.strategy must be one of {', '.join(STRATEGIES)}; got {kind!r}")


def started(spec: DistributionSpec) -> Distribution:
    """The live strategy of ``spec`` in this process: the one :func:`spec_for` started, else started now."""
    key = (spec.kind, spec.devices)
    if key not in _STARTED:
        if spec.kind == "none":
            return Distribution(spec, tf.distribute.get_strategy())
        if spec.kind == "mirrored":
            strategy = tf.distribute.MirroredStrategy([f"/{name.lower()}" for name in spec.devices])
            _STARTED[key] = Distribution(spec, strategy)
        elif spec.kind == "multi_worker":
            _remember(_multi_worker())
        else:
            _remember(_data_parallel(len(spec.devices)))
    return _STARTED[key]


def _remember(dist: Distribution) -> Distribution:
    return _STARTED.setdefault((dist.spec.kind, dist.spec.devices), dist)


def _multi_worker() -> Distribution:
    cluster, task_type, index = _tf_config()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    chief = task_type == "chief" or (task_type == "worker" and index == 0 and "chief" not in cluster)
    in_cluster = 0 if task_type == "chief" else index + ("chief" in cluster)  # as tf.distribute numbers them
    names = tuple(d.rsplit("/", 1)[-1].replace("device:", "") for d in strategy.extended.worker_devices)
    spec = DistributionSpec("multi_worker", strategy.num_replicas_in_sync, workers, in_cluster, chief, names)
    return Distribution(spec, strategy)


def _data_parallel(devices: int | None) -> Distribution:
    import jax  # the jax extra: only under KERAS_BACKEND=jax
    if os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES"):  # several hosts: join them first
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU processes sum gradients over gloo
        keras.distribution.initialize()
    found = keras.distribution.list_devices()
    chosen = found if devices is None else found[:devices]
    if devices is not None and len(found) < devices:
        raise ConfigError(f"train.devices={devices} but JAX sees {len(found)} device(s); on a CPU set "
                          f"XLA_FLAGS=--xla_force_host_platform_device_count={devices} before starting")
    keras.distribution.set_distribution(SharedInputs(devices=chosen))
    spec = DistributionSpec("data_parallel", len(chosen), jax.process_count(), jax.process_index(),
                            jax.process_index() == 0, tuple(str(d) for d in chosen))
    return Distribution(spec, tf.distribute.get_strategy())


class SharedInputs(keras.distribution.DataParallel):
    """Keras's data parallelism, which splits every dataset it is given among the processes, except those
    declared a process's own share (streamed images: each process decodes only its part)."""

    def __init__(self, devices):
        super().__init__(devices=devices)
        self.shares: list[tf.data.Dataset] = []

    def distribute_dataset(self, dataset):
        return dataset if any(dataset is share for share in self.shares) else super().distribute_dataset(dataset)


def _mirrored_devices(devices: int | None) -> list[str]:
    """Every local GPU (or the first ``devices`` of them); without GPUs, ``devices`` logical CPUs."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return [f"/gpu:{i}" for i in range(len(gpus) if devices is None else min(devices, len(gpus)))]
    n = devices or 1
    if n > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
        except RuntimeError:  # the runtime has started: fine if it was started with enough devices
            if len(tf.config.list_logical_devices("CPU")) < n:
                raise ConfigError(f"train.devices={n} logical CPU devices must be set before TensorFlow starts; "
                                  "run the training command in a fresh process") from None
    return [f"/cpu:{i}" for i in range(n)]


def _tf_config() -> tuple[dict, str, int]:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ConfigError("train.strategy=multi_worker needs TF_CONFIG, e.g. "
                          '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", '
                          '"index": 0}}; one process per host, each with its own task index')
    try:
        config = json.loads(raw)
        cluster, task = config["cluster"], config["task"]
        task_type, index = task["type"], int(task["index"])
        members = cluster[task_type]
        if not 0 <= index < len(members):
            raise ValueError(f"task index {index} outside the {len(members)} {task_type}(s)")
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"TF_CONFIG is not a valid cluster spec: {e}") from None
    return cluster, task_type, index


def weights_digest(weights: list[np.ndarray]) -> str:
    """A short hash of the model's weights: equal on every worker when the replicas stayed in sync."""
    h = hashlib.sha256()
    for w in weights:
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()[:16]
