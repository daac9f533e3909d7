"""A study report's provenance, written by the tool: the commit, uncommitted changes, the command and the date, read
back from the report's text; and why a report is no longer current (in throwaway git repositories)."""
import shutil
import subprocess
from pathlib import Path

import pytest

from trainlab.pipeline.experiments.studies import provenance
from trainlab.pipeline.experiments.studies.provenance import Provenance, changed_since, current, parse

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "study.py").write_text("A = 1\n")
    (root / "pkg" / "other.py").write_text("B = 1\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first")
    return root


def test_a_clean_checkout_is_named_by_its_commit_and_the_line_reads_back(repo):
    found = current("trainlab study init --full", repo / "pkg" / "study.py")
    assert found.commit == git(repo, "rev-parse", "HEAD") and found.dirty == ()
    line = found.line()
    assert line == f"**Provenance:** commit `{found.commit}`; `trainlab study init --full`; {found.date}."
    assert parse(f"# A study\n\n{line}\n\n## Claims\n") == found
    assert changed_since(found, ["pkg/study.py"], repo) == []


def test_uncommitted_changes_are_counted_and_make_a_report_not_current(repo):
    (repo / "pkg" / "study.py").write_text("A = 2\n")
    (repo / "pkg" / "new.py").write_text("C = 1\n")
    found = current("trainlab study init", repo / "pkg" / "study.py")
    assert found.dirty == ("pkg/new.py", "pkg/study.py")
    assert ", with uncommitted changes to 2 files;" in found.line()
    assert parse(found.line()).dirty == ("?", "?")
    assert changed_since(found, ["pkg/other.py"], repo) == ["it ran with uncommitted changes to 2 files"]


def test_a_file_the_study_runs_changed_since_its_commit_makes_it_stale_others_do_not(repo):
    ran = current("trainlab study init", repo / "pkg" / "study.py")
    (repo / "pkg" / "other.py").write_text("B = 2\n")
    git(repo, "commit", "-qam", "other changed")
    assert changed_since(ran, ["pkg/study.py"], repo) == []
    both = ["pkg/study.py", "pkg/other.py"]
    assert changed_since(ran, both, repo) == [f"pkg/other.py changed since {ran.commit[:12]}"]
    (repo / "pkg" / "study.py").write_text("A = 3\n")  # not committed: a change all the same
    assert changed_since(ran, ["pkg/study.py"], repo) == [f"pkg/study.py changed since {ran.commit[:12]}"]


def test_a_commit_that_is_not_an_ancestor_of_head_is_said(repo):
    git(repo, "checkout", "-qb", "side")
    (repo / "pkg" / "study.py").write_text("A = 4\n")
    git(repo, "commit", "-qam", "side")
    side = current("trainlab study init", repo / "pkg" / "study.py")
    git(repo, "checkout", "-q", "main")
    assert changed_since(side, ["pkg/study.py"], repo) == [f"its commit {side.commit[:12]} is not an ancestor of HEAD"]


def test_outside_a_checkout_the_line_says_so_and_the_report_is_never_current(tmp_path):
    (tmp_path / "study.py").write_text("A = 1\n")
    found = current("trainlab study init", tmp_path / "study.py")
    assert found == Provenance("", (), "trainlab study init", found.date)
    assert found.line().startswith("**Provenance:** not from a git checkout; `trainlab study init`;")
    assert parse(found.line()) == found
    assert changed_since(found, [], tmp_path) == ["it was not written from a git checkout"]
    assert parse("**Ran:** 2026-12-07; Code: commit 7fe4282 (typed by hand)") is None


def test_the_files_a_study_runs_are_the_checkouts_imported_trainlab_modules():
    import trainlab.pipeline.experiments.studies.runner  # noqa: F401 - what a study imports
    root = provenance.repository(Path(provenance.__file__))
    if root is None or not (root / "pipeline" / "experiments").is_dir():
        pytest.skip("trainlab is not imported from a git checkout here (an installed wheel)")
    files = provenance.study_files(root)
    assert "pipeline/experiments/studies/runner.py" in files and "pipeline/experiments/studies/provenance.py" in files
    assert all((root / f).is_file() for f in files) and not any(f.startswith(".venv") for f in files)


def test_a_stale_report_is_a_difference_until_it_is_regenerated_or_marked(repo):
    from trainlab.pipeline.experiments.studies.evidence import STALE, current_or_marked
    report = repo / "report.md"
    report.write_text(f"# A study\n\n{current('trainlab study a', repo / 'pkg' / 'study.py').line()}\n\n## Claims\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "report")
    assert current_or_marked(report, ["pkg/study.py"], repo) == []
    (repo / "pkg" / "study.py").write_text("A = 2\n")
    git(repo, "commit", "-qam", "change the study")
    assert current_or_marked(report, ["pkg/other.py"], repo) == []          # a file the study does not import
    [why] = current_or_marked(report, ["pkg/study.py"], repo)
    assert "stale (pkg/study.py changed since" in why and "--mark-stale" in why
    assert current_or_marked(report, ["pkg/study.py"], repo, mark_stale=True) == []
    assert f"{STALE} pkg/study.py changed since" in report.read_text()
    assert current_or_marked(report, ["pkg/study.py"], repo) == []          # marked: it says so
    (repo / "old.md").write_text("# A report written by hand\n")
    assert "no provenance line" in current_or_marked(repo / "old.md", [], repo)[0]
