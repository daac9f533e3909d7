"""The one image decoder (pipeline/data/decode.py): EXIF orientation read with TensorFlow string ops, header
sizes read before decoding, and every entry (training's loader, `trainlab predict`, the exported model's
serving_b64) giving one answer for one file."""
import io
import resource
import struct

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from PIL import Image

from tests.files import bomb_png
from tests.photos import encoded, sideways_jpeg, turned
from trainlab.pipeline.cli import cli
from trainlab.pipeline.data.decode import decode_upright, encoded_pixels, jpeg_orientation, to_channels, upright
from trainlab.pipeline.data.folders import decode_files
from trainlab.pipeline.serving.images import load_image
from trainlab.pipeline.serving.model import ModelVersion


def with_exif(jpeg: bytes, orientation: int, order: str, app0: bool) -> bytes:
    """``jpeg`` with an APP1 Exif segment of two IFD0 entries (a make, then the orientation) in byte ``order``
    ("II" little-endian, "MM" big-endian), after a JFIF APP0 segment when ``app0``."""
    e = "<" if order == "II" else ">"
    tiff = order.encode() + struct.pack(e + "HI", 42, 8) + struct.pack(e + "H", 2)
    tiff += struct.pack(e + "HHI", 0x010F, 2, 4) + b"abc\0" + struct.pack(e + "HHIHH", 0x0112, 3, 1, orientation, 0)
    app1 = b"Exif\0\0" + tiff + struct.pack(e + "I", 0)
    jfif = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
    return jpeg[:2] + (jfif if app0 else b"") + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


@pytest.mark.parametrize("order", ["II", "MM"])
@pytest.mark.parametrize("app0", [False, True], ids=["exif-first", "after-jfif"])
def test_the_orientation_is_read_from_the_jpegs_app1_segment_as_pillow_reads_it(order, app0):
    plain = encoded(np.zeros((8, 8), np.uint8), "JPEG")
    for orientation in range(1, 9):
        data = with_exif(plain, orientation, order, app0)
        assert Image.open(io.BytesIO(data)).getexif()[0x0112] == orientation  # the file is what Pillow reads
        assert int(jpeg_orientation(tf.constant(data))) == orientation
        assert int(tf.function(jpeg_orientation)(tf.constant(data))) == orientation  # in a graph too


@pytest.mark.parametrize("data", [b"", b"\xff\xd8", b"\xff\xd8\xff\xe1\xff\xff", b"\x89PNG\r\n\x1a\n" + bytes(64),
                                  b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM\x00*\xff\xff\xff\xff",
                                  b"\xff\xd8\xff\xe1\x00\x14Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00"])
def test_no_or_a_malformed_exif_header_reads_upright(data):
    assert int(jpeg_orientation(tf.constant(data))) == 1


def test_each_orientation_decodes_to_the_upright_picture():
    rng = np.random.default_rng(0)
    picture = np.kron(rng.integers(0, 256, (3, 4, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))  # 24 x 32
    for orientation in range(1, 9):
        got = decode_upright(tf.constant(sideways_jpeg(picture, orientation))).numpy()
        assert got.shape == picture.shape and np.abs(got.astype(int) - picture).mean() < 2, orientation
        same = upright(tf.constant(turned(picture, {6: 8, 8: 6}.get(orientation, orientation))), orientation)
        np.testing.assert_array_equal(same.numpy(), picture)  # the turns themselves are exact


@pytest.mark.parametrize("fmt,options", [("PNG", {}), ("JPEG", {}), ("GIF", {}), ("BMP", {}),
                                         ("WEBP", {"lossless": True}), ("WEBP", {"quality": 80})])
def test_header_sizes_are_read_without_decoding(fmt, options):
    data = encoded(np.zeros((37, 53, 3), np.uint8), fmt, **options)
    assert int(encoded_pixels(tf.constant(data))) == 37 * 53


def test_a_header_bomb_is_refused_before_it_is_decoded():
    """23,170 x 23,170 claimed (537 million pixels): refused by the header, no memory spent on pixels."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(tf.errors.InvalidArgumentError, match="claims more pixels than the limit of 89,478,485"):
        decode_upright(tf.constant(bomb_png(23170)))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: under 100 MB


def test_a_jpeg_whose_frame_header_claims_65000_squared_pixels_is_refused_before_decoding():
    data = bytearray(encoded(np.zeros((8, 8, 3), np.uint8), "JPEG"))
    sof = data.index(b"\xff\xc0")  # the frame header: length (2), precision (1), height (2), width (2)
    data[sof + 5:sof + 9] = (65000).to_bytes(2, "big") * 2
    assert int(encoded_pixels(tf.constant(bytes(data)))) == 65000 * 65000
    with pytest.raises(tf.errors.InvalidArgumentError, match="claims more pixels"):
        decode_upright(tf.constant(bytes(data)))


def test_gray_and_color_convert_after_fitting_as_the_folder_loader_does():
    rgb = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    gray = to_channels(tf.constant(rgb), 1).numpy()
    expected = np.rint(np.asarray(tf.image.rgb_to_grayscale(rgb.astype(np.float32)))).astype(np.uint8)
    np.testing.assert_array_equal(gray, expected)
    np.testing.assert_array_equal(to_channels(tf.constant(gray), 3).numpy(), np.repeat(gray, 3, -1))
    every_level = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
    np.testing.assert_array_equal(to_channels(tf.constant(every_level), 1).numpy(), every_level)  # gray stays


def entry_files(digit: np.ndarray, folder) -> dict:
    """A digit as a phone or a drawing program might store it: sideways JPEGs (gray and color) in each
    orientation, and every other format and pixel layout the decoder takes."""
    color = np.repeat(digit[..., None], 3, -1)
    files = {f"sideways-{o}.jpg": sideways_jpeg(digit, o) for o in range(1, 9)}
    files.update({f"color-sideways-{o}.jpg": sideways_jpeg(color, o) for o in (3, 6)})
    files.update({"digit.gif": encoded(digit, "GIF"), "digit.bmp": encoded(digit, "BMP"),
                  "color.bmp": encoded(color, "BMP"), "rgba.png": encoded(color, "PNG", "RGBA"),
                  "palette.png": encoded(color, "PNG", "P"), "deep.png": encoded(digit, "PNG", "I;16"),
                  "cmyk.jpg": encoded(color, "JPEG", "CMYK", quality=100),
                  "big.webp": encoded(np.kron(color, np.ones((3, 2, 1), np.uint8)), "WEBP", lossless=True)})
    paths = {}
    for name, data in files.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


def test_every_entry_answers_as_training_loads_the_file(exported, mnist, tmp_path, capfd):
    """For each file: training's folder loader, `trainlab predict`'s loader and the exported serving_b64
    signature see the same pixels and give the same probabilities; sideways photos get the upright's class."""
    _, _, path, _ = exported
    model = ModelVersion(path)
    probabilities = model.signatures["serving_default"]
    paths = entry_files(mnist.x_test[0, ..., 0], tmp_path)
    names = list(paths)
    trained, failed = decode_files([str(paths[n]) for n in names], (28, 28), 1)
    assert failed == []
    expected = probabilities({"image": np.stack(trained).astype(np.float32)})["probabilities"]
    b64 = model.signatures["serving_b64"]({"image_bytes": np.array([paths[n].read_bytes() for n in names],
                                                                   dtype=object)})["probabilities"]
    for i, name in enumerate(names):
        np.testing.assert_array_equal(load_image(paths[name]), trained[i], err_msg=name)
        np.testing.assert_allclose(b64[i], expected[i], atol=1e-5, err_msg=name)
    upright_class = int(np.argmax(expected[0]))
    assert [int(np.argmax(p)) for p in expected] == [upright_class] * len(names), names
    result = CliRunner().invoke(cli, ["predict", *map(str, paths.values()), "--model-dir", str(path.parent),
                                      "--no-invert", "--output", "json"])
    assert result.exit_code == 0, result.output
    import json
    rows = [json.loads(line) for line in result.output.splitlines()]
    for row, p in zip(rows, expected):
        assert row["predictions"][0]["class"] == model.class_names[upright_class]
        assert abs(row["predictions"][0]["probability"] - float(p.max())) < 1e-5
    native = capfd.readouterr().err
    assert "W0000" not in native and "E0000" not in native and "channels must be" not in native, native


@pytest.mark.parametrize("fmt,suffix", [("HEIF", "heic"), ("AVIF", "avif")])
def test_heic_and_avif_photos_decode_upright_through_pillow_as_in_every_entry(tmp_path, fmt, suffix):
    """TensorFlow cannot decode them: Pillow (pillow-heif for HEIC, the heic extra) reads them, the EXIF
    orientation turns them upright, and the folder loader and predict's loader see the same pixels."""
    pytest.importorskip("pillow_heif")
    import pillow_heif
    pillow_heif.register_heif_opener()
    picture = np.kron(np.random.default_rng(0).integers(0, 256, (3, 4, 3), dtype=np.uint8),
                      np.ones((8, 8, 1), np.uint8))
    paths = []
    for orientation in (1, 6):
        exif = Image.new("RGB", (1, 1)).getexif()
        exif[0x0112] = orientation
        stored = turned(picture, {6: 8}.get(orientation, orientation))
        path = tmp_path / f"photo-{orientation}.{suffix}"
        Image.fromarray(np.ascontiguousarray(stored)).save(path, fmt, quality=100, exif=exif)
        paths.append(path)
    images, failed = decode_files([str(p) for p in paths], None, None)
    assert failed == []
    upright_one = images[0]
    assert upright_one.shape == picture.shape and np.abs(upright_one.astype(int) - picture).mean() < 12  # lossy
    if fmt == "AVIF":  # Pillow keeps the tag: the decoder turns the stored picture upright (HEIF turns it itself)
        assert images[1].shape == picture.shape and np.abs(images[1].astype(int) - picture).mean() < 12
    for path, image in zip(paths, images):
        np.testing.assert_array_equal(load_image(path, image.shape[:2], 3), image)


def test_a_heic_photo_without_the_extra_is_named_with_the_extra_that_reads_it(tmp_path, monkeypatch):
    import sys

    from trainlab.pipeline.data.dataset import Dataset
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # as where the heic extra is not installed
    photo = tmp_path / "IMG_0001.HEIC"
    photo.write_bytes(b"\x00\x00\x00\x18ftypheic")
    ds = Dataset("photos", np.zeros((1, 2, 2, 1), np.uint8), np.zeros(1), np.zeros((1, 2, 2, 1), np.uint8),
                 np.zeros(1), source=str(tmp_path))
    ds.facts["skipped_files"] = [str(photo)]
    assert ds.skipped_warning().endswith("(1 HEIC photo(s): pip install 'trainlab[heic]' reads them)")
    with pytest.raises(Exception, match=r"a HEIC photo: pip install 'trainlab\[heic\]' reads it"):
        load_image(photo)
