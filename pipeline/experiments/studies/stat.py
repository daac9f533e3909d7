"""A quantity over seeds (:class:`Stat`): each seed's value, their mean, range and one-sided t-bounds, in float64."""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

from scipy import stats

CONFIDENCE = 0.95


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
    def finite(self) -> bool:
        return all(map(math.isfinite, self.values))

    @property
    def spread(self) -> float:
        """Range over seeds (0 for one value, inf when a value is infinite and the others are not)."""
        if not self.values:
            return 0.0
        return (self.high - self.low) if self.finite else (0.0 if len(set(self.values)) == 1 else math.inf)

    def bound(self, upper: bool = False) -> float | None:
        """The one-sided 95% t-bound of the mean (lower unless ``upper``); None below two finite values."""
        if self.n < 2 or not self.finite:
            return None
        sd = math.sqrt(sum((v - self.mean) ** 2 for v in self.values) / (self.n - 1))
        half = stats.t.ppf(CONFIDENCE, self.n - 1) * sd / math.sqrt(self.n)
        return self.mean + half if upper else self.mean - half

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

    def per_seed(self, digits: int = 3) -> str:
        """``42: 0.093, 7: 0.269, 1: 0.08`` (by position where the seeds are not named)."""
        names = self.seeds or tuple(f"#{i + 1}" for i in range(self.n))
        return ", ".join(f"{k}: {fmt(v, digits)}" for k, v in zip(names, self.values))

    __str__ = show


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"
