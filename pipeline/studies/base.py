"""What a study is: a planned sweep, the lecture's claims checked on its results by stated rules.

A study class gives ``plan(mode)`` (the sweep: base overrides and points, sized by mode),
``findings(results)`` (one :class:`Finding` per claim: the numbers and a verdict) and
``figures(results)`` (the report's plots). :func:`run_study` runs and reports it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from .. import tracking
from ..sweeps import Comparison, Point, Row

MODES = ("smoke", "default", "full")
SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"

STUDIES: dict[str, type] = {}


def register_study(cls):
    """Register a study class under its ``name``; a duplicate name is a programming error."""
    if cls.name in STUDIES:
        raise ValueError(f"study {cls.name!r} is already registered")
    STUDIES[cls.name] = cls
    return cls


@dataclass
class Plan:
    """The sweep a study runs in one mode, and what the report says about its budget."""

    base: dict
    points: list[Point]
    budget: str


@dataclass
class Finding:
    claim: str          # the lecture's statement
    measured: str       # the numbers behind the verdict
    verdict: str        # supported | not supported | inconclusive
    rule: str           # how the verdict follows from the numbers


# --- verdict rules: pure functions of measured numbers --------------------------------------------

def at_least(value: float | None, supported: float, refuted: float) -> tuple[str, str]:
    """Supported if ``value >= supported``; not supported if ``value < refuted``; else inconclusive."""
    rule = f"supported if >= {supported:g}, not supported if < {refuted:g}, else inconclusive"
    if value is None or math.isnan(value):
        return INCONCLUSIVE, rule + " (not measured)"
    return (SUPPORTED if value >= supported else NOT_SUPPORTED if value < refuted else INCONCLUSIVE), rule


def at_most(value: float | None, supported: float, refuted: float) -> tuple[str, str]:
    """Supported if ``value <= supported``; not supported if ``value > refuted``; else inconclusive."""
    rule = f"supported if <= {supported:g}, not supported if > {refuted:g}, else inconclusive"
    if value is None or math.isnan(value):
        return INCONCLUSIVE, rule + " (not measured)"
    return (SUPPORTED if value <= supported else NOT_SUPPORTED if value > refuted else INCONCLUSIVE), rule


def within(value: float | None, low: float, high: float, factor: float = 4.0) -> tuple[str, str]:
    """Supported if ``low <= value <= high``; not supported if more than ``factor`` times outside that band."""
    rule = (f"supported if in [{low:g}, {high:g}], not supported if below {low / factor:g} or above "
            f"{high * factor:g}, else inconclusive")
    if value is None or math.isnan(value):
        return INCONCLUSIVE, rule + " (not measured)"
    if low <= value <= high:
        return SUPPORTED, rule
    return (NOT_SUPPORTED if value < low / factor or value > high * factor else INCONCLUSIVE), rule


def finding(claim: str, measured: str, value: float | None, rule: Callable, *args) -> Finding:
    verdict, text = rule(value, *args)
    return Finding(claim, measured, verdict, text)


def steps_ratio(slow: float | None, fast: float | None, slow_ran: float | None,
                fast_ran: float | None = None) -> tuple[float | None, str]:
    """How many times more steps ``slow`` needed than ``fast`` to reach a threshold.

    A run that never reached it counts with the steps it ran: the ratio is then a lower bound (shown '>').
    """
    if fast is None:
        return None, f"n/a (the faster one did not reach the threshold in {fmt(fast_ran)} steps)"
    if slow is None:
        if not slow_ran:
            return None, f"n/a (the slower one never reached the threshold; faster: {fast:.0f} steps)"
        return slow_ran / fast, f"> {slow_ran / fast:.2f}x (never reached it in {slow_ran:.0f} steps)"
    return slow / fast, f"{slow / fast:.2f}x ({slow:.0f} vs {fast:.0f} steps)"


# --- results ---------------------------------------------------------------------------------------

@dataclass
class Results:
    """A study's sweep read back: each point's row, per-step series and JSON artifacts by label."""

    comparison: Comparison
    mode: str
    _series: dict = field(default_factory=dict)

    @property
    def rows(self) -> list[Row]:
        return self.comparison.rows

    def row(self, label: str) -> Row:
        return next(r for r in self.rows if r.label == label)

    def metric(self, label: str, key: str) -> float | None:
        return self.row(label).metric(key)

    def series(self, label: str, key: str) -> list[tuple[int, float]]:
        run_id = self.row(label).run_id
        if not run_id:
            return []
        if (run_id, key) not in self._series:
            self._series[run_id, key] = tracking.groups.metric_history(run_id, key)
        return self._series[run_id, key]

    def artifact(self, label: str, path: str) -> dict | None:
        run_id = self.row(label).run_id
        return tracking.groups.load_json(run_id, path) if run_id else None

    def diverged(self, label: str) -> bool:
        return self.row(label).fit == "diverged"


def fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}g}"
