"""Training on a folder larger than memory: peak RSS of one epoch streamed from disk.

Makes (once) a folder of JPEGs at 512x512 (10 classes; 50,000 by default: 39 GB decoded at native size,
7.5 GB at 224 px, over the default budget of a quarter of this machine's 24 GB), then runs, each as its
own process and measured by the kernel (``wait4``'s ru_maxrss):
1. ``trainlab data --dataset DIR --set data.image_size=[224,224]``: builds the store (the first pass);
2. ``trainlab train`` of the same data for one epoch of a small CNN (``cnn``, width 8, batch 64).
Prints the build time, the store's size on disk, the plan's storage line, the peak RSS of each and the
training time. ``--budget`` lowers data.memory_budget so a smaller folder streams too.

    .venv/bin/python benchmarks/bounded_memory.py [--images 50000] [--budget 1GB] [--root DIR]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

TRAINLAB = Path(sys.executable).with_name("trainlab")


def _photo(args) -> None:
    import numpy as np
    from PIL import Image
    path, index = args
    rng = np.random.default_rng(index)
    coarse = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(coarse).resize((512, 512), Image.BICUBIC), np.float32)
    image[..., index % 3] *= 0.6 + 0.04 * (index % 10)
    image += rng.normal(0, 10, image.shape)
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path, quality=90)


def make_folder(root: Path, images: int) -> Path:
    if (root / ".complete").exists():
        return root
    jobs = []
    for index in range(images):
        (root / f"class{index % 10}").mkdir(parents=True, exist_ok=True)
        jobs.append((root / f"class{index % 10}" / f"{index:06d}.jpg", index))
    start = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(_photo, jobs, chunksize=64))
    (root / ".complete").touch()
    print(f"made {images:,} JPEGs (512x512) in {time.perf_counter() - start:.0f} s", flush=True)
    return root


def measured(argv: list[str], cwd: Path) -> tuple[str, float, float]:
    """(output, seconds, peak RSS in GB) of a command run to its end."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{out[-3000:]}")
    return out, time.perf_counter() - start, usage.ru_maxrss / 1e6  # ru_maxrss is in kB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--budget", default=None, help="data.memory_budget (default: a quarter of the memory limit)")
    parser.add_argument("--root", type=Path, default=Path.home() / ".cache" / "trainlab-bench" / "large")
    args = parser.parse_args()
    folder = make_folder(args.root / str(args.images), args.images)
    work = Path(tempfile.mkdtemp(prefix="bounded-"))
    common = ["--dataset", str(folder), "--set", "data.image_size=[224, 224]", "--set",
              f"data.cache_dir={args.root / 'cache'}"]
    if args.budget:
        common += ["--set", f"data.memory_budget={args.budget}"]
    out, seconds, rss = measured([str(TRAINLAB), "data", *common, "--grid", str(work / "grid.png")], work)
    store = next((args.root / "cache").glob("stream-*/"), None)
    size = sum(p.stat().st_size for p in store.iterdir()) / 1e9 if store else 0.0
    print(f"trainlab data (builds the store on a first run): {seconds:.0f} s, peak RSS {rss:.2f} GB; "
          f"store {size:.2f} GB on disk", flush=True)
    out, seconds, rss = measured([str(TRAINLAB), "train", *common, "--model", "cnn", "--set", "model.width=8",
                                  "--epochs", "1", "--batch-size", "64", "--tracking-uri",
                                  f"sqlite:///{work}/mlflow.db"], work)
    for line in out.splitlines():
        if line.startswith(("note: data:", "best epoch", "run ")):
            print("  " + line)
    print(f"trainlab train, 1 epoch: {seconds:.0f} s, peak RSS {rss:.2f} GB", flush=True)


if __name__ == "__main__":
    main()
