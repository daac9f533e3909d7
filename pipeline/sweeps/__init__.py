"""Sweeps: many configs as one MLflow parent run with a child run per point, compared side by side."""
from pipeline.sweeps.compare import Comparison, Row
from pipeline.sweeps.runner import SweepResult, run_sweep
from pipeline.sweeps.spec import Point, SweepSpec, load_spec

__all__ = ["Comparison", "Point", "Row", "SweepResult", "SweepSpec", "load_spec", "run_sweep"]
