"""Every verdict's numbers beside its report (``numbers.csv``: each test of the rule, each seed's value as
float64 written exactly), and the check that re-derives every verdict from them with the rule and compares
it with what the reports and the index say (``trainlab study verify``)."""
from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

from . import provenance
from .base import Finding
from .provenance import changed_since
from .rules import Stat, Test, combined

NUMBERS = "numbers.csv"
STALE = "**Stale:**"   # a report whose code changed since, marked rather than regenerated
COLUMNS = ("claim_id", "claim", "verdict", "test", "role", "quantity", "side", "bound", "upper", "seed", "value")
HEADING = re.compile(r"^#{2,3} (?P<claim>.+): \*\*(?P<verdict>[a-z ]+)\*\*$")
INDEX_ROW = re.compile(r"^\| \[[^]]+\]\([^)]+\) \| (?P<claim>.+) \| \*\*(?P<verdict>[a-z ]+)\*\* \|$")


def write_numbers(path: Path, findings: list[Finding]) -> Path:
    """One row per seed of every test of every claim (a test measured on no seed: one row without a value)."""
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for finding in findings:
            for i, t in enumerate(finding.tests):
                seeds = t.values.seeds or ("",) * t.values.n
                pairs = list(zip(seeds, t.values.values)) or [("", None)]
                for seed, value in pairs:
                    out.writerow([finding.claim_id, finding.claim, finding.verdict, i, t.role, t.quantity, t.side,
                                  repr(t.bound), "" if t.upper is None else repr(t.upper), seed,
                                  "" if value is None else repr(value)])
    return path


def read_numbers(path: Path) -> dict[str, tuple[str, str, list[Test]]]:
    """``{claim id: (claim, verdict written, tests)}`` from a ``numbers.csv``."""
    rows = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            rows[row["claim_id"]].append(row)
    claims = {}
    for claim_id, group in rows.items():
        tests = []
        for _, parts in sorted(_by_test(group).items()):
            first = parts[0]
            measured = [p for p in parts if p["value"] != ""]
            seeds = [p["seed"] for p in measured]
            values = Stat.of([float(p["value"]) for p in measured], seeds if any(seeds) else None)
            tests.append(Test(first["quantity"], values, first["side"], float(first["bound"]),
                              float(first["upper"]) if first["upper"] else None, first["role"]))
        claims[claim_id] = (group[0]["claim"], group[0]["verdict"], tests)
    return claims


def _by_test(group: list[dict]) -> dict[int, list[dict]]:
    tests = defaultdict(list)
    for row in group:
        tests[int(row["test"])].append(row)
    return tests


def current_or_marked(report: Path, files: list[str], root: Path, mark_stale: bool = False) -> list[str]:
    """Why ``report`` is stale and does not say so (empty: current, or marked ``**Stale:**`` with its reasons):
    no provenance line, or :func:`provenance.changed_since` its commit."""
    text = report.read_text()
    origin = provenance.parse(text)
    reasons = changed_since(origin, files, root) if origin else ["it has no provenance line"]
    if not reasons or STALE in text:
        return []
    if mark_stale and origin:
        line = origin.line()
        report.write_text(text.replace(line, f"{line}\n\n{STALE} {'; '.join(reasons)}.", 1))
        return []
    return [f"{report}: stale ({'; '.join(reasons[:3])}{'; ...' if len(reasons) > 3 else ''}): regenerate it, or "
            "mark it with `trainlab study verify --mark-stale`"]


def report_verdicts(text: str) -> dict[str, str]:
    """``{claim: verdict}`` from a report's (or the index's) claim headings."""
    found = (HEADING.match(line) for line in text.splitlines())
    return {m["claim"]: m["verdict"] for m in found if m}


def verify(folder: Path, mark_stale: bool = False) -> tuple[int, list[str]]:
    """Re-derive every verdict under ``folder`` (a study's report folder, or a folder of them with
    ``index.md``) from its ``numbers.csv``: ``(claims checked, differences)``; a report without one is a
    difference (it cannot be checked). Inside the checkout that holds this code, each report must also be
    current (:func:`current_or_marked`; ``mark_stale``: write the reason into a stale one instead)."""
    folder = Path(folder)
    reports = [folder / "report.md"] if (folder / "report.md").exists() else sorted(folder.glob("*/report.md"))
    if not reports:
        return 0, [f"{folder}: no report.md in it or in its subfolders"]
    checked, differences, derived = 0, [], {}
    root = provenance.repository(Path(__file__))
    checkout = root is not None and provenance.repository(folder) == root
    files = provenance.imported_by_studies(root) if checkout else []
    for report in [folder / "index.md", *reports] if checkout and (folder / "index.md").exists() else reports:
        differences += current_or_marked(report, files, root, mark_stale) if checkout else []
    for report in reports:
        numbers = report.parent / NUMBERS
        if not numbers.exists():
            differences.append(f"{report}: no {NUMBERS} beside it (written before verdicts recorded their numbers)")
            continue
        written = report_verdicts(report.read_text())
        for claim_id, (claim, verdict, tests) in read_numbers(numbers).items():
            checked += 1
            again = combined(tests)
            derived[claim] = again
            if again != verdict:
                differences.append(f"{numbers}: {claim_id}: the numbers give {again!r}, the file says {verdict!r}")
            if written.get(claim) != again:
                differences.append(f"{report}: {claim_id}: the report says {written.get(claim)!r}, the numbers give "
                                   f"{again!r}")
    index = folder / "index.md"
    if index.exists():
        for line in index.read_text().splitlines():
            m = INDEX_ROW.match(line)
            if m and derived.get(m["claim"], m["verdict"]) != m["verdict"]:
                differences.append(f"{index}: {m['claim']!r}: the index says {m['verdict']!r}, the numbers give "
                                   f"{derived[m['claim']]!r}")
    return checked, differences
