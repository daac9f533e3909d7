"""Running a study: its sweep, its findings, and a markdown report with plots, logged to the parent run."""
from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import plots, tracking
from ..errors import ConfigError
from .base import MODES, STUDIES, Finding, Results
from ..sweeps import SweepSpec, run_sweep

# Studies log to their own experiment unless the command line names another.
STUDY_EXPERIMENT = "trainlab-studies"


@dataclass
class StudyReport:
    name: str
    title: str
    mode: str
    findings: list[Finding]
    report_path: Path
    parent_run_id: str
    seconds: float

    def summary(self) -> str:
        lines = [f"{self.title} ({self.mode} mode, {self.seconds:.0f}s): {self.report_path}"]
        for f in self.findings:
            lines.append(f"  [{f.verdict}] {f.claim}\n      measured: {f.measured}")
        return "\n".join(lines)


def list_studies() -> list[str]:
    return sorted(STUDIES)


def run_study(name: str, mode: str = "default", overrides: dict | None = None, config_path: str | None = None,
              workers: int = 1, out_dir: str | Path | None = None,
              echo: Callable[[str], None] = print) -> StudyReport:
    """Run study ``name`` in ``mode`` (smoke | default | full) and write its report.

    ``overrides`` (command-line config keys) apply over the study's base and under its points.
    """
    if name not in STUDIES:
        raise ConfigError(f"unknown study {name!r}; known studies: {', '.join(list_studies())}, or all")
    if mode not in MODES:
        raise ConfigError(f"unknown study mode {mode!r}; known: {', '.join(MODES)}")
    study = STUDIES[name]()
    plan = study.plan(mode)
    start = time.perf_counter()
    sweep_name = f"study-{name}-{mode}"
    # float32: the studies measure gradients, activations and small differences between small models,
    # which bf16's 8-bit mantissa would blur (and small models gain no speed from it).
    spec = SweepSpec(sweep_name, plan.points, {"tracking.experiment": STUDY_EXPERIMENT, "augment": [],
                                               "train.precision": "float32", **plan.base},
                     config_path=config_path, metric="best_val_accuracy")
    out = Path(out_dir or Path("outputs") / "studies" / name)
    echo(f"study {name}: {study.title} ({mode} mode: {plan.budget})")
    sweep = run_sweep(spec, overrides, workers=workers, out_dir=out / "sweep", echo=echo)
    results = Results(sweep.comparison, mode)
    findings = study.findings(results)
    figures = study.figures(results)
    report = write_report(out, study, plan.budget, mode, results, findings, figures)
    tracking.groups.log_folder(sweep.parent_run_id, out, "study")
    tracking.groups.end_run(sweep.parent_run_id, "FINISHED", {
        "trainlab.study": name, **{f"trainlab.study.verdict.{i}": f.verdict for i, f in enumerate(findings)}})
    return StudyReport(name, study.title, mode, findings, report, sweep.parent_run_id, time.perf_counter() - start)


def write_report(out: Path, study, budget: str, mode: str, results: Results, findings: list[Finding],
                 figures: dict) -> Path:
    """``report.md`` beside its PNG plots: claims, numbers, verdicts, then the comparison table."""
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# {study.title}", "", inspect.cleandoc(study.__doc__ or ""), "",
             f"**Mode:** {mode}. **Budget:** {budget}.", "", "## Claims and verdicts", "",
             "| claim | measured | verdict | rule |", "|---|---|---|---|"]
    lines += [f"| {f.claim} | {f.measured} | **{f.verdict}** | {f.rule} |" for f in findings]
    lines += ["", "## Plots", ""]
    for filename, (caption, figure) in figures.items():
        plots.save(figure, out / filename)
        lines += [f"![{caption}]({filename})", "", f"*{caption}*", ""]
    lines += ["## Runs", "", results.comparison.markdown()]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
