"""Tiny but real data for the tests of helpers.data: idx .gz files, image files good and bad, ImageFolder archives
(tar.gz and zip), a fake mirror.

Every file is written here, in a temporary folder, so the tests need neither the internet nor ../shared/data.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx format of (Fashion-)MNIST: 0, 0, type 0x08 (uint8), ndim, big-endian int32 dims, then the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def fashion_mnist_arrays(n: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n images of 28x28 with labels 0..9 in turn; image i is filled with (offset + 7 i) % 256, plus a stripe."""
    labels = (np.arange(n) % 10).astype(np.uint8)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    for i in range(n):
        images[i] = (offset + 7 * i) % 256
        images[i, labels[i]] = 255  # row `label` is white: shows the label in the picture
    return images, labels


def write_fashion_mnist_gz(folder: Path, n_train: int = 20, n_test: int = 10) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write the four Fashion-MNIST .gz files (mirror layout) and return the arrays written per split."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train": fashion_mnist_arrays(n_train), "t10k": fashion_mnist_arrays(n_test, offset=3)}
    for prefix, (images, labels) in arrays.items():
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    return arrays


def image_bytes(kind: str, size: tuple[int, int] = (20, 16), value: int = 128) -> bytes:
    """A small image file's bytes. Good ones: 'rgb' JPEG, 'gray' PNG, 'gray16' (16-bit PNG, a left-to-right ramp
    0..65535), 'rgba' PNG (transparent left half), 'cmyk' JPEG, 'palette' PNG. Bad ones: 'truncated' (a noisy
    JPEG cut at 80 %: OpenCV's imread still decodes it, with a gray part), 'empty' (0 bytes), 'not_image' (text)."""
    buffer = io.BytesIO()
    if kind == "rgb":
        Image.new("RGB", size, (value, 255 - value, 60)).save(buffer, "JPEG", quality=95)
    elif kind == "truncated":
        return truncated_jpeg(size)
    elif kind == "empty":
        return b""
    elif kind == "not_image":
        return b"<html><body>403 Forbidden: this is not a photo</body></html>\n" * 4
    elif kind == "gray":
        Image.new("L", size, value).save(buffer, "PNG")
    elif kind == "gray16":
        ramp = np.linspace(0, 65535, size[0]).round().astype(np.uint16)
        Image.fromarray(np.tile(ramp, (size[1], 1))).save(buffer, "PNG")  # PIL opens it as mode "I;16"
    elif kind == "rgba":
        pixels = np.zeros((size[1], size[0], 4), dtype=np.uint8)
        pixels[..., 0], pixels[..., 3] = 200, 255
        pixels[:, : size[0] // 2, 3] = 0  # transparent half
        Image.fromarray(pixels, "RGBA").save(buffer, "PNG")
    elif kind == "cmyk":
        Image.new("CMYK", size, (0, 200, 200, 0)).save(buffer, "JPEG", quality=95)
    elif kind == "palette":
        Image.new("RGB", size, (10, 200, 10)).convert("P").save(buffer, "PNG")
    else:
        raise ValueError(kind)
    return buffer.getvalue()


def truncated_jpeg(size: tuple[int, int] = (32, 32), keep: float = 0.8) -> bytes:
    """A JPEG of random noise cut after ``keep`` of its bytes: an interrupted copy (no end-of-image marker)."""
    noise = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "JPEG", quality=95)
    data = buffer.getvalue()
    return data[: int(len(data) * keep)]


# The 6-image ImageFolder used for cats vs dogs and fruit: relative path -> kind.
SIX_IMAGES = {
    "{train}/cat/rgb.jpg": "rgb",
    "{train}/cat/gray.png": "gray",
    "{train}/dog/rgba.png": "rgba",
    "{train}/dog/cmyk.jpg": "cmyk",
    "{test}/cat/palette.png": "palette",
    "{test}/dog/rgb2.jpg": "rgb",
}


def six_image_files(top: str, train: str, test: str) -> dict[str, bytes]:
    return {f"{top}/" + rel.format(train=train, test=test): image_bytes(kind) for rel, kind in SIX_IMAGES.items()}


def cifar_files(per_class_train: int = 3, per_class_test: int = 1) -> dict[str, bytes]:
    """cifar10/{train,test}/<class>/NNNN.jpg, 32x32, a solid gray of value 20*class + 3*index."""
    files = {}
    for split, count in (("train", per_class_train), ("test", per_class_test)):
        for c, name in enumerate(CIFAR10_CLASSES):
            for i in range(count):
                buffer = io.BytesIO()
                Image.new("RGB", (32, 32), (20 * c + 3 * i,) * 3).save(buffer, "JPEG", quality=95)
                files[f"cifar10/{split}/{name}/{i:04d}.jpg"] = buffer.getvalue()
    return files


def write_tar_gz(path: Path, files: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in sorted(files.items()):
            zf.writestr(name, data)
    return path


def write_fake_mirror(mirror: Path) -> dict:
    """A mirror folder in the course layout, with tiny data. Returns what was written:
    {"fashion-mnist": arrays per split, "sha256": {relative path: sha256}, "md5": {unpacked idx name: md5}}."""
    arrays = write_fashion_mnist_gz(mirror / "fashion-mnist")
    write_tar_gz(mirror / "cifar10" / "cifar10_jpg_imagefolder.tar.gz", cifar_files())
    write_tar_gz(mirror / "cats-vs-dogs" / "cats_vs_dogs_160.tar.gz", six_image_files("cats_vs_dogs", "train", "val"))
    write_zip(mirror / "fruit" / "fruit.zip", six_image_files("fruit", "train", "test"))
    sha = {str(p.relative_to(mirror)): sha256_of(p) for p in mirror.rglob("*") if p.is_file()}
    md5 = {}
    for p in (mirror / "fashion-mnist").glob("*.gz"):
        md5[f"raw/{p.name[:-3]}"] = hashlib.md5(gzip.decompress(p.read_bytes())).hexdigest()
    return {"fashion-mnist": arrays, "sha256": sha, "md5": md5}


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` with its modification time and sha256 (to prove a mirror was not touched)."""
    return {str(p): (p.stat().st_mtime_ns, sha256_of(p)) for p in sorted(folder.rglob("*")) if p.is_file()}
