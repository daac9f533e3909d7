"""Sweeps: many configs as one MLflow parent run with a child run per point, compared side by side."""
from .compare import Comparison, Row
from .parent import SweepResult
from .runner import run_sweep
from .spec import Point, SweepSpec, load_spec

__all__ = ["Comparison", "Point", "Row", "SweepResult", "SweepSpec", "load_spec", "run_sweep"]
