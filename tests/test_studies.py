"""Studies: verdict rules on constructed numbers, findings on constructed results, every study in smoke mode."""
import math
import re

import pytest
from mlflow.tracking import MlflowClient

from trainlab.pipeline.studies import INCONCLUSIVE, NOT_SUPPORTED, STUDIES, SUPPORTED, Results, run_study
from trainlab.pipeline.studies.base import at_least, at_most, steps_ratio, within
from trainlab.pipeline.sweeps import Comparison, Row

VERDICTS = {SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE}


# --- verdict rules ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, verdict", [(2.0, SUPPORTED), (1.5, SUPPORTED), (1.2, INCONCLUSIVE),
                                            (1.0, INCONCLUSIVE), (0.99, NOT_SUPPORTED), (None, INCONCLUSIVE),
                                            (math.nan, INCONCLUSIVE), (math.inf, SUPPORTED)])
def test_at_least(value, verdict):
    assert at_least(value, 1.5, 1.0)[0] == verdict


@pytest.mark.parametrize("value, verdict", [(0.05, SUPPORTED), (0.1, SUPPORTED), (0.5, INCONCLUSIVE),
                                            (1.0, INCONCLUSIVE), (1.01, NOT_SUPPORTED), (None, INCONCLUSIVE)])
def test_at_most(value, verdict):
    assert at_most(value, 0.1, 1.0)[0] == verdict


@pytest.mark.parametrize("value, verdict", [(1.0, SUPPORTED), (0.5, SUPPORTED), (2.0, SUPPORTED),
                                            (0.3, INCONCLUSIVE), (5.0, INCONCLUSIVE), (0.1, NOT_SUPPORTED),
                                            (9.0, NOT_SUPPORTED), (None, INCONCLUSIVE)])
def test_within(value, verdict):
    assert within(value, 0.5, 2.0, factor=4)[0] == verdict


def test_rules_state_themselves():
    assert at_least(3, 2, 1)[1] == "supported if >= 2, not supported if < 1, else inconclusive"
    assert at_least(None, 2, 1)[1].endswith("(not measured)")


def test_steps_ratio_counts_a_run_that_never_got_there_as_a_lower_bound():
    assert steps_ratio(600, 100, 900) == (6.0, "6.00x (600 vs 100 steps)")
    ratio, shown = steps_ratio(None, 100, 900)
    assert ratio == 9.0 and shown.startswith("> 9.00x")
    assert steps_ratio(100, None, 900, 900) == (None, "n/a (the faster one did not reach the threshold in 900 steps)")
    assert steps_ratio(None, None, None)[0] is None


# --- findings on constructed results ------------------------------------------------------------

def constructed(rows: dict, series: dict | None = None) -> Results:
    """Results without MLflow: rows by label ({metric: value}, plus 'fit'), series by (label, key)."""
    made = [Row(label, "FINISHED", {}, {k: v for k, v in m.items() if k != "fit"}, run_id=f"run-{label}",
                fit=m.get("fit", "")) for label, m in rows.items()]
    results = Results(Comparison("constructed", "best_val_accuracy", [], made), "default")
    for (label, key), values in (series or {}).items():
        results._series[f"run-{label}", key] = values
    return results


def verdicts(study: str, results: Results) -> list[str]:
    return [f.verdict for f in STUDIES[study]().findings(results)]


def test_learning_rate_findings():
    loss = [(1, 2.3), (100, 0.3)]
    results = constructed(
        {"too small": {"best_val_accuracy": 0.60}, "good": {"best_val_accuracy": 0.97},
         "too large": {"best_val_accuracy": 0.10, "fit": "diverged"}},
        {("too small", "probe.batch_loss"): loss, ("good", "probe.batch_loss"): loss,
         ("too large", "probe.batch_loss"): [(1, 2.3), (5, 40.0)]})
    assert verdicts("learning-rate", results) == [SUPPORTED, SUPPORTED, SUPPORTED]
    results = constructed(
        {"too small": {"best_val_accuracy": 0.97}, "good": {"best_val_accuracy": 0.95},
         "too large": {"best_val_accuracy": 0.96}},
        {("too large", "probe.batch_loss"): [(1, 2.3), (100, 0.2)]})
    assert verdicts("learning-rate", results) == [NOT_SUPPORTED, NOT_SUPPORTED, NOT_SUPPORTED]


def test_init_findings():
    rows = {"zeros/tanh": {"probe.min_unit_spread": 0.0, "best_val_accuracy": 0.11,
                           "probe.act_std_last_over_first": 0.0},
            "small_random/tanh": {"probe.act_std_last_over_first": 1e-8, "best_val_accuracy": 0.11},
            "glorot/tanh": {"probe.act_std_last_over_first": 0.6, "best_val_accuracy": 0.95},
            "glorot/relu": {"probe.act_std_last_over_first": 0.1, "best_val_accuracy": 0.94},
            "he/relu": {"probe.act_std_last_over_first": 1.1, "best_val_accuracy": 0.96}}
    assert verdicts("init", constructed(rows)) == [SUPPORTED] * 6
    rows["he/relu"]["probe.act_std_last_over_first"] = 0.01
    rows["zeros/tanh"]["probe.min_unit_spread"] = 0.05
    assert verdicts("init", constructed(rows))[0] == NOT_SUPPORTED
    assert verdicts("init", constructed(rows))[4] == NOT_SUPPORTED


def test_activation_findings():
    from trainlab.models import ACTIVATIONS
    rows = {a: {"best_val_accuracy": 0.95, "probe.steps_run": 900, "probe.accuracy_threshold": 0.9,
                "probe.steps_to_accuracy": 100, "probe.grad_first_over_last": 1.0, "probe.dead_fraction": 0.0}
            for a in ACTIVATIONS}
    rows["tanh"]["probe.steps_to_accuracy"] = 600
    rows["sigmoid"].update({"best_val_accuracy": 0.5, "probe.grad_first_over_last": 0.001,
                            "probe.steps_to_accuracy": None})
    rows["relu"]["probe.dead_fraction"] = 0.05
    series = {("sigmoid", "probe.act_mean"): [(0, 0.5)], ("tanh", "probe.act_mean"): [(0, 0.01)]}
    assert verdicts("activations", constructed(rows, series)) == [SUPPORTED] * 5
    rows["tanh"]["probe.steps_to_accuracy"] = 90
    rows["relu"]["probe.dead_fraction"] = 0.0
    assert verdicts("activations", constructed(rows, series))[0] == NOT_SUPPORTED
    assert verdicts("activations", constructed(rows, series))[3] == NOT_SUPPORTED


def test_regularization_verdict_needs_a_quarter_of_the_gap():
    rows = {label: {"probe.train_accuracy": 1.0, "best_val_accuracy": 0.90}
            for label in ("none", "dropout 0.5", "L2 1e-3", "augmentation", "cutout", "mixup", "cutmix",
                          "label smoothing 0.1", "fractional pooling")}
    rows["dropout 0.5"]["best_val_accuracy"] = 0.93    # gap 0.07 vs 0.10: narrowed by 0.03 >= 0.025
    rows["L2 1e-3"]["best_val_accuracy"] = 0.91        # narrowed by 0.01 < 0.025
    rows["cutout"]["probe.train_accuracy"] = 1.0       # same gap
    rows["mixup"]["best_val_accuracy"] = 0.85          # wider gap
    found = verdicts("regularization", constructed(rows))
    assert found[:4] == [SUPPORTED, INCONCLUSIVE, NOT_SUPPORTED, NOT_SUPPORTED]
    assert found[4] == NOT_SUPPORTED


# --- every study, end to end, in smoke mode ------------------------------------------------------

@pytest.mark.parametrize("name", sorted(STUDIES))
def test_study_smoke_reports_a_number_and_a_verdict_per_claim(name, tmp_path):
    overrides = {"tracking.tracking_uri": f"sqlite:///{tmp_path}/mlflow.db"}
    lines = []
    report = run_study(name, "smoke", overrides, out_dir=tmp_path / "report", echo=lines.append)
    assert report.findings
    text = report.report_path.read_text()
    for f in report.findings:
        assert f.verdict in VERDICTS
        assert re.search(r"\d", f.measured), f.measured
        assert f.claim in text and f"**{f.verdict}**" in text
    for image in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
        assert (report.report_path.parent / image).stat().st_size > 0
    client = MlflowClient()
    parent = client.get_run(report.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["trainlab.study"] == name
    assert "study/report.md" in {a.path for a in client.list_artifacts(report.parent_run_id, "study")}
    assert all(row.status == "FINISHED" or row.fit == "diverged" for row in report_rows(report))
    assert report.summary().count("measured:") == len(report.findings)
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{report.parent_run_id}'")
    assert children and all(r.data.params["train.dtype_policy"] == "float32" for r in children)


def report_rows(report):
    experiment = MlflowClient().get_run(report.parent_run_id).info.experiment_id
    runs = MlflowClient().search_runs([experiment], f"tags.`mlflow.parentRunId` = '{report.parent_run_id}'")
    assert runs
    return [Row(r.data.tags.get("trainlab.sweep.label"), r.info.status, {}, fit=r.data.tags.get("trainlab.fit", ""))
            for r in runs]


def test_study_cli_refuses_unknown_names(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from trainlab.pipeline.cli import cli
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["study", "vibes", "--smoke"])
    assert result.exit_code == 2 and "unknown study 'vibes'" in result.output and "activations" in result.output
