"""helpers.data.image_files: every image mode becomes the right RGB; a bad file is named, never half-decoded."""

from __future__ import annotations

import numpy as np
import pytest
import torchvision
from data_fixtures import image_bytes, truncated_jpeg
from PIL import Image

from helpers import data

SUFFIX = {"gray": "png", "gray16": "png", "rgba": "png", "palette": "png"}


def _write(folder, kind, name=None):
    path = folder / f"{name or kind}.{SUFFIX.get(kind, 'jpg')}"
    path.write_bytes(image_bytes(kind))
    return path


def test_every_image_mode_becomes_rgb_with_the_right_colours(tmp_path):
    rgb = {kind: data.pil_rgb_loader(_write(tmp_path, kind)) for kind in ("rgb", "gray", "rgba", "cmyk", "palette")}
    assert all(image.mode == "RGB" and image.size == (20, 16) for image in rgb.values())
    assert rgb["gray"].getpixel((0, 0)) == (128, 128, 128)
    assert rgb["rgba"].getpixel((0, 0)) == (255, 255, 255) and rgb["rgba"].getpixel((19, 0)) == (200, 0, 0)
    red, green, blue = rgb["palette"].getpixel((5, 5))  # (10, 200, 10) through PIL's web palette
    assert green > 180 and red < 80 and blue < 80
    red, green, blue = rgb["cmyk"].getpixel((5, 5))
    assert red > 200 and green < 80 and blue < 80  # CMYK (0, 200, 200, 0) is red


def test_a_16_bit_gray_png_is_scaled_not_clipped_to_white(tmp_path):
    path = _write(tmp_path, "gray16")
    with Image.open(path) as original:
        assert original.mode.startswith("I;16")  # the case PIL's own convert("RGB") clips to 255
        expected = np.rint(np.asarray(original, dtype=np.float64) / 257).astype(np.uint8)
    loaded = np.asarray(data.pil_rgb_loader(path))
    assert loaded.shape == (16, 20, 3) and loaded.dtype == np.uint8
    assert np.array_equal(loaded[..., 0], expected) and np.array_equal(loaded[..., 1], expected)
    assert loaded[0, 0, 0] == 0 and loaded[0, -1, 0] == 255 and 120 <= loaded[0, 10, 0] <= 135  # a ramp, not white
    assert (loaded == 255).mean() < 0.1
    assert np.array_equal(data.read_rgb_array(path), loaded)  # the tensor path decodes it the same way


def test_read_rgb_array_matches_pil_for_complete_jpegs(tmp_path):
    noise = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.jpg", quality=90)
    assert np.array_equal(data.read_rgb_array(tmp_path / "noise.jpg"), np.asarray(data.pil_rgb_loader(tmp_path / "noise.jpg")))


@pytest.mark.parametrize("kind, words", [
    ("truncated", "is truncated"),
    ("empty", "is empty (0 bytes)"),
    ("not_image", "is not an image"),
])
def test_bad_image_files_are_named_with_what_is_wrong(tmp_path, kind, words):
    path = tmp_path / f"{kind}.jpg"
    path.write_bytes(image_bytes(kind))
    for read in (data.pil_rgb_loader, data.read_rgb_array):
        with pytest.raises(data.CorruptFileError) as err:
            read(path)
        assert str(path) in str(err.value) and words in str(err.value) and "Delete or replace it" in str(err.value)


def test_the_truncated_fixture_is_one_opencv_would_decode_gray(tmp_path):
    """The bug this guards against: cv2.imread fills a truncated JPEG with gray and returns it."""
    import cv2

    path = tmp_path / "cut.jpg"
    path.write_bytes(truncated_jpeg())
    assert not path.read_bytes().endswith(b"\xff\xd9")  # no end-of-image marker
    decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert decoded is not None and decoded.shape == (32, 32, 3)
    with pytest.raises(data.CorruptFileError, match="cut.jpg is truncated"):
        data.read_rgb_array(path)


def test_verify_images_finds_every_bad_file(tmp_path):
    folder = tmp_path / "images" / "cat"
    folder.mkdir(parents=True)
    for kind in ("rgb", "gray", "gray16", "rgba", "cmyk", "palette"):
        _write(folder, kind)
    bad = [_write(folder, kind) for kind in ("empty", "not_image", "truncated")]
    assert data.verify_images(tmp_path / "images", progress=False) == sorted(bad)


@pytest.mark.parametrize("kind", ["empty", "not_image", "truncated"])
def test_an_image_folder_names_the_bad_file_it_meets(tmp_path, kind):
    (tmp_path / "cat").mkdir()
    good, bad = _write(tmp_path / "cat", "rgb", name="a_good"), _write(tmp_path / "cat", kind, name="b_bad")
    folder = torchvision.datasets.ImageFolder(str(tmp_path), loader=data.pil_rgb_loader)
    assert [path for path, _ in folder.samples] == [str(good), str(bad)]
    assert folder[0][0].mode == "RGB"
    with pytest.raises(data.CorruptFileError, match="b_bad.jpg"):  # not UnidentifiedImageError / "image file is truncated"
        folder[1]
