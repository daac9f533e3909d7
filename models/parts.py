"""The parts of a classifier that fine-tuning works on: its backbone (every layer before the
classification head), the backbone's blocks, and the trainable state of each phase.

A trainlab network ends in a dense layer named ``probabilities``; the Keras Applications models nest
their backbone as one model named ``backbone`` (``models.backbones``). A served model (raw pixels ->
normalization -> network -> calibration) holds the network as a nested model: :func:`classifier`
finds it.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

import keras

from .backbones import BACKBONE, BACKBONES
from .errors import OptionError

HEAD = "probabilities"
TRAINLAB_BLOCKS = r"^((?:stage\d+_)?block\d+)_"  # cnn: block0_conv0; resnet: stage1_block2_conv0


def block_pattern(model_name: str) -> str:
    """The regex whose group 1 names a layer's block in this model's backbone."""
    return BACKBONES[model_name].block_pattern if model_name in BACKBONES else TRAINLAB_BLOCKS


def classifier(model: keras.Model) -> keras.Model:
    """The network inside ``model`` whose last layer is the classification head (``model`` itself for a
    network as built; the nested one for a served model)."""
    if any(layer.name == HEAD for layer in model.layers):
        return model
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            try:
                return classifier(layer)
            except OptionError:
                continue
    raise OptionError(f"model {model.name!r} has no classification head (a dense layer named {HEAD!r})")


def backbone_layers(network: keras.Model) -> list[keras.layers.Layer]:
    """The layers of the backbone, in order: those of the nested ``backbone`` model, else every layer
    before the head."""
    names = [layer.name for layer in network.layers]
    if BACKBONE in names:
        return list(network.get_layer(BACKBONE).layers)
    return [layer for layer in network.layers[: names.index(HEAD)] if not isinstance(layer, keras.layers.InputLayer)]


def with_weights(layers: Iterable[keras.layers.Layer]) -> list[keras.layers.Layer]:
    return [layer for layer in layers if layer.weights]


def copy_backbone(source: keras.Model, target: keras.Model, described: str) -> None:
    """Set the backbone of ``target`` to the weights of the backbone of ``source`` (both networks or served
    models), layer by layer in order.

    Raises:
        OptionError: the backbones differ: their layer counts, or a layer's weights' shapes (named).
    """
    theirs, ours = (with_weights(backbone_layers(classifier(m))) for m in (source, target))
    if len(theirs) != len(ours):
        raise OptionError(f"the backbone of {described} has {len(theirs)} layers with weights, this model's "
                          f"{len(ours)}: not the same network (model.name)")
    for a, b in zip(theirs, ours):
        shapes_a, shapes_b = ([tuple(w.shape) for w in layer.weights] for layer in (a, b))
        if shapes_a != shapes_b:
            raise OptionError(f"layer {b.name}: weights of shape {_shapes(shapes_a)} in {described} do not fit "
                              f"its {_shapes(shapes_b)}")
        b.set_weights(a.get_weights())


def _shapes(shapes: list[tuple]) -> str:
    return ", ".join(str(s) for s in shapes)


def blocks(layers: list[keras.layers.Layer], pattern: str) -> list[list[keras.layers.Layer]]:
    """``layers`` grouped into blocks: a layer whose name ``pattern`` matches starts or joins the block the
    match names; one that does not joins the block before it (the stem, before the first, is a block)."""
    groups: list[list] = []
    keys: list[str] = []
    for layer in layers:
        match = re.search(pattern, layer.name)
        key = match.group(1) if match else (keys[-1] if keys else "stem")
        if not keys or key != keys[-1]:
            keys.append(key)
            groups.append([])
        groups[-1].append(layer)
    return groups


def set_phase(network: keras.Model, frozen: bool, unfreeze: str | int = "all", pattern: str = TRAINLAB_BLOCKS,
              train_bn: bool = False) -> None:
    """The trainable state of one fine-tuning phase: ``frozen``, no layer of the backbone trains; else those
    of the last ``unfreeze`` blocks (``"all"``: every block). The backbone's batch norm trains only with
    ``train_bn`` (fastai's way) and never while frozen; otherwise it stays in inference mode with the
    statistics it was pretrained with (a layer that is not trainable runs in inference mode in Keras 3),
    as the Keras transfer-learning guide advises."""
    layers = backbone_layers(network)
    if BACKBONE in [layer.name for layer in network.layers]:
        network.get_layer(BACKBONE).trainable = True  # the flags below decide, layer by layer
    if frozen:
        thawed = set()
    elif unfreeze == "all":
        thawed = {id(layer) for layer in layers}
    else:
        thawed = {id(layer) for block in blocks(layers, pattern)[-int(unfreeze):] for layer in block}
    for layer in layers:
        batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = id(layer) in thawed and (train_bn or not batch_norm)
