"""Pretrained-network family: Keras Applications backbones with a new classification head.

Each model takes raw 0-255 pixels: the backbone's own input preprocessing is inside it (so
``data.normalization`` is ``none`` for these models, and export and serving keep taking raw pixels),
gray images are repeated to three channels, and the head is global average pooling, dropout and a
float32 softmax dense layer. The backbone is one nested model named ``backbone``; ``weights`` is what
Keras Applications accepts: ``None`` (random), ``"imagenet"`` (Keras's downloader and its cache,
``$KERAS_HOME/models``) or the path of a backbone weights file.

:data:`BACKBONES` is a static table (parameters without the head, the native input size, where the
blocks are in the layer names), so listing them builds nothing.
"""
from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass

import keras

from trainlab import compat

from .blocks import check_range, image_input
from .registry import register_model

BACKBONE = "backbone"  # the nested model's name (models.parts finds the backbone by it)
MIN_SIDE = 32  # the smallest image keras.applications builds these networks for


@dataclass(frozen=True)
class Backbone:
    application: str        # the keras.applications constructor
    parameters: int         # of the backbone without its ImageNet classifier
    native_size: int        # the side of the images its ImageNet weights were trained on
    block_pattern: str      # a regex whose group 1 names a layer's block (``train.unfreeze: K`` counts them)
    preprocessing: dict     # the constructor's options that put its own preprocessing inside the model
    rescale: tuple | None = None  # (scale, offset) in front of a backbone that has no preprocessing inside


BACKBONES: dict[str, Backbone] = {
    "mobilenet_v3_small": Backbone("MobileNetV3Small", 939_120, 224, r"^(expanded_conv(?:_\d+)?)_",
                                   {"include_preprocessing": True}),
    "mobilenet_v3_large": Backbone("MobileNetV3Large", 2_996_352, 224, r"^(expanded_conv(?:_\d+)?)_",
                                   {"include_preprocessing": True}),
    "efficientnet_b0": Backbone("EfficientNetB0", 4_049_571, 224, r"^(block\d+[a-z])_", {}),
    "efficientnet_v2_b0": Backbone("EfficientNetV2B0", 5_919_312, 224, r"^(block\d+[a-z])_",
                                   {"include_preprocessing": True}),
    "resnet50_v2": Backbone("ResNet50V2", 23_564_800, 224, r"^(conv\d_block\d+)_", {},
                            rescale=(1 / 127.5, -1.0)),  # keras.applications.resnet_v2.preprocess_input
    "convnext_tiny": Backbone("ConvNeXtTiny", 27_820_128, 224, r"_(stage_\d+_block_\d+)_",
                              {"include_preprocessing": True}),
}


def _create(name: str, *, input_shape=(224, 224, 3), num_classes: int = 10, dropout: float = 0.2,
            weights: str | None = None) -> keras.Model:
    spec = BACKBONES[name]
    check_range("dropout", dropout, 0.0, 1.0)
    if min(input_shape[:2]) < MIN_SIDE:  # Keras Applications' own check names the RGB shape it made
        raise ValueError(f"{name} needs images of at least {MIN_SIDE}x{MIN_SIDE}, got "
                         f"{input_shape[0]}x{input_shape[1]}: set data.image_size (its native size is "
                         f"{spec.native_size}x{spec.native_size})")
    inputs = image_input(input_shape)
    x = inputs
    if input_shape[-1] == 1:  # gray: the backbone's first convolution expects RGB
        x = keras.layers.Concatenate(name="gray_to_rgb")([x, x, x])
    if spec.rescale:
        x = keras.layers.Rescaling(*spec.rescale, name="preprocess")(x)
    backbone = getattr(keras.applications, spec.application)(
        include_top=False, weights=weights, input_shape=(*input_shape[:2], 3), **spec.preprocessing)
    backbone.name = BACKBONE  # not the constructor's ``name``: EfficientNetV2 looks its blocks up by it
    x = backbone(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


@dataclass(frozen=True)
class WeightsFile:
    """The ImageNet weights file Keras Applications downloads for a backbone without its classifier."""
    name: str        # the file's name in Keras's cache (``$KERAS_HOME/models``)
    origin: str      # the URL Keras downloads it from
    file_hash: str   # what Keras checks it against: sha256 if 64 hex digits, else md5 (Keras's own rule)

    @property
    def algorithm(self) -> str:
        return "sha256" if len(self.file_hash) == 64 else "md5"


class _Asked(Exception):
    def __init__(self, weights: WeightsFile):
        self.weights = weights


def weights_file(name: str) -> WeightsFile:
    """What Keras Applications would download for backbone ``name`` with ``weights="imagenet"``: asked of Keras
    itself (its ``get_file`` call is caught before it reaches the network), so the file, URL and hash are the
    installed Keras's, whatever its version."""
    file_utils = compat.keras_applications_downloader()
    spec, real = BACKBONES[name], file_utils.get_file
    signature = inspect.signature(real)

    def ask(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        raise _Asked(WeightsFile(a["fname"], a["origin"], a["file_hash"] or a["md5_hash"]))

    file_utils.get_file = ask
    try:
        with warnings.catch_warnings():  # built small, as asking is all it is for: no "not 224" warning
            warnings.simplefilter("ignore")
            getattr(keras.applications, spec.application)(include_top=False, weights="imagenet",
                                                          input_shape=(MIN_SIDE, MIN_SIDE, 3), **spec.preprocessing)
    except _Asked as asked:
        return asked.weights
    finally:
        file_utils.get_file = real
    raise RuntimeError(f"keras.applications {spec.application} asked for no weights file")


def _register(name: str) -> None:
    spec = BACKBONES[name]

    def factory(**options) -> keras.Model:
        return _create(name, **options)

    factory.__name__ = name
    factory.__doc__ = (f"keras.applications {spec.application} ({spec.parameters / 1e6:.1f}M parameters, "
                       f"native {spec.native_size}x{spec.native_size}) with a new head: pool, dropout, softmax.")
    register_model(factory)


for _name in BACKBONES:
    _register(_name)
