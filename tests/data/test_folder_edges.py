"""Image folders as people's real folders are: photos of many sizes, file names that are not UTF-8 or hold a
newline, a header that claims billions of pixels, a CIFAR batch rewritten in place, a cache that cannot be
written."""
import json
import os
import pickle
import tarfile

import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import fresh_store
from tests.files import bomb_png, make_cifar10
from tests.photos import encoded
from trainlab.pipeline.cli import cli
from trainlab.pipeline.config.loading import load_config
from trainlab.pipeline.data.dataset import SourceOptions
from trainlab.pipeline.data.sizing import choose_size
from trainlab.pipeline.data.sources import load_dataset
from trainlab.pipeline.errors import shown


def write(path, image, fmt="PNG"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encoded(image, fmt))
    return str(path)


@pytest.mark.parametrize("sides,expected", [
    ([(35, 67), (37, 70), (41, 60)], 40),        # median shorter side 37 -> 40 (a multiple of 8)
    ([(10, 12), (14, 20), (9, 30)], 32),         # clipped up to 32
    ([(900, 1200), (1000, 640), (480, 640)], 224),  # clipped down to 224
])
def test_a_folder_of_mixed_sizes_gets_a_square_size_from_its_median_shorter_side(tmp_path, sides, expected):
    paths = [write(tmp_path / f"{i}.png", np.zeros((h, w, 3), np.uint8)) for i, (h, w) in enumerate(sides)]
    chosen = choose_size(paths, None, "photos")
    assert chosen.size == (expected, expected) and chosen.resize == "center_crop"
    assert f"data.image_size [{expected}, {expected}]" in chosen.why and "median shorter side" in chosen.why
    assert choose_size(paths, "pad", "photos").resize == "pad"  # data.resize given: kept
    assert choose_size(paths[:1] * 3, None, "photos") is None  # one size: kept as it is


def phone_folder(root):
    """Two classes of photos in several sizes and aspects, one class name holding a comma."""
    rng = np.random.default_rng(0)
    for name, value in (("disc,round", 200), ("bar", 60)):
        for i in range(8):
            height, width = [(35, 67), (37, 70), (48, 36), (40, 40)][i % 4]
            write(root / name / f"{i}.png", np.full((height, width, 3), value, np.uint8) + rng.integers(0, 9, 3,
                                                                                                         np.uint8))
    return root


def test_trainlab_data_takes_a_folder_of_mixed_sizes_with_every_default(tmp_path, monkeypatch):
    folder = phone_folder(tmp_path / "photos")
    monkeypatch.chdir(tmp_path)
    shown_ = CliRunner().invoke(cli, ["data", "--dataset", str(folder), "--set", f"data.cache_dir={tmp_path / 'c'}"])
    assert shown_.exit_code == 0, shown_.output
    assert shown_.output.startswith(f"note: data.image_size [40, 40]: the images in {folder} have 4 sizes")
    assert "images       (40, 40, 3) uint8, 2 classes" in shown_.output
    assert "disc,round" in shown_.output


def test_names_that_are_not_utf8_or_hold_a_newline_load_and_are_shown_escaped(tmp_path):
    root = tmp_path / "photos"
    for name in ("a", "b"):
        for i in range(4):
            write(root / name / f"{i}.png", np.full((8, 8, 3), 40 * i, np.uint8))
    raw = os.fsencode(root / "a") + b"/caf\xe9-latin1.png"  # a name written by a Latin-1 system
    with open(raw, "wb") as f:
        f.write(encoded(np.zeros((8, 8, 3), np.uint8), "PNG"))
    write(root / "b" / "-dash\nnewline.png", np.zeros((8, 8, 3), np.uint8))
    with open(os.fsencode(root / "b") + b"/broken-\xff.png", "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n not a png")
    ds = load_dataset(str(root), tmp_path / "cache", SourceOptions(test_size=0.25))
    assert len(ds.y_train) + len(ds.y_test) == 10
    warning = ds.skipped_warning()
    assert warning.endswith("broken-\\xff.png") and "\n" not in warning, warning
    assert shown("-dash\nnewline.png") == "-dash\\nnewline.png"
    again = load_dataset(str(root), tmp_path / "cache", SourceOptions(test_size=0.25))  # from the cache
    np.testing.assert_array_equal(again.x_train, ds.x_train)


def test_a_header_bomb_in_a_folder_is_skipped_by_name(tmp_path):
    root = tmp_path / "photos"
    for name in ("a", "b"):
        for i in range(3):
            write(root / name / f"{i}.png", np.full((8, 8, 3), 50 * i, np.uint8))
    (root / "a" / "bomb.png").write_bytes(bomb_png(23170))
    ds = load_dataset(str(root), tmp_path / "cache", SourceOptions(image_size=(8, 8), test_size=0.34))
    assert ds.facts["skipped_files"] == [str(root / "a" / "bomb.png")]
    assert len(ds.y_train) + len(ds.y_test) == 6


def test_a_cifar_batch_rewritten_in_place_is_read_again(tmp_path):
    with tarfile.open(make_cifar10(tmp_path / "c.tar.gz", per_batch=10)) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    folder = tmp_path / "x" / "cifar-10-batches-py"
    first = load_dataset(str(folder), tmp_path / "cache")
    batch = folder / "data_batch_1"
    rows = pickle.loads(batch.read_bytes())
    rows[b"labels"] = [(label + 1) % 10 for label in rows[b"labels"]]
    stat = os.stat(folder)
    batch.write_bytes(pickle.dumps(rows, protocol=2))
    os.utime(folder, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the folder's own stat as it was
    second = load_dataset(str(folder), tmp_path / "cache")
    assert second.y_train[:10].tolist() == [(label + 1) % 10 for label in first.y_train[:10].tolist()]


def test_a_cache_folder_that_cannot_be_written_is_one_warning_and_a_load_in_memory(tmp_path, capsys):
    root = tmp_path / "photos"
    for name in ("a", "b"):
        for i in range(3):
            write(root / name / f"{i}.png", np.full((8, 8, 3), 50 * i, np.uint8))
    (tmp_path / "file").write_text("a file where the cache folder would be")
    cfg = load_config(None, {"data.dataset": str(root), "data.cache_dir": str(tmp_path / "file" / "cache")})
    for _ in range(2):
        ds = load_dataset(cfg.data.dataset, cfg.data.cache_dir, SourceOptions.of(cfg.data))
        assert len(ds.y_train) + len(ds.y_test) == 6
    err = capsys.readouterr().err
    assert err.count("warning: the cache folder") == 1 and "cannot be written" in err, err


def test_a_phone_like_folder_runs_with_every_default_and_sideways_photos_get_the_uprights_class(tmp_path,
                                                                                               monkeypatch):
    """Mixed sizes and aspects (no size given), a class name with a comma, a file name that is not UTF-8 and a
    header bomb among the photos; held-out photos stored sideways with their EXIF orientation get the class of
    their upright originals through `trainlab predict` and the exported serving_b64 signature (what REST,
    the Open Inference Protocol and the serve page call)."""
    import tensorflow as tf

    from tests.photos import sideways_jpeg
    from tests.shapes import shape_photo
    from trainlab.pipeline.serving.model import ModelVersion
    rng = np.random.default_rng(0)
    root = tmp_path / "phone"
    names = ("disc,round", "square", "triangle", "ring")
    sizes = [(36, 36), (40, 30), (30, 44), (48, 36)]
    for label, name in enumerate(names):
        for i in range(30):
            height, width = sizes[i % 4]
            photo = tf.image.resize(shape_photo(label, 48, rng), (height, width), antialias=True).numpy()
            write(root / name / f"{i:03d}.png", np.clip(np.rint(photo), 0, 255).astype(np.uint8))
    with open(os.fsencode(root / "square") + b"/ph\xf6to.png", "wb") as f:  # a Latin-1 name
        f.write(encoded(shape_photo(1, 40, rng), "PNG"))
    (root / "ring" / "bomb.png").write_bytes(bomb_png(23170))
    monkeypatch.chdir(tmp_path)
    store = fresh_store(tmp_path, "m.db")
    ran = CliRunner().invoke(cli, ["run", "--dataset", str(root), "--tracking-uri", store])
    assert ran.exit_code == 0, ran.output
    assert "note: data: data.image_size [40, 40]" in ran.output and "bomb.png" in ran.output, ran.output
    from mlflow.tracking import MlflowClient  # its best epoch: the lowest validation loss of the best accuracy
    [run] = MlflowClient().search_runs([MlflowClient().get_experiment_by_name("trainlab").experiment_id])
    accuracy, loss = ([m.value for m in sorted(MlflowClient().get_metric_history(run.info.run_id, key),
                                               key=lambda m: m.step)] for key in ("val_accuracy", "val_loss"))
    best = min((e for e in range(len(loss)) if accuracy[e] == max(accuracy)), key=loss.__getitem__)
    assert run.data.metrics["best_epoch"] == best and run.data.metrics["best_val_loss"] == pytest.approx(loss[best])
    export = tmp_path / "exports" / "trainlab-phone" / "1"
    model = ModelVersion(export)
    assert model.class_names == sorted(names)  # the folder names, a comma kept
    held_out = tmp_path / "held-out"
    uprights = [shape_photo(label, 80, rng) for label in (0, 1, 2, 3)]  # 80: JPEG blocks align when turned
    files = []
    held_out.mkdir()
    for k, picture in enumerate(uprights):
        for orientation in (1, 3, 6, 8):  # 1: the upright photo (one codec for all: a PNG differs by ~1 level)
            path = held_out / f"{k}-sideways-{orientation}.jpg"
            path.write_bytes(sideways_jpeg(picture, orientation))
            files.append(str(path))
    predicted = CliRunner().invoke(cli, ["predict", *files, "--model-dir", str(export.parent), "--output", "json"])
    assert predicted.exit_code == 0, predicted.output
    classes = [json.loads(line)["predictions"][0]["class"] for line in predicted.output.splitlines()]
    served = model.signatures["serving_b64"]({"image_bytes": np.array([open(f, "rb").read() for f in files],
                                                                      dtype=object)})["probabilities"]
    for k in range(4):
        group = classes[4 * k:4 * k + 4]
        assert group == [group[0]] * 4, (k, group)  # the sideways photos answer as the upright one
        assert [model.class_names[int(np.argmax(p))] for p in served[4 * k:4 * k + 4]] == group
        np.testing.assert_allclose(served[4 * k + 1:4 * k + 4], np.repeat(served[4 * k:4 * k + 1], 3, 0), atol=0.01)
