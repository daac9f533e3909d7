"""The documentation's links: every relative link in README.md and docs/ points to a file git tracks
(plots included: a report whose images are not committed shows broken images)."""
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def tracked() -> set[str]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: cannot tell tracked files")
    return set(out.splitlines())


def test_every_relative_link_in_the_docs_points_to_a_tracked_file():
    files = tracked()
    pages = [p for p in files if p.endswith(".md") and (p == "README.md" or p.startswith("docs/"))]
    broken = []
    for page in pages:
        for target in LINK.findall((ROOT / page).read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (ROOT / page).parent / target.split("#", 1)[0]
            relative = path.resolve().relative_to(ROOT).as_posix() if path.resolve().is_relative_to(ROOT) else None
            if relative is None or (relative not in files and not any(f.startswith(relative + "/") for f in files)):
                broken.append(f"{page}: {target}")
    assert not broken, broken


def test_the_study_reports_re_derive_from_their_numbers_at_one_current_commit():
    """docs/studies: every verdict re-derived from its numbers.csv with the rule finds 0 differences (the reports
    and the index say what the numbers give); every report's provenance line was written by the tool at one
    commit, from a clean tree, an ancestor of HEAD, and no file a study run imports changed since (or the
    report is marked stale: `trainlab study verify --mark-stale`)."""
    from trainlab.pipeline.experiments.studies import provenance
    from trainlab.pipeline.experiments.studies.evidence import verify
    tracked()   # skips outside a git checkout
    studies = ROOT / "docs" / "studies"
    checked, differences = verify(studies)
    assert checked >= 60 and differences == []
    origins = [provenance.parse(p.read_text()) for p in [studies / "index.md", *studies.glob("*/report.md")]]
    assert None not in origins and len({o.commit for o in origins}) == 1 and not any(o.dirty for o in origins)
