"""The verdict rules of the lecture studies (rules.py) on made-up per-seed numbers: each rule's three
verdicts, pairing by seed, ties, infinities, more seeds never deciding fewer claims, and every verdict
re-derived from its numbers.csv."""
import math

import numpy as np
import pytest

from tests.experiments.worlds import constructed  # Results without MLflow
from trainlab.pipeline.experiments.studies import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    Stat,
)
from trainlab.pipeline.experiments.studies.base import Finding
from trainlab.pipeline.experiments.studies.evidence import read_numbers, write_numbers
from trainlab.pipeline.experiments.studies.rules import (
    above,
    at_least,
    at_most,
    both,
    combined,
    exceeds,
    fact,
    given,
    judge,
    matches,
    no_worse,
    paired_ratio,
    similar,
    within,
)

VERDICTS = {SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE}
S = Stat



# --- verdict rules ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, verdict", [
    (S((1.6, 1.62, 1.61)), SUPPORTED),                      # lower t-bound 1.593 > 1.5
    (S((1.6, 2.0, 1.7)), INCONCLUSIVE),                     # every seed above, but the lower t-bound is 1.416
    (S((1.5, 1.5)), NOT_SUPPORTED),                         # a tie with the bound goes against the claim
    (S((1.6, 1.4)), INCONCLUSIVE), (S((0.5, 0.52)), NOT_SUPPORTED),   # upper t-bound 0.573 <= 1.5
    (S((math.inf, math.inf)), SUPPORTED), (S((math.inf, 2.0)), INCONCLUSIVE),   # one finite seed decides nothing
    (S((math.inf, 1.6, 1.62, 1.61)), SUPPORTED), (S((-math.inf, 2.0, 2.0)), INCONCLUSIVE),
    (S((2.0,)), INCONCLUSIVE), (None, INCONCLUSIVE), (math.nan, INCONCLUSIVE),  # no verdict from one seed
])
def test_at_least_takes_the_lower_t_bound(value, verdict):
    assert at_least(value, 1.5)[0] == verdict


@pytest.mark.parametrize("value, verdict", [(S((0.05, 0.06, 0.055)), SUPPORTED), (S((0.05, 0.2)), INCONCLUSIVE),
                                            (S((1.2, 1.21, 1.22)), NOT_SUPPORTED), (S((0.1, 0.1)), NOT_SUPPORTED),
                                            (S((0.01,)), INCONCLUSIVE)])
def test_at_most_mirrors_at_least(value, verdict):
    assert at_most(value, 0.1)[0] == verdict


@pytest.mark.parametrize("value, verdict", [(S((1.0, 1.1, 1.05)), SUPPORTED), (S((1.0, 3.0)), INCONCLUSIVE),
                                            (S((0.1, 0.11)), NOT_SUPPORTED), (S((9.0, 10.0)), NOT_SUPPORTED),
                                            (S((0.5, 0.5)), NOT_SUPPORTED), (S((1.0,)), INCONCLUSIVE)])
def test_within_needs_both_t_bounds_inside(value, verdict):
    assert within(value, 0.5, 2.0)[0] == verdict


def seeded(*values):
    return Stat.of(values, [str(s) for s in (42, 7, 1, 2, 3)[:len(values)]])


@pytest.mark.parametrize("a, b, effect, verdict", [
    # sigmoid worse by 9.3 / 26.9 / 8.0 points: every seed agrees, but the t-bound does not (-0.031): no sign test
    ((0.86, 0.87, 0.85), (0.767, 0.601, 0.77), 0.01, INCONCLUSIVE),
    ((0.86, 0.87, 0.85), (0.767, 0.771, 0.75), 0.01, SUPPORTED),
    ((0.92, 0.96, 0.97), (0.90, 0.91, 0.98), 0.0, INCONCLUSIVE),     # one seed the other way, wide t-bound
    ((0.90, 0.91, 0.92), (0.95, 0.96, 0.97), 0.0, NOT_SUPPORTED),    # the other way round
    ((0.950, 0.951), (0.940, 0.941), 0.05, NOT_SUPPORTED),           # real but far below the effect asked for
    ((0.950, 0.951), (0.940, 0.941), 0.01, NOT_SUPPORTED),           # exactly the effect (0.010000000000000009): a tie
    ((0.95, 0.95), (0.90, 0.95), 0.02, INCONCLUSIVE),
    ((0.95,), (0.90,), 0.0, INCONCLUSIVE),                           # one seed: no verdict
    ((), (0.9, 0.9), 0.0, INCONCLUSIVE),
])
def test_exceeds_pairs_the_seeds(a, b, effect, verdict):
    assert exceeds(seeded(*a), seeded(*b), effect)[0] == verdict


def test_a_float32_difference_at_the_bound_is_a_tie_that_goes_against_the_claim():
    """Adam at 5e-4, seed 42: 0.9185 - 0.9285 in float32 is -0.0099999905, which beats -1 point strictly;
    within a millionth of the bound it is the tie it is in float64 and in the CSV."""
    a, b = float(np.float32(0.9185)), float(np.float32(0.9285))
    assert a - b > -0.01
    assert no_worse(seeded(a, a), seeded(b, b), 0.01)[0] == NOT_SUPPORTED
    assert no_worse(seeded(a + 1e-4, a + 1e-4), seeded(b, b), 0.01)[0] == SUPPORTED


def test_more_seeds_decide_no_fewer_claims():
    """One seed against the others: inconclusive on three seeds, decided by the t-bound on five."""
    three = exceeds(seeded(0.90, 0.91, 0.80), seeded(0.85, 0.86, 0.81))
    five = exceeds(seeded(0.90, 0.91, 0.80, 0.92, 0.90), seeded(0.85, 0.86, 0.81, 0.86, 0.85))
    assert (three[0], five[0]) == (INCONCLUSIVE, SUPPORTED)


def test_pairing_is_by_seed_name():
    a = Stat.of([0.9, 0.8], ["42", "7"])
    b = Stat.of([0.85, 0.75], ["7", "42"])     # in the other order: 42 -> 0.9 - 0.75, 7 -> 0.8 - 0.85
    assert exceeds(a, b)[0] == INCONCLUSIVE and "42: 0.15, 7: -0.05" in exceeds(a, b).statistic


def test_infinities_are_handled():
    assert Stat((math.inf, 1.0)).spread == math.inf and Stat((math.inf, math.inf)).spread == 0
    assert Stat((math.inf, 1.0)).bound() is None
    assert above(S((math.inf, 2.0, 2.01, 1.99)), 1.0)[0] == SUPPORTED
    assert above(S((math.inf, 0.5)), 1.0)[0] == INCONCLUSIVE


def test_the_other_comparison_rules():
    assert above(S((1.5, 1.6, 1.7)), 1.0)[0] == SUPPORTED
    assert above(S((1.2, 1.21, 1.22)), 1.5)[0] == NOT_SUPPORTED        # faster, but not "much" faster
    assert above(S((0.8, 1.3)), 1.0)[0] == INCONCLUSIVE
    assert above(S((0.5, 0.9)), 1.0)[0] == INCONCLUSIVE                 # two seeds: t(0.95, 1) is 6.3
    assert above(S((0.5, 0.6, 0.55)), 1.0)[0] == NOT_SUPPORTED
    assert above(S((5.0,)), 1.0)[0] == INCONCLUSIVE
    assert similar({"a": seeded(0.90, 0.91, 0.92), "b": seeded(0.901, 0.912, 0.921)}, 0.01)[0] == SUPPORTED
    assert similar({"a": seeded(0.90, 0.91), "b": seeded(0.80, 0.81)}, 0.01)[0] == NOT_SUPPORTED
    assert similar({"a": seeded(0.90, 0.95), "b": seeded(0.90, 0.93)}, 0.01)[0] == INCONCLUSIVE
    assert no_worse(seeded(0.950, 0.952, 0.951), seeded(0.953, 0.955, 0.953), 0.01)[0] == SUPPORTED
    assert no_worse(seeded(0.90, 0.91), seeded(0.95, 0.96), 0.01)[0] == NOT_SUPPORTED
    yes, no, open_ = at_least(S((3.0, 3.0)), 2), at_least(S((1.0, 1.0)), 2), at_least(S((1.0, 3.0)), 2)
    assert both(yes, yes)[0] == SUPPORTED and both(yes, no)[0] == NOT_SUPPORTED and both(open_, yes)[0] == INCONCLUSIVE
    assert both(yes, no).rule.startswith("supported if per seed above 2 and per seed above 2 (one-sided")
    assert given(no, yes)[0] == NOT_SUPPORTED and given(no, open_)[0] == INCONCLUSIVE   # judged only where presumed
    assert judge(fact("best inside the grid", 1.0, 1.0), *yes.tests)[0] == SUPPORTED
    assert judge(fact("best inside the grid", 0.0, 1.0), *yes.tests)[0] == NOT_SUPPORTED
    assert matches({"n": 60000}, {"n": 60000})[0] == SUPPORTED
    assert matches({"n": 50000}, {"n": 60000})[0] == NOT_SUPPORTED
    assert matches({"n": None}, {"n": 60000})[0] == INCONCLUSIVE


def test_rules_state_themselves_and_their_statistic():
    yes = at_least(S((3, 4)), 2)
    assert yes.rule == ("supported if per seed above 2 (one-sided 95% t-bounds past the bounds), not supported if a "
                        "part's other t-bound has not passed its bound, else inconclusive")
    assert "judged only where per seed above 2 is supported" in given(yes, yes).rule
    assert at_least(None, 2).statistic == "per seed: not measured"
    verdict = exceeds(seeded(0.95, 0.97), seeded(0.90, 0.91))
    assert verdict.statistic.startswith("difference per seed: 42: 0.05, 7: 0.06; mean 0.055; one-sided 95% t-bounds")


def test_a_verdict_is_re_derived_exactly_from_its_numbers_csv(tmp_path):
    """numbers.csv holds each test of the rule and every seed's value as float64, exactly: reading it back
    gives the same verdicts; a changed value gives another."""
    tests = {"a": exceeds(seeded(0.9185, 0.93, 0.931), seeded(0.9285, 0.92, 0.92), -0.011),
             "b": given(at_most(S((0.0, 0.001, 0.0)), 0.01), at_least(seeded(0.1, 0.12, 0.11), 0.01)),
             "c": matches({"n": 60000}, {"n": 60000})}
    findings = [Finding(f"claim {k}", "", v.verdict, v.rule, k, v.statistic, tests=v.tests) for k, v in tests.items()]
    path = write_numbers(tmp_path / "numbers.csv", findings)
    back = read_numbers(path)
    assert {k: (claim, verdict) for k, (claim, verdict, _) in back.items()} == \
        {k: (f"claim {k}", v.verdict) for k, v in tests.items()}
    assert {k: combined(t) for k, (_, _, t) in back.items()} == {k: v.verdict for k, v in tests.items()}
    assert back["a"][2][0].values == tests["a"].tests[0].values and back["a"][2][0].values.seeds == ("42", "7", "1")
    assert [t.role for t in back["b"][2]] == ["claim", "requires"]
    path.write_text(path.read_text().replace(repr(0.12), repr(-0.5)))
    assert combined(read_numbers(path)["b"][2]) == INCONCLUSIVE


def test_paired_ratio_counts_a_run_that_never_got_there_as_a_lower_bound():
    assert paired_ratio([600, 500], [100, 100], [900, 900]) == (S((6.0, 5.0)), False)
    assert paired_ratio([600, 500], [100, 50], [900, 900], ["42", "7"])[0].seeds == ("42", "7")
    assert paired_ratio([None, 500], [100, 100], [900, 900]) == (S((9.0, 5.0)), True)
    assert paired_ratio([600, 500], [None, 100], [900, 900]) == (S((5.0,)), False)


def test_conditions_combine_seed_by_seed_even_with_a_seed_missing():
    from trainlab.pipeline.experiments.studies.rules import per_seed
    a = Stat.of([0.9, None, 0.7], ["42", "7", "1"])          # seed 7 failed
    b = Stat.of([0.5, 0.6, 0.4], ["42", "7", "1"])
    assert per_seed(lambda x, y: x - y, a, b).values == pytest.approx((0.4, 0.3))   # 42 with 42, 1 with 1
    assert per_seed(min, S((1.0, 2.0)), S((1.5, 1.5))).values == (1.0, 1.5)         # no seeds: by position
    results = constructed({"x": {"best_val_accuracy": [0.9, None, 0.7]}})
    assert results.stat("x", "best_val_accuracy").seeds == ("0", "2")


def test_a_stat_shows_mean_and_range():
    assert S((0.9, 0.92, 0.94)).show(3, 100, "%") == "92% (90-94%, n=3)"
    assert S((8.0, 8.0)).show() == "8 (all 2 seeds)"
    assert S().show() == "n/a" and S.of([None, math.nan, 1.0]).values == (1.0,)
