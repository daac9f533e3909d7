"""Verdict rules: pure functions of per-seed numbers, each able to say "not supported".

One rule, written once (docs/studies/index.md states it): every claim is settled by one quantity per
seed, where a seed fixes the split, the order and the initialization of every condition alike, so two
conditions compare seed by seed (a *paired* difference or ratio). The values are **consistently above**
a bound when every seed's value is above it, or when the one-sided 95% t-bound of their mean is (so a
claim does not get harder to decide merely because more seeds ran). A claim is

- **supported** when its quantity is consistently on the claimed side of the null value and its mean
  reaches the minimum effect the claim asks for;
- **not supported** when its quantity is consistently short of the minimum effect;
- **inconclusive** otherwise, and always with fewer than two seeds (measured, not diverged).

A seed that never reached a target counts with the steps it ran (a bound, which stays on the side it
bounds); an infinite value is above every bound and makes the t-bound undefined, so only the every-seed
test applies.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, NamedTuple

from scipy import stats

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
CONFIDENCE = 0.95


class Verdict(NamedTuple):
    verdict: str       # supported | not supported | inconclusive
    rule: str          # the rule in words, with its bounds
    statistic: str = ""  # the per-seed values it was decided on, their mean and t-bound


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


def _stat(value) -> Stat:
    if isinstance(value, Stat):
        return value
    return Stat.of([value])


def consistently_above(s: Stat, bound: float, strict: bool = True) -> bool:
    """Every seed above ``bound`` (``>=`` unless strict), or the lower t-bound of the mean above it."""
    every = all((v > bound) if strict else (v >= bound) for v in s.values)
    low = s.bound()
    return s.n >= 2 and (every or (low is not None and low > bound))


def consistently_below(s: Stat, bound: float, strict: bool = True) -> bool:
    return consistently_above(s.map(lambda v: -v), -bound, strict)


def statistic(s: Stat, what: str = "per seed") -> str:
    """The evidence a verdict was decided on: each seed's value, the mean and its two t-bounds."""
    if not s.values:
        return "not measured"
    low, high = s.bound(), s.bound(upper=True)
    bounds = f"; one-sided 95% t-bounds {fmt(low, 3)} / {fmt(high, 3)}" if low is not None else ""
    return f"{what}: {s.per_seed()}; mean {fmt(s.mean, 3)}{bounds}"


def _too_few(s: Stat) -> str | None:
    if not s.values:
        return "not measured"
    return "fewer than two seeds: no verdict from one" if s.n < 2 else None


def decide(d: Stat, null: float, effect: float | None = None, what: str = "per seed", higher: bool = True) -> Verdict:
    """The one rule: supported when ``d`` is consistently beyond ``null`` (above it, or below it with
    ``higher=False``) and its mean reaches ``effect`` (default: the null); not supported when ``d`` is
    consistently short of ``effect``; else inconclusive."""
    effect = null if effect is None else effect
    side, other = ("above", "below") if higher else ("below", "above")
    rule = (f"supported if consistently {side} {null:g}" + (f" with a mean {'at least' if higher else 'at most'} "
                                                            f"{effect:g}" if effect != null else "")
            + f"; not supported if consistently {other} {effect:g}; else inconclusive")
    why = _too_few(d)
    if why:
        return Verdict(INCONCLUSIVE, f"{rule} ({why})", statistic(d, what))
    beyond = consistently_above if higher else consistently_below
    short = consistently_below if higher else consistently_above
    reaches = (d.mean >= effect) if higher else (d.mean <= effect)
    if beyond(d, null) and reaches:
        verdict = SUPPORTED
    elif short(d, effect):
        verdict = NOT_SUPPORTED
    else:
        verdict = INCONCLUSIVE
    return Verdict(verdict, rule, statistic(d, what))


def paired(a: Stat, b: Stat) -> Stat:
    """``a - b`` seed by seed (seeds missing from either are left out)."""
    return per_seed(lambda x, y: x - y, a, b)


def at_least(value: Stat | float | None, supported: float, refuted: float) -> Verdict:
    """Supported if consistently ``>= supported``; not supported if consistently ``< refuted``."""
    return _bound(_stat(value), supported, refuted, above=True)


def at_most(value: Stat | float | None, supported: float, refuted: float) -> Verdict:
    """Supported if consistently ``<= supported``; not supported if consistently ``> refuted``."""
    return _bound(_stat(value), supported, refuted, above=False)


def _bound(s: Stat, supported: float, refuted: float, above: bool) -> Verdict:
    keep, fail = (">=", "<") if above else ("<=", ">")
    rule = (f"supported if consistently {keep} {supported:g}, not supported if consistently {fail} {refuted:g}, "
            "else inconclusive")
    why = _too_few(s)
    if why:
        return Verdict(INCONCLUSIVE, f"{rule} ({why})", statistic(s))
    keeps, fails = (consistently_above, consistently_below) if above else (consistently_below, consistently_above)
    if keeps(s, supported, strict=False):
        return Verdict(SUPPORTED, rule, statistic(s))
    return Verdict(NOT_SUPPORTED if fails(s, refuted) else INCONCLUSIVE, rule, statistic(s))


def within(value: Stat | float | None, low: float, high: float, factor: float = 4.0) -> Verdict:
    """Supported if consistently in ``[low, high]``; not supported if consistently below ``low / factor``
    or consistently above ``high * factor``."""
    s = _stat(value)
    rule = (f"supported if consistently in [{low:g}, {high:g}], not supported if consistently below "
            f"{low / factor:g} or consistently above {high * factor:g}, else inconclusive")
    why = _too_few(s)
    if why:
        return Verdict(INCONCLUSIVE, f"{rule} ({why})", statistic(s))
    if consistently_above(s, low, strict=False) and consistently_below(s, high, strict=False):
        return Verdict(SUPPORTED, rule, statistic(s))
    far = consistently_below(s, low / factor) or consistently_above(s, high * factor)
    return Verdict(NOT_SUPPORTED if far else INCONCLUSIVE, rule, statistic(s))


def exceeds(a: Stat, b: Stat, min_effect: float = 0.0) -> Verdict:
    """``a`` is larger than ``b``, seed by seed, by at least ``min_effect`` on average."""
    return decide(paired(a, b), 0.0, min_effect, "difference per seed")


def above(value: Stat, threshold: float, effect: float | None = None) -> Verdict:
    """``value`` is consistently above ``threshold`` (with a mean of at least ``effect``)."""
    return decide(value, threshold, effect)


def no_worse(a: Stat, b: Stat, margin: float) -> Verdict:
    """``a`` is less than ``margin`` below ``b``, seed by seed."""
    return decide(paired(a, b), -margin, what="difference per seed")


def similar(stats: dict[str, Stat], tolerance: float) -> Verdict:
    """Every pair of conditions differs, seed by seed, by less than ``tolerance`` (supported), or some
    pair consistently by more (not supported). The statistic shown is the pair furthest apart."""
    rule = (f"supported if every pair's difference per seed is consistently within ±{tolerance:g}, not supported "
            f"if some pair's is consistently beyond ±{tolerance:g}, else inconclusive")
    diffs = {(x, y): paired(stats[x], stats[y]) for x, y in itertools.combinations(stats, 2)}
    diffs = {k: d for k, d in diffs.items() if d.values}
    if not diffs:
        return Verdict(INCONCLUSIVE, rule + " (not measured)", "")
    (x, y), widest = max(diffs.items(), key=lambda kv: abs(kv[1].mean))
    shown = statistic(widest, f"{x} minus {y} per seed")
    if any(d.n < 2 for d in diffs.values()):
        return Verdict(INCONCLUSIVE, rule + " (fewer than two seeds: no verdict from one)", shown)
    if any(consistently_above(d, tolerance) or consistently_below(d, -tolerance) for d in diffs.values()):
        return Verdict(NOT_SUPPORTED, rule, shown)
    inside = all(consistently_above(d, -tolerance) and consistently_below(d, tolerance) for d in diffs.values())
    return Verdict(SUPPORTED if inside else INCONCLUSIVE, rule, shown)


def paired_ratio(slow: list[float | None], fast: list[float | None], slow_ran: list[float | None],
                 seeds: list[str] | None = None) -> tuple[Stat, bool]:
    """Per seed, how many times more steps ``slow`` needed than ``fast`` to reach a target.

    A slow run that never reached it counts with the steps it ran, so its ratio is a lower bound (the
    flag says some ratio is one). Seeds where the fast run never reached the target are left out.
    """
    ratios, names, bound = [], [], False
    for i, (s, f, ran) in enumerate(zip(slow, fast, slow_ran)):
        if not f:
            continue
        if s is None:
            if not ran:
                continue
            s, bound = ran, True
        ratios.append(s / f)
        names.append(seeds[i] if seeds else "")
    return Stat.of(ratios, names if seeds else None), bound


def both(first: Verdict, second: Verdict, joiner: str = "and") -> Verdict:
    """Supported if both are; not supported if either is not; else inconclusive."""
    verdicts = (first[0], second[0])
    rule = f"({first[1]}) {joiner} ({second[1]})"
    shown = " | ".join(v.statistic for v in (first, second) if isinstance(v, Verdict) and v.statistic)
    if NOT_SUPPORTED in verdicts:
        return Verdict(NOT_SUPPORTED, rule, shown)
    return Verdict(SUPPORTED if verdicts == (SUPPORTED, SUPPORTED) else INCONCLUSIVE, rule, shown)


def per_seed(fn: Callable[..., float | None], *stats: Stat) -> Stat:
    """Combine several conditions seed by seed (e.g. the worst of a family on each seed): by seed name
    where every condition knows its seeds (a seed missing from one is left out), else by position
    (a timing's repeats, interleaved)."""
    if stats and all(s.seeds for s in stats):
        by_seed = [dict(zip(s.seeds, s.values)) for s in stats]
        common = [k for k in stats[0].seeds if all(k in d for d in by_seed[1:])]
        return Stat.of((fn(*(d[k] for d in by_seed)) for k in common), common)
    return Stat.of(fn(*values) for values in zip(*(s.values for s in stats)))


def matches(found: dict, expected: dict) -> Verdict:
    """Facts, not seeds (a dataset's size): supported if every one is as stated, not supported if any
    differs, inconclusive if one could not be read."""
    rule = "supported if every fact is as stated, not supported if any differs, else inconclusive"
    shown = "; ".join(f"{k}: {fmt(found.get(k), 6)} (stated {fmt(v, 6)})" for k, v in expected.items())
    if any(found.get(k) is None for k in expected):
        return Verdict(INCONCLUSIVE, rule + " (not measured)", shown)
    same = all(float(found[k]) == float(v) for k, v in expected.items())
    return Verdict(SUPPORTED if same else NOT_SUPPORTED, rule, shown)
