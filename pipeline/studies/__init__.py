"""The lecture's studies: each claim of "Training Neural Networks" as a sweep, a number and a verdict."""
from . import activations, init, learning_rate, preprocessing, regularization  # noqa: F401
from .base import INCONCLUSIVE, MODES, NOT_SUPPORTED, STUDIES, SUPPORTED, Finding, Plan, Results
from .runner import StudyReport, list_studies, run_study

__all__ = ["INCONCLUSIVE", "MODES", "NOT_SUPPORTED", "STUDIES", "SUPPORTED", "Finding", "Plan", "Results",
           "StudyReport", "list_studies", "run_study"]
