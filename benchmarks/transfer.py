"""Transfer: pretrain a trainlab network on Fashion-MNIST classes 0-4 (all 30,000 of their training
images), then learn classes 5-9 from 50 images per class three ways, same epochs: fine-tuned from that
backbone (the head alone first, then everything at a lower rate), the same network from scratch, and a
linear probe (the backbone frozen throughout). Each way's settings (the learning rate; fine-tuning also
the backbone's rate scale and whether its batch norm trains) are chosen on a validation set of 50 more
images per class (from the training images of classes 5-9), by mean over the seeds; the test split (the
5,000 test images of classes 5-9) only reports. Prints per seed, then the chosen settings' mean and range.

``--backbones``: instead, each keras.applications backbone at its native 224x224: training and inference
images per second at batch 32 after warm-up (random weights: the speed is the same).

    .venv/bin/python benchmarks/transfer.py [--seeds 42 7 1] [--epochs 20] [--pretrain-epochs 5]
    .venv/bin/python benchmarks/transfer.py --backbones
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NETWORK = {"model.name": "cnn", "model.width": 32}
RATES = (0.001, 0.003, 0.01, 0.03)  # a probe wants higher rates than a whole network


def ways(epochs: int) -> dict[str, list[dict]]:
    """Each way's candidate settings (chosen among on validation)."""
    fine = [{"pretrained": True, "train.learning_rate": rate, "train.freeze_epochs": max(1, epochs // 4),
             "train.backbone_lr_scale": scale, "train.backbone_bn": bn}
            for rate in RATES[1:] for scale in (0.1, 1.0) for bn in ("frozen", "train")]
    return {"fine-tuned": fine,
            "scratch": [{"pretrained": False, "train.learning_rate": rate} for rate in RATES],
            "linear probe": [{"pretrained": True, "train.learning_rate": rate, "train.freeze_epochs": epochs}
                             for rate in RATES]}


def label(settings: dict) -> str:
    shown = {"train.learning_rate": "lr", "train.backbone_lr_scale": "backbone x", "train.backbone_bn": "bn"}
    return " ".join(f"{name} {settings[key]}" for key, name in shown.items() if key in settings)


def split_classes(tmp: Path, per_class: int) -> tuple[Path, Path]:
    """``source.npz``: classes 0-4, every image; ``target.npz``: classes 5-9 (as 0-4), ``2 * per_class``
    training images of each (train and validation halves, stratified by the run) and every test image."""
    from trainlab.pipeline.data.sources import load_dataset
    ds = load_dataset("fashion_mnist")
    rng = np.random.default_rng(0)
    low_train, low_test = ds.y_train < 5, ds.y_test < 5
    np.savez(tmp / "source.npz", x_train=ds.x_train[low_train][..., 0], y_train=ds.y_train[low_train],
             x_test=ds.x_test[low_test][..., 0], y_test=ds.y_test[low_test])
    picked = np.concatenate([rng.choice(np.flatnonzero(ds.y_train == c), 2 * per_class, replace=False)
                             for c in range(5, 10)])
    np.savez(tmp / "target.npz", x_train=ds.x_train[picked][..., 0], y_train=ds.y_train[picked] - 5,
             x_test=ds.x_test[~low_test][..., 0], y_test=ds.y_test[~low_test] - 5)
    return tmp / "source.npz", tmp / "target.npz"


def transfer(args) -> None:
    from trainlab.pipeline.config.loading import load_config
    from trainlab.pipeline.plan import resolve_plan
    from trainlab.pipeline.training.stage import train
    tmp = Path(tempfile.mkdtemp(prefix="transfer-"))
    source, target = split_classes(tmp, args.per_class)
    store = {"tracking.tracking_uri": f"sqlite:///{tmp}/mlflow.db", "data.cache_dir": str(tmp)}
    start = time.perf_counter()
    cfg = load_config(None, {**store, **NETWORK, "data.dataset": str(source), "train.epochs": args.pretrain_epochs})
    pretrained = train(resolve_plan(cfg), echo=lambda line: None)
    print(f"pretrained on classes 0-4: validation {pretrained.best_val_accuracy:.4f}, test "
          f"{pretrained.test.accuracy:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    results: dict[tuple[str, int], list] = {}
    for seed in args.seeds:  # ways and settings interleaved within each seed
        for way, candidates in ways(args.epochs).items():
            for i, extra in enumerate(candidates):
                settings = {k: v for k, v in extra.items() if k != "pretrained"}
                if extra["pretrained"]:
                    settings["model.pretrained"] = f"runs:/{pretrained.run_id}/model"
                cfg = load_config(None, {**store, **NETWORK, **settings, "data.dataset": str(target),
                                         "data.validation_size": 5 * args.per_class, "train.epochs": args.epochs,
                                         "train.batch_size": 32, "train.seed": seed})
                begun = time.perf_counter()
                result = train(resolve_plan(cfg), echo=lambda line: None)
                results.setdefault((way, i), []).append((result.best_val_accuracy, result.test.accuracy))
                print(f"seed {seed:>3}  {way:<13} {label(extra):<45} validation {result.best_val_accuracy:.4f}  "
                      f"test {result.test.accuracy:.4f}  ({time.perf_counter() - begun:.0f} s)", flush=True)
    print(f"\nchosen on validation (mean of {len(args.seeds)} seeds); test reported:")
    for way, candidates in ways(args.epochs).items():
        best = max(range(len(candidates)), key=lambda i: statistics.mean(v for v, _ in results[(way, i)]))
        val, test = ([row[k] for row in results[(way, best)]] for k in (0, 1))
        print(f"{way:<13} {label(candidates[best]):<45} validation {statistics.mean(val):.4f}  test mean "
              f"{statistics.mean(test):.4f} (range {min(test):.4f}-{max(test):.4f})")


def backbone_speed(args) -> None:
    import keras

    from trainlab.models import create_model
    from trainlab.models.backbones import BACKBONES
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (args.batch, 224, 224, 3)).astype("float32")
    labels = np.eye(10)[rng.integers(0, 10, args.batch)]
    print(f"{'backbone':<20} {'parameters':>10} {'train img/s':>12} {'infer img/s':>12} {'s/epoch of 1,000':>17}")
    for name, spec in BACKBONES.items():
        keras.utils.clear_session()
        model = create_model(name, input_shape=(224, 224, 3), num_classes=10)
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        model.train_on_batch(images, labels)  # warm-up: tracing
        model.predict_on_batch(images)
        times = {"train": [], "infer": []}
        for _ in range(args.repeats):  # interleaved
            begun = time.perf_counter()
            model.train_on_batch(images, labels)
            times["train"].append(time.perf_counter() - begun)
            begun = time.perf_counter()
            model.predict_on_batch(images)
            times["infer"].append(time.perf_counter() - begun)
        train_rate, infer_rate = (args.batch / statistics.median(times[k]) for k in ("train", "infer"))
        print(f"{name:<20} {spec.parameters / 1e6:>9.1f}M {train_rate:>12.1f} {infer_rate:>12.1f} "
              f"{1000 / train_rate:>17.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 1])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--pretrain-epochs", type=int, default=5)
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--backbones", action="store_true", help="time each backbone at 224x224 instead")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    backbone_speed(args) if args.backbones else transfer(args)


if __name__ == "__main__":
    main()
