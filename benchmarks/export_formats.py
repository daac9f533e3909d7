"""Every export format of one model: file size, per-image latency and test accuracy.

    .venv/bin/python benchmarks/export_formats.py [--preset fast] [--repeats 5] [--images 300]

Trains (the `fast` preset by default, float32) into a temporary store unless --tracking-uri names one
with a champion, exports the SavedModel, float TFLite, full-integer (int8) TFLite and ONNX, and prints
for each: size on disk, median per-image latency (batch of one, the formats measured in turn within
each repeat, the median of the repeats' medians) and accuracy on the whole test set.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def runners(path: Path):
    """format -> (predict one image (1, H, W, C) uint8 -> probabilities, file)."""
    import onnxruntime
    import tensorflow as tf

    from trainlab.pipeline.export.formats import quiet, target_of
    from trainlab.pipeline.export.stage import METADATA
    saved = tf.saved_model.load(str(path)).signatures["serving_uint8"]
    shape = json.loads((path / METADATA).read_text())["image_shape"]
    found = {"SavedModel": (lambda x: saved(image=tf.constant(x))["probabilities"].numpy(), path)}
    for fmt, label in (("tflite", "TFLite float32"), ("tflite-int8", "TFLite int8")):
        with quiet():
            interpreter = tf.lite.Interpreter(model_path=str(target_of(path, fmt)), num_threads=os.cpu_count())
        (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
        interpreter.resize_tensor_input(inp["index"], [1, *shape])
        interpreter.allocate_tensors()

        def run(x, interpreter=interpreter, inp=inp, out=out):
            interpreter.set_tensor(inp["index"], x.astype(inp["dtype"]))
            interpreter.invoke()
            return interpreter.get_tensor(out["index"])
        found[label] = (run, target_of(path, fmt))
    session = onnxruntime.InferenceSession(str(target_of(path, "onnx")), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    found["ONNX (onnxruntime)"] = (lambda x: session.run(None, {name: x.astype(np.float32)})[0],
                                   target_of(path, "onnx"))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images", type=int, default=300, help="images timed per format and repeat")
    parser.add_argument("--tracking-uri", help="A store whose registered model already has a champion.")
    args = parser.parse_args()

    from trainlab.pipeline.config.loading import load_config
    from trainlab.pipeline.data.sources import load_dataset
    from trainlab.pipeline.export.stage import export_champion
    workdir = Path(tempfile.mkdtemp(prefix="trainlab-bench-"))
    uri = args.tracking_uri or f"sqlite:///{workdir}/mlflow.db"
    cfg = load_config(None, {"tracking.tracking_uri": uri, "export.dir": str(workdir / "exports"),
                             "train.precision": "float32"}, args.preset)
    if not args.tracking_uri:
        from trainlab.pipeline.job import train_and_register
        from trainlab.pipeline.plan import resolve_plan
        train_and_register(resolve_plan(cfg), echo=lambda _: None)
    lines = []
    path, _ = export_champion(cfg, formats=("tflite", "tflite-int8", "onnx"), echo=lines.append)
    ds = load_dataset(cfg.data.dataset)
    x, y = ds.x_test, ds.y_test
    found = runners(path)
    timed = x[:args.images]
    times = {label: [] for label in found}
    for _ in range(args.repeats):                       # formats interleaved within each repeat
        for label, (run, _) in found.items():
            run(timed[:1])
            per_image = []
            for i in range(len(timed)):
                start = time.perf_counter()
                run(timed[i:i + 1])
                per_image.append(time.perf_counter() - start)
            times[label].append(float(np.median(per_image)))
    print(f"{cfg.model.name} ({args.preset} preset, float32 training) on {ds.name}; {os.cpu_count()} CPU cores; "
          f"{time.strftime('%Y-%m-%d')}; latency: batch of 1, median over {args.images} images, median of "
          f"{args.repeats} interleaved repeats")
    for line in lines:
        print(f"  {line}")
    print(f"{'format':<20} {'size':>10} {'ms / image':>11} {'test accuracy':>14}")
    for label, (run, file) in found.items():
        probabilities = np.concatenate([run(x[i:i + 1]) for i in range(len(x))]) if "TFLite" in label else \
            run(x)
        accuracy = float(np.mean(probabilities.argmax(1) == y))
        print(f"{label:<20} {size_of(file) / 1e6:>8.2f} MB {np.median(times[label]) * 1e3:>11.3f} {accuracy:>14.2%}")


if __name__ == "__main__":
    main()
