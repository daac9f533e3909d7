"""Seeing and fixing a folder of photos, measured on a generated one: 4 shape classes at 32 px (600 training
photos, 150 per class), 5% of their labels flipped (the files moved into a wrong class's folder).

Prints how many flipped photos `trainlab data --label-issues` finds (precision and recall, per seed of its
out-of-fold networks) and the Grad-CAM map's mean on each photo's object against its background for a cnn
trained on the clean photos; writes the two pictures of docs/training.md ("Seeing your data"):
``docs/images/label_issues.png`` and ``docs/images/gradcam.png``.

    .venv/bin/python benchmarks/see_your_data.py [--seeds 42 7 1] [--pictures docs/images]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def flipped_folder(root: Path, share: float = 0.05, seed: int = 1) -> set[str]:
    from tests.shapes import CLASSES, make_shapes_folder
    make_shapes_folder(root / "train", per_class=150, size=32)
    make_shapes_folder(root / "test", per_class=25, size=32, seed=1)
    rng = np.random.default_rng(seed)
    files = sorted(root.glob("train/*/*.png"))
    flipped = set()
    for path in rng.choice(files, size=round(len(files) * share), replace=False):
        wrong = rng.choice([c for c in CLASSES if c != path.parent.name])
        moved = root / "train" / wrong / f"flipped-{path.parent.name}-{path.name}"
        path.rename(moved)
        flipped.add(str(moved.resolve()))
    return flipped


def label_issues(root: Path, flipped: set[str], seeds: list[int], pictures: Path) -> None:
    from trainlab.pipeline.config.loading import load_config
    from trainlab.pipeline.evaluation import plots
    from trainlab.pipeline.training.label_issues import find_label_issues
    rows = []
    for seed in seeds:
        found = find_label_issues(load_config(None, {"data.dataset": str(root), "train.seed": seed}))
        files = {i.file for i in found.issues}
        hits = len(files & flipped)
        rows.append((hits / max(len(files), 1), hits / len(flipped)))
        print(f"seed {seed:>3}: {len(files)} reported, {hits} of the {len(flipped)} flipped; precision "
              f"{rows[-1][0]:.2f}, recall {rows[-1][1]:.2f}; out-of-fold accuracy {found.accuracy:.3f}", flush=True)
        if seed == seeds[0]:
            plots.save(plots.label_issues(found.images, found.issues, n=16), pictures / "label_issues.png")
    precision, recall = np.array(rows).T
    print(f"label issues over {len(seeds)} seeds: precision {precision.mean():.2f} ({precision.min():.2f}-"
          f"{precision.max():.2f}), recall {recall.mean():.2f} ({recall.min():.2f}-{recall.max():.2f})")


def gradcam(pictures: Path) -> None:
    from tests.shapes import CLASSES, trained_shape_classifier
    from trainlab.models.gradcam import GradCam, overlay
    from trainlab.pipeline.evaluation import plots
    served, images, labels = trained_shape_classifier()
    probabilities, maps = GradCam(served)(images)
    maps = maps.numpy()
    bright = images.max(axis=-1) > 110
    inside = np.mean([m[b].mean() for m, b in zip(maps, bright)])
    outside = np.mean([m[~b].mean() for m, b in zip(maps, bright)])
    accuracy = np.mean(np.argmax(probabilities, axis=1) == labels)
    print(f"Grad-CAM, cnn at {accuracy:.1%} on 100 held-out photos: mean map {inside:.3f} on the shapes' pixels, "
          f"{outside:.3f} on the background")
    shown = overlay(images[:16], maps[:16]).numpy()
    panels = [(np.concatenate([images[i], shown[i]], axis=1), CLASSES[int(np.argmax(probabilities[i]))])
              for i in range(8)]
    plots.save(plots.image_grid(panels, 4, "photo | Grad-CAM of the predicted class (red: its evidence)",
                                tile=(2.2, 1.5)), pictures / "gradcam.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 1])
    parser.add_argument("--pictures", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    args.pictures.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="see-your-data-")) / "shapes"
    flipped = flipped_folder(root)
    label_issues(root, flipped, args.seeds, args.pictures)
    gradcam(args.pictures)


if __name__ == "__main__":
    main()
