"""Studies: verdict rules on made-up numbers, every study's findings on made-up results that must come
out supported and not supported, every plan resolvable, and two studies end to end in smoke mode."""
import math
import re

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from tests.conftest import fresh_store
from trainlab.models import ACTIVATIONS
from trainlab.pipeline.cli import cli
from trainlab.pipeline.experiments.studies import (
    INCONCLUSIVE,
    MODES,
    NOT_SUPPORTED,
    STUDIES,
    SUPPORTED,
    Results,
    Stat,
    catalogue,
    run_study,
    write_index,
)
from trainlab.pipeline.experiments.studies.rules import (
    above,
    at_least,
    at_most,
    both,
    exceeds,
    no_worse,
    paired_ratio,
    similar,
    within,
)
from trainlab.pipeline.experiments.sweeps import Comparison, Row, SweepSpec
from trainlab.pipeline.experiments.sweeps.spec import resolve

VERDICTS = {SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE}
S = Stat


# --- verdict rules ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, verdict", [(2.0, SUPPORTED), (1.5, SUPPORTED), (1.2, INCONCLUSIVE),
                                            (1.0, INCONCLUSIVE), (0.99, NOT_SUPPORTED), (None, INCONCLUSIVE),
                                            (math.nan, INCONCLUSIVE), (math.inf, SUPPORTED),
                                            (S((1.6, 2.0, 1.7)), SUPPORTED), (S((1.6, 1.4)), INCONCLUSIVE),
                                            (S((0.5, 0.9)), NOT_SUPPORTED), (S((0.5, 1.1)), INCONCLUSIVE)])
def test_at_least_needs_every_seed(value, verdict):
    assert at_least(value, 1.5, 1.0)[0] == verdict


@pytest.mark.parametrize("value, verdict", [(0.05, SUPPORTED), (0.1, SUPPORTED), (0.5, INCONCLUSIVE),
                                            (1.01, NOT_SUPPORTED), (None, INCONCLUSIVE),
                                            (S((0.05, 0.2)), INCONCLUSIVE), (S((1.2, 3.0)), NOT_SUPPORTED)])
def test_at_most_needs_every_seed(value, verdict):
    assert at_most(value, 0.1, 1.0)[0] == verdict


@pytest.mark.parametrize("value, verdict", [(1.0, SUPPORTED), (0.5, SUPPORTED), (2.0, SUPPORTED),
                                            (0.3, INCONCLUSIVE), (5.0, INCONCLUSIVE), (0.1, NOT_SUPPORTED),
                                            (9.0, NOT_SUPPORTED), (None, INCONCLUSIVE),
                                            (S((1.0, 3.0)), INCONCLUSIVE), (S((0.1, 9.0)), NOT_SUPPORTED)])
def test_within(value, verdict):
    assert within(value, 0.5, 2.0, factor=4)[0] == verdict


@pytest.mark.parametrize("a, b, effect, verdict", [
    ((0.95, 0.96, 0.97), (0.90, 0.91, 0.92), 0.0, SUPPORTED),        # 5 points apart, spread 2
    ((0.92, 0.96, 0.97), (0.90, 0.91, 0.95), 0.0, INCONCLUSIVE),     # 3 points apart, spread 5
    ((0.90, 0.91, 0.92), (0.95, 0.96, 0.97), 0.0, NOT_SUPPORTED),    # the other way round
    ((0.950, 0.951), (0.940, 0.941), 0.05, NOT_SUPPORTED),           # real but far below the effect asked for
    ((0.95,), (0.90,), 0.0, INCONCLUSIVE),                           # one seed: no spread to judge by
    ((), (0.9, 0.9), 0.0, INCONCLUSIVE),
])
def test_exceeds_calls_a_difference_within_the_seed_spread_inconclusive(a, b, effect, verdict):
    assert exceeds(S(a), S(b), effect)[0] == verdict


def test_the_other_comparison_rules():
    assert above(S((1.5, 1.6, 1.7)), 1.0)[0] == SUPPORTED
    assert above(S((0.8, 1.3)), 1.0)[0] == INCONCLUSIVE
    assert above(S((0.5, 0.6)), 1.0)[0] == NOT_SUPPORTED
    assert above(S((5.0,)), 1.0)[0] == INCONCLUSIVE
    assert similar({"a": S((0.90, 0.91)), "b": S((0.905, 0.91))}, 0.01)[0] == SUPPORTED
    assert similar({"a": S((0.90, 0.91)), "b": S((0.80, 0.81))}, 0.01)[0] == NOT_SUPPORTED
    assert similar({"a": S((0.90, 0.95)), "b": S((0.88, 0.89))}, 0.01)[0] == INCONCLUSIVE
    assert no_worse(S((0.950, 0.952)), S((0.953, 0.955)), 0.01)[0] == SUPPORTED
    assert no_worse(S((0.90, 0.91)), S((0.95, 0.96)), 0.01)[0] == NOT_SUPPORTED
    assert both((SUPPORTED, "x"), (SUPPORTED, "y")) == (SUPPORTED, "(x) and (y)")
    assert both((SUPPORTED, "x"), (NOT_SUPPORTED, "y"))[0] == NOT_SUPPORTED
    assert both((INCONCLUSIVE, "x"), (SUPPORTED, "y"))[0] == INCONCLUSIVE


def test_rules_state_themselves():
    assert at_least(3, 2, 1)[1] == ("supported if >= 2 on every seed, not supported if < 1 on every seed, "
                                    "else inconclusive")
    assert at_least(None, 2, 1)[1].endswith("(not measured)")
    assert "spread (0.02)" in exceeds(S((0.95, 0.97)), S((0.90, 0.91)))[1]


def test_paired_ratio_counts_a_run_that_never_got_there_as_a_lower_bound():
    assert paired_ratio([600, 500], [100, 100], [900, 900]) == (S((6.0, 5.0)), False)
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


# --- findings on made-up results, both ways --------------------------------------------------------

def constructed(rows: dict, series: dict | None = None, measured: dict | None = None) -> Results:
    """Results without MLflow: ``{label: {metric: value or [value per seed], "fit": ...}}``, three seeds."""
    made, members = [], {}
    for label, metrics in rows.items():
        members[label] = []
        for i in range(3):
            name = f"{label} #{i}"
            values = {k: (v[i] if isinstance(v, list) else v) for k, v in metrics.items() if k != "fit"}
            made.append(Row(name, "FINISHED", {}, values, run_id=f"run-{name}", fit=metrics.get("fit", "")))
            members[label].append(name)
    results = Results(Comparison("constructed", "best_val_accuracy", [], made), "default", members, {},
                      measured or {})
    for (label, key), values in (series or {}).items():
        for i in range(3):
            results._series[f"run-{label} #{i}", key] = values
    return results


def acc(*values):
    return {"best_val_accuracy": list(values)}


def activations_world(good: bool):
    rows = {a: {**acc(0.90, 0.905, 0.91), "probe.steps_run": 900, "probe.accuracy_threshold": 0.8,
                "probe.steps_to_accuracy": 100} for a in ACTIVATIONS}
    rows["tanh"]["probe.steps_to_accuracy"] = [600, 550, 700] if good else [60, 65, 55]
    rows["sigmoid"].update({**acc(0.5, 0.6, 0.55), "probe.steps_to_accuracy": None} if good else
                           {**acc(0.95, 0.96, 0.97), "probe.steps_to_accuracy": [50, 60, 55]})
    if not good:
        rows["elu"].update(acc(0.80, 0.81, 0.80))
    relu, slow = [1.0, 1.1, 1.0], ([2.0, 2.1, 2.2] if good else [0.5, 0.6, 0.5])
    measured = {a: {"seconds": relu} for a in ACTIVATIONS}
    measured["sigmoid"] = measured["elu"] = {"seconds": slow}
    return rows, {}, measured


def units_world(good: bool):
    fresh = {"sigmoid": (0.001, 0.6, 1.0, 0.2), "tanh": (1.0, 0.01, 1.0, 0.05), "relu": (1.0, 0.3, 1.0, 0.5),
             "tanh, large init": (0.001, 0.0, 1.0, 0.8), "selu": (1.0, 0.0, 1.1, 0.0)}
    if not good:
        fresh = {**fresh, "sigmoid": (2.0, 0.01, 1.0, 0.2), "tanh, large init": (1.0, 0.0, 1.0, 0.01),
                 "selu": (1.0, 0.0, 0.01, 0.0)}
    keys = ("grad_first_over_last", "first_layer_mean", "act_std_last_over_first", "saturated_fraction")
    measured = {label: {k: [v, v * 1.01, v * 0.99] for k, v in zip(keys, values)} for label, values in fresh.items()}
    rows = {"relu, high rate": {"probe.dead_fraction": [0.2, 0.25, 0.3] if good else 0.0,
                                "probe.dead_fraction_init": 0.0}}
    for a in ("leaky_relu", "elu", "maxout"):
        rows[f"{a}, high rate"] = {"probe.dead_fraction": 0.0 if good else 0.0}
    rows["elu"] = {"probe.noise_accuracy_drop": [0.01, 0.012, 0.011] if good else [0.2, 0.21, 0.22]}
    rows["leaky_relu"] = {"probe.noise_accuracy_drop": [0.1, 0.11, 0.12]}
    rows["selu, deep"], rows["relu, deep"] = acc(0.95, 0.96, 0.955), acc(0.90, 0.91, 0.905)
    if not good:
        rows["selu, deep"], rows["relu, deep"] = rows["relu, deep"], rows["selu, deep"]
    return rows, {}, measured


def init_world(good: bool):
    def point(ratio, val, spread=None):
        return {"probe.act_std_last_over_first": ratio, **acc(val, val + 0.001, val - 0.001),
                **({"probe.min_unit_spread": spread} if spread is not None else {})}
    rows = {"constant/relu": point(1.0, 0.11, 0.0 if good else 0.05),
            "small_random/tanh": point(1e-8 if good else 0.9, 0.11),
            "glorot/tanh": point(0.6 if good else 0.01, 0.95), "glorot/relu": point(0.1 if good else 1.0, 0.94),
            "he/relu": point(1.1 if good else 0.01, 0.96),
            "small_random/relu, shallow": point(1.0, 0.95 if good else 0.80), "he/relu, shallow": point(1.0, 0.953)}
    if not good:
        rows["constant/relu"].update(acc(0.96, 0.97, 0.965))
    return rows, {}, {}


def learning_rate_world(good: bool):
    rows = {"lr 1e-05": acc(0.5, 0.52, 0.51), "lr 0.0005": acc(0.95, 0.952, 0.951), "lr 1": acc(0.1, 0.1, 0.1)}
    if good:
        rows["lr 1"]["fit"] = "diverged"
        return rows, {}, {}
    rows["lr 1"] = acc(0.97, 0.975, 0.98)
    rows["lr 1e-05"] = acc(0.94, 0.94, 0.94)
    return rows, {("lr 1", "probe.batch_loss"): [(1, 2.3), (100, 0.2)]}, {}


def preprocessing_world(good: bool):
    def point(sensitivity, steps, val):
        return {"probe.loss_sensitivity": sensitivity, "probe.steps_to_accuracy": steps, "probe.steps_run": 900,
                **acc(val, val + 0.002, val - 0.002)}
    if good:
        rows = {"scaled": point([0.5, 0.6, 0.55], [400, 420, 380], 0.90),
                "centered": point([0.1, 0.12, 0.11], 200, 0.95),
                "standardized": point(0.1, [100, 90, 110], 0.95)}
    else:
        rows = {"scaled": point(0.1, 100, 0.95), "centered": point([0.5, 0.6, 0.55], [400, 420, 380], 0.90),
                "standardized": point(0.1, 800, 0.95)}
    return rows, {}, {}


def regularization_world(good: bool):
    from trainlab.pipeline.experiments.studies.regularization import TECHNIQUES

    def point(train, val):
        return {"probe.train_accuracy": train, **acc(val, val + 0.004, val - 0.004)}
    rows = {"none": point(1.0, 0.80), "wide MLP": point(1.0, 0.80)}
    better, worse = point(0.95, 0.86), point(0.80, 0.70)  # worse: a smaller gap bought by a worse model
    rows.update({p: better if good else worse for p in TECHNIQUES})
    rows["4x data"] = rows["wide MLP + dropout 0.5"] = better if good else worse
    return rows, {}, {}


def augmentation_world(good: bool):
    rows = {"clothes, none": acc(0.80, 0.81, 0.80), "clothes, flips": acc(0.85, 0.86, 0.85),
            "digits, none": acc(0.95, 0.96, 0.95), "digits, flips": acc(0.98, 0.985, 0.99)}
    if not good:
        rows["clothes, flips"], rows["digits, flips"] = acc(0.70, 0.71, 0.70), acc(0.90, 0.90, 0.91)
    return rows, {}, {}


def loss_world(good: bool):
    ce = {"probe.steps_to_accuracy": [100, 110, 90], **acc(0.95, 0.955, 0.96)}
    l2 = {"probe.steps_to_accuracy": [300, 320, 310], "probe.steps_run": 900, **acc(0.90, 0.905, 0.91)}
    return ({"cross-entropy": ce, "L2": l2} if good else {"cross-entropy": l2, "L2": ce}), {}, {}


WORLDS = {"activations": activations_world, "units": units_world, "init": init_world,
          "learning-rate": learning_rate_world, "preprocessing": preprocessing_world,
          "regularization": regularization_world, "augmentation": augmentation_world, "loss": loss_world}


def test_every_study_has_made_up_worlds():
    assert set(WORLDS) == set(STUDIES)


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_every_claim_can_come_out_supported_and_not_supported(name):
    study = STUDIES[name]()
    good = study.findings(constructed(*WORLDS[name](True)))
    assert [f.claim_id for f in good] == list(study.claims)
    assert {f.claim_id: f.verdict for f in good} == {c: SUPPORTED for c in study.claims}
    bad = study.findings(constructed(*WORLDS[name](False)))
    refuted = {f.claim_id for f in bad if f.verdict == NOT_SUPPORTED}
    # leaky ReLU, ELU and maxout "live" only where ReLU units died: with none dead they are inconclusive
    expected = set(study.claims) - ({"leaky_relu-lives", "elu-lives", "maxout-lives"} if name == "units" else set())
    assert refuted == expected, {f.claim_id: (f.verdict, f.measured) for f in bad}
    for f in good + bad:
        assert re.search(r"\d", f.measured) and f.rule, f


def test_a_diverged_seed_is_not_counted_as_having_no_dead_units():
    rows, series, measured = units_world(True)
    rows["elu, high rate"] = {"probe.dead_fraction": 0.0, "fit": "diverged"}
    found = {f.claim_id: f for f in STUDIES["units"]().findings(constructed(rows, series, measured))}
    assert found["elu-lives"].verdict == INCONCLUSIVE and "3 seed(s) diverged" in found["elu-lives"].measured
    assert found["leaky_relu-lives"].verdict == SUPPORTED


def test_a_regularizer_that_only_narrows_the_gap_by_losing_accuracy_is_not_supported():
    bad = STUDIES["regularization"]().findings(constructed(*regularization_world(False)))
    mixup = next(f for f in bad if f.claim_id == "reg-mixup")
    assert mixup.verdict == NOT_SUPPORTED and "gap 10 pt" in mixup.measured and "validation 70%" in mixup.measured


def test_the_catalogue_lists_every_claim_once_with_its_quantity():
    entries = catalogue()
    assert len(entries) == sum(len(s.claims) for s in STUDIES.values()) >= 35
    assert len({(study, claim_id) for study, claim_id, _ in entries}) == len(entries)
    assert all(claim.statement and claim.quantity for _, _, claim in entries)


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_every_study_plan_resolves_in_every_mode(name, tmp_path):
    study = STUDIES[name]()
    for mode in MODES:
        plan = study.plan(mode)
        assert len({p.label for p in plan.points}) == len(plan.points)
        spec = SweepSpec(f"{name}-{mode}", plan.points, {**plan.base, "augment": []})
        resolved = resolve(spec, {"tracking.tracking_uri": fresh_store(tmp_path, "m.db")})
        assert len(resolved) == len(plan.points)


# --- two studies end to end in smoke mode, and the index -------------------------------------------

@pytest.fixture(scope="module")
def smoke_reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("studies")
    overrides = {"tracking.tracking_uri": fresh_store(root, "mlflow.db")}
    return root, [run_study(name, "smoke", overrides, out_dir=root / name, echo=lambda line: None)
                  for name in ("preprocessing", "loss")]  # tuned per condition; the smallest untuned one


@pytest.mark.slow
def test_smoke_studies_report_a_number_and_a_verdict_per_claim_over_seeds(smoke_reports):
    _, reports = smoke_reports
    for report in reports:
        study = STUDIES[report.name]
        assert [f.claim_id for f in report.findings] == list(study.claims)
        text = report.report_path.read_text()
        assert "**Seeds:** 42, 7" in text and "**Ran:**" in text
        for f in report.findings:
            assert f.verdict in VERDICTS and re.search(r"\d", f.measured), f
            assert f.claim in text and f"**{f.verdict}**" in text
        for image in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
            assert (report.report_path.parent / image).stat().st_size > 0
        client = MlflowClient()
        parent = client.get_run(report.parent_run_id)
        assert parent.info.status == "FINISHED" and parent.data.tags["trainlab.study"] == report.name
        children = client.search_runs([parent.info.experiment_id],
                                      f"tags.mlflow.parentRunId = '{report.parent_run_id}'")
        assert children and all(r.data.params["train.dtype_policy"] == "float32" for r in children)
        assert {r.data.params["train.seed"] for r in children} == {"42", "7"}


@pytest.mark.slow
def test_a_tuned_study_chooses_per_condition_on_validation_and_runs_the_other_seeds_there(smoke_reports):
    _, reports = smoke_reports
    report = next(r for r in reports if r.name == "preprocessing")
    text = report.report_path.read_text()
    assert "**Tuned on validation (seed 42):** train.learning_rate from 0.01, 0.03: scaled " in text
    client = MlflowClient()
    parent = client.get_run(report.parent_run_id)
    runs = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{report.parent_run_id}'")
    by_condition = {}
    for r in runs:
        by_condition.setdefault(r.data.params["data.normalization"], []).append(
            (r.data.params["train.seed"], float(r.data.params["train.learning_rate"]),
             r.data.metrics["best_val_accuracy"]))
    for condition, found in by_condition.items():
        tuning = {lr: val for seed, lr, val in found if seed == "42"}
        assert set(tuning) == {0.01, 0.03}
        best = max(tuning, key=tuning.get)
        assert [lr for seed, lr, _ in found if seed == "7"] == [best], condition


@pytest.mark.slow
def test_study_all_writes_an_index_of_every_claim_linked_to_its_report(smoke_reports):
    root, reports = smoke_reports
    index = write_index(root, reports, "trainlab study all --smoke").read_text()
    assert "# The lecture, claim by claim" in index and "`trainlab study all --smoke`" in index
    for report in reports:
        for f in report.findings:
            assert f"[{report.title}]({report.name}/report.md) | {f.claim} |" in index


def test_study_cli_lists_the_catalogue_and_refuses_unknown_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["study", "list"])
    assert result.exit_code == 0 and "relu-6x" in result.output and "settled by:" in result.output
    result = CliRunner().invoke(cli, ["study", "vibes", "--smoke"])
    assert result.exit_code == 2 and "unknown study 'vibes'" in result.output and "activations" in result.output
