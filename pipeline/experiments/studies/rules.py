"""Verdict rules: pure functions of per-seed numbers, each able to say "not supported".

One rule, written once (docs/studies/index.md states it): every claim is settled by one quantity per
seed, where a seed fixes the split, the order and the initialization of every condition alike, so two
conditions compare seed by seed (a *paired* difference or ratio). Beside each claim stands its **bound**:
the size the claim asks for (the lecture's own where it gives one: "much faster" is 1.5x; otherwise
any effect at all, 0 or 1x). From the per-seed values the rule takes the one-sided 95% t-bounds of their
mean (Student's t, n - 1 degrees of freedom, float64). A claim is

- **supported** when the t-bound on the claim's side is beyond its bound (the lower t-bound above a bound
  the claim says it exceeds; both t-bounds inside an interval it claims);
- **not supported** when the t-bound on the other side has not reached the bound (the upper t-bound at or
  below a bound the claim says it exceeds; both t-bounds at or past an end of a claimed interval);
- **inconclusive** otherwise, and with fewer than two seeds (measured, not diverged).

Ties go against the claim: a t-bound within a millionth (relative) of its bound counts as equal to it
(float32 metrics carry about seven digits). A claim of several parts is supported when every part is and
not supported when any part is not; a claim that presumes another (Leaky ReLU living where ReLU died) is
inconclusive while that one is not supported. Facts (a dataset's size) are compared exactly. A seed
that never reached a target counts with the steps it ran: its ratio is a bound on the side it bounds. An
infinite value (a diverged run's loss growth) is beyond every bound: a claim it is on the side of is
supported where every seed's value is infinite or the finite ones (two or more) support it alone;
otherwise inconclusive.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

from .stat import CONFIDENCE, Stat, fmt

__all__ = ["CONFIDENCE", "INCONCLUSIVE", "NOT_SUPPORTED", "SUPPORTED", "Stat", "Test", "Verdict", "above",
           "at_least", "at_most", "both", "decide", "exceeds", "fact", "fmt", "given", "judge", "matches",
           "no_worse", "outcome", "paired", "paired_ratio", "per_seed", "similar", "within"]

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
ABOVE, BELOW, INSIDE, EQUAL = "above", "below", "inside", "equal"   # a test's side of its bound
CLAIM, REQUIRES = "claim", "requires"                               # a test's role in its verdict
TIE = 1e-6


@dataclass(frozen=True)
class Test:
    """One application of the rule: a quantity's per-seed ``values`` on ``side`` of ``bound`` (``INSIDE``:
    between ``bound`` and ``upper``; ``EQUAL``: a fact, compared exactly). ``role``: ``CLAIM`` (a part of
    the claim) or ``REQUIRES`` (a claim the verdict presumes)."""

    quantity: str
    values: Stat
    side: str
    bound: float
    upper: float | None = None
    role: str = CLAIM

    def describe(self) -> str:
        if self.side == EQUAL:
            return f"{self.quantity} equal to {fmt(self.bound, 6)}"
        if self.side == INSIDE:
            return f"{self.quantity} inside ({self.bound:g}, {self.upper:g})"
        return f"{self.quantity} {self.side} {self.bound:g}"


class Verdict(NamedTuple):
    verdict: str       # supported | not supported | inconclusive
    rule: str          # the rule in words, with its bounds
    statistic: str = ""  # the per-seed values it was decided on, their mean and t-bounds
    tests: tuple = ()    # the Tests it was decided by: outcome() of each re-derives it


def _tie(x: float, bound: float) -> bool:
    return x == bound or abs(x - bound) <= TIE * max(abs(x), abs(bound))


def _past(x: float, bound: float) -> bool:
    """``x`` above ``bound`` by more than a tie."""
    return x > bound and not _tie(x, bound)


def outcome(test: Test) -> str:
    """The rule applied to one test (the module's docstring says it in words)."""
    s = test.values
    if test.side == EQUAL:
        return INCONCLUSIVE if s.n != 1 else SUPPORTED if s.values[0] == test.bound else NOT_SUPPORTED
    if not s.finite:
        return _infinite(test)
    low, high = s.bound(), s.bound(upper=True)
    if low is None:   # fewer than two seeds
        return INCONCLUSIVE
    if test.side == ABOVE:
        return SUPPORTED if _past(low, test.bound) else NOT_SUPPORTED if not _past(high, test.bound) else INCONCLUSIVE
    if test.side == BELOW:
        return SUPPORTED if _past(-high, -test.bound) else NOT_SUPPORTED if not _past(-low, -test.bound) \
            else INCONCLUSIVE
    if _past(low, test.bound) and _past(-high, -test.upper):
        return SUPPORTED
    outside = not _past(high, test.bound) or not _past(-low, -test.upper)
    return NOT_SUPPORTED if outside else INCONCLUSIVE


def _infinite(test: Test) -> str:
    """An infinite value (a diverged run's loss growth) is beyond every bound: supported where every value is
    infinite on the claim's side or the finite ones (two or more) support the claim alone; else inconclusive."""
    sign = {ABOVE: math.inf, BELOW: -math.inf}.get(test.side)
    finite = Stat.of([v for v in test.values.values if math.isfinite(v)])
    if sign is None or any(not math.isfinite(v) and v != sign for v in test.values.values):
        return INCONCLUSIVE
    alone = finite.n >= 2 and outcome(Test(test.quantity, finite, test.side, test.bound)) == SUPPORTED
    return SUPPORTED if not finite.values or alone else INCONCLUSIVE


def combined(tests) -> str:
    """The claim's verdict from its tests' outcomes: every part supported, or any part not; a presumed claim
    that is not supported leaves it inconclusive."""
    parts = [outcome(t) for t in tests if t.role == CLAIM]
    if any(outcome(t) != SUPPORTED for t in tests if t.role == REQUIRES) and parts:
        return INCONCLUSIVE
    if NOT_SUPPORTED in parts:
        return NOT_SUPPORTED
    return SUPPORTED if parts and all(p == SUPPORTED for p in parts) else INCONCLUSIVE


def statistic(test: Test) -> str:
    """The evidence a test was decided on: each seed's value, the mean and its two t-bounds."""
    s = test.values
    if not s.values:
        return f"{test.quantity}: not measured"
    if test.side == EQUAL:
        return f"{test.quantity}: {fmt(s.values[0], 6)}"
    low, high = s.bound(), s.bound(upper=True)
    bounds = f"; one-sided 95% t-bounds {fmt(low, 3)} / {fmt(high, 3)}" if low is not None else ""
    return f"{test.quantity}: {s.per_seed()}; mean {fmt(s.mean, 3)}{bounds}"


def judge(*tests: Test, note: str = "") -> Verdict:
    """The verdict of ``tests`` (the parts of one claim) with its rule and statistic in words."""
    claims = [t for t in tests if t.role == CLAIM]
    presumed = [t.describe() for t in tests if t.role == REQUIRES]
    rule = (f"supported if {' and '.join(t.describe() for t in claims)} (one-sided 95% t-bounds past the bounds), "
            "not supported if a part's other t-bound has not passed its bound, else inconclusive"
            + (f"; judged only where {' and '.join(presumed)} is supported" if presumed else ""))
    if note:
        rule += f" ({note})"
    return Verdict(combined(tests), rule, " | ".join(statistic(t) for t in claims), tuple(tests))


def _stat(value) -> Stat:
    return value if isinstance(value, Stat) else Stat.of([value])


def decide(d: Stat, bound: float, what: str = "per seed", higher: bool = True) -> Verdict:
    """``d`` beyond ``bound``: above it (``higher``) or below it."""
    return judge(Test(what, d, ABOVE if higher else BELOW, float(bound)))


def paired(a: Stat, b: Stat) -> Stat:
    """``a - b`` seed by seed (seeds missing from either are left out)."""
    return per_seed(lambda x, y: x - y, a, b)


def exceeds(a: Stat, b: Stat, min_effect: float = 0.0) -> Verdict:
    """``a`` larger than ``b``, seed by seed, by more than ``min_effect``."""
    return decide(paired(a, b), min_effect, "difference per seed")


def above(value: Stat | float | None, bound: float, what: str = "per seed") -> Verdict:
    return decide(_stat(value), bound, what)


at_least = above


def at_most(value: Stat | float | None, bound: float, what: str = "per seed") -> Verdict:
    return decide(_stat(value), bound, what, higher=False)


def no_worse(a: Stat, b: Stat, margin: float, what: str = "difference per seed") -> Verdict:
    """``a`` less than ``margin`` below ``b``, seed by seed."""
    return decide(paired(a, b), -margin, what)


def within(value: Stat | float | None, low: float, high: float, what: str = "per seed") -> Verdict:
    return judge(Test(what, _stat(value), INSIDE, float(low), float(high)))


def similar(stats: dict[str, Stat], tolerance: float) -> Verdict:
    """Every pair of conditions within ``±tolerance`` of each other, seed by seed."""
    diffs = {f"{x} minus {y} per seed": paired(stats[x], stats[y]) for x, y in itertools.combinations(stats, 2)}
    return judge(*(Test(k, d, INSIDE, -float(tolerance), float(tolerance)) for k, d in diffs.items()))


def matches(found: dict, expected: dict) -> Verdict:
    """Facts, not seeds (a dataset's size), each as stated."""
    return judge(*(Test(k, Stat.of([found.get(k)]), EQUAL, float(v)) for k, v in expected.items()))


def fact(quantity: str, value: float | None, expected: float) -> Test:
    """A part of a claim that is a fact of the run (the best rate inside its grid: 1), compared exactly."""
    return Test(quantity, Stat.of([value]), EQUAL, float(expected))


def both(*verdicts: Verdict) -> Verdict:
    """Every part supported, or any part not."""
    return judge(*(t for v in verdicts for t in v.tests))


def given(verdict: Verdict, presumed: Verdict, why: str = "") -> Verdict:
    """``verdict``, judged only where ``presumed`` is supported (inconclusive otherwise)."""
    return judge(*verdict.tests, *(Test(t.quantity, t.values, t.side, t.bound, t.upper, REQUIRES)
                                   for t in presumed.tests), note=why)


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


def per_seed(fn: Callable[..., float | None], *stats: Stat) -> Stat:
    """Combine several conditions seed by seed (e.g. the worst of a family on each seed): by seed name
    where every condition knows its seeds (a seed missing from one is left out), else by position
    (a timing's repeats, interleaved)."""
    if stats and all(s.seeds for s in stats):
        by_seed = [dict(zip(s.seeds, s.values)) for s in stats]
        common = [k for k in stats[0].seeds if all(k in d for d in by_seed[1:])]
        return Stat.of((fn(*(d[k] for d in by_seed)) for k in common), common)
    return Stat.of(fn(*values) for values in zip(*(s.values for s in stats)))

