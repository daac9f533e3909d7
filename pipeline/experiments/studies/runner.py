"""Running a study: its measurements, its sweep over seeds (after tuning a value per condition where
it tunes one), its findings, and a markdown report with plots, logged to the parent run."""
from __future__ import annotations

import inspect
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ... import tracking
from ...config.schema import TrainConfig
from ...errors import ConfigError
from ...evaluation import plots
from ..sweeps import Point, SweepSpec, run_sweep
from .base import MODES, SEEDS, STUDIES, Finding, Plan, Results
from .rules import fmt

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
    seconds: float              # wall time of this invocation
    trained_seconds: float = 0.0  # training time of all the study's runs (also those an earlier invocation ran)

    def summary(self) -> str:
        lines = [f"{self.title} ({self.mode} mode, {self.seconds:.0f}s): {self.report_path}"]
        for f in self.findings:
            lines.append(f"  [{f.verdict}] {f.claim}\n      measured: {f.measured}")
        return "\n".join(lines)


def list_studies() -> list[str]:
    return sorted(STUDIES)


def seed_label(label: str, seed: int, tuned: str = "") -> str:
    return f"{label}{tuned} #{seed}"


def _tuned(key: str, value) -> str:
    return f" ({key.rsplit('.', 1)[-1]} {value:g})" if isinstance(value, (int, float)) else f" ({value})"


def run_study(name: str, mode: str = "default", overrides: dict | None = None, config_path: str | None = None,
              workers: int = 1, out_dir: str | Path | None = None, command: str | None = None,
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
    plan.seeds = plan.seeds or SEEDS[mode]
    start = time.perf_counter()
    out = Path(out_dir or Path("outputs") / "studies" / name)
    echo(f"study {name}: {study.title} ({mode} mode: {plan.budget}; seeds {', '.join(map(str, plan.seeds))})")
    measured = study.measurements(mode, overrides or {})
    # float32: the studies measure gradients, activations and small differences between small models,
    # which bf16's 8-bit mantissa would blur (and small models gain no speed from it).
    # The optimizer's built-in defaults, not a dataset's recipe (MNIST's one-cycle main job), unless the study
    # says otherwise: a study's comparisons stay what its plan describes when a recipe changes.
    built_in = TrainConfig()
    base = {"tracking.experiment": STUDY_EXPERIMENT, "augment": [], "train.precision": "float32",
            "train.lr_schedule": built_in.lr_schedule, "train.learning_rate": built_in.learning_rate, **plan.base}

    ran = [0]

    def sweep(points: list[Point]):
        spec = SweepSpec(f"study-{name}-{mode}", points, base, config_path=config_path, metric="best_val_accuracy")
        result = run_sweep(spec, overrides, workers=workers, out_dir=out / "sweep", echo=echo)
        ran[0] += result.ran
        return result

    points, members, chosen = _points(name, plan, sweep, echo)
    result = sweep(points)
    results = Results(result.comparison, mode, members, chosen, measured)
    findings = study.findings(results)
    figures = study.figures(results)
    seconds = time.perf_counter() - start
    report = write_report(out, study, plan, mode, results, findings, figures, seconds, command, ran[0])
    tracking.groups.log_folder(result.parent_run_id, out, "study")
    tracking.groups.end_run(result.parent_run_id, "FINISHED", {
        "trainlab.study": name, **{f"trainlab.study.verdict.{f.claim_id or i}": f.verdict
                                   for i, f in enumerate(findings)}})
    trained = sum(r.metric("train_seconds") or 0.0 for r in results.rows)
    return StudyReport(name, study.title, mode, findings, report, result.parent_run_id, seconds, trained)


def _points(name: str, plan: Plan, sweep: Callable, echo: Callable[[str], None]) -> tuple[list, dict, dict]:
    """Every point to train, each condition's seeded members, and the value tuned per condition: with
    ``plan.tune``, the first seed's trials choose the value on validation and the other seeds train there."""
    if plan.tune is None:
        points = [_seeded(p, s) for p in plan.points for s in plan.seeds]
        return points, {p.label: [seed_label(p.label, s) for s in plan.seeds] for p in plan.points}, {}
    members, chosen = {}, {}
    key, first = plan.tune.key, plan.seeds[0]
    trials = {(p.label, v): _seeded(p, first, key, v) for p in plan.points for v in plan.tune.values}
    echo(f"study {name}: choosing {key} per condition on validation (seed {first}) from "
         + ", ".join(f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in plan.tune.values))
    result = sweep(list(trials.values()))
    score = {r.label: r.metric("best_val_accuracy") for r in result.comparison.rows}
    for p in plan.points:
        best = max(plan.tune.values, key=lambda v: _score(score.get(trials[p.label, v].label)))
        chosen[p.label] = best
        members[p.label] = [seed_label(p.label, s, _tuned(key, best)) for s in plan.seeds]
    points = list(trials.values()) + [_seeded(p, s, key, chosen[p.label]) for p in plan.points
                                      for s in plan.seeds[1:]]
    return points, members, chosen


def _seeded(point: Point, seed: int, key: str | None = None, value=None) -> Point:
    overrides = {**point.overrides, "train.seed": seed}
    tuned = ""
    if key is not None:
        overrides[key] = value
        tuned = _tuned(key, value)
    return Point(seed_label(point.label, seed, tuned), overrides, point.probes)


def _score(value: float | None) -> float:
    return -1.0 if value is None else value


def machine() -> str:
    """``2 CPU cores (AMD EPYC ...), Linux x86_64``: what a reader needs to compare wall times."""
    import os
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{os.cpu_count()} CPU cores ({cpu}), {platform.system()} {platform.machine()}"


def write_report(out: Path, study, plan: Plan, mode: str, results: Results, findings: list[Finding],
                 figures: dict, seconds: float, command: str | None = None, ran: int | None = None) -> Path:
    """``report.md`` beside its PNG plots: how it ran, claims, numbers, verdicts, then the runs.

    ``ran``: the runs this invocation trained; the others were finished by an earlier invocation of
    the same study (a resumed sweep), so the wall time covers only part of the work, and the report
    says so beside the training time of all its runs."""
    trained = sum(r.metric("train_seconds") or 0.0 for r in results.rows)
    resumed = "" if ran is None or ran >= len(results.rows) else (
        f" ({len(results.rows) - ran} of its {len(results.rows)} runs were finished by an earlier invocation)")
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# {study.title}", "", inspect.cleandoc(study.__doc__ or ""), "",
             f"**Mode:** {mode}. **Budget:** {plan.budget}. **Seeds:** {', '.join(map(str, plan.seeds))} "
             "(every trained number is the mean over them, with its range).", "",
             f"**Ran:** {time.strftime('%Y-%m-%d')} on {machine()}, {seconds:.0f} s wall{resumed}; its runs trained "
             f"for {trained:.0f} s in all" + (f"; `{command}`" if command else "") + ".", ""]
    if results.chosen:
        lines += [f"**Tuned on validation (seed {plan.seeds[0]}):** {plan.tune.key} from "
                  + ", ".join(fmt(v, 3) if isinstance(v, (int, float)) else str(v) for v in plan.tune.values)
                  + ": " + ", ".join(f"{label} {fmt(v, 3) if isinstance(v, (int, float)) else v}"
                                     for label, v in results.chosen.items()) + ".", ""]
    lines += ["## Claims and verdicts", "", "| claim | measured | verdict | rule |", "|---|---|---|---|"]
    lines += [f"| {f.claim} | {f.measured} | **{f.verdict}** | {f.rule} |" for f in findings]
    lines += ["", "## Plots", ""]
    for filename, (caption, figure) in figures.items():
        plots.save(figure, out / filename)
        lines += [f"![{caption}]({filename})", "", f"*{caption}*", ""]
    lines += ["## Runs", "", results.comparison.markdown()]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_index(out: Path, reports: list[StudyReport], command: str | None = None) -> Path:
    """``index.md``: the lecture claim by claim, each verdict linked to its study's report."""
    out.mkdir(parents=True, exist_ok=True)
    total, trained = sum(r.seconds for r in reports), sum(r.trained_seconds for r in reports)
    counts = {v: sum(f.verdict == v for r in reports for f in r.findings)
              for v in ("supported", "not supported", "inconclusive")}
    lines = ["# The lecture, claim by claim", "",
             "Each claim of the \"Training Neural Networks\" lecture (EECS 498 / cs231n lecture 10), the "
             "quantity that settles it, and the verdict trainlab measured. A verdict is decided only when the "
             "difference is larger than the seed-to-seed spread; otherwise it is *inconclusive*.", "",
             f"**Ran:** {time.strftime('%Y-%m-%d')} on {machine()}, {total / 60:.0f} min wall for this invocation "
             f"(a resumed one reuses runs an earlier one finished), {trained / 60:.0f} min of training in all runs"
             + (f"; `{command}`" if command else "") + ". "
             + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".", "",
             "| study | claim | measured | verdict |", "|---|---|---|---|"]
    for r in reports:
        link = Path(r.report_path).resolve().relative_to(out.resolve()) if _inside(r.report_path, out) \
            else Path(r.report_path).resolve()
        for f in r.findings:
            lines.append(f"| [{r.title}]({link.as_posix()}) | {f.claim} | {f.measured} | **{f.verdict}** |")
    path = out / "index.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _inside(path: Path, folder: Path) -> bool:
    try:
        Path(path).resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False
