"""Where a study's report came from, written by the tool rather than typed: the commit it ran at, whether the
working tree had changes the commit does not hold, the command and the date; and whether a report is still
current: its commit an ancestor of the checkout's, and none of the files the study runs changed since.

A report written from a tree with uncommitted changes says so in its provenance line and is never current:
its numbers come from code no commit holds.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

LINE = "**Provenance:**"
_PATTERN = re.compile(r"\*\*Provenance:\*\* (?:commit `(?P<commit>[0-9a-f]{40})`|not from a git checkout)"
                      r"(?P<dirty>, with uncommitted changes to (?P<count>\d+) files?)?; `(?P<command>.*)`; "
                      r"(?P<date>\d{4}-\d{2}-\d{2})\.")


@dataclass(frozen=True)
class Provenance:
    commit: str                 # the checkout's HEAD (40 hex digits); "" outside a git checkout
    dirty: tuple[str, ...]      # files that differ from it (modified, added or untracked), repo-relative
    command: str
    date: str                   # YYYY-MM-DD

    def line(self) -> str:
        """The report's provenance line (:func:`parse` reads it back)."""
        where = f"commit `{self.commit}`" if self.commit else "not from a git checkout"
        dirty = f", with uncommitted changes to {len(self.dirty)} file{'s' * (len(self.dirty) != 1)}" if self.dirty \
            else ""
        return f"{LINE} {where}{dirty}; `{self.command}`; {self.date}."


def parse(text: str) -> Provenance | None:
    """The provenance line of a report's text, or None when it has none (a report written by hand or by an older
    trainlab). The dirty files are not in the line, only their count: each is named ``?`` here."""
    found = _PATTERN.search(text)
    if found is None:
        return None
    dirty = ("?",) * int(found["count"]) if found["dirty"] else ()
    return Provenance(found["commit"] or "", dirty, found["command"], found["date"])


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)


def repository(path: Path) -> Path | None:
    """The top of the git checkout that holds ``path``, or None (an installed wheel, git missing)."""
    try:
        done = _git(path if path.is_dir() else path.parent, "rev-parse", "--show-toplevel")
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(done.stdout.strip()) if done.returncode == 0 else None


def current(command: str, source: Path = Path(__file__)) -> Provenance:
    """The provenance of a report written now by the code at ``source`` (this package's checkout)."""
    date = time.strftime("%Y-%m-%d")
    root = repository(source)
    if root is None:
        return Provenance("", (), command, date)
    head = _git(root, "rev-parse", "HEAD").stdout.strip()
    status = _git(root, "status", "--porcelain", "--untracked-files=all").stdout.splitlines()
    return Provenance(head, tuple(sorted(line[3:] for line in status if line.strip())), command, date)


def study_files(root: Path, package: str = "trainlab") -> list[str]:
    """The files of ``root``'s checkout that this process has imported from ``package`` (after a study ran: the
    code its numbers depend on), repo-relative."""
    files = set()
    for name, module in list(sys.modules.items()):
        if name != package and not name.startswith(package + "."):
            continue
        path = getattr(module, "__file__", None)
        if path:
            try:
                files.add(Path(path).resolve().relative_to(root.resolve()).as_posix())
            except ValueError:
                continue  # installed elsewhere: not this checkout's
    return sorted(files)


STUDY_MODULES = ("trainlab.pipeline.experiments.studies", "trainlab.pipeline.experiments.sweeps.worker",
                 "trainlab.pipeline.job")


def imported_by_studies(root: Path) -> list[str]:
    """The checkout's files a study run imports (the studies, the sweep worker, the training they drive), listed
    by a fresh interpreter that imports only those: what a report's numbers depend on."""
    code = ("import importlib, sys; from pathlib import Path; [importlib.import_module(m) for m in sys.argv[2:]]; "
            "from trainlab.pipeline.experiments.studies.provenance import study_files; "
            "print('\\n'.join(study_files(Path(sys.argv[1]))))")
    done = subprocess.run([sys.executable, "-c", code, str(root), *STUDY_MODULES], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode != 0:
        raise RuntimeError(f"listing the studies' files failed: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout.split()


def changed_since(provenance: Provenance, files: list[str], root: Path) -> list[str]:
    """Why a report is not current, one reason each (empty: current): no commit, uncommitted changes when it
    ran, a commit that is not an ancestor of the checkout's HEAD, or any of ``files`` changed since (committed
    or not)."""
    if not provenance.commit:
        return ["it was not written from a git checkout"]
    reasons = [f"it ran with uncommitted changes to {len(provenance.dirty)} files"] if provenance.dirty else []
    if _git(root, "merge-base", "--is-ancestor", provenance.commit, "HEAD").returncode != 0:
        return reasons + [f"its commit {provenance.commit[:12]} is not an ancestor of HEAD"]
    changed = _git(root, "diff", "--name-only", provenance.commit, "--", *files).stdout.split() if files else []
    return reasons + [f"{name} changed since {provenance.commit[:12]}" for name in changed]
