"""A study's setting in words, generated from what it runs (its resolved config, its conditions, its
probes), never typed: the "Setting" line of every claim."""
from __future__ import annotations

from ...config.loading import load_config
from ...config.schema import Config
from .base import TUNING_SEED, Plan


def describe(plan: Plan, base: dict, config_path: str | None = None) -> str:
    """``base``: the config keys every run of the study shares (the study's and the command line's)."""
    cfg = load_config(config_path, base, "default")
    conditions = sorted({k for p in plan.points for k in p.overrides} - {"train.seed"})
    probes = sorted({_probe(spec) for p in plan.points for spec in p.probes})
    parts = [_data(cfg), _model(cfg), _training(cfg)]
    if conditions:
        parts.append("the conditions set " + ", ".join(f"`{k}`" for k in conditions))
    if plan.tune is not None:
        parts.append(f"`{plan.tune.key}` chosen per condition on seed {TUNING_SEED} by {plan.tune.metric} "
                     f"({'lower' if plan.tune.lower else 'higher'} is better) from "
                     + ", ".join(f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in plan.tune.values))
    if probes:
        parts.append("probes: " + "; ".join(probes))
    return "; ".join(parts)


def _data(cfg: Config) -> str:
    d = cfg.data
    images = f"the first {d.limit_train}" if d.limit_train else "all the"
    held = f"{d.validation_size:g}" if isinstance(d.validation_size, (int, float)) else "10%, at most 5,000"
    return f"{d.dataset}: {images} training images, {held} of them held out for validation, {d.normalization} inputs"


def _model(cfg: Config) -> str:
    m = cfg.model
    options = [("width", m.width), ("depth", m.depth), ("activation", m.activation), ("initializer", m.initializer),
               ("init std", m.init_std), ("normalization", m.normalization), ("dropout", m.dropout)]
    return f"model `{m.name}` (" + ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                                              for k, v in options if v is not None) + ")"


def _training(cfg: Config) -> str:
    t = cfg.train
    optimizer = f"{t.optimizer} (momentum {t.momentum:g})" if t.optimizer == "sgd" else t.optimizer
    text = (f"{optimizer} at {t.learning_rate:g}, {t.lr_schedule} schedule, {t.epochs} epoch(s) of batch "
            f"{t.batch_size}, {t.precision}")
    if t.clip_norm:
        text += f", gradients clipped to norm {t.clip_norm:g}"
    augment = cfg.augment if isinstance(cfg.augment, list) else []
    return text + (", augmentation " + ", ".join(op["name"] for op in augment) if augment else ", no augmentation")


def _probe(spec: dict) -> str:
    extra = ", ".join(f"{k} {v}" for k, v in sorted(spec.items()) if k != "name")
    return spec["name"] + (f" ({extra})" if extra else "")
