"""The lecture's studies: each claim of "Training Neural Networks" as a sweep over seeds, a number and a verdict."""
from . import activations, augmentation, init, learning_rate, loss, preprocessing, regularization, units  # noqa: F401
from .base import MODES, SEEDS, STUDIES, Claim, Finding, Plan, Results
from .report import StudyReport, write_index
from .rules import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Stat
from .runner import list_studies, run_study

__all__ = ["INCONCLUSIVE", "MODES", "NOT_SUPPORTED", "SEEDS", "STUDIES", "SUPPORTED", "Claim", "Finding", "Plan",
           "Results", "Stat", "StudyReport", "catalogue", "list_studies", "run_study", "write_index"]


def catalogue() -> list[tuple[str, str, Claim]]:
    """Every claim of the lecture trainlab measures: ``(study, claim id, claim)``."""
    return [(name, claim_id, claim) for name in sorted(STUDIES) for claim_id, claim in STUDIES[name].claims.items()]
