"""Data sources beyond MNIST: folders of a user's own images, CIFAR-10/100 archives, color npz files,
and real Fashion-MNIST; each verified on load, each bad input a clear error."""
import io
import os
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from tests.conftest import fresh_store
from tests.files import COLORS, SHAPES, cifar_batch, make_cifar10, make_image_folder
from trainlab.pipeline.cli import cli
from trainlab.pipeline.data.dataset import SourceOptions
from trainlab.pipeline.data.sources import FASHION_MNIST_DIR, describe_dataset, load_dataset
from trainlab.pipeline.errors import DataError


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("images") / "shapes")


def test_image_folder_loads_classes_splits_and_skips_bad_files(folder, tmp_path):
    options = SourceOptions(image_size=(32, 32))
    ds = load_dataset(str(folder), tmp_path, options)
    assert ds.class_names == ("bar", "disc", "square")  # sorted folder names
    assert ds.x_train.shape[1:] == (32, 32, 3) and ds.x_train.dtype == np.uint8
    assert len(ds.y_train) + len(ds.y_test) == 120 and len(ds.y_test) == 24  # test_size 0.2, stratified
    assert np.bincount(ds.y_test).tolist() == [8, 8, 8]
    assert sorted(Path(p).name for p in ds.facts["skipped_files"]) == ["broken.png", "notes.txt"]
    # The class is in the pixels: the mean color of each class is its own.
    for label, name in enumerate(ds.class_names):
        color = COLORS[SHAPES[name]]
        mean = ds.x_train[ds.y_train == label].reshape(-1, 3).mean(axis=0)
        assert int(np.argmax(mean)) == int(np.argmax(color))
    cached = list(tmp_path.glob("folder-shapes-*.npz"))
    assert len(cached) == 1
    again = load_dataset(str(folder), tmp_path, options)  # from the cache: the same arrays
    np.testing.assert_array_equal(again.x_train, ds.x_train)
    assert again.facts["skipped_files"] == ds.facts["skipped_files"]


def test_image_folder_cache_follows_the_files(folder, tmp_path):
    copy = shutil.copytree(folder, tmp_path / "copy")
    first = load_dataset(str(copy), tmp_path / "cache", SourceOptions(image_size=(16, 16), channels=1))
    assert first.image_shape == (16, 16, 1)
    (copy / "bar" / "001.png").unlink()
    second = load_dataset(str(copy), tmp_path / "cache", SourceOptions(image_size=(16, 16), channels=1))
    assert len(second.y_train) + len(second.y_test) == len(first.y_train) + len(first.y_test) - 1
    assert len(list((tmp_path / "cache").glob("folder-copy-*.npz"))) == 2


def test_image_folder_of_mixed_sizes_needs_an_image_size(folder, tmp_path):
    with pytest.raises(DataError, match=r"differ in size .*set data.image_size"):
        load_dataset(str(folder), tmp_path)


def test_train_and_test_subfolders_are_the_splits(tmp_path):
    rng = np.random.default_rng(1)
    for split, n in (("train", 6), ("test", 3)):
        for label, name in enumerate(("a", "b")):
            (tmp_path / "d" / split / name).mkdir(parents=True)
            for i in range(n):
                image = np.full((8, 8, 1), 40 + 150 * label, np.uint8) + rng.integers(0, 10, (8, 8, 1)).astype(np.uint8)
                (tmp_path / "d" / split / name / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    ds = load_dataset(str(tmp_path / "d"), tmp_path / "cache")
    assert (len(ds.y_train), len(ds.y_test), ds.image_shape) == (12, 6, (8, 8, 1))  # gray files stay gray
    assert ds.y_test.tolist() == [0, 0, 0, 1, 1, 1]
    info = describe_dataset(str(tmp_path / "d"), cache_dir=tmp_path / "cache")
    assert (info.train_size, info.test_size, info.class_names) == (12, 6, ("a", "b"))


def test_bad_files_can_be_refused(folder, tmp_path):
    with pytest.raises(DataError, match=r"not images: .*notes.txt"):
        load_dataset(str(folder), tmp_path, SourceOptions(image_size=(32, 32), on_bad_file="error"))


# --- CIFAR -------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_small_folder_and_a_small_cifar_archive_work_with_every_default(tmp_path, monkeypatch):
    """600 generated photos (4 shapes, random colour, size and place) or 200 CIFAR images: nothing to set.
    With a few steps per epoch batch norm's moving statistics must follow training (Keras's momentum 0.99
    left them near their start: 92.5% test accuracy here, validation 89.6%) for the photos to reach 95%."""
    from tests.shapes import make_shapes_folder
    folder = make_shapes_folder(tmp_path / "shapes", per_class=150)
    archive = make_cifar10(tmp_path / "cifar-10-python.tar.gz", per_batch=40)
    monkeypatch.chdir(tmp_path)
    store = ["--tracking-uri", fresh_store(tmp_path, "m.db")]
    shown = CliRunner().invoke(cli, ["data", "--dataset", str(folder)])
    assert shown.exit_code == 0 and "split        432 train / 48 validation / 120 test" in shown.output, shown.output
    shown = CliRunner().invoke(cli, ["data", "--dataset", str(archive)])
    assert shown.exit_code == 0 and "split        180 train / 20 validation / 40 test" in shown.output, shown.output
    ran = CliRunner().invoke(cli, ["run", "--dataset", str(folder), *store])
    assert ran.exit_code == 0 and "exported to exports/trainlab-shapes/1" in ran.output, ran.output
    assert "note: batch norm momentum 0.75 (Keras: 0.99): with 4 steps per epoch" in ran.output
    assert float(ran.output.split("test accuracy ")[1].split()[0]) >= 0.95, ran.output
    trained = CliRunner().invoke(cli, ["train", "--dataset", str(archive), "--epochs", "1", *store])
    assert trained.exit_code == 0 and "note: train.batch_size" not in trained.output, trained.output


def test_photos_load_upright_and_every_common_format_decodes(tmp_path):
    """JPEGs in each of the 8 EXIF orientations come out as Pillow's exif_transpose shows them; WebP, CMYK
    JPEG, 16-bit and RGBA PNG decode; TIFF (which no decoder here reads) is skipped by name (HEIC and AVIF:
    tests/data/test_decode.py)."""
    from PIL import Image, ImageOps

    from trainlab.pipeline.data.folders import decode_files, list_folder
    base = np.zeros((16, 16, 3), np.uint8)
    base[:8, :8], base[:8, 8:], base[8:, :8] = (250, 0, 0), (0, 250, 0), (0, 0, 250)  # a corner each
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    paths, expected = [], []
    for orientation in range(1, 9):
        path = tmp_path / "a" / f"o{orientation}.JPG"
        exif = Image.Image.getexif(Image.new("RGB", (1, 1)))
        exif[0x0112] = orientation
        Image.fromarray(base).save(path, quality=95, exif=exif)
        paths.append(str(path))
        expected.append(np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB")))
    for name, image, options in (("w.webp", Image.fromarray(base), {"lossless": True}),
                                 ("cmyk.jpg", Image.fromarray(base).convert("CMYK"), {"quality": 95}),
                                 ("deep.png", Image.fromarray(base[..., 0].astype(np.uint16) * 257), {}),
                                 ("alpha.png", Image.fromarray(np.dstack([base, base[..., :1]])), {})):
        image.save(tmp_path / "b" / name, **options)
        paths.append(str(tmp_path / "b" / name))
    (tmp_path / "b" / "scan.tiff").write_bytes(b"II*\x00")
    images, failed = decode_files(paths, None, 3)
    assert failed == []
    for got, want in zip(images[:8], expected):
        assert np.abs(got.astype(int) - want.astype(int)).mean() < 4  # JPEG decoders differ by a level or two
    for got in images[8:]:
        assert got.shape == (16, 16, 3) and abs(int(got[0, 0, 0]) - 250) <= 6, got[0, 0]
    listing = list_folder(tmp_path)
    assert len(listing.train) == 12 and listing.not_images == [str(tmp_path / "b" / "scan.tiff")]


def test_bad_files_are_named_by_trainlab_data_and_decoder_lines_stay_off_the_terminal(tmp_path, capfd):
    folder = make_image_folder(tmp_path / "shapes", per_class=6)
    jpeg = (folder / "disc" / "000.jpg").read_bytes()
    (folder / "disc" / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])  # libjpeg complains on fd 2 about it
    result = CliRunner().invoke(cli, ["data", "--dataset", str(folder), "--set", "data.image_size=[32, 32]",
                                      "--grid", str(tmp_path / "grid.png"), "--set", f"data.cache_dir={tmp_path}"])
    assert result.exit_code == 0, result.output
    warning = result.output.splitlines()[0]
    assert warning.startswith("warning: skipped 3 file(s) that are not readable images: ")
    assert all(name in warning for name in ("notes.txt", "broken.png", "cut.jpg")), warning
    native = capfd.readouterr().err
    assert "JPEG" not in native and "DT_UINT8" not in native, native  # (not TF start-up: the CLI hides that)


def test_cifar10_archive_loads_with_shapes_labels_and_names(tmp_path):
    archive = make_cifar10(tmp_path / "cifar-10-python.tar.gz")
    ds = load_dataset(str(archive), tmp_path / "cache")
    assert ds.name == "cifar10" and ds.class_names[:3] == ("airplane", "automobile", "bird")
    assert ds.x_train.shape == (200, 32, 32, 3) and ds.x_test.shape == (40, 32, 32, 3)
    rows = pickle.loads((tarfile.open(archive).extractfile("cifar-10-batches-py/data_batch_1").read()))
    first = rows[b"data"][0]  # 1024 red, then green, then blue values, row by row
    np.testing.assert_array_equal(ds.x_train[0, 0, :3, 0], first[:3])
    np.testing.assert_array_equal(ds.x_train[0, 0, 0], [first[0], first[1024], first[2048]])
    assert ds.y_train[:40].tolist() == rows[b"labels"]
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    folder = load_dataset(str(tmp_path / "x" / "cifar-10-batches-py"), tmp_path / "cache")
    np.testing.assert_array_equal(folder.x_test, ds.x_test)


def test_cifar100_fine_and_coarse_labels(tmp_path):
    rng = np.random.default_rng(2)
    root = tmp_path / "cifar-100-python"
    root.mkdir()
    for split, n in (("train", 50), ("test", 10)):
        batch = cifar_batch(n, rng, "fine_labels", 100)
        batch[b"coarse_labels"] = [v // 5 for v in batch[b"fine_labels"]]
        (root / split).write_bytes(pickle.dumps(batch, protocol=2))
    (root / "meta").write_bytes(pickle.dumps({b"fine_label_names": [f"f{i}".encode() for i in range(100)],
                                              b"coarse_label_names": [f"c{i}".encode() for i in range(20)]},
                                             protocol=2))
    fine = load_dataset(str(root), tmp_path / "cache")
    coarse = load_dataset(str(root), tmp_path / "cache", SourceOptions(cifar_labels="coarse"))
    assert (fine.num_classes, coarse.num_classes) == (100, 20)
    np.testing.assert_array_equal(coarse.y_train, fine.y_train // 5)


def test_a_pickle_holding_anything_but_arrays_bytes_and_lists_is_refused(tmp_path):
    root = tmp_path / "evil"
    shutil.copytree(_extracted(tmp_path), root)
    (root / "test_batch").write_bytes(pickle.dumps({b"data": {1, 2, 3}}, protocol=2))  # a set: builtins.set
    with pytest.raises(DataError, match=r"refusing to unpickle (__builtin__|builtins)\.set"):
        load_dataset(str(root), tmp_path / "cache")
    (root / "test_batch").write_bytes(pickle.dumps(os.system, protocol=2))
    with pytest.raises(DataError, match="refusing to unpickle posix.system"):
        load_dataset(str(root), tmp_path / "cache2")


def _extracted(tmp_path: Path) -> Path:
    with tarfile.open(make_cifar10(tmp_path / "c.tar.gz")) as tar:
        tar.extractall(tmp_path / "extracted", filter="data")
    return tmp_path / "extracted" / "cifar-10-batches-py"


# --- bad input through the CLI ------------------------------------------------------------------------

def _not_cifar(tmp_path: Path) -> Path:
    path = tmp_path / "other.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("readme.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    return path


@pytest.mark.parametrize("make, extra, message", [
    (lambda t: (t / "empty").mkdir() or t / "empty", [], "must hold at least two class folders of images, found 0"),
    (lambda t: make_image_folder(t / "one", 3) and shutil.rmtree(t / "one" / "bar") or
     shutil.rmtree(t / "one" / "disc") or t / "one", [], "at least two class folders of images, found 1: square"),
    (lambda t: (t / "e" / "a").mkdir(parents=True) or (t / "e" / "b").mkdir() or t / "e", [],
     "class folder .*a holds no images"),
    (_not_cifar, [], "is not a CIFAR archive"),
    (lambda t: t, ["--set", "data.image_size=[0, 32]"], r"data.image_size must be \[H, W\] with sizes from 1"),
    (lambda t: t, ["--set", "data.channels=2"], "data.channels must be 1 .gray. or 3 .RGB., got 2"),
])
def test_bad_data_is_one_line_and_exit_2(tmp_path, make, extra, message):
    import re
    dataset = make(tmp_path)
    result = CliRunner().invoke(cli, ["train", "--preset", "smoke", "--dataset", str(dataset),
                                      "--tracking-uri", fresh_store(tmp_path, "m.db"), *extra])
    assert result.exit_code == 2, result.output
    assert re.search(message, result.output), result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


# --- real Fashion-MNIST --------------------------------------------------------------------------------

@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed (make test installs it as root)")
def test_real_fashion_mnist_loads_and_a_short_training_learns(tmp_path):
    from tests.conftest import smoke_config
    from trainlab.pipeline.plan import resolve_plan
    from trainlab.pipeline.training.stage import train
    ds = load_dataset("fashion_mnist")
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert np.bincount(ds.y_train).tolist() == [6000] * 10 and ds.class_names[0] == "T-shirt/top"
    cfg = smoke_config(tmp_path, **{"data.dataset": "fashion_mnist", "data.limit_train": 6000,
                                    "data.validation_size": 1000, "train.epochs": 2, "augment": []})
    result = train(resolve_plan(cfg), echo=lambda _: None)
    assert result.test.accuracy > 0.6  # chance is 0.1


def test_a_folder_of_gray_and_color_files_becomes_color(tmp_path):
    rng = np.random.default_rng(3)
    for label, name in enumerate(("x", "y")):
        (tmp_path / "mixed" / name).mkdir(parents=True)
        for i in range(4):
            channels = 1 if i % 2 else 3
            image = rng.integers(0, 256, (10 + label, 12, channels)).astype(np.uint8)
            (tmp_path / "mixed" / name / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    ds = load_dataset(str(tmp_path / "mixed"), tmp_path / "cache", SourceOptions(image_size=(8, 8), test_size=0.25))
    assert ds.image_shape == (8, 8, 3) and len(ds.y_train) + len(ds.y_test) == 8
    gray = load_dataset(str(tmp_path / "mixed"), tmp_path / "cache",
                        SourceOptions(image_size=(8, 8), channels=1, test_size=0.25))
    assert gray.image_shape == (8, 8, 1)


def test_a_class_whose_files_all_fail_to_decode_is_an_error(tmp_path):
    for name in ("good", "bad"):
        (tmp_path / "f" / name).mkdir(parents=True)
    for i in range(3):
        (tmp_path / "f" / "good" / f"{i}.png").write_bytes(tf.io.encode_png(np.zeros((4, 4, 1), np.uint8)).numpy())
        (tmp_path / "f" / "bad" / f"{i}.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"no image of class folder\(s\) bad .* decodes"):
        load_dataset(str(tmp_path / "f"), tmp_path / "cache")
