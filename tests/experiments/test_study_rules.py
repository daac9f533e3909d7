"""The verdict rules of the lecture studies (rules.py) on made-up per-seed numbers: each rule's three
verdicts, pairing by seed, infinities, and more seeds never deciding fewer claims."""
import math

import pytest

from tests.experiments.test_studies import constructed  # Results without MLflow
from trainlab.pipeline.experiments.studies import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    Stat,
)
from trainlab.pipeline.experiments.studies.rules import (
    above,
    at_least,
    at_most,
    both,
    exceeds,
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
    (S((1.6, 2.0, 1.7)), SUPPORTED), (S((1.5, 1.5)), SUPPORTED),           # every seed at or above
    (S((1.6, 1.4)), INCONCLUSIVE), (S((0.5, 1.1)), INCONCLUSIVE),          # seeds disagree
    (S((0.5, 0.9)), NOT_SUPPORTED), (S((math.inf, 2.0)), SUPPORTED),
    (S((2.0,)), INCONCLUSIVE), (None, INCONCLUSIVE), (math.nan, INCONCLUSIVE),  # no verdict from one seed
])
def test_at_least_needs_two_seeds_that_agree(value, verdict):
    assert at_least(value, 1.5, 1.0)[0] == verdict


@pytest.mark.parametrize("value, verdict", [(S((0.05, 0.1)), SUPPORTED), (S((0.05, 0.2)), INCONCLUSIVE),
                                            (S((1.2, 3.0)), NOT_SUPPORTED), (S((1.01,)), INCONCLUSIVE)])
def test_at_most_mirrors_at_least(value, verdict):
    assert at_most(value, 0.1, 1.0)[0] == verdict


@pytest.mark.parametrize("value, verdict", [(S((1.0, 0.5, 2.0)), SUPPORTED), (S((1.0, 3.0)), INCONCLUSIVE),
                                            (S((0.1, 0.11)), NOT_SUPPORTED), (S((9.0, 10.0)), NOT_SUPPORTED),
                                            (S((0.1, 9.0)), INCONCLUSIVE), (S((1.0,)), INCONCLUSIVE)])
def test_within(value, verdict):
    assert within(value, 0.5, 2.0, factor=4)[0] == verdict


def seeded(*values):
    return Stat.of(values, [str(s) for s in (42, 7, 1, 2, 3)[:len(values)]])


@pytest.mark.parametrize("a, b, effect, verdict", [
    # the case: sigmoid worse by 9.3 / 26.9 / 8.0 points, range 17.9 > mean 14.7: the sign agrees
    ((0.86, 0.87, 0.85), (0.767, 0.601, 0.77), 0.01, SUPPORTED),
    ((0.92, 0.96, 0.97), (0.90, 0.91, 0.98), 0.0, INCONCLUSIVE),     # one seed the other way, wide t-bound
    ((0.90, 0.91, 0.92), (0.95, 0.96, 0.97), 0.0, NOT_SUPPORTED),    # the other way round
    ((0.950, 0.951), (0.940, 0.941), 0.05, NOT_SUPPORTED),           # real but far below the effect asked for
    ((0.95, 0.95), (0.90, 0.95), 0.02, INCONCLUSIVE),                # mean reaches the effect, one seed no gain
    ((0.95,), (0.90,), 0.0, INCONCLUSIVE),                           # one seed: no verdict
    ((), (0.9, 0.9), 0.0, INCONCLUSIVE),
])
def test_exceeds_pairs_the_seeds(a, b, effect, verdict):
    assert exceeds(seeded(*a), seeded(*b), effect)[0] == verdict


def test_more_seeds_decide_no_fewer_claims():
    """One seed against the others: inconclusive on three seeds, decided by the t-bound on five where the
    range-based rule of old would only have grown less decisive."""
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
    assert above(S((math.inf, 2.0, 3.0)), 1.0)[0] == SUPPORTED
    assert above(S((math.inf, 0.5)), 1.0)[0] == INCONCLUSIVE


def test_the_other_comparison_rules():
    assert above(S((1.5, 1.6, 1.7)), 1.0)[0] == SUPPORTED
    assert above(S((1.2, 1.3)), 1.0, 1.5)[0] == NOT_SUPPORTED        # faster, but not "much" faster
    assert above(S((0.8, 1.3)), 1.0)[0] == INCONCLUSIVE
    assert above(S((0.5, 0.6)), 1.0)[0] == NOT_SUPPORTED
    assert above(S((5.0,)), 1.0)[0] == INCONCLUSIVE
    assert similar({"a": seeded(0.90, 0.91), "b": seeded(0.905, 0.912)}, 0.01)[0] == SUPPORTED
    assert similar({"a": seeded(0.90, 0.91), "b": seeded(0.80, 0.81)}, 0.01)[0] == NOT_SUPPORTED
    assert similar({"a": seeded(0.90, 0.95), "b": seeded(0.90, 0.93)}, 0.01)[0] == INCONCLUSIVE
    assert no_worse(seeded(0.950, 0.952), seeded(0.953, 0.955), 0.01)[0] == SUPPORTED
    assert no_worse(seeded(0.90, 0.91), seeded(0.95, 0.96), 0.01)[0] == NOT_SUPPORTED
    assert both((SUPPORTED, "x"), (SUPPORTED, "y"))[:2] == (SUPPORTED, "(x) and (y)")
    assert both((SUPPORTED, "x"), (NOT_SUPPORTED, "y"))[0] == NOT_SUPPORTED
    assert both((INCONCLUSIVE, "x"), (SUPPORTED, "y"))[0] == INCONCLUSIVE
    assert matches({"n": 60000}, {"n": 60000})[0] == SUPPORTED
    assert matches({"n": 50000}, {"n": 60000})[0] == NOT_SUPPORTED
    assert matches({"n": None}, {"n": 60000})[0] == INCONCLUSIVE


def test_rules_state_themselves_and_their_statistic():
    assert at_least(S((3, 4)), 2, 1)[1] == "supported if consistently >= 2, not supported if consistently < 1, " \
                                           "else inconclusive"
    assert at_least(None, 2, 1)[1].endswith("(not measured)")
    verdict = exceeds(seeded(0.95, 0.97), seeded(0.90, 0.91))
    assert verdict.statistic.startswith("difference per seed: 42: 0.05, 7: 0.06; mean 0.055; one-sided 95% t-bounds")


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
