"""Studies (the rules themselves: test_study_rules.py): every study's findings on made-up results that must come
out supported and not supported, every plan resolvable, and two studies end to end in smoke mode."""
import math
import re
import shutil
from pathlib import Path

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
    provenance,
    run_study,
    write_index,
)
from trainlab.pipeline.experiments.sweeps import Comparison, Row, SweepSpec
from trainlab.pipeline.experiments.sweeps.spec import resolve
from trainlab.pipeline.training.model import build

VERDICTS = {SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE}
S = Stat


# --- findings on made-up results, both ways --------------------------------------------------------

def constructed(rows: dict, series: dict | None = None, measured: dict | None = None,
                base: dict | None = None) -> Results:
    """Results without MLflow: ``{label: {metric: value or [value per seed], "fit": ...}}``, three seeds."""
    made, members = [], {}
    for label, metrics in rows.items():
        members[label] = []
        for i in range(3):
            name = f"{label} #{i}"
            values = {k: (v[i] if isinstance(v, list) else v) for k, v in metrics.items() if k != "fit"}
            fit = metrics.get("fit", "")
            made.append(Row(name, "FINISHED", {}, values, run_id=f"run-{name}",
                            fit=fit[i] if isinstance(fit, list) else fit))
            members[label].append(name)
    results = Results(Comparison("constructed", "best_val_accuracy", [], made), "default", members, {},
                      measured or {}, base=base or {})
    for (label, key), values in (series or {}).items():
        for i in range(3):
            results._series[f"run-{label} #{i}", key] = values
    return results


def acc(*values):
    return {"best_val_accuracy": list(values)}


def activations_world(good: bool):
    from trainlab.pipeline.experiments.studies.activations import WITH_BN, bn
    rows = {a: {**acc(0.90, 0.905, 0.91), "probe.epochs_run": 8, "probe.accuracy_threshold": 0.75,
                "probe.epochs_to_accuracy": 1.0} for a in ACTIVATIONS}
    rows.update({bn(a): {**acc(0.9, 0.9, 0.9), "probe.epochs_to_accuracy": 1.0} for a in WITH_BN})
    rows["tanh"]["probe.epochs_to_accuracy"] = [6.0, 5.5, 7.0] if good else [0.6, 0.65, 0.55]
    rows["tanh"].update(acc(0.85, 0.86, 0.87) if good else acc(0.95, 0.96, 0.97))
    rows["sigmoid"].update({**acc(0.5, 0.6, 0.55), "probe.epochs_to_accuracy": None} if good else
                           {**acc(0.95, 0.96, 0.97), "probe.epochs_to_accuracy": [0.5, 0.6, 0.55]})
    if not good:
        rows["elu"].update(acc(0.80, 0.81, 0.80))
        rows["relu"].update(acc(0.85, 0.855, 0.86))
        rows["leaky_relu"]["probe.epochs_to_accuracy"] = [3.0, 3.1, 2.9]
    relu, slow = [1.0, 1.1, 1.0], ([2.0, 2.1, 2.2] if good else [0.5, 0.6, 0.5])
    measured = {a: {"seconds": relu} for a in ACTIVATIONS}
    measured["sigmoid"] = measured["elu"] = {"seconds": slow}
    measured["maxout over relu"] = {"parameters": [2.0, 1.99, 1.98] if good else [1.0, 1.01, 1.0]}
    return rows, {}, measured, {"data.dataset": "/data/cifar-10-python.tar.gz"}   # the lecture's setting


def units_world(good: bool):
    # grad first/last, first-layer mean, std last/first, saturated fraction, saturated-unit gradient, mean/std
    fresh = {"sigmoid": (0.001, 0.6, 1.0, 0.2, 0.5, 3.0), "tanh": (1.0, 0.01, 1.0, 0.05, 0.5, 0.01),
             "relu": (1.0, 0.3, 1.0, 0.5, 0.5, 1.0), "leaky_relu": (1.0, 0.01, 1.0, 0.0, 0.5, 0.01),
             "tanh, large init": (0.001, 0.0, 1.0, 0.8, 0.01, 0.0), "selu": (1.0, 0.0, 1.1, 0.0, 0.5, 0.0),
             "sigmoid, large init": (0.1, 0.5, 1.0, 0.43, 0.07, 0.0)}
    if not good:
        fresh = {**fresh, "sigmoid": (2.0, 0.01, 1.0, 0.2, 0.5, 0.0), "tanh, large init": (1.0, 0.0, 1.0, 0.01, 0.9, 0),
                 "sigmoid, large init": (0.1, 0.5, 1.0, 0.01, 0.9, 0.0),
                 "selu": (1.0, 0.0, 0.01, 0.0, 0.5, 0.0), "leaky_relu": (1.0, 0.5, 1.0, 0.0, 0.5, 0.6),
                 "relu": (1.0, 0.3, 1.0, 0.5, 0.5, 0.01)}
    fresh["relu, large init"] = (1.0, 0.3, 1.0, 0.5, 0.5, 1.0, 0.0 if good else 0.3)
    keys = ("grad_first_over_last", "first_layer_mean", "act_std_last_over_first", "saturated_fraction",
            "saturated_unit_gradient", "first_layer_mean_over_std", "positive_saturated_fraction")
    measured = {label: {k: [v, v * 1.01, v * 0.99] for k, v in zip(keys, values)} for label, values in fresh.items()}
    rows = {"relu, low rate": {"probe.dead_fraction": 0.0}}
    for c in ("rate 0.1", "rate 0.05", "rate 0.03", "rate 0.1, clipped to 1"):
        rows[f"relu, {c}"] = {"probe.dead_fraction": [0.2, 0.25, 0.3] if good else 0.0, "probe.dead_fraction_init": 0.0}
        for a in ("leaky_relu", "elu", "maxout"):
            rows[f"{a}, {c}"] = {"probe.dead_fraction": 0.0}
    rows["elu"] = {"probe.noise_accuracy_drop": [0.01, 0.012, 0.011] if good else [0.2, 0.21, 0.22]}
    rows["leaky_relu"] = {"probe.noise_accuracy_drop": [0.1, 0.11, 0.12]}
    rows["selu, deep"], rows["relu, deep"] = acc(0.95, 0.96, 0.955), acc(0.90, 0.91, 0.905)
    if not good:
        rows["selu, deep"], rows["relu, deep"] = rows["relu, deep"], rows["selu, deep"]
    return rows, {}, measured


def init_world(good: bool):
    def point(ratio, val, spread=None):
        return {"probe.act_std_last_over_first": ratio, **acc(val, val + 0.001, val - 0.001),
                **({"probe.max_unit_spread": spread} if spread is not None else {})}
    rows = {"constant/relu": point(1.0, 0.11, 0.0 if good else 0.05),
            "small_random/tanh": point(1e-8 if good else 0.9, 0.11),
            "glorot/tanh": point(0.6 if good else 0.01, 0.95), "glorot/relu": point(0.1 if good else 1.0, 0.94),
            "he/relu": point(1.1 if good else 0.01, 0.96),
            "small_random/tanh, shallow": point(1.0, 0.90 if good else 0.11), "glorot/tanh, shallow": point(1.0, 0.905)}
    if not good:
        rows["constant/relu"].update(acc(0.96, 0.97, 0.965))
    return rows, {}, {}


def learning_rate_world(good: bool):
    rows = {"lr 1e-05": acc(0.5, 0.52, 0.51), "lr 0.0005": acc(0.95, 0.952, 0.951), "lr 1": acc(0.1, 0.1, 0.1)}
    if good:
        rows["lr 1"]["fit"] = "diverged"
        return rows, {}, {}
    rows["lr 1"] = acc(0.97, 0.975, 0.98)
    rows["lr 1e-05"] = acc(0.96, 0.96, 0.96)
    return rows, {("lr 1", "probe.batch_loss"): [(1, 2.3), (100, 0.2)]}, {}


def preprocessing_world(good: bool):
    def point(steps, val):
        return {"probe.steps_to_accuracy": steps, "probe.steps_run": 900, **acc(val, val + 0.002, val - 0.002)}
    if good:
        rows = {"scaled": point([400, 420, 380], 0.90), "centered": point(200, 0.95),
                "standardized": point([100, 90, 110], 0.95)}
    else:
        rows = {"scaled": point(100, 0.95), "centered": point([400, 420, 380], 0.90), "standardized": point(800, 0.95)}
    far = [0.5, 0.6, 0.55] if good else [0.05, 0.05, 0.05]
    mnist = {"height": [28], "width": [28], "training images": [60000 if good else 50000], "test images": [10000],
             "classes": [10]}
    return rows, {}, {"far": {"sensitivity": far, "train_accuracy": [0.9] * 3},
                      "centred": {"sensitivity": [0.1, 0.12, 0.11], "train_accuracy": [0.9] * 3}, "mnist": mnist}


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
    none, better, worse = acc(0.80, 0.81, 0.80), acc(0.85, 0.86, 0.85), acc(0.70, 0.71, 0.70)
    rows = {"clothes, none": none, "digits, none": none}
    rows.update({f"digits, {t}": better if good else worse
                 for t in ("crops", "rotation", "contrast", "magnitude", "flips")})
    rows["clothes, flips"] = better if good else worse
    return rows, {}, {}


def loss_world(good: bool):
    ce = {"probe.epochs_to_accuracy": [1.0, 1.1, 0.9], **acc(0.95, 0.955, 0.96), "loss": [0.1, 0.12, 0.11]}
    l2 = {"probe.epochs_to_accuracy": [3.0, 3.2, 3.1], "probe.epochs_run": 6, **acc(0.90, 0.905, 0.91),
          "loss": [2.0, 1.9, 2.1]}
    return ({"cross-entropy": ce, "L2": l2} if good else {"cross-entropy": l2, "L2": ce}), {}, {}


def mixed_world(name: str):
    """Two seeds from the world where every claim holds, the third from the one where none does: seeds
    that disagree, so every claim must come out inconclusive (facts that are not per seed left unread)."""
    good, bad = WORLDS[name](True), WORLDS[name](False)

    def mix(g, b):
        g = g if isinstance(g, list) else [g] * 3
        b = b if isinstance(b, list) else [b] * 3
        return [g[0], g[1], b[2]]
    rows = {label: {k: mix(v, bad[0][label].get(k, "" if k == "fit" else v)) for k, v in metrics.items()}
            for label, metrics in good[0].items()}
    measured = {label: {k: mix(v, bad[2][label].get(k, v)) for k, v in keys.items()}
                for label, keys in good[2].items() if label != "mnist"}
    if name == "learning-rate":   # a best rate whose seeds straddle the default's
        rows["lr 0.001"] = acc(0.97, 0.97, 0.92)
    return rows, {**good[1], **bad[1]}, measured


WORLDS = {"activations": activations_world, "units": units_world, "init": init_world,
          "learning-rate": learning_rate_world, "preprocessing": preprocessing_world,
          "regularization": regularization_world, "augmentation": augmentation_world, "loss": loss_world}


def test_every_study_has_made_up_worlds():
    assert set(WORLDS) == set(STUDIES)


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_every_claim_comes_out_supported_not_supported_and_inconclusive(name):
    study = STUDIES[name]()
    good = study.findings(constructed(*WORLDS[name](True)))
    assert [f.claim_id for f in good] == list(study.claims)
    assert {f.claim_id: f.verdict for f in good} == {c: SUPPORTED for c in study.claims}
    bad = study.findings(constructed(*WORLDS[name](False)))
    refuted = {f.claim_id for f in bad if f.verdict == NOT_SUPPORTED}
    # leaky ReLU, ELU and maxout "live" only where ReLU units died: with none dead they are inconclusive
    expected = set(study.claims) - ({"leaky_relu-lives", "elu-lives", "maxout-lives"} if name == "units" else set())
    assert refuted == expected, {f.claim_id: (f.verdict, f.measured) for f in bad}
    mixed = study.findings(constructed(*mixed_world(name)))
    assert {f.claim_id: f.verdict for f in mixed} == {c: INCONCLUSIVE for c in study.claims}, \
        {f.claim_id: (f.verdict, f.statistic) for f in mixed if f.verdict != INCONCLUSIVE}
    for f in good + bad:
        assert re.search(r"\d", f.measured) and f.rule and f.statistic, f


def test_the_6x_claim_is_judged_only_in_the_lectures_setting():
    rows, series, measured, base = activations_world(True)
    study = STUDIES["activations"]()
    found = {f.claim_id: f for f in study.findings(constructed(rows, series, measured, base))}
    assert found["relu-6x"].verdict == SUPPORTED
    found = {f.claim_id: f for f in study.findings(constructed(rows, series, measured, {"data.dataset": "fashion"}))}
    assert found["relu-6x"].verdict == INCONCLUSIVE and "not measured in the lecture's setting" in \
        found["relu-6x"].measured
    assert found["relu-faster-than-tanh"].verdict == SUPPORTED
    assert "target 75%" in study.plan("default", {"data.dataset": "/data/cifar-10-python.tar.gz"}).budget
    assert "target 85%" in study.plan("default").budget


def test_dead_units_are_judged_where_each_activation_trains_and_relu_died():
    """Unclipped (the lecture's large updates), at the highest rate where the activation did not diverge,
    against ReLU at that rate; a diverged seed is never counted as having no dead units; nothing lives
    where ReLU did not die either."""
    rows, series, measured = units_world(True)
    rows["elu, rate 0.1"] = {"probe.dead_fraction": 0.0, "fit": "diverged"}
    found = {f.claim_id: f for f in STUDIES["units"]().findings(constructed(rows, series, measured))}
    elu, leaky = found["elu-lives"], found["leaky_relu-lives"]
    assert elu.verdict == SUPPORTED and "at 0.05, unclipped (it diverged at 0.1)" in elu.measured
    assert leaky.verdict == SUPPORTED and "at 0.1, unclipped: 0%" in leaky.measured and "clipped to 1 at 0.1" in \
        leaky.measured
    for rate in ("0.05", "0.03"):
        rows[f"elu, rate {rate}"] = {"probe.dead_fraction": 0.0, "fit": ["good fit", "diverged", "good fit"]}
    rows["relu, rate 0.1"]["probe.dead_fraction"] = 0.0
    found = {f.claim_id: f for f in STUDIES["units"]().findings(constructed(rows, series, measured))}
    assert found["elu-lives"].verdict == INCONCLUSIVE and "diverged at every rate" in found["elu-lives"].measured
    assert found["relu-dies"].verdict == NOT_SUPPORTED and found["leaky_relu-lives"].verdict == INCONCLUSIVE


def test_an_accuracy_verdict_from_an_underfitting_run_is_inconclusive_for_its_budget():
    rows, series, measured = regularization_world(True)
    rows["cutmix"] = {**rows["cutmix"], "fit": ["good fit", "underfitting", "underfitting"]}
    found = {f.claim_id: f for f in STUDIES["regularization"]().findings(constructed(rows, series, measured))}
    assert found["reg-cutmix"].verdict == INCONCLUSIVE and found["reg-mixup"].verdict == SUPPORTED
    assert "the fit check calls 2 of these 6 runs underfitting: inconclusive (budget)" in found["reg-cutmix"].measured
    assert "runs of cutmix, none the fit check calls underfitting" in found["reg-cutmix"].rule


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


def test_a_studys_setting_is_generated_from_what_it_runs():
    from trainlab.pipeline.experiments.studies.setting import describe
    plan = STUDIES["init"]().plan("default")
    text = describe(plan, {**plan.base, "augment": [], "train.precision": "float32"})
    assert text.startswith("mnist: the first 12000 training images, 2000 of them held out for validation, "
                           "standardize inputs; model `mlp_deep` (width 256, depth 8, init std 0.01); sgd (momentum "
                           "0.9) at 0.01, constant schedule, 2 epoch(s) of batch 64, float32, no augmentation; the "
                           "conditions set `model.activation`, `model.depth`, `model.initializer`"), text
    assert "probes: activations_at_init; unit_spread" in text
    plan = STUDIES["preprocessing"]().plan("smoke")
    text = describe(plan, {**plan.base, "augment": [{"name": "flip_horizontal"}]})
    assert "augmentation flip_horizontal" in text and "by probe.steps_to_accuracy (lower is better)" in text


# --- two studies end to end in smoke mode, and the index -------------------------------------------

@pytest.fixture(scope="module")
def smoke_reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("studies")
    overrides = {"tracking.tracking_uri": fresh_store(root, "mlflow.db")}
    return root, [run_study(name, "smoke", overrides, out_dir=root / name, echo=lambda line: None)
                  for name in ("preprocessing",)]  # tuned per condition, with measurements taken without training


@pytest.mark.slow
def test_smoke_studies_report_a_number_and_a_verdict_per_claim_over_seeds(smoke_reports):
    _, reports = smoke_reports
    for report in reports:
        study = STUDIES[report.name]
        assert [f.claim_id for f in report.findings] == list(study.claims)
        text = report.report_path.read_text()
        assert "**Seeds:** 42, 7" in text and "**Ran:**" in text
        assert provenance.parse(text).command.startswith("run_study(")  # written by the tool, not typed
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
        assert {r.data.params["train.seed"] for r in children} - {"1000"} == {"42", "7"}


@pytest.mark.slow
def test_a_tuned_study_chooses_on_a_seed_of_its_own_and_measures_every_seed_there(smoke_reports):
    _, reports = smoke_reports
    report = next(r for r in reports if r.name == "preprocessing")
    text = report.report_path.read_text()
    assert "**Tuned on seed 1000's validation split (not a measured seed), by probe.steps_to_accuracy (lower" in text
    assert "scaled " in text and "(from 0.01, 0.03)" in text
    client = MlflowClient()
    parent = client.get_run(report.parent_run_id)
    runs = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{report.parent_run_id}'")
    by_condition = {}
    for r in runs:
        by_condition.setdefault(r.data.params["data.normalization"], []).append(
            (r.data.params["train.seed"], float(r.data.params["train.learning_rate"]),
             r.data.metrics.get("probe.steps_to_accuracy", math.inf)))
    for condition, found in by_condition.items():
        tuning = {lr: steps for seed, lr, steps in found if seed == "1000"}
        assert set(tuning) == {0.01, 0.03}
        best = min(sorted(tuning), key=tuning.get)   # the fewest steps; a tie: the first tried
        assert sorted((seed, lr) for seed, lr, _ in found if seed != "1000") == [("42", best), ("7", best)], condition


@pytest.mark.slow
def test_study_all_writes_an_index_of_every_claim_linked_to_its_report(smoke_reports):
    root, reports = smoke_reports
    index = write_index(root, reports, "trainlab study all --smoke").read_text()
    assert "# The lecture, claim by claim" in index and "`trainlab study all --smoke`" in index
    for report in reports:
        for f in report.findings:
            assert f"[{report.title}]({report.name}/report.md) | {f.claim} |" in index
            assert f"### {f.claim}: **{f.verdict}**" in index and f"- **Statistic:** {f.statistic}" in index
    assert "## The rule" in index and "one-sided 95% t-bound" in index
    assert '"Before normalization; classification loss very sensitive' in index and "§ Data Processing" in index


@pytest.mark.slow
def test_study_verify_re_derives_every_verdict_and_finds_a_changed_one(smoke_reports, tmp_path):
    root, reports = smoke_reports
    write_index(root, reports, "trainlab study all --smoke")
    result = CliRunner().invoke(cli, ["study", "verify", "--out", str(root)])
    claims = sum(len(r.findings) for r in reports)
    assert result.exit_code == 0, result.output
    assert f"{claims} verdicts re-derived from their numbers; 0 difference(s)" in result.output
    copy = tmp_path / "copy"
    shutil.copytree(root / reports[0].name, copy)
    f = reports[0].findings[0]
    other = next(v for v in VERDICTS if v != f.verdict)
    report = copy / "report.md"
    report.write_text(report.read_text().replace(f"### {f.claim}: **{f.verdict}**", f"### {f.claim}: **{other}**"))
    result = CliRunner().invoke(cli, ["study", "verify", "--out", str(copy)])
    assert result.exit_code == 1 and f"{f.claim_id}: the report says {other!r}, the numbers give {f.verdict!r}" \
        in result.output
    (copy / "numbers.csv").unlink()
    result = CliRunner().invoke(cli, ["study", "verify", "--out", str(copy)])
    assert result.exit_code == 1 and "no numbers.csv beside it" in result.output


def test_study_cli_lists_the_catalogue_and_refuses_unknown_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["study", "list"])
    assert result.exit_code == 0 and "relu-6x" in result.output and "settled by:" in result.output
    result = CliRunner().invoke(cli, ["study", "vibes", "--smoke"])
    assert result.exit_code == 2 and "unknown study 'vibes'" in result.output and "activations" in result.output


@pytest.mark.parametrize("name", ["activations", "regularization", "augmentation"])
def test_the_networks_have_batch_norm_only_where_the_report_says(name, tmp_path):
    """The activations study's CNN has no normalization (BatchNorm only in its labelled conditions); the
    regularization and augmentation baselines have none (BatchNorm is itself a regularizer)."""
    import keras
    plan = STUDIES[name]().plan("default")
    assert "without normalization" in plan.budget
    spec = SweepSpec(name, plan.points, {**plan.base, "augment": [], "data.dataset": "mnist"})
    for point in resolve(spec, {"tracking.tracking_uri": fresh_store(tmp_path, "m.db")}):
        model = build(point.plan)
        norms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
        assert bool(norms) == ("batch norm" in point.point.label), point.point.label


def test_a_tuned_grid_grows_past_the_end_where_the_best_value_sits():
    from trainlab.pipeline.experiments.studies.runner import _grow
    values = [0.01, 0.03, 0.1]
    assert _grow(values, 0.1) and values == [0.01, 0.03, 0.1, 0.333]
    assert _grow(values, 0.01) and values == [0.00333, 0.01, 0.03, 0.1, 0.333]
    assert not _grow(values, 0.03) and not _grow(["sgd", "adam"], "sgd")


def test_every_claim_quotes_the_notes():
    from trainlab.pipeline.experiments.studies.notes import QUOTES
    lecture = Path(__file__).resolve().parents[3] / "shared" / "lecture"
    unmeasured = [(claim_id, claim) for study in STUDIES.values() for claim_id, claim in study.unmeasured.items()]
    for claim_id, claim in [(i, c) for _, i, c in catalogue()] + unmeasured:
        assert claim.notes in QUOTES, claim_id
    if not lecture.is_dir():
        pytest.skip(f"the lecture notes are not beside this checkout ({lecture})")
    for key, quote in QUOTES.items():
        text = " ".join((lecture / quote.file).read_text().split())
        for part in quote.words.split(" * "):
            for piece in part.split(" ... "):
                assert " ".join(piece.split()) in text, (key, piece)
