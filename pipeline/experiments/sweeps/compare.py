"""A sweep's comparison: one row per point read back from MLflow, as CSV, markdown and plots."""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

from ... import tracking
from ...evaluation import plots
from .spec import ResolvedPoint, SweepSpec, show_value

groups = tracking.groups

METRICS = ("best_val_accuracy", "test_accuracy", "best_epoch", "epochs_run", "train_seconds")


@dataclass
class Row:
    label: str
    status: str                 # FINISHED | FAILED | KILLED | RUNNING | NOT RUN
    values: dict                # swept key -> shown value
    metrics: dict = field(default_factory=dict)
    run_id: str = ""
    fit: str = ""
    reason: str = ""

    def metric(self, key: str) -> float | None:
        value = self.metrics.get(key)
        return value if value is not None and math.isfinite(value) else None


@dataclass
class Comparison:
    name: str
    metric: str
    keys: list[str]
    rows: list[Row]
    importances: dict[str, float] | None = None  # a search's parameter -> importance (Optuna's fANOVA)

    def table(self) -> tuple[list[str], list[list[str]]]:
        header = ["point", *self.keys, "status", *METRICS, "fit", "run_id"]
        if self.metric not in METRICS:
            header.insert(2 + len(self.keys), self.metric)
        body = []
        for r in self.ranked():
            cells = {"point": r.label, "status": r.status, "fit": r.fit or r.reason[:60], "run_id": r.run_id,
                     **r.values, **{m: _fmt(r.metric(m)) for m in (*METRICS, self.metric)}}
            body.append([str(cells.get(h, "")) for h in header])
        return header, body

    def best_by_validation(self) -> Row | None:
        """The finished point the champion rule would rank first: the best validation accuracy, a tie broken
        by the lower validation loss (never by the sweep's own metric or by test figures)."""
        best = None
        for r in self.rows:
            accuracy = r.metric(tracking.SELECTION_METRIC)
            if r.status != "FINISHED" or accuracy is None:
                continue
            if best is None or tracking.outranks(accuracy, r.metric(tracking.TIE_METRIC),
                                                 best.metric(tracking.SELECTION_METRIC),
                                                 best.metric(tracking.TIE_METRIC)):
                best = r
        return best

    def ranked(self) -> list[Row]:
        """Finished points best first by the sweep's metric, then the rest in sweep order."""
        scored = [r for r in self.rows if r.metric(self.metric) is not None]
        return sorted(scored, key=lambda r: -r.metric(self.metric)) + [r for r in self.rows if r not in scored]

    def csv(self) -> str:
        header, body = self.table()
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([header, *body])
        return out.getvalue()

    def markdown(self) -> str:
        header, body = self.table()
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in body]
        return "\n".join(lines) + "\n"

    def write(self, folder: Path) -> None:
        """comparison.csv, comparison.md, val_curves.png and final_metric.png in ``folder`` (and a search's
        importances.md and importances.png)."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "comparison.csv").write_text(self.csv())
        (folder / "comparison.md").write_text(f"# Sweep {self.name}\n\nRanked by {self.metric}.\n\n" + self.markdown())
        curves = {r.label: [(s + 1, v) for s, v in groups.metric_history(r.run_id, "val_accuracy")]
                  for r in self.rows if r.run_id}
        plots.save(plots.overlaid(curves, "epoch", "validation accuracy", f"{self.name}: validation curves"),
                   folder / "val_curves.png")
        plots.save(plots.bars({r.label: r.metric(self.metric) for r in self.rows}, self.metric,
                              f"{self.name}: {self.metric} per point"), folder / "final_metric.png")
        if self.importances:
            (folder / "importances.md").write_text(self.importances_markdown())
            plots.save(plots.bars(self.importances, "importance (share of the metric's variance)",
                                  f"{self.name}: parameter importances"), folder / "importances.png")

    def importances_markdown(self) -> str:
        """The parameter importances as a table, most important first."""
        lines = [f"# Parameter importances: {self.name}", "",
                 f"Optuna's fANOVA over the completed trials' {self.metric}: the share of its variance each "
                 "parameter explains.", "", "| parameter | importance |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in self.importances.items()]
        return "\n".join(lines) + "\n"


def compare(spec: SweepSpec, points: list[ResolvedPoint], experiment_id: str) -> Comparison:
    """The row of each point: its finished run if it has one, else its latest run, else NOT RUN."""
    runs: dict[str, groups.ChildRun] = {}
    for child in groups.children(experiment_id, spec.name):  # oldest first: later runs replace earlier ones
        if runs.get(child.key) is None or runs[child.key].status != "FINISHED" or child.status == "FINISHED":
            runs[child.key] = child
    keys = spec.swept_keys
    rows = []
    for p in points:
        values = {k: show_value(p.point.overrides[k]) if k in p.point.overrides else "" for k in keys}
        child = runs.get(p.key)
        if child is None:
            rows.append(Row(p.point.label, "NOT RUN", values))
            continue
        rows.append(Row(p.point.label, child.status, values, child.metrics, child.run_id,
                        child.tags.get("trainlab.fit", ""), child.tags.get(groups.REASON_TAG, "")))
    return Comparison(spec.name, spec.metric, keys, rows)


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e9 else f"{value:.4f}"
