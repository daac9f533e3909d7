"""Mislabelled photos: 5% of a generated folder's labels flipped (the files moved into a wrong class's folder),
`trainlab data --label-issues` finds most of them from out-of-fold probabilities through cleanlab."""
import csv

import numpy as np
import pytest
from click.testing import CliRunner

from tests.shapes import CLASSES, make_shapes_folder
from trainlab.pipeline.cli import cli

pytest.importorskip("cleanlab", reason="cleanlab is in the labels extra: pip install -e '.[labels]'")


@pytest.mark.slow
def test_flipped_labels_in_a_folder_are_found_with_their_files(tmp_path, monkeypatch):
    root = tmp_path / "shapes"
    make_shapes_folder(root / "train", per_class=150, size=32)
    make_shapes_folder(root / "test", per_class=3, size=32, seed=1)
    rng = np.random.default_rng(1)
    files = sorted(root.glob("train/*/*.png"))
    flipped = set()
    for path in rng.choice(files, size=len(files) // 20, replace=False):  # 5%: 30 of 600
        wrong = rng.choice([c for c in CLASSES if c != path.parent.name])
        moved = root / "train" / wrong / f"flipped-{path.parent.name}-{path.name}"
        path.rename(moved)
        flipped.add(str(moved.resolve()))
    monkeypatch.chdir(tmp_path)
    ran = CliRunner().invoke(cli, ["data", "--dataset", str(root), "--label-issues"])
    assert ran.exit_code == 0, ran.output
    with open(tmp_path / "outputs" / "label_issues.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    found = {row["file"] for row in rows}
    precision, recall = len(found & flipped) / max(len(found), 1), len(found & flipped) / len(flipped)
    print(f"label issues: {len(found)} reported, {len(found & flipped)} of the {len(flipped)} flipped: "
          f"precision {precision:.2f}, recall {recall:.2f}")
    assert recall >= 0.7 and precision >= 0.5
    first = rows[0]
    assert first["given"] != first["suggested"] and float(first["given_probability"]) < 0.5
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    given = [float(r["given_probability"]) for r in rows]
    assert given == sorted(given)  # the most doubtful first
    assert f"label issues {len(rows)} of " in ran.output and (tmp_path / "outputs" / "label_issues.png").is_file()


def test_label_issues_need_at_least_two_folds_and_enough_images_per_class(tmp_path):
    root = make_shapes_folder(tmp_path / "few", per_class=4, size=32)
    ran = CliRunner().invoke(cli, ["data", "--dataset", str(root), "--label-issues", "--folds", "1",
                                   "--grid", str(tmp_path / "grid.png")])
    assert ran.exit_code == 2 and "--folds must be at least 2, got 1" in ran.output
    ran = CliRunner().invoke(cli, ["data", "--dataset", str(root), "--label-issues", "--folds", "5",
                                   "--grid", str(tmp_path / "grid.png")])
    assert ran.exit_code == 2 and "--label-issues needs at least --folds (5) of each" in ran.output
