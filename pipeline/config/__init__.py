"""The configuration: one typed dataclass tree (schema), loaded and layered (loading), checked against
its allowed values (validation), with the dataset recipes and presets it starts from (recipes).

``load_config`` is the entry point; :func:`trainlab.pipeline.plan.resolve_plan` turns its result into
the plan every stage takes.
"""
from .loading import load_config
from .recipes import PRESETS
from .schema import Config

__all__ = ["Config", "PRESETS", "load_config"]
