"""A study's report (``report.md`` beside its plots) and the index of every claim (``index.md``)."""
from __future__ import annotations

import inspect
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from ...evaluation import plots
from . import rules
from .base import STUDIES, TUNING_SEED, Finding, Plan, Results
from .evidence import NUMBERS, write_numbers
from .notes import QUOTES
from .provenance import Provenance


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
    budget: str = ""              # the setting the study used, in words (generated: setting.py)

    def summary(self) -> str:
        lines = [f"{self.title} ({self.mode} mode, {self.seconds:.0f}s): {self.report_path}"]
        for f in self.findings:
            lines.append(f"  [{f.verdict}] {f.claim}\n      measured: {f.measured}")
        return "\n".join(lines)


def show_value(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _grid(values) -> str:
    return ", ".join(map(show_value, sorted(values)))


def machine() -> str:
    """``2 CPU cores (AMD EPYC ...), Linux x86_64``: what a reader needs to compare wall times."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{os.cpu_count()} CPU cores ({cpu}), {platform.system()} {platform.machine()}"


def write_report(out: Path, study, plan: Plan, mode: str, results: Results, findings: list[Finding],
                 figures: dict, seconds: float, command: str | None = None, ran: int | None = None,
                 origin: Provenance | None = None) -> Path:
    """``report.md`` beside its PNG plots: how it ran (``origin``: its provenance line), claims, numbers,
    verdicts, then the runs.

    ``ran``: the runs this invocation trained; the others were finished by an earlier invocation of
    the same study (a resumed sweep), so the wall time covers only part of the work, and the report
    says so beside the training time of all its runs."""
    trained = sum(r.metric("train_seconds") or 0.0 for r in results.rows)
    resumed = "" if ran is None or ran >= len(results.rows) else (
        f" ({len(results.rows) - ran} of its {len(results.rows)} runs were finished by an earlier invocation)")
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# {study.title}", "", inspect.cleandoc(study.__doc__ or ""), "",
             f"**Mode:** {mode}. **Seeds:** {', '.join(map(str, plan.seeds))} "
             "(every trained number is the mean over them, with its range).", "",
             f"**Setting** (generated from what the study runs): {plan.setting or plan.budget}.", "",
             f"**Ran:** {time.strftime('%Y-%m-%d')} on {machine()}, {seconds:.0f} s wall{resumed}; its runs trained "
             f"for {trained:.0f} s in all" + (f"; `{command}`" if command else "") + ".", ""]
    if origin is not None:
        lines += [origin.line(), ""]
    if results.chosen:
        lines += [f"**Tuned on seed {TUNING_SEED}'s validation split (not a measured seed), by "
                  f"{plan.tune.metric} ({'lower' if plan.tune.lower else 'higher'} is better):** {plan.tune.key} "
                  + "; ".join(f"{label} {show_value(v)} (from {_grid(results.tried.get(label, []))})"
                              for label, v in results.chosen.items()) + ".", ""]
    write_numbers(out / NUMBERS, findings)
    lines += ["## Claims and verdicts", "",
              f"Each verdict's per-seed numbers: [{NUMBERS}]({NUMBERS}) (`trainlab study verify` re-derives every "
              "verdict from them).", ""]
    measured, constructed = split(findings)
    for f in measured:
        lines += claim_block(f, "###", plan.setting or plan.budget)
    if constructed:
        lines += ["## True by construction", "", CONSTRUCTED, ""]
        for f in constructed:
            lines += claim_block(f, "###", plan.setting or plan.budget)
    if study.unmeasured:
        lines += ["## Not measured", ""] + [unmeasured_line(c) for c in study.unmeasured.values()] + [""]
    lines += ["", "## Plots", ""]
    for filename, (caption, figure) in figures.items():
        plots.save(figure, out / filename)
        lines += [f"![{caption}]({filename})", "", f"*{caption}*", ""]
    lines += ["## Runs", "", results.comparison.markdown()]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


CONSTRUCTED = ("Claims that hold by construction (arithmetic, a definition, a dataset's files): measured to check "
               "the implementation, shown apart and not counted as evidence for the lecture.")


def split(findings: list[Finding]) -> tuple[list[Finding], list[Finding]]:
    """``(measured, true by construction)``."""
    return [f for f in findings if not f.construction], [f for f in findings if f.construction]


def unmeasured_line(claim) -> str:
    quote = QUOTES.get(claim.notes)
    return f"- {claim.statement} ({quote.show() if quote else 'the slides'}): not measured; {claim.quantity}."


def claim_block(f: Finding, heading: str, setting: str, link: str = "") -> list[str]:
    """One claim: the notes' words, what settles it, the setting, the numbers, the statistic, the verdict."""
    quote = QUOTES.get(f.notes)
    lines = [f"{heading} {f.claim}: **{f.verdict}**", ""]
    if link:
        lines += [f"- **Study:** {link}"]
    lines += [f"- **The notes:** {quote.show() if quote else 'not in the notes (the lecture slides)'}",
              f"- **Quantity:** {f.quantity}" if f.quantity else "",
              f"- **Setting:** {setting}" + (f"; the lecture's: {f.setting}" if f.setting else ""),
              f"- **By construction:** {f.construction}" if f.construction else "",
              f"- **Measured:** {f.measured}",
              f"- **Statistic:** {f.statistic}" if f.statistic else "",
              f"- **Rule:** {f.rule}", ""]
    return [line for line in lines[:-1] if line] + [""]


def write_index(out: Path, reports: list[StudyReport], command: str | None = None,
                origin: Provenance | None = None) -> Path:
    """``index.md``: the lecture claim by claim, each verdict linked to its study's report (``origin``: its
    provenance line)."""
    out.mkdir(parents=True, exist_ok=True)
    total, trained = sum(r.seconds for r in reports), sum(r.trained_seconds for r in reports)
    measured = [f for r in reports for f in split(r.findings)[0]]
    counts = {v: sum(f.verdict == v for f in measured)
              for v in (rules.SUPPORTED, rules.NOT_SUPPORTED, rules.INCONCLUSIVE)}
    constructed = [(r, f) for r in reports for f in split(r.findings)[1]]
    lines = ["# The lecture, claim by claim", "",
             "Each claim of the \"Training Neural Networks\" lecture (EECS 498 / cs231n lecture 10) with the words of "
             "the students' notes in `shared/lecture/` that make it, the quantity that settles it, the setting, the "
             "numbers per seed and the verdict.", "",
             "## The rule", "", inspect.cleandoc(rules.__doc__ or "").split("\n\n", 1)[1], "",
             f"**Ran:** {time.strftime('%Y-%m-%d')} on {machine()}, {total / 60:.0f} min wall for this invocation "
             f"(a resumed one reuses runs an earlier one finished), {trained / 60:.0f} min of training in all runs"
             + (f"; `{command}`" if command else "") + ". "
             + "Measured evidence: " + ", ".join(f"{n} {v}" for v, n in counts.items())
             + f"; true by construction (not counted): {len(constructed)}, "
               f"{sum(f.verdict == rules.SUPPORTED for _, f in constructed)} of them as stated.", "",
             *([origin.line(), ""] if origin is not None else []),
             "| study | claim | verdict |", "|---|---|---|"]
    links = {}
    for r in reports:
        link = Path(r.report_path).resolve().relative_to(out.resolve()) if _inside(r.report_path, out) \
            else Path(r.report_path).resolve()
        links[r.name] = f"[{r.title}]({link.as_posix()})"
        lines += [f"| {links[r.name]} | {f.claim} | **{f.verdict}** |" for f in split(r.findings)[0]]
    if constructed:
        lines += ["", "## True by construction", "", CONSTRUCTED, "", "| study | claim | as stated |", "|---|---|---|"]
        lines += [f"| {links[r.name]} | {f.claim} | **{f.verdict}** |" for r, f in constructed]
    unmeasured = [(r, c) for r in reports for c in STUDIES[r.name].unmeasured.values()] if reports else []
    if unmeasured:
        lines += ["", "## Not measured", ""] + [f"{unmeasured_line(c)} ({links[r.name]})" for r, c in unmeasured]
    lines += ["", "## Every claim", ""]
    for r in reports:
        for f in r.findings:
            lines += claim_block(f, "###", r.budget, links[r.name])
    path = out / "index.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _inside(path: Path, folder: Path) -> bool:
    try:
        Path(path).resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False
