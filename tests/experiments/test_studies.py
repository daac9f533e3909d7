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
from tests.experiments.worlds import (
    WORLDS,
    activations_world,
    constructed,
    mixed_world,
    regularization_world,
    units_world,
)
from trainlab.pipeline.cli import cli
from trainlab.pipeline.experiments.studies import (
    INCONCLUSIVE,
    MODES,
    NOT_SUPPORTED,
    STUDIES,
    SUPPORTED,
    Stat,
    catalogue,
    provenance,
    run_study,
    write_index,
)
from trainlab.pipeline.experiments.sweeps import SweepSpec
from trainlab.pipeline.experiments.sweeps.spec import resolve
from trainlab.pipeline.training.model import build

VERDICTS = {SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE}
S = Stat

# --- findings on made-up results (worlds.py), both ways ----------------------------------------------


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
    for hostile in ("claim_id,test\nx,not-a-number\n", "\x00\xff" * 1000, "nothing,like,ours\n1,2,3\n"):
        (copy / "numbers.csv").write_bytes(hostile.encode("latin-1"))
        result = CliRunner().invoke(cli, ["study", "verify", "--out", str(copy)])
        assert result.exit_code == 2 and "cannot read the reports' numbers" in result.output, result.output
        assert "Traceback" not in result.output
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
