"""Image folders over data.memory_budget, streamed from an ArrayRecord store of their encoded images: the
same pixels, labels and skipped files as in memory, the same batches in the same (seed, epoch) order, a
store that follows its files, and a whole run on the streaming path (forced here by a budget of 0)."""
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml
from click.testing import CliRunner

from tests.conftest import fresh_store
from tests.files import make_image_folder
from tests.shapes import make_shapes_folder
from trainlab.augment import AugmentChain
from trainlab.pipeline.cli import cli
from trainlab.pipeline.data.dataset import SourceOptions
from trainlab.pipeline.data.decode import decode_upright
from trainlab.pipeline.data.inputs import Normalizer, batch_share, make_dataset
from trainlab.pipeline.data.sources import describe_dataset, load_dataset
from trainlab.pipeline.data.streamed import StreamedImages, decode_jpeg_window, jpeg_scales
from trainlab.pipeline.errors import DataError

STREAM, MEMORY = SourceOptions(image_size=(32, 32), memory_budget=0), SourceOptions(image_size=(32, 32))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """make_image_folder's 3 classes (PNG and JPEG, two sizes, a broken PNG, a text file) plus a JPEG turned by
    EXIF, a WebP, an RGBA PNG and a truncated JPEG: every kind of record the store writes."""
    from PIL import Image
    root = make_image_folder(tmp_path_factory.mktemp("photos") / "photos", per_class=20)
    base = np.zeros((32, 40, 3), np.uint8)
    base[:16, :20], base[16:, 20:] = (250, 40, 40), (40, 40, 250)
    exif = Image.Image.getexif(Image.new("RGB", (1, 1)))
    exif[0x0112] = 6
    Image.fromarray(base).save(root / "square" / "turned.JPG", quality=95, exif=exif)
    Image.fromarray(base).save(root / "square" / "w.webp", lossless=True)
    Image.fromarray(np.dstack([base, base[..., :1]])).save(root / "bar" / "alpha.png")
    jpeg = (root / "disc" / "000.jpg").read_bytes()
    (root / "disc" / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    return root


def test_a_streamed_folder_reads_the_pixels_labels_and_skips_of_the_in_memory_one(photos, tmp_path, capfd):
    """center_crop here; squash (the default) in the batches below."""
    resize = "center_crop"
    memory = load_dataset(str(photos), tmp_path, SourceOptions(image_size=(32, 32), resize=resize))
    streamed = load_dataset(str(photos), tmp_path, SourceOptions(image_size=(32, 32), resize=resize, memory_budget=0))
    assert isinstance(streamed.x_train, StreamedImages) and isinstance(memory.x_train, np.ndarray)
    assert (streamed.facts["storage"], memory.facts["storage"]) == ("stream", "memory")
    assert "over the memory budget of 0 B (data.memory_budget): streamed" in streamed.facts["storage_reason"]
    assert streamed.x_train.shape == memory.x_train.shape and streamed.class_names == memory.class_names
    np.testing.assert_array_equal(streamed.x_train[:], memory.x_train)  # every record kind decodes the same
    np.testing.assert_array_equal(streamed.x_test[:], memory.x_test)
    np.testing.assert_array_equal(streamed.y_train, memory.y_train)
    np.testing.assert_array_equal(streamed.x_train[[5, 2]], memory.x_train[[5, 2]])
    np.testing.assert_array_equal(streamed.x_train[3], memory.x_train[3])
    skipped = sorted(Path(p).name for p in streamed.facts["skipped_files"])
    assert skipped == sorted(Path(p).name for p in memory.facts["skipped_files"]) == ["broken.png", "cut.jpg",
                                                                                    "notes.txt"]
    assert "JPEG" not in capfd.readouterr().err  # the bad JPEG is named, libjpeg's own lines are not shown


def test_the_store_follows_its_files_says_why_it_is_rebuilt_and_is_built_once(photos, tmp_path, capsys):
    copy = shutil.copytree(photos, tmp_path / "copy")
    results = []
    threads = [threading.Thread(target=lambda: results.append(load_dataset(str(copy), tmp_path / "c", STREAM)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0].x_train.store.path == results[1].x_train.store.path
    np.testing.assert_array_equal(results[0].x_train[:8], results[1].x_train[:8])
    assert "rebuilding" not in capsys.readouterr().err
    shutil.copy(copy / "bar" / "001.png", copy / "bar" / "new.png")
    (copy / "disc" / "001.png").unlink()
    store = results[0].x_train.store.path
    killed = [store.with_name(f"{store.name}.{kind}-99999") for kind in ("tmp", "old")]  # builds killed mid-way
    for folder in killed:
        folder.mkdir()
    again = load_dataset(str(copy), tmp_path / "c", STREAM)
    assert not any(folder.exists() for folder in killed)  # the next build removes them
    assert "1 file(s) added, 1 file(s) removed since it was built" in capsys.readouterr().err
    assert len(again.y_train) + len(again.y_test) == len(results[0].y_train) + len(results[0].y_test)
    index = again.x_train.store.path / "index.npz"
    arrays = dict(np.load(index))
    np.savez(index, **{**arrays, "format": -1})  # as another version of trainlab would have written it
    load_dataset(str(copy), tmp_path / "c", STREAM)
    assert "it was written by another version of trainlab" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "c").iterdir() if p.is_dir()] == [again.x_train.store.path.name]
    (copy / "bar" / "notes.txt").unlink()  # (not an image: refused before any store is opened)
    with pytest.raises(DataError, match=r"do not decode: .*broken.png"):
        load_dataset(str(copy), tmp_path / "c", SourceOptions(image_size=(32, 32), memory_budget=0,
                                                              on_bad_file="error"))


def _batches(ds, epochs, epoch=None):
    out = []
    for e in epochs:
        if epoch is not None:
            epoch.assign(e)
        out.append([x.numpy() for x, _ in ds])
    return out


def test_streamed_training_batches_are_the_in_memory_batches_and_replay_by_epoch(photos, tmp_path):
    memory = load_dataset(str(photos), tmp_path, MEMORY)
    streamed = load_dataset(str(photos), tmp_path, STREAM)
    normalizer = Normalizer("none")
    flip = AugmentChain([{"name": "flip_horizontal", "p": 0.5}])

    def inputs(images, chain, epoch):
        return make_dataset(images, memory.y_train, num_classes=3, batch_size=16, normalizer=normalizer,
                            training=True, seed=3, augment=chain, epoch=epoch)
    epochs = [tf.Variable(0, dtype=tf.int64) for _ in range(2)]
    same = [_batches(inputs(x, flip, e), [0, 1], e) for x, e in zip((memory.x_train, streamed.x_train), epochs)]
    for a, b in zip(*same):
        assert len(a) == len(b) == -(-len(memory.y_train) // 16)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    assert not np.array_equal(same[0][0][0], same[0][1][0])  # another epoch, another order

    # A chain led by a random-resized crop: drawn per image while decoding (a JPEG decodes the window only)
    crop = AugmentChain([{"name": "random_resized_crop", "scale": [0.3, 0.6]}, {"name": "flip_horizontal"}])
    epoch = tf.Variable(0, dtype=tf.int64)
    straight = _batches(inputs(streamed.x_train, crop, epoch), [0, 1], epoch)
    resumed_epoch = tf.Variable(1, dtype=tf.int64)
    resumed = _batches(inputs(streamed.x_train, crop, resumed_epoch), [1], resumed_epoch)  # a run resumed at 1
    for x, y in zip(straight[1], resumed[0]):
        np.testing.assert_array_equal(x, y)
    assert straight[0][0].shape == (16, 32, 32, 3) and not np.array_equal(straight[0][0], same[1][0][0])
    # a crop of the whole image (scale 1, a square image's own ratio) is the image itself
    whole = AugmentChain([{"name": "random_resized_crop", "scale": [1.0, 1.0], "ratio": [1.0, 1.0]}])
    cropped = np.concatenate([x.numpy() for x, _ in inputs(streamed.x_train, whole, None)])
    fitted = np.concatenate([x.numpy() for x, _ in inputs(memory.x_train, None, None)])
    index, keys = streamed.x_train.store.index, streamed.x_train.keys
    order = np.argsort(tf.random.stateless_uniform([len(keys)], seed=[3, 0]).numpy())  # epoch 0's order
    square = (index["heights"][keys] == index["widths"][keys])[order]
    assert square.sum() > 20
    np.testing.assert_allclose(cropped[square], fitted[square], atol=1)
    # a flip right after the crop is applied per image while decoding: here to every image
    mirror = AugmentChain([{"name": "random_resized_crop", "scale": [1.0, 1.0], "ratio": [1.0, 1.0]},
                           {"name": "flip_horizontal", "p": 1.0}])
    assert [op.name for op in mirror.per_image_lead] == ["random_resized_crop", "flip_horizontal"]
    mirrored = np.concatenate([x.numpy() for x, _ in inputs(streamed.x_train, mirror, None)])
    np.testing.assert_allclose(mirrored[square], fitted[square][:, :, ::-1], atol=1)


@pytest.mark.parametrize("window, size, index", [
    ([0, 0, 64, 64], (16, 16), 2),    # 64 // 4 = 16 is still 16, 64 // 8 = 8 is not: 1/4
    ([0, 0, 64, 64], (8, 8), 3),      # 1/8 (the smallest libjpeg has)
    ([9, 3, 200, 100], (16, 16), 2),  # the shorter side decides
    ([5, 7, 31, 64], (16, 16), 0),    # 31 // 2 = 15 < 16: full scale
    ([0, 0, 10, 10], (16, 16), 0),    # a window smaller than the output: full scale (and resized up)
])
def test_a_crop_window_is_decoded_at_the_smallest_dct_scale_that_keeps_it_at_least_the_output(window, size, index):
    assert jpeg_scales(tf.constant([window, [0, 0, 1, 1]]), size).numpy().tolist() == [index, 0]


def test_a_jpeg_window_at_a_dct_scale_is_the_full_scale_window_made_smaller():
    """Eagerly and inside tf.data: the window's pixels at 1/4 scale, within a few levels of the full-scale window
    averaged over 4 x 4 blocks (the inverse DCT at 1/4 scale is that average, up to rounding and ringing)."""
    from tests.photos import encoded
    yy, xx = np.mgrid[:64, :96]
    smooth = np.stack([yy * 3, xx * 2, 255 - yy * 2], -1).clip(0, 255).astype(np.uint8)
    record = tf.constant(encoded(smooth, "JPEG", quality=95))
    window = tf.constant([8, 16, 48, 64])
    full = tf.io.decode_and_crop_jpeg(record, window, channels=3).numpy().astype(np.float32)
    averaged = full.reshape(12, 4, 16, 4, 3).mean(axis=(1, 3))
    eager = decode_jpeg_window(record, window, jpeg_scales(window[None], (12, 16))[0], 3).numpy()
    mapped = next(iter(tf.data.Dataset.from_tensors(window).map(
        lambda w: decode_jpeg_window(record, w, jpeg_scales(w[None], (12, 16))[0], 3)))).numpy()
    assert eager.shape == (12, 16, 3) and eager.dtype == np.uint8
    np.testing.assert_array_equal(eager, mapped)
    assert np.abs(eager - averaged).max() <= 4 and np.abs(eager - averaged).mean() < 1.5


def test_a_streamed_crop_of_a_large_jpeg_decodes_at_a_dct_scale_and_keeps_its_pixels(tmp_path):
    """128 px JPEGs cropped whole to 32 px: decoded at 1/4 scale (128 // 4 = 32), the same picture as the
    in-memory images (decoded in full, resized with antialiasing) within a few levels, flipped the same way."""
    from tests.photos import encoded
    yy, xx = np.mgrid[:128, :128]
    for i in range(8):
        smooth = np.stack([yy * 2, xx * (i + 1) // 4, 255 - yy - xx // 2], -1).clip(0, 255).astype(np.uint8)
        (tmp_path / "photos" / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        (tmp_path / "photos" / f"c{i % 2}" / f"{i}.jpg").write_bytes(encoded(smooth, "JPEG", quality=95))
    options = dict(image_size=(32, 32), test_size=0.25)
    memory = load_dataset(str(tmp_path / "photos"), tmp_path, SourceOptions(**options))
    streamed = load_dataset(str(tmp_path / "photos"), tmp_path, SourceOptions(memory_budget=0, **options))
    lead = AugmentChain([{"name": "random_resized_crop", "scale": [1.0, 1.0], "ratio": [1.0, 1.0]},
                         {"name": "flip_horizontal", "p": 1.0}]).per_image_lead
    positions = tf.data.Dataset.range(len(streamed.y_train))
    seeds = positions.map(lambda p: tf.stack([tf.constant(0, tf.int64), p]))
    cropped = np.stack([x.numpy() for x in streamed.x_train.decoded(positions, seeds, lead)]).astype(np.float32)
    difference = np.abs(cropped - memory.x_train[:, :, ::-1])
    assert cropped.shape == (6, 32, 32, 3) and difference.mean() < 2 and difference.max() <= 12
    sides = tf.fill([6], 128)
    windows = StreamedImages._windows(lead[0], tf.constant([0, 0], tf.int64), 6, sides, sides, (32, 32)).numpy()
    assert windows.tolist() == [[0, 0, 128, 128, 2, 1]] * 6  # [y, x, h, w, scale 1/4, applied]


@pytest.mark.parametrize("size, batch, share, places, share_batch", [
    (10, 4, (0, 1), range(10), 4),
    (10, 4, (0, 2), [0, 2, 4, 6, 8], 2),
    (10, 4, (1, 2), [1, 3, 5, 7, 9], 2),
    (9, 4, (1, 2), [1, 3, 5, 7], 2),          # a last batch of 1 image for 2 workers is left out
    (11, 4, (0, 2), [0, 2, 4, 6], 2),         # ... and one of 3 (it does not split evenly)
    (10, 5, (1, 2), [1, 3, 6, 8], 2),         # 5 = 3 + 2: worker 0 takes 3 of each batch, worker 1 two
    (10, 5, (0, 2), [0, 2, 4, 5, 7, 9], 3),
])
def test_a_batch_share_is_every_count_th_image_of_each_batch(size, batch, share, places, share_batch):
    got, got_batch = batch_share(size, batch, share)
    assert got.tolist() == list(places) and got_batch == share_batch


def test_each_worker_decodes_its_own_share_of_the_streamed_batches(photos, tmp_path):
    """Two workers' streamed training inputs together are the whole pass's batches, image by image."""
    streamed = load_dataset(str(photos), tmp_path, STREAM)
    batch = next(b for b in range(16, 8, -1) if len(streamed.y_train) % b % 2 == 0)  # a last batch split evenly

    def inputs(share):
        return make_dataset(streamed.x_train, streamed.y_train, num_classes=3, batch_size=batch, training=True,
                            normalizer=Normalizer("none"), seed=3, share=share)
    whole = [(x.numpy(), y.numpy()) for x, y in inputs((0, 1))]
    halves = [[(x.numpy(), y.numpy()) for x, y in inputs((w, 2))] for w in range(2)]
    assert len(halves[0]) == len(halves[1]) == len(whole) == -(-len(streamed.y_train) // batch)
    for (x, y), mine, theirs in zip(whole, *halves):
        for w, (wx, wy) in enumerate((mine, theirs)):
            np.testing.assert_array_equal(wx, x[w::2])
            np.testing.assert_array_equal(wy, y[w::2])


def test_a_streamed_run_trains_registers_evaluates_and_its_plan_says_why(tmp_path, monkeypatch):
    root = make_shapes_folder(tmp_path / "shapes", per_class=30)
    monkeypatch.chdir(tmp_path)
    store = ["--tracking-uri", fresh_store(tmp_path)]
    common = ["--dataset", str(root), "--epochs", "2", "--deterministic", "--set", f"data.cache_dir={tmp_path}",
              "--set", "model.width=8"]
    memory = CliRunner().invoke(cli, ["train", *common, *store])
    assert memory.exit_code == 0, memory.output
    streamed = CliRunner().invoke(cli, ["train", *common, "--set", "data.memory_budget=0", "--register", *store])
    assert streamed.exit_code == 0, streamed.output
    assert "note: data: decoded at 36x36x3 the 120 images take 467 kB, over the memory budget of 0 B" in streamed.output
    digest = lambda out: next(line.split()[-1] for line in out.splitlines() if "weights digest" in line)  # noqa
    assert digest(streamed.output) == digest(memory.output)  # the same batches, the same weights
    plans = sorted(tmp_path.glob("mlruns/**/plan.yaml")) or sorted(tmp_path.glob("**/artifacts/plan.yaml"))
    storages = {yaml.safe_load(p.read_text())["data"]["storage"] for p in plans}
    assert storages == {"memory", "stream"}, plans
    evaluated = CliRunner().invoke(cli, ["evaluate", "--dataset", str(root), "--set", "data.memory_budget=0",
                                         "--set", f"data.cache_dir={tmp_path}", *store])
    assert evaluated.exit_code == 0 and "accuracy" in evaluated.output, evaluated.output
    info = describe_dataset(str(root), SourceOptions(memory_budget=0), tmp_path)
    assert (info.storage, info.train_size + info.test_size) == ("stream", 120)


def test_the_store_skips_by_name_a_jpeg_claiming_too_many_pixels_and_one_whose_data_is_damaged(tmp_path):
    """An upright, complete-looking JPEG is checked at 1/8 scale (every coefficient still read): its frame header
    is held to the pixel limit first, and data that does not decode is skipped as a full decode would."""
    from tests.photos import encoded
    root = tmp_path / "photos"
    for name in ("a", "b"):
        for i in range(4):
            (root / name).mkdir(parents=True, exist_ok=True)
            (root / name / f"{i}.jpg").write_bytes(encoded(np.full((16, 16, 3), 40 * i, np.uint8), "JPEG"))
    bomb = bytearray(encoded(np.zeros((8, 8, 3), np.uint8), "JPEG"))
    sof = bomb.index(b"\xff\xc0")  # height and width in the frame header: 65000 x 65000
    bomb[sof + 5:sof + 9] = (65000).to_bytes(2, "big") * 2
    (root / "a" / "bomb.jpg").write_bytes(bytes(bomb))
    noisy = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    damaged = bytearray(encoded(noisy, "JPEG", quality=95))
    scan = damaged.index(b"\xff\xda")  # the entropy-coded data after the start of scan, up to the EOI marker
    damaged[scan + 20:-2] = b"\xff\x00" * ((len(damaged) - scan - 22) // 2) + b"\x00" * ((len(damaged) - scan - 22) % 2)
    (root / "b" / "damaged.jpg").write_bytes(bytes(damaged))
    try:
        decode_upright(tf.constant(bytes(damaged)))  # what the full decode says of it
        decodes = True
    except tf.errors.InvalidArgumentError:
        decodes = False
    ds = load_dataset(str(root), tmp_path / "cache", SourceOptions(image_size=(16, 16), memory_budget=0,
                                                                   test_size=0.25))
    skipped = ds.facts["skipped_files"]
    assert str(root / "a" / "bomb.jpg") in skipped
    assert (str(root / "b" / "damaged.jpg") in skipped) == (not decodes)
    assert len(ds.y_train) + len(ds.y_test) == 8 + decodes
