"""A recipe over seeds, beside its variants: mean (and range) of validation accuracy, test accuracy,
training time and peak RSS, each run in its own process, variants taking turns seed by seed.

    .venv/bin/python benchmarks/recipe_seeds.py                                   # the default recipe
    .venv/bin/python benchmarks/recipe_seeds.py --variant ema train.ema=0.999     # ... beside EMA
    .venv/bin/python benchmarks/recipe_seeds.py --preset fast --seeds 42 7 1
    .venv/bin/python benchmarks/recipe_seeds.py --variants-only --variant 1m train.time_budget=1m \
        --variant 2m train.time_budget=2m --variant 5m train.time_budget=5m   # the recipe at time budgets

Variants are chosen on validation accuracy; test accuracy is only reported. Targets of the default
recipe (what `make run` trains): a mean test accuracy of at least 99.55% over 3 seeds in at most 180 s of
training on 2 CPU cores, at most 1.5 GB peak RSS.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform

from run_peers import run_peer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 7, 1])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="for every variant")
    parser.add_argument("--variant", nargs="+", action="append", default=[], metavar=("NAME", "KEY=VALUE"),
                        help="a variant: a name and its overrides (repeatable); the recipe itself runs too")
    parser.add_argument("--variants-only", action="store_true", help="leave the recipe itself out")
    args = parser.parse_args()
    variants = {**({} if args.variants_only else {"recipe": []}),
                **{name: list(sets) for name, *sets in args.variant}}
    runs = {name: [] for name in variants}
    for seed in args.seeds:
        for name, sets in variants.items():
            overrides = [f"train.seed={seed}", *args.set, *sets]
            r = run_peer("recipe_run.py", "--preset", args.preset, *(a for s in overrides for a in ("--set", s)))
            runs[name].append(r)
            print(f"  {name} seed {seed}: val {r['val_accuracy']:.4f} (epoch {r['best_epoch']}/{r['epochs']})  "
                  f"test {r['test_accuracy']:.4f}  {r['train_seconds']:.0f}s  {r['peak_rss_mb']:,.0f} MB"
                  + (f"  test-time augmentation: val {r['val_tta_accuracy']:.4f} test {r['test_tta_accuracy']:.4f}"
                     if "val_tta_accuracy" in r else ""), flush=True)
    print(f"preset {args.preset} {' '.join(args.set)}; seeds {args.seeds}; {os.cpu_count()} CPU cores "
          f"({platform.processor() or platform.machine()}), {datetime.date.today()}")
    print(f"{'variant':<12} {'val acc, mean (range)':>26} {'test acc, mean (range)':>26} "
          f"{'train s, mean (range)':>22} {'peak RSS MB':>12}")
    for name, rs in runs.items():
        print(f"{name:<12} {summary([r['val_accuracy'] * 100 for r in rs], 2):>26} "
              f"{summary([r['test_accuracy'] * 100 for r in rs], 2):>26} "
              f"{summary([r['train_seconds'] for r in rs], 0):>22} {max(r['peak_rss_mb'] for r in rs):>12,.0f}")
        if all("val_tta_accuracy" in r for r in rs):
            print(f"{'  + tta':<12} {summary([r['val_tta_accuracy'] * 100 for r in rs], 2):>26} "
                  f"{summary([r['test_tta_accuracy'] * 100 for r in rs], 2):>26}")
        if variants[name]:
            print(f"{'':<12} ({' '.join(variants[name])})")


def summary(values: list[float], digits: int) -> str:
    mean = sum(values) / len(values)
    return f"{mean:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


if __name__ == "__main__":
    main()
