"""Verdict rules: pure functions of measured numbers, each able to say "not supported".

A measured quantity is a :class:`Stat`: its value on every seed (or every repeat of a timing). A rule
on one quantity against a threshold is met only when every seed meets it and refuted only when every
seed fails it; a comparison of two quantities is decided only when the difference of their means is
larger than the seed-to-seed spread (the larger range of the two); anything else is "inconclusive".
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
Verdict = tuple[str, str]   # (verdict, the rule in words)


@dataclass(frozen=True)
class Stat:
    """A quantity over seeds: the values, their mean and range. ``seeds`` names each value's seed when
    known, so that conditions combine seed by seed even where a seed is missing from one of them."""

    values: tuple[float, ...] = ()
    seeds: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def of(cls, values: Iterable[float | None], seeds: Iterable[str] | None = None) -> "Stat":
        pairs = [(float(v), k) for v, k in zip(values, seeds if seeds is not None else itertools.repeat(""))
                 if v is not None and not math.isnan(float(v))]
        return cls(tuple(v for v, _ in pairs), tuple(k for _, k in pairs) if seeds is not None else ())

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return sum(self.values) / self.n if self.values else None

    @property
    def low(self) -> float | None:
        return min(self.values) if self.values else None

    @property
    def high(self) -> float | None:
        return max(self.values) if self.values else None

    @property
    def spread(self) -> float:
        """Range over seeds (0 for one value)."""
        return (self.high - self.low) if self.values and all(map(math.isfinite, self.values)) else 0.0

    def map(self, fn: Callable[[float], float]) -> "Stat":
        return Stat(tuple(fn(v) for v in self.values), self.seeds)

    def show(self, digits: int = 4, scale: float = 1.0, unit: str = "") -> str:
        """``0.9123 (0.9101-0.9150, 3 seeds)``."""
        if not self.values:
            return "n/a"
        mean = fmt(self.mean * scale, digits) + unit
        if self.n == 1:
            return mean
        if self.spread == 0:
            return f"{mean} (all {self.n} seeds)"
        return f"{mean} ({fmt(self.low * scale, digits)}-{fmt(self.high * scale, digits)}{unit}, n={self.n})"

    __str__ = show


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return "inf" if value == math.inf else f"{value:.{digits}g}"


def _stat(value) -> Stat:
    if isinstance(value, Stat):
        return value
    return Stat.of([value])


def at_least(value: Stat | float | None, supported: float, refuted: float) -> Verdict:
    """Supported if every seed is ``>= supported``; not supported if every seed is ``< refuted``."""
    return _bound(value, supported, refuted, above=True)


def at_most(value: Stat | float | None, supported: float, refuted: float) -> Verdict:
    """Supported if every seed is ``<= supported``; not supported if every seed is ``> refuted``."""
    return _bound(value, supported, refuted, above=False)


def _bound(value: Stat | float | None, supported: float, refuted: float, above: bool) -> Verdict:
    s = _stat(value)
    keep, fail = (">=", "<") if above else ("<=", ">")
    rule = (f"supported if {keep} {supported:g} on every seed, not supported if {fail} {refuted:g} on every seed, "
            "else inconclusive")
    if not s.values:
        return INCONCLUSIVE, rule + " (not measured)"
    if (s.low >= supported) if above else (s.high <= supported):
        return SUPPORTED, rule
    refuted_on_every_seed = s.high < refuted if above else s.low > refuted
    return (NOT_SUPPORTED if refuted_on_every_seed else INCONCLUSIVE), rule


def within(value: Stat | float | None, low: float, high: float, factor: float = 4.0) -> Verdict:
    """Supported if every seed is in ``[low, high]``; not supported if every seed is more than
    ``factor`` times outside that band."""
    s = _stat(value)
    rule = (f"supported if in [{low:g}, {high:g}] on every seed, not supported if below {low / factor:g} or "
            f"above {high * factor:g} on every seed, else inconclusive")
    if not s.values:
        return INCONCLUSIVE, rule + " (not measured)"
    if all(low <= v <= high for v in s.values):
        return SUPPORTED, rule
    far = all(v < low / factor or v > high * factor for v in s.values)
    return (NOT_SUPPORTED if far else INCONCLUSIVE), rule


def exceeds(a: Stat, b: Stat, min_effect: float = 0.0) -> Verdict:
    """``a`` is larger than ``b`` by at least ``min_effect``, beyond the seed-to-seed spread.

    Supported if ``mean(a) - mean(b)`` exceeds both the spread and ``min_effect``; not supported if it
    falls short of ``min_effect`` by more than the spread; otherwise inconclusive (the difference is
    within what another seed could change). Needs two seeds of each to call it.
    """
    spread = max(a.spread, b.spread)
    rule = (f"supported if the difference of means exceeds the seed-to-seed spread ({fmt(spread, 3)})"
            + (f" and {min_effect:g}" if min_effect else "")
            + f"; not supported if it is below {min_effect:g} by more than the spread; else inconclusive")
    if not a.values or not b.values:
        return INCONCLUSIVE, rule + " (not measured)"
    if a.n < 2 or b.n < 2:
        return INCONCLUSIVE, rule + " (one seed: no spread to judge by)"
    d = a.mean - b.mean
    if math.isinf(d):
        return (SUPPORTED if d > 0 else NOT_SUPPORTED), rule
    if d > spread and d >= min_effect:
        return SUPPORTED, rule
    return (NOT_SUPPORTED if d < min_effect - spread else INCONCLUSIVE), rule


def similar(stats: dict[str, Stat], tolerance: float) -> Verdict:
    """All means lie within ``tolerance`` of each other (supported), or their range exceeds the
    tolerance by more than the largest seed-to-seed spread (not supported)."""
    rule = (f"supported if every mean lies within {tolerance:g} of the others, not supported if the range of "
            "means exceeds that by more than the seed-to-seed spread, else inconclusive")
    measured = [s for s in stats.values() if s.values]
    if len(measured) < 2:
        return INCONCLUSIVE, rule + " (not measured)"
    means = [s.mean for s in measured]
    width, spread = max(means) - min(means), max(s.spread for s in measured)
    if width <= tolerance:
        return SUPPORTED, rule
    return (NOT_SUPPORTED if width > tolerance + spread else INCONCLUSIVE), rule


def paired_ratio(slow: list[float | None], fast: list[float | None], slow_ran: list[float | None]
                 ) -> tuple[Stat, bool]:
    """Per seed, how many times more steps ``slow`` needed than ``fast`` to reach a target.

    A slow run that never reached it counts with the steps it ran, so its ratio is a lower bound (the
    flag says some ratio is one). Seeds where the fast run never reached the target are left out.
    """
    ratios, bound = [], False
    for s, f, ran in zip(slow, fast, slow_ran):
        if not f:
            continue
        if s is None:
            if not ran:
                continue
            s, bound = ran, True
        ratios.append(s / f)
    return Stat.of(ratios), bound


def above(value: Stat, threshold: float) -> Verdict:
    """The mean is above ``threshold`` by more than the seed-to-seed spread (supported), or below it by
    more than the spread (not supported); needs two seeds."""
    rule = (f"supported if the mean exceeds {threshold:g} by more than the seed-to-seed spread "
            f"({fmt(value.spread, 3)}), not supported if it is below {threshold:g} by more than the spread, "
            "else inconclusive")
    if value.n < 2:
        return INCONCLUSIVE, rule + (" (not measured)" if not value.n else " (one seed: no spread to judge by)")
    d = value.mean - threshold
    if d > value.spread:
        return SUPPORTED, rule
    return (NOT_SUPPORTED if d < -value.spread else INCONCLUSIVE), rule


def no_worse(a: Stat, b: Stat, margin: float) -> Verdict:
    """``a`` is at most ``margin`` below ``b``: supported if even with the spread it is; not supported if
    even with the spread it is more than ``margin`` below."""
    spread = max(a.spread, b.spread)
    rule = (f"supported if the mean is less than {margin:g} below the other's by more than the seed-to-seed "
            f"spread ({fmt(spread, 3)}), not supported if it is more than {margin:g} below by more than the "
            "spread, else inconclusive")
    if a.n < 2 or b.n < 2:
        return INCONCLUSIVE, rule + " (fewer than two seeds)"
    worse = b.mean - a.mean
    if worse + spread < margin:
        return SUPPORTED, rule
    return (NOT_SUPPORTED if worse - spread > margin else INCONCLUSIVE), rule


def both(first: Verdict, second: Verdict, joiner: str = "and") -> Verdict:
    """Supported if both are; not supported if either is not; else inconclusive."""
    verdicts = (first[0], second[0])
    rule = f"({first[1]}) {joiner} ({second[1]})"
    if NOT_SUPPORTED in verdicts:
        return NOT_SUPPORTED, rule
    return (SUPPORTED if verdicts == (SUPPORTED, SUPPORTED) else INCONCLUSIVE), rule


def per_seed(fn: Callable[..., float | None], *stats: Stat) -> Stat:
    """Combine several conditions seed by seed (e.g. the worst of a family on each seed): by seed name
    where every condition knows its seeds (a seed missing from one is left out), else by position
    (a timing's repeats, interleaved)."""
    if stats and all(s.seeds for s in stats):
        by_seed = [dict(zip(s.seeds, s.values)) for s in stats]
        common = [k for k in stats[0].seeds if all(k in d for d in by_seed[1:])]
        return Stat.of((fn(*(d[k] for d in by_seed)) for k in common), common)
    return Stat.of(fn(*values) for values in zip(*(s.values for s in stats)))
