"""Batched augmentation ops for tf.data, in a registry.

Each op samples per-image parameters from a seed, then applies them purely; a chain of ops is
built from the config's list of ``{name: ..., p: ..., **parameters}`` mappings.
"""
from . import erasing, geometric, keras_layers, mixing, photometric  # noqa: F401  (register the ops)
from .chain import AugmentChain, validate_specs
from .registry import (
                       create_op,
                       describe_augmentation,
                       list_augmentations,
                       list_prefixes,
                       op_parameters,
                       register_op,
                       register_prefix,
)

__all__ = ["AugmentChain", "create_op", "describe_augmentation", "list_augmentations", "list_prefixes", "op_parameters",
           "register_op", "register_prefix", "validate_specs"]
