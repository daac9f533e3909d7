"""Probes: measurements taken inside a training run, logged to it as ``probe.*`` metrics.

Each probe is a Keras callback built by name from a registry (``{"name": "dead_units"}``), so a sweep
point can ask for them across process boundaries. Per-layer values are logged as one metric stepped by
layer index; per-batch values stepped by global batch number. The registry is filled by the modules
below: ``curves`` (the training curve), ``units`` (hidden units), ``evaluation`` (the model evaluated).
"""
from . import curves, evaluation, units  # noqa: F401  (each registers its probes)
from .base import PROBES, ProbeData, cross_entropy, hidden_activations, hidden_outputs, make_probes, register_probe
from .units import unit_derivatives

__all__ = ["PROBES", "ProbeData", "cross_entropy", "hidden_activations", "hidden_outputs", "make_probes",
           "register_probe", "unit_derivatives"]
