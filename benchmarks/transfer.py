"""Transfer: a curve over a few images per class. Pretrain a trainlab network on Fashion-MNIST classes
0-4 (all 30,000 of their training images; ``--dataset mnist``: the digits 0-4, about 30,600), then learn
the disjoint classes 5-9 from 1, 5, 10 and 25
images per class three ways: fine-tuned from that backbone (the head alone first, then everything),
the same network from scratch, and a linear probe (the backbone frozen throughout). Every run takes
about the same number of steps (``--steps``: the epochs follow the images), and each way's settings
(the learning rate; fine-tuning also the backbone's rate scale and whether its batch norm trains) are
chosen per size on a validation set of 25 more images per class, separate from the training images, by
mean over the seeds; the test split (the test images of classes 5-9) only reports. Prints per run,
then per size each way's chosen settings with their test mean and range, and the fine-tuned gain over
scratch.

``--network mobilenet_v3_small``: the transfer recipe's backbone instead of ``cnn`` (the fine-tuned way's
grid chooses that recipe's rates and batch-norm handling on validation).

``--backbones``: instead, each keras.applications backbone at its native 224x224: training and inference
images per second at batch 32 after warm-up (random weights: the speed is the same).

    .venv/bin/python benchmarks/transfer.py [--seeds 42 7 1] [--sizes 1 5 10 25] [--steps 100]
    .venv/bin/python benchmarks/transfer.py --network mobilenet_v3_small --ways fine-tuned --sizes 10 25
    .venv/bin/python benchmarks/transfer.py --backbones
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NETWORKS = {"cnn": {"model.name": "cnn", "model.width": 32},  # the curve's network
            # the transfer recipe's default backbone, on these 28 px images padded to its smallest size, 32
            "mobilenet_v3_small": {"model.name": "mobilenet_v3_small", "data.image_size": [32, 32]}}
RATES = (0.001, 0.003, 0.01, 0.03)  # a probe wants higher rates than a whole network
VALIDATION_PER_CLASS = 25
BATCH = 32


def ways(epochs: int, network: str = "cnn") -> dict[str, list[dict]]:
    """Each way's candidate settings (chosen among on validation); a backbone's fine-tuning also tries 0.001, the
    rate of the Keras guide's head."""
    rates = RATES[1:3] if network == "cnn" else RATES[:3]
    fine = [{"pretrained": True, "train.learning_rate": rate, "train.freeze_epochs": max(1, epochs // 4),
             "train.backbone_lr_scale": scale, "train.backbone_bn": bn}
            for rate in rates for scale in (0.1, 1.0) for bn in ("frozen", "train")]
    return {"fine-tuned": fine,
            "scratch": [{"pretrained": False, "train.learning_rate": rate} for rate in RATES],
            "linear probe": [{"pretrained": True, "train.learning_rate": rate, "train.freeze_epochs": epochs}
                             for rate in RATES]}


def label(settings: dict) -> str:
    shown = {"train.learning_rate": "lr", "train.backbone_lr_scale": "backbone x", "train.backbone_bn": "bn"}
    return " ".join(f"{name} {settings[key]}" for key, name in shown.items() if key in settings)


def epochs_for(per_class: int, steps: int) -> int:
    """Epochs that give about ``steps`` steps of batch 32 on ``per_class`` images of each of 5 classes."""
    return max(4, math.ceil(steps / math.ceil(5 * per_class / BATCH)))


def split_classes(tmp: Path, sizes: list[int], dataset: str = "fashion_mnist") -> tuple[Path, dict[int, Path]]:
    """``source.npz``: classes 0-4, every image; ``target-N.npz``: classes 5-9 (as 0-4), N training images of
    each plus 25 validation images (the run's stratified carve-out takes exactly 25 per class), and every test
    image. The pool is one draw: a smaller size's images are among a larger one's."""
    from trainlab.pipeline.data.sources import load_dataset
    ds = load_dataset(dataset)
    rng = np.random.default_rng(0)
    low_train, low_test = ds.y_train < 5, ds.y_test < 5
    np.savez(tmp / "source.npz", x_train=ds.x_train[low_train][..., 0], y_train=ds.y_train[low_train],
             x_test=ds.x_test[low_test][..., 0], y_test=ds.y_test[low_test])
    pool = {c: rng.permutation(np.flatnonzero(ds.y_train == c)) for c in range(5, 10)}
    targets = {}
    for n in sizes:
        picked = np.concatenate([pool[c][:n + VALIDATION_PER_CLASS] for c in range(5, 10)])
        targets[n] = tmp / f"target-{n}.npz"
        np.savez(targets[n], x_train=ds.x_train[picked][..., 0], y_train=ds.y_train[picked] - 5,
                 x_test=ds.x_test[~low_test][..., 0], y_test=ds.y_test[~low_test] - 5)
    return tmp / "source.npz", targets


def transfer(args) -> None:
    from trainlab.pipeline.config.loading import load_config
    from trainlab.pipeline.plan import resolve_plan
    from trainlab.pipeline.training.stage import train
    tmp = Path(tempfile.mkdtemp(prefix="transfer-"))
    source, targets = split_classes(tmp, args.sizes, args.dataset)
    store = {"tracking.tracking_uri": f"sqlite:///{tmp}/mlflow.db", "data.cache_dir": str(tmp)}
    start = time.perf_counter()
    network = NETWORKS[args.network]
    cfg = load_config(None, {**store, **network, "data.dataset": str(source), "train.epochs": args.pretrain_epochs})
    pretrained = train(resolve_plan(cfg), echo=lambda line: None)
    print(f"pretrained on classes 0-4: validation {pretrained.best_val_accuracy:.4f}, test "
          f"{pretrained.test.accuracy:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    results: dict[tuple[int, str, int], list] = {}
    for seed in args.seeds:  # sizes, ways and settings interleaved within each seed
        for n in args.sizes:
            epochs = epochs_for(n, args.steps)
            for way, candidates in ways(epochs, args.network).items():
                if way not in args.ways:
                    continue
                for i, extra in enumerate(candidates):
                    settings = {k: v for k, v in extra.items() if k != "pretrained"}
                    if extra["pretrained"]:
                        settings["model.pretrained"] = f"runs:/{pretrained.run_id}/model"
                    cfg = load_config(None, {**store, **network, **settings, "data.dataset": str(targets[n]),
                                             "data.validation_size": 5 * VALIDATION_PER_CLASS, "train.epochs": epochs,
                                             "train.batch_size": BATCH, "train.seed": seed})
                    begun = time.perf_counter()
                    result = train(resolve_plan(cfg), echo=lambda line: None)
                    results.setdefault((n, way, i), []).append((result.best_val_accuracy, result.test.accuracy))
                    print(f"seed {seed:>3}  {n:>2}/class  {way:<13} {label(extra):<40} validation "
                          f"{result.best_val_accuracy:.4f}  test {result.test.accuracy:.4f}  "
                          f"({time.perf_counter() - begun:.0f} s)", flush=True)
    print(report(results, args.sizes, args.steps, len(args.seeds), args.network))


def report(results: dict, sizes: list[int], steps: int, seeds: int, network: str = "cnn") -> str:
    """Per size, each way's settings chosen on mean validation accuracy, with the test mean and range; then
    the fine-tuned gain over scratch (test means) and whether it reaches +10 points at 10 per class or fewer."""
    lines = [f"\nchosen on validation (mean of {seeds} seeds) per size; test reported:"]
    gains = {}
    for n in sizes:
        means = {}
        for way, candidates in ways(epochs_for(n, steps), network).items():
            tried = [i for i in range(len(candidates)) if (n, way, i) in results]
            if not tried:
                continue
            best = max(tried, key=lambda i: statistics.mean(v for v, _ in results[(n, way, i)]))
            val, test = ([row[k] for row in results[(n, way, best)]] for k in (0, 1))
            means[way] = statistics.mean(test)
            lines.append(f"{n:>2}/class  {way:<13} {label(candidates[best]):<40} validation {statistics.mean(val):.4f}"
                         f"  test mean {means[way]:.4f} (range {min(test):.4f}-{max(test):.4f})")
        if "fine-tuned" in means and "scratch" in means:
            gains[n] = 100 * (means["fine-tuned"] - means["scratch"])
            lines.append(f"{n:>2}/class  fine-tuned - scratch: {gains[n]:+.1f} points")
    few = {n: g for n, g in gains.items() if n <= 10}
    if few:
        met = all(g >= 10 for g in few.values())
        lines.append(f"target +10 points at 10 images per class or fewer: {'met' if met else 'not met'} "
                     f"({', '.join(f'{n}/class {g:+.1f}' for n, g in sorted(few.items()))})")
    return "\n".join(lines)


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
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 5, 10, 25], help="training images per class")
    parser.add_argument("--steps", type=int, default=100, help="about this many training steps per run")
    parser.add_argument("--pretrain-epochs", type=int, default=5)
    parser.add_argument("--network", choices=sorted(NETWORKS), default="cnn")
    parser.add_argument("--dataset", choices=["fashion_mnist", "mnist"], default="fashion_mnist",
                        help="classes 0-4 the source, 5-9 the target")
    parser.add_argument("--ways", nargs="+", choices=list(ways(1)), default=list(ways(1)))
    parser.add_argument("--backbones", action="store_true", help="time each backbone at 224x224 instead")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    backbone_speed(args) if args.backbones else transfer(args)


if __name__ == "__main__":
    main()
