"""helpers.images: safe OpenCV reading, memory sizes, duplicate detection by pixel hash, display helpers."""

from __future__ import annotations

import shutil

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from helpers import images as I


@pytest.fixture
def photo():
    rng = np.random.default_rng(0)
    img = np.zeros((20, 30, 3), np.uint8)
    img[..., 0] = 200  # strongly red, so a channel swap is easy to see
    img[..., 1:] = rng.integers(0, 50, size=(20, 30, 2))
    return img


def test_read_image_rgb_undoes_opencvs_bgr(tmp_path, photo):
    path = tmp_path / "red.png"
    Image.fromarray(photo).save(path)  # Pillow writes RGB
    assert (cv2.imread(str(path))[..., 2] == 200).all()  # OpenCV gives BGR: red is the last channel
    np.testing.assert_array_equal(I.read_image_rgb(path), photo)


def test_read_image_rgb_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No image file"):
        I.read_image_rgb(tmp_path / "missing.png")
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match="could not decode"):
        I.read_image_rgb(bad)


def test_image_memory_bytes_matches_nbytes():
    a = np.zeros((37, 41, 3), np.uint8)
    assert I.image_memory_bytes(37, 41, 3, "uint8") == a.nbytes
    assert I.image_memory_bytes(37, 41, 3, np.float32) == a.astype(np.float32).nbytes == 4 * a.nbytes
    assert I.image_memory_bytes(28, 28, 1, "uint8", count=60_000) == 47_040_000
    with pytest.raises(ValueError, match="height"):
        I.image_memory_bytes(-1, 4)


def test_find_duplicate_images_compares_pixels_not_files(tmp_path, photo):
    Image.fromarray(photo).save(tmp_path / "a.png")
    shutil.copy(tmp_path / "a.png", tmp_path / "copy_of_a.png")  # byte-identical copy
    Image.fromarray(photo).save(tmp_path / "a_again.png", compress_level=1)  # same pixels, other bytes
    Image.fromarray(photo[:, ::-1]).save(tmp_path / "flipped.png")  # other pixels
    Image.fromarray(photo).save(tmp_path / "a.jpg", quality=80)  # lossy: other pixels
    Image.fromarray(photo[..., 0]).save(tmp_path / "gray.png")
    assert (tmp_path / "a.png").read_bytes() != (tmp_path / "a_again.png").read_bytes()
    groups = I.find_duplicate_images(sorted(tmp_path.iterdir()))
    assert groups == [[tmp_path / "a.png", tmp_path / "a_again.png", tmp_path / "copy_of_a.png"]]
    assert I.find_duplicate_images([tmp_path / "flipped.png", tmp_path / "gray.png"]) == []


def test_pixel_hash_includes_shape():
    a = np.arange(12, dtype=np.uint8)
    assert I.pixel_hash(a.reshape(3, 4)) != I.pixel_hash(a.reshape(4, 3))
    assert I.pixel_hash(a.reshape(3, 4)) == I.pixel_hash(a.reshape(3, 4).copy())


def test_clip_and_display():
    out = I.clip_to_uint8(np.array([-20.0, 12.6, 300.0]))
    assert out.dtype == np.uint8 and out.tolist() == [0, 13, 255]
    shown = I.to_display(np.array([[-2.0, 0.0], [2.0, 2.0]]))
    assert shown.min() == 0 and shown.max() == 1
    assert I.to_display(np.full((2, 2), 7.0)).max() == 0


def test_show_channels(photo):
    fig = I.show_channels(photo, ["R", "G", "B"], title="channels", original=photo)
    assert len(fig.axes) >= 4
    plt.close(fig)
    with pytest.raises(ValueError, match="expected H x W x 2"):
        I.show_channels(photo, ["a", "b"])
