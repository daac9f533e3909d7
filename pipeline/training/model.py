"""The planned model, built for training: seeded by ``train.seed``, where the plan's strategy places its
variables, in its dtype policy, its batch norm's momentum the plan's and synchronized across replicas
(not under JAX, which computes it on the global batch), a pretrained backbone copied in and set for
the first epoch. The plan itself holds no model (:mod:`..plan`); each training builds its own, so a
plan trained twice starts from the same initial weights both times."""
from __future__ import annotations

import keras

from trainlab.models.parts import block_pattern, set_phase

from .. import networks
from .. import pretrained as pretraining
from ..plan import Plan
from ..runtime import distribute, dtype_policy


def build(plan: Plan) -> keras.Model:
    """The model ``plan`` describes, ready to compile."""
    cfg = plan.config
    dist = distribute.started(plan.distribution)
    keras.utils.set_random_seed(cfg.train.seed)
    with dist.scope(), dtype_policy.policy(plan.dtype_policy):
        model = networks.build_model(cfg.model.name, plan.model_options, plan.data)
        for layer in _nested_layers(model):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = plan.bn_momentum
        if dist.spec.replicas > 1 and dist.spec.kind != "data_parallel":
            model = synchronized_batch_norm(model)
        if plan.pretrained:
            _start_from(model, plan)
    return model


def _start_from(model: keras.Model, plan: Plan) -> None:
    """The pretrained backbone in ``model``, frozen for ``train.freeze_epochs`` (the first phase)."""
    cfg, pretrained = plan.config, plan.pretrained
    if pretrained.copies_a_model:
        networks.copy_pretrained(model, pretraining.load_source(pretrained.spec, cfg.tracking), pretrained.spec)
    set_phase(model, frozen=cfg.train.freeze_epochs > 0, unfreeze=cfg.train.unfreeze,
              pattern=block_pattern(cfg.model.name), train_bn=cfg.train.backbone_bn == "train")


def _nested_layers(model):
    """Every layer of ``model``, inside nested models (ensemble members) too."""
    for layer in getattr(model, "layers", []):
        yield layer
        yield from _nested_layers(layer)


def synchronized_batch_norm(model: keras.Model) -> keras.Model:
    """``model`` rebuilt with every batch norm layer computing its statistics over the global batch of
    all replicas (nested models, ensemble members, included), so every replica keeps the same averages."""
    config = model.get_config()
    _synchronize(config)
    return model.__class__.from_config(config)


def _synchronize(config: dict) -> None:
    for layer in config["layers"]:
        if layer["class_name"] == "BatchNormalization":
            layer["config"]["synchronized"] = True
        elif "layers" in layer.get("config", {}):
            _synchronize(layer["config"])
