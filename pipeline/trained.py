"""A trained model's own plan: what evaluation and export judge and package it with.

A run logs its plan as ``plan.yaml``; a registered model or a run id brings that plan back
(:func:`plan_of`), so ``trainlab evaluate`` and ``trainlab export`` use the data, image size, channels and
normalization the model was trained with, whatever the current config says. The current config may
change only what does not change the model's input: :data:`SAFE_KEYS`. A key given beside the model
(on the command line or in a ``--config`` file passed explicitly) that is not safe and differs from the
model's plan (another dataset, size or channel count...) is refused in one line.
"""
from __future__ import annotations

import copy
import dataclasses

import yaml

from . import progress, tracking
from .config.loading import set_key
from .config.schema import Config
from .errors import ConfigError, DataError
from .plan import Plan, resolve_plan

# Keys the current config sets over a trained model's plan: where the store and the exports are, what to
# evaluate on (a test subset, test-time augmentation) and where decoded images are cached.
SAFE_KEYS = ("tracking.tracking_uri", "tracking.experiment", "tracking.registered_model", "tracking.run_name",
             "evaluate.tta", "export.dir", "export.tta", "data.limit_test", "data.cache_dir", "data.memory_budget",
             "data.on_bad_file")


def plan_of(uri: str, cfg: Config, given: frozenset[str] | set[str] = frozenset()) -> Plan:
    """The plan of the run that trained the model at ``uri``, with ``cfg``'s :data:`SAFE_KEYS` (a
    ``tracking.registered_model`` only where ``given``); a model no trainlab run logged (a file), or whose
    run's plan.yaml an older trainlab wrote in another layout, is judged by a plan of ``cfg`` (a line says so
    for the latter).

    Raises:
        ConfigError: a key in ``given`` that is not safe differs from the model's plan.
    """
    run_id = tracking.run_id_of(uri)
    text = tracking.run_text(run_id, "plan.yaml") if run_id else None
    if text is None:
        return resolve_plan(cfg)
    try:
        plan = Plan.from_dict(yaml.safe_load(text))
    except DataError as e:
        progress.say(f"note: the plan of run {run_id} cannot be read back ({e}); {uri} is judged with the current "
                     "config's data")
        return resolve_plan(cfg)
    ours, theirs = cfg.flat(), plan.config.flat()
    conflicts = [k for k in sorted(given) if k not in SAFE_KEYS and k in ours and ours[k] != theirs.get(k)]
    if conflicts:
        key = conflicts[0]
        raise ConfigError(f"{key}: {ours[key]!r} differs from the {theirs.get(key)!r} that model {uri} was trained "
                          f"with; it is judged and exported with its own plan (only {', '.join(SAFE_KEYS)} may "
                          "change): drop " + ", ".join(conflicts))
    config = copy.deepcopy(plan.config)
    for key in SAFE_KEYS:
        if key != "tracking.registered_model" or key in given:
            set_key(config, key, ours[key])
    return dataclasses.replace(plan, config=config)
